"""Settings are checked once, at start-up, with a message that names the setting."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from feedsvc.app import create_app
from feedsvc.cli import main
from feedsvc.settings import DEFAULTS, TABLE, Settings, SettingsError, unknown_settings
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
        ("ACCESS_LOG", "verbose", "ACCESS_LOG must be one of combined, json, off, not"),
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


def test_feed_serves_the_indexed_version_until_the_edit_is_indexed(
    articles_dir: Path, write_article: WriteArticle
) -> None:
    """Title, dates and body come from one reading of the file: an edit not yet indexed
    never mixes into it, and the edit shows whole once indexed, even a same-size
    rewrite with its old modification time put back."""
    path = write_article("2026-01-01-a.txt", keywords="alpha", body=("Full body text.",))
    stamp = path.stat()
    app = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False})
    client = app.test_client()
    path.write_bytes(path.read_bytes().replace(b"Full body", b"Edit body"))  # same size
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert b"Full body text." in client.get("/feed.atom").data  # not re-indexed: no watch
    app.extensions["feedsvc"].indexer.scan()
    feed = client.get("/feed.atom").data
    assert b"Edit body text." in feed and b"Full body" not in feed


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


def test_the_command_says_its_version() -> None:
    from click.testing import CliRunner

    from feedsvc.cli import main

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"feedsvc, version {importlib.metadata.version('feedsvc')}\n"


def test_the_table_is_every_setting_and_holds_every_default() -> None:
    """One place for a default: the table. The dataclass has none of its own, and every
    field but what is worked out from another setting comes from the table."""
    fields = dataclasses.fields(Settings)
    assert {field.name for field in fields} == {s.name.lower() for s in TABLE} | {
        "id_authority_given"
    }
    assert all(field.default is dataclasses.MISSING for field in fields)
    assert sorted(DEFAULTS) == sorted(s.name for s in TABLE)
    made = Settings.from_mapping({})
    for setting in TABLE:
        if setting.kind in ("count", "seconds", "flag"):
            assert getattr(made, setting.name.lower()) == setting.default, setting.name


def test_a_misspelt_setting_is_named_with_the_nearest_one() -> None:
    """A FEEDSVC_ variable that names no setting would be ignored without a word."""
    environ = {
        "FEEDSVC_BASEURL": "http://x",
        "FEEDSVC_MAX_KEYWORD": "5",
        "FEEDSVC_WHATEVER_THIS_IS": "1",
        "FEEDSVC_BASE_URL": "http://y",
        "PATH": "/bin",
    }
    assert unknown_settings(environ) == [
        ("FEEDSVC_BASEURL", "FEEDSVC_BASE_URL"),
        ("FEEDSVC_MAX_KEYWORD", "FEEDSVC_MAX_KEYWORDS"),
        ("FEEDSVC_WHATEVER_THIS_IS", None),
    ]


def test_the_command_line_warns_of_a_misspelt_setting(
    write_article: WriteArticle, articles_dir: Path, tmp_path: Path
) -> None:
    write_article("2026-01-01-a.txt")
    env = {"FEEDSVC_BASEURL": "http://x", "FEEDSVC_STATE_DIR": str(tmp_path / "state")}
    quiet = logging.getLogger("feedsvc").level  # check quietens the package's logger
    try:
        result = CliRunner().invoke(main, ["check", str(articles_dir)], env=env)
    finally:
        logging.getLogger("feedsvc").setLevel(quiet)
    assert result.exit_code == 0, result.output
    assert (
        "feedsvc: FEEDSVC_BASEURL is not a setting and is ignored; did you mean FEEDSVC_BASE_URL?"
        in result.stderr
    )


def test_check_of_a_folder_with_no_index_writes_nothing(
    write_article: WriteArticle, articles_dir: Path
) -> None:
    """``feedsvc check`` on a folder never indexed reads it into a scratch index it
    removes: no state directory is left beside the folder."""
    write_article("2026-01-01-a.txt")
    before = sorted(articles_dir.parent.rglob("*"))
    quiet = logging.getLogger("feedsvc").level
    try:
        result = CliRunner().invoke(main, ["check", str(articles_dir)], env={})
    finally:
        logging.getLogger("feedsvc").setLevel(quiet)
    assert result.exit_code == 0, result.output
    assert "1 files, 0 skipped, 1 published" in result.stdout
    assert sorted(articles_dir.parent.rglob("*")) == before
