"""Settings are checked once, at start-up, with a message that names the setting."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from feedsvc.app import create_app
from feedsvc.settings import SettingsError
from tests.conftest import WriteArticle


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("CACHE_ENTRIES", 0, "CACHE_ENTRIES must be a whole number from 1"),
        ("HEADLINE_ITEMS", 0, "HEADLINE_ITEMS must be a whole number from 1"),
        ("FEED_ITEMS", 500, "FEED_ITEMS must not be more than MAX_ITEMS"),
        ("FEED_MAX_AGE", -1, "FEED_MAX_AGE must be a whole number from 0"),
        ("MAX_ITEMS", "many", "MAX_ITEMS must be a whole number"),
        ("TIME_ZONE", "Mars/Olympus", "not a known time zone"),
        ("BASE_URL", "example.org", "not an absolute http"),
        ("ID_AUTHORITY", "no date", "not a tag URI authority"),
    ],
)
def test_bad_setting_stops_start_up_with_its_name(
    articles_dir: Path, setting: str, value: Any, message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False, setting: value})


def test_settings_come_from_prefixed_environment(
    articles_dir: Path, write_article: WriteArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_article("2026-01-01-a.txt", keywords="alpha")
    monkeypatch.setenv("FEEDSVC_ARTICLES_DIR", str(articles_dir))
    monkeypatch.setenv("FEEDSVC_WATCH", "false")
    monkeypatch.setenv("FEEDSVC_SITE_TITLE", "Env Title")
    monkeypatch.setenv("FEEDSVC_BASE_URL", "https://news.example.org/")
    client = create_app().test_client()
    feed = json.loads(client.get("/feed.json").data)
    assert feed["title"] == "Env Title"
    assert feed["feed_url"] == "https://news.example.org/feed.json"
    assert feed["items"][0]["id"] == "tag:news.example.org,2026:articles/a"


def test_file_name_that_is_not_utf8_is_reported_by_healthz(
    articles_dir: Path, write_article: WriteArticle
) -> None:
    write_article("2026-01-01-good.txt", keywords="alpha")
    write_article(os.fsdecode(b"bad-\xff.txt"), keywords="alpha")
    client = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False}).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    report = json.loads(response.data)
    assert report["articles"] == 1
    assert len(report["skipped"]) == 1 and "slug" in report["skipped"][0]["reason"]


def test_feed_rendered_while_a_file_changes_is_not_cached(
    articles_dir: Path, write_article: WriteArticle
) -> None:
    """The stand-in for an unreadable body is served once, never kept."""
    path = write_article("2026-01-01-a.txt", keywords="alpha", body=("Full body text.",))
    stamp = path.stat()
    app = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False})
    client = app.test_client()
    original = path.read_bytes()
    path.write_bytes(original.replace(b"Full body", b"Edited body"))  # not re-indexed (no watch)
    assert b"Full body text." not in client.get("/feed.atom").data
    path.write_bytes(original)
    # Its old time put back, yet its change time moved: only a re-index serves it again.
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert b"Full body text." not in client.get("/feed.atom").data
    app.extensions["feedsvc"].library.scan()
    assert b"Full body text." in client.get("/feed.atom").data


def test_article_page_offers_the_feeds_of_its_tags(
    articles_dir: Path, write_article: WriteArticle
) -> None:
    write_article("2026-01-01-a.txt", keywords="Climate, São Paulo")
    client = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False}).test_client()
    html = client.get("/articles/a").get_data(as_text=True)
    base = "http://127.0.0.1:8000"
    for path, title in [
        ("/feed.atom", "feedsvc news (Atom)"),
        ("/tags/climate/feed.rss", "feedsvc news: Climate (RSS)"),
        ("/tags/s%C3%A3o-paulo/feed.json", "feedsvc news: São Paulo (JSON Feed)"),
    ]:
        assert f'title="{title}" href="{base}{path}"' in html, path
