"""Shared fixtures: article files in a temporary folder, the app, and a live server.

``live_server`` runs the real production server (``feedsvc serve``, granian) in a
subprocess on a free loopback port, so HTTP behaviour is tested as users see it.
Tests that only read share one server per module (a module-scoped fixture fills a
``shared_articles_dir`` once and runs ``serving`` on it); a test that changes files
or needs settings of its own starts its own server with ``live_server``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, sync_playwright

from feedsvc.app import create_app
from feedsvc.indexer import Indexer
from feedsvc.store import Store

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_ARTICLES = ROOT / "articles"

WriteArticle = Callable[..., Path]


def article_text(
    title: str = "A title",
    standfirst: str = "A one-paragraph summary.",
    keywords: str = "news",
    caption: str | None = "A caption | Image: A. Photographer",
    body: tuple[str, ...] = ("The first paragraph.", "The second paragraph."),
    front: dict[str, str] | None = None,
) -> str:
    """The text of an article file in the bundled format."""
    blocks = []
    if front is not None:
        blocks.append("---\n" + "".join(f"{k}: {v}\n" for k, v in front.items()) + "---")
    blocks += [title, standfirst, keywords]
    if caption is not None:
        blocks.append(caption)
    blocks += list(body)
    return "\n\n".join(blocks) + "\n"


@pytest.fixture
def articles_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    return folder


def article_writer(folder: Path) -> WriteArticle:
    """A function writing ``name`` into ``folder``, from raw ``text`` or article_text() fields."""

    def write(name: str, text: str | bytes | None = None, **fields: Any) -> Path:
        path = folder / name
        content = article_text(**fields) if text is None else text
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8", newline="")
        else:
            path.write_bytes(content)
        return path

    return write


@pytest.fixture
def write_article(articles_dir: Path) -> WriteArticle:
    """Write ``name`` into the articles folder, from raw ``text`` or from article_text() fields."""
    return article_writer(articles_dir)


def shared_articles_dir(factory: pytest.TempPathFactory, name: str = "shared") -> Path:
    """A new, empty articles folder, for a module-scoped fixture to fill once."""
    folder = factory.mktemp(name) / "articles"
    folder.mkdir()
    return folder


def wait_until(check: Callable[[], object], timeout: float, what: str = "the condition") -> float:
    """Poll ``check()`` until it is true; return the seconds it took, failing at the deadline."""
    started = time.monotonic()
    deadline = started + timeout
    while not check():
        if time.monotonic() >= deadline:
            pytest.fail(f"{what} did not hold within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def app(articles_dir: Path) -> Flask:
    return create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def build_index(articles: Path, state: Path | None = None, **options: Any) -> Store:
    """Index a folder in this process (into ``state``, by default beside the folder)."""
    state = state or articles.parent / f".{articles.name}-state"
    indexer = Indexer(str(articles), str(state), **options)
    indexer.open()
    indexer.catch_up()
    indexer.close()
    return Store(str(state))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """A running ``feedsvc serve`` process."""

    url: str
    articles: Path
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Any:
        """One request; returns the ``http.client.HTTPResponse`` without following redirects."""
        import http.client

        connection = http.client.HTTPConnection(self.url.removeprefix("http://"), timeout=10)
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        response.body = response.read()  # type: ignore[attr-defined]
        connection.close()
        return response


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
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"feedsvc serve exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as health:
                report = json.load(health)
        except urllib.error.HTTPError as error:  # "failing" is a 503, with its report
            with error:
                report = json.load(error)
        except (OSError, ValueError):
            report = {}
        # It answers at once; the index is current once /healthz says "ready".
        if report.get("index") == "ready" or (report and not ready):
            return LiveServer(url, articles, process, log)
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    raise RuntimeError(f"feedsvc serve did not answer: {log.read_text()}")


def stop_server(server: LiveServer) -> None:
    """Stop the server and everything it started (its session), and reap it."""
    if server.process.poll() is None:
        server.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)  # workers, a build's readers
    server.process.wait()


def descendants(pid: int) -> list[int]:
    """The processes a process started, and theirs (granian's workers, a build's readers)."""
    found: list[int] = []
    parents = {pid}
    while parents:
        level = [
            int(entry.name)
            for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and _parent_of(entry) in parents
        ]
        found += level
        parents = set(level)
    return found


def _parent_of(process: Path) -> int | None:
    try:  # the fourth field of /proc/PID/stat, after the name in parentheses
        return int((process / "stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None  # gone meanwhile


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


# Headless Chromium, as Debian ships it: started once per test module that uses it.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()
