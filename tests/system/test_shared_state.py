"""Two services on one state directory: one of another folder is refused at start, and
the reading one takes the writer's role when the writer stops."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.processes import free_port
from tests.conftest import WriteArticle, article_writer, wait_until
from tests.system.conftest import LiveServer, stop_server


def test_a_service_of_another_folder_is_refused_in_one_line(
    write_article: WriteArticle, live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    write_article("one.txt", title="One")
    state = tmp_path / "state"
    first = live_server(STATE_DIR=str(state))
    other = tmp_path / "other"
    other.mkdir()
    article_writer(other)("two.txt", title="Two")
    port = free_port()
    env = {
        **os.environ,
        "FEEDSVC_ARTICLES_DIR": str(other),
        "FEEDSVC_STATE_DIR": str(state),
        "FEEDSVC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    second = subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", "serve", "--port", str(port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    [line] = second.stderr.splitlines()
    assert str(other) in line and "indexes" in line and "FEEDSVC_STATE_DIR" in line, line
    assert b"One" in first.get("/feed.atom").body  # the first goes on


def test_the_reading_service_takes_the_writer_role_when_the_writer_stops(
    write_article: WriteArticle, live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    write_article("2026-01-01-one.txt", title="One", keywords="alpha")
    state = tmp_path / "state"
    writer = live_server(STATE_DIR=str(state))
    reader = live_server(STATE_DIR=str(state))
    assert "another process indexes" in reader.log.read_text()
    stop_server(writer)
    write_article("2026-01-02-two.txt", title="Two after the writer stopped", keywords="alpha")
    wait_until(
        lambda: b"Two after the writer stopped" in reader.get("/tags/alpha/feed.atom").body,
        15,
        "the reader to take over and index the new file",
    )
    assert "this process indexes now" in reader.log.read_text()
    assert json.loads(reader.get("/healthz").body)["status"] == "ok"


def test_a_state_directory_deleted_while_serving_is_rebuilt_in_place(
    write_article: WriteArticle, live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    """Its workers stop (status 3) and granian starts new ones, which make the directory
    again and rebuild the index there: never a frozen site that says it is starting."""
    write_article("2026-01-01-one.txt", title="One", keywords="alpha")
    state = tmp_path / "state"
    server = live_server(args=("--workers", "2"), STATE_DIR=str(state))

    def deleted() -> bool:
        # As an operator's rm -r: the service may write a file into it meanwhile.
        shutil.rmtree(state, ignore_errors=True)
        return not state.exists()

    wait_until(deleted, 10, "the state directory deleted")
    write_article("2026-01-02-two.txt", title="Two after the loss", keywords="alpha")

    def rebuilt() -> bool:
        try:
            health = json.loads(server.get("/healthz").body)
            feed = server.get("/tags/alpha/feed.atom").body
        except OSError:  # a worker stopping as the request came
            return False
        # The loss noticed (every 2 s) and the index rebuilt since: a worker still on the
        # deleted files may serve the new file before it notices.
        noticed = "was deleted or replaced" in server.log.read_text()
        return noticed and health.get("index") == "ready" and b"Two after the loss" in feed

    wait_until(rebuilt, 30, "the loss noticed and the index rebuilt with the new file")
    wait_until((state / "index.sqlite").exists, 30, "the index made again in place")
    assert server.process.poll() is None
