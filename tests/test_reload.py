"""Live reload and scheduled publishing, observed over HTTP on the real server."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from tests.conftest import LiveServer, WriteArticle, article_text

BOUND = 2.0  # seconds within which a change must show, as promised to users


def titles(server: LiveServer, path: str = "/feed.atom") -> list[str]:
    response = server.get(path)
    if response.status != 200:
        return []
    parsed = feedparser.parse(response.body)
    assert not parsed.bozo, parsed.bozo_exception
    return [entry.title for entry in parsed.entries]


def wait_for(check: Callable[[], bool], bound: float = BOUND) -> float:
    """Poll until ``check()`` holds; return how long it took, failing past the bound."""
    started = time.monotonic()
    while not check():
        elapsed = time.monotonic() - started
        assert elapsed < bound, f"not seen within {bound} s"
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def server(write_article: WriteArticle, live_server) -> LiveServer:  # type: ignore[no-untyped-def]
    write_article("2026-01-01-first.txt", title="First", keywords="alpha")
    write_article("2026-01-02-second.txt", title="Second", keywords="beta")
    return live_server()  # type: ignore[no-any-return]


def test_added_file_appears(server: LiveServer, write_article: WriteArticle) -> None:
    write_article("2026-01-03-third.txt", title="Third", keywords="alpha, gamma")
    wait_for(lambda: titles(server) == ["Third", "Second", "First"])
    assert titles(server, "/tags/gamma/feed.atom") == ["Third"]
    assert titles(server, "/tags/alpha/feed.atom") == ["Third", "First"]


def test_edited_file_changes_in_place(server: LiveServer, write_article: WriteArticle) -> None:
    before = feedparser.parse(server.get("/feed.atom").body).entries
    write_article("2026-01-01-first.txt", title="First, corrected", keywords="alpha")
    wait_for(lambda: "First, corrected" in titles(server))
    after = feedparser.parse(server.get("/feed.atom").body).entries
    assert [e.id for e in after] == [e.id for e in before]  # the id survives the edit


def test_renamed_file_keeps_serving_under_new_slug(server: LiveServer, articles_dir: Path) -> None:
    os.rename(articles_dir / "2026-01-01-first.txt", articles_dir / "2026-01-01-renamed.txt")
    wait_for(lambda: server.get("/articles/renamed").status == 200)
    assert server.get("/articles/first").status == 404
    assert titles(server) == ["Second", "First"]


def test_deleted_file_disappears_and_empty_tag_is_404(
    server: LiveServer, articles_dir: Path
) -> None:
    assert server.get("/tags/beta/feed.rss").status == 200
    (articles_dir / "2026-01-02-second.txt").unlink()
    wait_for(lambda: titles(server) == ["First"])
    assert server.get("/tags/beta/feed.rss").status == 404


def test_file_that_breaks_is_withdrawn_and_reported(
    server: LiveServer, write_article: WriteArticle
) -> None:
    write_article("2026-01-02-second.txt", text="Only a title\n")
    wait_for(lambda: titles(server) == ["First"])
    skipped = json.loads(server.get("/healthz").body)["skipped"]
    assert [s["path"].rsplit("/", 1)[1] for s in skipped] == ["2026-01-02-second.txt"]
    assert "missing the standfirst" in skipped[0]["reason"]
    write_article("2026-01-02-second.txt", title="Second, fixed", keywords="beta")
    wait_for(lambda: titles(server) == ["Second, fixed", "First"])
    assert json.loads(server.get("/healthz").body)["skipped"] == []


def test_half_written_file_is_picked_up_when_complete(
    server: LiveServer, articles_dir: Path
) -> None:
    text = article_text(title="Slowly written", keywords="alpha").encode()
    path = articles_dir / "2026-01-05-slow.txt"
    with path.open("wb") as handle:
        handle.write(text[:10])
        handle.flush()
        time.sleep(0.5)  # long enough for the watcher to read the partial file
        handle.write(text[10:])
    wait_for(lambda: "Slowly written" in titles(server))
    assert json.loads(server.get("/healthz").body)["skipped"] == []


@pytest.mark.parametrize("name", [".hidden.txt", "notes.txt~", "draft.swp", "draft.tmp", "x.md"])
def test_editor_droppings_are_ignored(
    server: LiveServer, write_article: WriteArticle, name: str
) -> None:
    write_article(name, title="Dropping", keywords="alpha")
    write_article("2026-01-09-marker.txt", title="Marker", keywords="alpha")
    wait_for(lambda: "Marker" in titles(server))
    assert "Dropping" not in titles(server)
    assert json.loads(server.get("/healthz").body)["skipped"] == []


def test_unrelated_tag_feed_keeps_its_etag_across_changes(
    server: LiveServer, write_article: WriteArticle
) -> None:
    beta = server.get("/tags/beta/feed.rss").getheader("ETag")
    write_article("2026-01-07-more-alpha.txt", title="More alpha", keywords="alpha")
    wait_for(lambda: "More alpha" in titles(server, "/tags/alpha/feed.atom"))
    assert server.get("/tags/beta/feed.rss", {"If-None-Match": beta}).status == 304


def test_scheduled_article_appears_on_time(
    write_article: WriteArticle,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    release = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    write_article("2026-01-01-now.txt", title="Now", keywords="alpha")
    write_article("later.txt", title="Later", keywords="alpha", front={"date": release.isoformat()})
    server: LiveServer = live_server()
    assert titles(server) == ["Now"]
    assert server.get("/articles/later").status == 404
    # No cache may hold the feed past the release.
    feed = server.get("/tags/alpha/feed.rss")
    max_age = int(re.search(r"max-age=(\d+)", feed.getheader("Cache-Control"))[1])  # type: ignore[index]
    assert 0 <= max_age <= 4
    assert datetime.now(UTC) < release
    wait_for(lambda: titles(server) == ["Later", "Now"], bound=4 + BOUND)
    assert datetime.now(UTC) >= release
    assert server.get("/articles/later").status == 200
    assert titles(server, "/tags/alpha/feed.atom") == ["Later", "Now"]
    assert server.get("/tags/alpha/feed.rss").getheader("Cache-Control") == "public, max-age=300"
