"""Honest over time, over the real server: Last-Modified, ids, renames, dates, deletions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import pytest

from tests.conftest import WriteArticle, wait_until
from tests.system.conftest import LiveServer, stop_server


def entries(server: LiveServer, path: str = "/feed.atom") -> list[feedparser.FeedParserDict]:
    parsed = feedparser.parse(server.get(path).body)
    assert not parsed.bozo, parsed.bozo_exception
    return list(parsed.entries)


def last_modified(server: LiveServer, path: str) -> str:
    header = server.get(path).getheader("Last-Modified")
    assert header
    return str(header)


@pytest.fixture
def newsroom(write_article: WriteArticle) -> WriteArticle:
    write_article("2024-05-01-old.txt", title="Old", keywords="alpha")
    write_article("2025-06-01-middle.txt", title="Middle", keywords="alpha, beta")
    write_article("2026-01-01-newest.txt", title="Newest", keywords="alpha")
    return write_article


def changed_after(server: LiveServer, path: str, change: Callable[[], None]) -> None:
    """A poll with only If-Modified-Since, after ``change``, gets 200 with the change."""
    before = server.get(path)
    since = before.getheader("Last-Modified")
    time.sleep(1.05)  # HTTP dates have whole seconds: the next change is a second on
    change()
    wait_until(lambda: server.get(path).getheader("ETag") != before.getheader("ETag"), 5)
    again = server.get(path, {"If-Modified-Since": since})
    assert again.status == 200, path
    assert parsedate_to_datetime(again.getheader("Last-Modified")) > parsedate_to_datetime(since)
    unchanged = server.get(path, {"If-Modified-Since": again.getheader("Last-Modified")})
    assert unchanged.status == 304


def test_if_modified_since_alone_sees_every_kind_of_change(
    newsroom: WriteArticle, articles_dir: Path, live_server: Callable[..., LiveServer]
) -> None:
    """Case 1: an edit, a back-dated addition, a deletion of the newest, a relabel."""
    server = live_server()
    path = "/tags/alpha/feed.atom"
    changed_after(
        server,
        path,
        lambda: newsroom("2025-06-01-middle.txt", title="Middle, fixed", keywords="alpha, beta"),
    )
    changed_after(
        server, path, lambda: newsroom("2020-01-01-back.txt", title="Back", keywords="alpha")
    )
    changed_after(server, path, lambda: (articles_dir / "2026-01-01-newest.txt").unlink())
    changed_after(
        server, path, lambda: newsroom("2019-01-01-relabel.txt", title="R", keywords="ALPHA")
    )
    stamp = last_modified(server, path)
    stop_server(server)
    again = live_server()  # Last-Modified survives a restart, unchanged
    assert last_modified(again, path) == stamp
    assert again.get(path, {"If-Modified-Since": stamp}).status == 304


def test_ids_survive_a_new_host_and_restarts(
    newsroom: WriteArticle, live_server: Callable[..., LiveServer]
) -> None:
    """Case 2: the tag: authority is fixed when the index is made."""
    first = live_server(BASE_URL="http://127.0.0.1:8111")
    ids = [e.id for e in entries(first)]
    stop_server(first)
    moved = live_server(BASE_URL="http://localhost:8114/news")
    assert [e.id for e in entries(moved)] == ids
    assert entries(moved)[0].link.startswith("http://localhost:8114/news/articles/")


def test_a_different_id_authority_is_refused(newsroom: WriteArticle, articles_dir: Path) -> None:
    env = {**os.environ, "FEEDSVC_ID_AUTHORITY": "example.org,2026"}
    index = [sys.executable, "-m", "feedsvc.cli", "index", str(articles_dir)]
    assert subprocess.run(index, capture_output=True).returncode == 0
    env["FEEDSVC_ID_AUTHORITY"] = "example.com,2027"
    done = subprocess.run(index, env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert "FEEDSVC_ID_AUTHORITY" in done.stderr and "Traceback" not in done.stderr


def test_a_renamed_file_is_the_same_article(
    newsroom: WriteArticle, articles_dir: Path, live_server: Callable[..., LiveServer]
) -> None:
    """Case 3: same id, dates and place; the old address answers 301, live and after a
    restart; a slug changed in front matter does the same."""
    server = live_server()
    before = {e.title: (e.id, e.published, e.updated) for e in entries(server)}
    os.rename(articles_dir / "2025-06-01-middle.txt", articles_dir / "2025-06-01-renamed.txt")
    wait_until(lambda: server.get("/articles/renamed").status == 200, 5)
    after = {e.title: (e.id, e.published, e.updated) for e in entries(server)}
    assert after == before
    assert [e.title for e in entries(server)] == ["Newest", "Middle", "Old"]
    old = server.get("/articles/middle")
    assert old.status == 301 and old.getheader("Location").endswith("/articles/renamed")
    stop_server(server)
    os.rename(articles_dir / "2024-05-01-old.txt", articles_dir / "2024-05-01-older.txt")
    again = live_server()  # renamed while stopped
    assert {e.title: (e.id, e.published, e.updated) for e in entries(again)} == before
    assert again.get("/articles/old").getheader("Location").endswith("/articles/older")
    newsroom("2024-05-01-older.txt", title="Old", keywords="alpha", front={"slug": "oldest"})
    wait_until(lambda: again.get("/articles/oldest").status == 200, 5)
    assert {e.title: e.id for e in entries(again)}["Old"] == before["Old"][0]
    assert again.get("/articles/older").getheader("Location").endswith("/articles/oldest")


def test_dates_are_remembered_and_changes_reported(
    newsroom: WriteArticle, articles_dir: Path, live_server: Callable[..., LiveServer]
) -> None:
    """Case 4: a dropped date prefix keeps the date; touching an undated file does not
    move it; ``feedsvc check`` reports a published date that changed."""
    newsroom("undated.txt", title="Undated", keywords="alpha")
    os.utime(articles_dir / "undated.txt", (1_600_000_000, 1_600_000_000))  # 2020
    server = live_server()
    dates = {e.title: e.published for e in entries(server)}
    os.rename(articles_dir / "2024-05-01-old.txt", articles_dir / "old.txt")  # prefix dropped
    os.utime(articles_dir / "undated.txt")  # a checkout touches it: now
    newsroom("undated.txt", title="Undated", keywords="alpha, beta")  # and an edit
    wait_until(
        lambda: any(e.title == "Undated" and "beta" in str(e.tags) for e in entries(server)), 5
    )
    wait_until(lambda: server.get("/articles/old").status == 200, 5)
    assert {e.title: e.published for e in entries(server)} == dates
    newsroom("old.txt", title="Old", keywords="alpha", front={"date": "2024-07-01"})
    wait_until(lambda: {e.title: e.published for e in entries(server)}["Old"] != dates["Old"], 5)
    check = subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", "check", str(articles_dir)],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "FEEDSVC_STATE_DIR": str(json.loads(server.get("/healthz").body).get("state", "")),
        }
        if False
        else None,
    )
    assert "old.txt: published date moved from 2024-05-01" in check.stderr


def test_edits_move_updated_unless_front_matter_gives_it(
    newsroom: WriteArticle, live_server: Callable[..., LiveServer]
) -> None:
    """Case 5: Atom updated and JSON date_modified say an edited article changed."""
    server = live_server()
    before = {e.title: e.updated_parsed for e in entries(server)}
    started = time.time()
    newsroom("2025-06-01-middle.txt", title="Middle", keywords="alpha, beta", body=("New text.",))
    wait_until(
        lambda: {e.title: e.updated_parsed for e in entries(server)}["Middle"] != before["Middle"],
        5,
    )
    item = next(
        i for i in json.loads(server.get("/feed.json").body)["items"] if i["title"] == "Middle"
    )
    modified = datetime.fromisoformat(item["date_modified"].replace("Z", "+00:00"))
    assert modified.timestamp() >= started - 1
    assert item["date_published"].startswith("2025-06-01")
    newsroom(
        "2024-05-01-old.txt",
        title="Old",
        keywords="alpha",
        front={"updated": "2024-06-01T00:00:00Z"},
        body=("Changed too.",),
    )
    wait_until(
        lambda: any(
            e.title == "Old" and e.updated.startswith("2024-06-01") for e in entries(server)
        ),
        5,
    )


def test_a_deleted_article_is_gone_and_comes_back_as_itself(
    newsroom: WriteArticle, articles_dir: Path, live_server: Callable[..., LiveServer]
) -> None:
    """Case 6: 410 with a page that links home; the same slug back is the same article."""
    server = live_server()
    ident = {e.title: e.id for e in entries(server)}["Middle"]
    text = (articles_dir / "2025-06-01-middle.txt").read_text()
    (articles_dir / "2025-06-01-middle.txt").unlink()
    wait_until(lambda: server.get("/articles/middle").status == 410, 5)
    page = server.get("/articles/middle")
    assert page.getheader("Content-Type").startswith("text/html")
    assert b'href="' + server.url.encode() + b'/"' in page.body
    assert server.get("/articles/never-was").status == 404
    stop_server(server)
    (articles_dir / "2025-06-01-middle.txt").write_text(text)
    again = live_server()
    assert {e.title: e.id for e in entries(again)}["Middle"] == ident
    assert again.get("/articles/middle").status == 200
