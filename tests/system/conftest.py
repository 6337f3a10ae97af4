"""The system tier: the real server (``feedsvc serve``, granian) in a subprocess on a free
loopback port, so HTTP behaviour is tested as users see it.

Tests that only read share one server per module (a module-scoped fixture fills a
``shared_articles_dir`` once and runs ``serving`` on it); a test that changes files or
needs settings of its own starts its own server with ``live_server``. Starting,
waiting for ``/healthz`` and stopping are ``bench.processes``', shared with the
benchmarks.
"""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import feedparser
import pytest

from bench.processes import free_port, stop, wait_healthy
from tests.conftest import BUNDLED_ARTICLES


@dataclass
class LiveServer:
    """A running ``feedsvc serve`` process."""

    url: str
    articles: Path
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Any:
        """One request; returns the ``http.client.HTTPResponse`` without following redirects."""
        connection = http.client.HTTPConnection(self.url.removeprefix("http://"), timeout=10)
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        response.body = response.read()  # type: ignore[attr-defined]
        connection.close()
        return response


def feed_titles(server: LiveServer, path: str) -> list[str]:
    """The titles of a feed's items, as feedparser reads them (it must find nothing wrong)."""
    answer = server.get(path)
    assert answer.status == 200, (path, answer.body)
    parsed = feedparser.parse(answer.body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return [entry.title for entry in parsed.entries]


def start_server(
    articles: Path, log: Path, *, args: tuple[str, ...] = (), ready: bool = True, **settings: str
) -> LiveServer:
    """Start ``feedsvc serve`` (with ``args``); wait until the index is ready, or only until
    it answers when not ``ready``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "FEEDSVC_ARTICLES_DIR": str(articles),
        "FEEDSVC_BASE_URL": url,
        **{f"FEEDSVC_{k}": v for k, v in settings.items()},
    }
    command = [sys.executable, "-m", "feedsvc.cli", "serve", "--port", str(port), *args]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_healthy(port, process, ready=ready)
    except RuntimeError as error:
        stop(process)
        raise RuntimeError(f"{error}: {log.read_text()}") from None
    return LiveServer(url, articles, process, log)


def stop_server(server: LiveServer) -> None:
    """Stop the server and everything it started (its session), and reap it."""
    stop(server.process)


@pytest.fixture
def live_server(articles_dir: Path, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start the real server on ``articles_dir`` (write articles first); stopped after the test."""
    started: list[LiveServer] = []

    def start(*, args: tuple[str, ...] = (), ready: bool = True, **settings: str) -> LiveServer:
        log = tmp_path / f"server{len(started)}.log"
        server = start_server(articles_dir, log, args=args, ready=ready, **settings)
        started.append(server)
        return server

    yield start
    for server in started:
        stop_server(server)


@contextmanager
def serving(articles: Path, **settings: str) -> Iterator[LiveServer]:
    """The real server on ``articles`` (filled first) for a ``with`` block.

    For module- or session-scoped fixtures: the tests sharing it must only read.
    """
    server = start_server(articles, articles.parent / "server.log", **settings)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def bundled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real server on a copy of the bundled articles, shared by read-only tests."""
    folder = tmp_path_factory.mktemp("bundled") / "articles"
    shutil.copytree(BUNDLED_ARTICLES, folder)
    with serving(folder) as server:
        yield server
