"""Purges on change over the real server: batched, retried, never in the way, and visible.

The caches here are real HTTP servers on loopback ports that record what reaches
them (``PURGE`` requests and their keys), or that are down, or that never answer."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bench.processes import free_port
from tests.conftest import WriteArticle, wait_until
from tests.system.conftest import LiveServer, stop_server


class RecordingCache:
    """Answers ``PURGE`` with 200 and keeps each one's ``xkey-purge`` keys."""

    def __init__(self, port: int = 0) -> None:
        self.purges: list[list[str]] = []
        self.lock = threading.Lock()
        cache = self

        class Handler(BaseHTTPRequestHandler):
            def do_PURGE(self) -> None:
                with cache.lock:
                    cache.purges.append(self.headers.get("xkey-purge", "").split())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def keys(self) -> set[str]:
        with self.lock:
            return {key for purge in self.purges for key in purge}

    def count(self) -> int:
        with self.lock:
            return len(self.purges)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recording_cache() -> Iterator[RecordingCache]:
    cache = RecordingCache()
    yield cache
    cache.close()


def health(server: LiveServer) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(server.get("/healthz").body)
    return report


def settled(server: LiveServer) -> bool:
    report = health(server)
    return all(not entry["pending"] for entry in report.get("purge", []) + report.get("websub", []))


def test_serve_refuses_a_bad_purge_url_in_one_line(articles_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", "serve", "--port", str(free_port())],
        env={"FEEDSVC_ARTICLES_DIR": str(articles_dir), "FEEDSVC_PURGE_URLS": "cache:6081"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "FEEDSVC_PURGE_URLS" in lines[0] and "'cache:6081'" in lines[0]


def test_a_burst_of_edits_is_a_handful_of_purges_of_exactly_their_keys(
    write_article: WriteArticle,
    live_server: Callable[..., LiveServer],
    recording_cache: RecordingCache,
) -> None:
    for n in range(500):
        write_article(f"a{n:03}.txt", title=f"Article {n}", keywords=f"t{n % 50}, shared")
    write_article("other.txt", title="Untouched", keywords="elsewhere")
    server = live_server(PURGE_URLS=recording_cache.url)
    wait_until(lambda: recording_cache.count() and settled(server), 10, "the first purge")
    assert recording_cache.keys() == {"all"}  # a first build: everything
    before = recording_cache.count()
    for n in range(500):
        write_article(f"a{n:03}.txt", title=f"Article {n}, edited", keywords=f"t{n % 50}, shared")
    wait_until(  # every edit served (a burst is read in batches, in no set order)
        lambda: all(
            server.get(f"/tags/t{n}/feed.rss").body.count(b", edited</title>") == 10
            for n in range(50)
        ),
        60,
        "the edits",
    )
    wait_until(lambda: settled(server), 10, "the purges")
    with recording_cache.lock:
        sent = recording_cache.purges[before:]
    keys = {key for purge in sent for key in purge}
    expected = {"site", "tag:shared", *(f"tag:t{n}" for n in range(50))}
    expected.add("author:feedsvc-newsroom")  # the site author's: the articles name none
    expected.add("search")  # any change to the site may change what a search matches
    expected |= {f"article:a{n:03}" for n in range(500)}
    assert keys == expected  # not tag:elsewhere, not article:other, not all
    assert len(sent) <= 20, len(sent)  # 500 edits, a handful of requests
    assert all(len(" ".join(purge)) <= 4000 for purge in sent)


def test_a_cache_down_is_retried_reported_once_and_never_in_the_way(
    write_article: WriteArticle, live_server: Callable[..., LiveServer]
) -> None:
    write_article("a.txt", title="First", keywords="alpha")
    down = free_port()  # nothing listens here
    silent = socket.socket()  # accepts connections, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    hub = f"http://127.0.0.1:{silent.getsockname()[1]}/hub"
    server = live_server(PURGE_URLS=f"http://127.0.0.1:{down}/", WEBSUB_HUBS=hub)
    try:
        wait_until(lambda: health(server)["purge"][0]["failures"] >= 3, 20, "three retries")
        report = health(server)
        assert report["status"] == "degraded"
        assert report["purge"][0]["ok"] is False
        assert "refused" in report["purge"][0]["error"].lower()
        # Edits are indexed and served at once, the slow hub and the dead cache aside.
        write_article("a.txt", title="Second", keywords="alpha")
        wait_until(lambda: b"Second" in server.get("/tags/alpha/feed.rss").body, 5, "the edit")
        assert server.get("/feed.atom").status == 200
        wait_until(lambda: health(server)["purge"][0]["failures"] >= 5, 30, "more retries")
        log = server.log.read_text()
        assert log.count(f"purge to http://127.0.0.1:{down}/ failed") == 1, log

        cache = RecordingCache(down)  # the cache comes back
        try:
            wait_until(lambda: health(server)["purge"][0]["ok"], 60, "the recovery")
            # What waited, merged: the first build's "all" covers the edit's keys.
            assert cache.keys() == {"all"}
            assert "works again" in server.log.read_text()
        finally:
            cache.close()
    finally:
        silent.close()


def test_a_restart_purges_everything_only_when_what_it_serves_changed(
    write_article: WriteArticle,
    live_server: Callable[..., LiveServer],
    recording_cache: RecordingCache,
) -> None:
    """Restarting as before purges nothing; restarting with other settings (every page
    changes: here the site's title) purges everything, as a first build does."""
    write_article("a.txt", title="Alpha", keywords="alpha")
    # The public address stays (each server listens on a port of its own).
    same = {"PURGE_URLS": recording_cache.url, "BASE_URL": "https://news.example"}
    first = live_server(**same)
    wait_until(lambda: recording_cache.count() and settled(first), 10, "the first build's purge")
    stop_server(first)
    before = recording_cache.count()

    again = live_server(**same)
    wait_until(lambda: settled(again), 10, "the restart")
    assert again.get("/feed.rss").status == 200
    assert recording_cache.count() == before  # nothing changed: nothing purged
    stop_server(again)

    retitled = live_server(**same, SITE_TITLE="Renamed news")
    wait_until(lambda: recording_cache.count() > before, 10, "a purge of everything")
    with recording_cache.lock:
        assert recording_cache.purges[before:] == [["all"]]
    assert b"Renamed news" in retitled.get("/feed.rss").body
