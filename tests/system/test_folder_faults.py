"""The articles folder vanishing or emptying for a moment, against the real service: a
deploy's ``mv articles articles.old && mv new articles``, a share remounted, a sync
tool's window. Nothing is withdrawn, purged or pushed; ``/healthz`` says why; the service
resumes by itself when the folder is back; an operator who means it can remove most of
the site."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import WriteArticle, wait_until
from tests.system.conftest import LiveServer
from tests.system.test_notify import RecordingCache, recording_cache, settled

__all__ = ["recording_cache"]  # the fixture, used by name

ARTICLES = 60


def health(server: LiveServer) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(server.get("/healthz").body)
    return report


def items(server: LiveServer, path: str = "/feed.json?limit=100") -> int:
    return len(json.loads(server.get(path).body)["items"])


def served_whole(server: LiveServer) -> None:
    """Every feed, tag feed and article page as before the fault."""
    assert items(server) == ARTICLES
    assert server.get("/tags/common/feed.atom").status == 200
    assert server.get("/articles/a07").status == 200


def write_site(write_article: WriteArticle) -> None:
    for n in range(ARTICLES):
        write_article(f"2026-01-01-a{n:02}.txt", title=f"Article {n}", keywords="common")


def purged_site(
    write_article: WriteArticle, live_server: Callable[..., LiveServer], cache: RecordingCache
) -> tuple[LiveServer, int]:
    """The site served, its first purge sent: the server and how many purges so far."""
    write_site(write_article)
    server = live_server(PURGE_URLS=cache.url, RESCAN_SECONDS="1")
    wait_until(lambda: cache.count() and settled(server), 30, "the first purge")
    return server, cache.count()


def test_a_folder_moved_away_and_back_is_a_fault_not_a_deletion(
    write_article: WriteArticle,
    articles_dir: Path,
    live_server: Callable[..., LiveServer],
    recording_cache: RecordingCache,
) -> None:
    server, before = purged_site(write_article, live_server, recording_cache)
    away = articles_dir.with_name("articles.old")
    articles_dir.rename(away)
    wait_until(lambda: "folder" in health(server), 30, "the fault said")
    time.sleep(2.5)  # rescans come and go meanwhile
    report = health(server)
    assert report["status"] == "degraded" and report["articles"] == ARTICLES, report
    served_whole(server)
    # A deploy swaps in a new folder with the same articles.
    shutil.copytree(away, articles_dir)
    wait_until(lambda: health(server)["status"] == "ok", 30, "the service resumed")
    served_whole(server)
    assert recording_cache.count() == before, "a fault purged the shared cache"


def test_a_folder_emptied_for_a_moment_holds_its_removals(
    write_article: WriteArticle,
    articles_dir: Path,
    tmp_path: Path,
    live_server: Callable[..., LiveServer],
    recording_cache: RecordingCache,
) -> None:
    server, before = purged_site(write_article, live_server, recording_cache)
    aside = tmp_path / "aside"
    aside.mkdir()
    for path in articles_dir.iterdir():
        path.rename(aside / path.name)
    wait_until(lambda: "removals" in health(server), 30, "the removals held")
    report = health(server)
    assert report["status"] == "degraded" and "allow-removals" in report["removals"]["problem"]
    served_whole(server)
    for path in aside.iterdir():
        path.rename(articles_dir / path.name)
    wait_until(lambda: health(server)["status"] == "ok", 30, "the service resumed")
    served_whole(server)
    assert recording_cache.count() == before, "a fault purged the shared cache"
    log = server.log.read_text()
    assert log.count("would be withdrawn") == 1, log  # said once


def test_an_operator_removes_most_of_the_site_on_purpose(
    write_article: WriteArticle,
    articles_dir: Path,
    tmp_path: Path,
    live_server: Callable[..., LiveServer],
) -> None:
    write_site(write_article)
    state = tmp_path / "state"
    server = live_server(STATE_DIR=str(state), RESCAN_SECONDS="1")
    for path in sorted(articles_dir.iterdir())[:50]:
        path.unlink()
    wait_until(lambda: "removals" in health(server), 30, "the removals held")
    assert items(server) == ARTICLES
    done = subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", "allow-removals"],
        env={
            **os.environ,
            "FEEDSVC_ARTICLES_DIR": str(articles_dir),
            "FEEDSVC_STATE_DIR": str(state),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "next scan" in done.stdout
    wait_until(lambda: items(server) == ARTICLES - 50, 30, "the removals applied")
    assert health(server)["status"] == "ok"
