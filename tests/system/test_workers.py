"""A worker's death, against ``feedsvc serve --workers 2``: the other answers meanwhile,
the dead one is replaced with its role, /healthz says so while it lasts, the log once."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.hostile import writer_pid
from bench.processes import descendants
from tests.conftest import WriteArticle, wait_until
from tests.system.conftest import LiveServer, stop_server


def dead(pid: int) -> bool:
    """Gone, or a zombie: its connections closed."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def test_a_killed_writer_is_replaced_with_its_role_and_nothing_stops_answering(
    write_article: WriteArticle,
    articles_dir: Path,
    live_server: Callable[..., LiveServer],
    tmp_path: Path,
) -> None:
    for n in range(20):
        write_article(f"2026-01-{n + 1:02d}-a{n}.txt", title=f"A{n}", keywords="alpha")
    state = tmp_path / "state"
    server = live_server(args=("--workers", "2"), STATE_DIR=str(state))
    # Both started: each notes itself once its app is made.
    wait_until(lambda: len(list((state / "workers").iterdir())) == 2, 30, "two workers")
    workers = set(descendants(server.process.pid))
    writer = writer_pid(state)
    assert writer in workers, (writer, workers)
    os.kill(writer, signal.SIGKILL)  # as the kernel's out-of-memory killer does
    wait_until(lambda: dead(writer), 5, "the kill")  # what it had accepted is lost with it
    # The other worker answers at once, and says what happened until it is over.
    try:
        health = json.loads(server.get("/healthz").body)
    except OSError:
        raise AssertionError(server.log.read_text()[-3000:]) from None
    assert health["status"] == "degraded" and health["workers"]["died"] == 1, health
    for _ in range(20):
        assert server.get("/feed.rss").status == 200
    wait_until(lambda: json.loads(server.get("/healthz").body)["status"] == "ok", 30, "ok")
    assert server.process.poll() is None  # the service is still up
    replacement = writer_pid(state)
    assert replacement is not None and replacement not in workers  # the role passed on
    assert replacement in descendants(server.process.pid)
    # The new writer follows the folder: an edit is served.
    write_article("2026-01-01-a0.txt", title="A0 after the kill", keywords="alpha")
    wait_until(lambda: b"A0 after the kill" in server.get("/tags/alpha/feed.atom").body, 10)
    log = server.log.read_text()
    assert log.count(f"worker {writer} died") == 1, log[-2000:]
    stop_server(server)  # an orderly stop: no worker died, none is left noted
    assert list((state / "workers").iterdir()) == []


def test_a_hung_writer_is_noticed_killed_and_replaced_and_nobody_waits_on_it(
    write_article: WriteArticle,
    articles_dir: Path,
    live_server: Callable[..., LiveServer],
    tmp_path: Path,
) -> None:
    """SIGSTOP is what a worker stuck in a system call, swapping or in a long pause looks
    like: new connections go to the worker that answers (one listening socket for all),
    the stopped one is said in /healthz, killed at FEEDSVC_WORKER_TIMEOUT with one line
    in the log, replaced, and its writer role passes on."""
    for n in range(20):
        write_article(f"2026-01-{n + 1:02d}-a{n}.txt", title=f"A{n}", keywords="alpha")
    state = tmp_path / "state"
    server = live_server(args=("--workers", "2"), STATE_DIR=str(state), WORKER_TIMEOUT="8")
    wait_until(lambda: len(list((state / "workers").iterdir())) == 2, 30, "two workers")
    workers = set(descendants(server.process.pid))
    writer = writer_pid(state)
    assert writer in workers, (writer, workers)
    os.kill(writer, signal.SIGSTOP)
    answers = []
    health: dict[str, object] = {}
    deadline = time.monotonic() + 60
    while not dead(writer):  # every new connection is answered meanwhile
        if time.monotonic() > deadline:
            pytest.fail("the stopped worker was never killed")
        response = server.get("/feed.rss")
        answers.append(response.status)
        report = json.loads(server.get("/healthz").body)
        if "not_answering" in report.get("workers", {}):
            health = report
    assert answers and set(answers) == {200}, answers
    assert health.get("status") == "degraded", "the hung worker was never said in /healthz"
    wait_until(lambda: json.loads(server.get("/healthz").body)["status"] == "ok", 60, "ok")
    report = json.loads(server.get("/healthz").body)
    assert report["workers"] == {"replaced_hung": 1}, report
    replacement = writer_pid(state)
    assert replacement is not None and replacement != writer
    write_article("2026-01-01-a0.txt", title="A0 after the hang", keywords="alpha")
    wait_until(lambda: b"A0 after the hang" in server.get("/tags/alpha/feed.atom").body, 30)
    assert server.process.poll() is None
    log = server.log.read_text()
    assert log.count(f"worker {writer} has not answered") == 1, log[-2000:]


def test_a_crash_loop_stops_the_service_with_a_line_saying_why(
    write_article: WriteArticle, live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    """A worker killed, then its replacement killed at once: granian's guard stops the
    service, and feedsvc's own last line says why, for whoever reads the log."""
    write_article("2026-01-01-a.txt", title="A", keywords="alpha")
    state = tmp_path / "state"
    server = live_server(STATE_DIR=str(state))
    [worker] = descendants(server.process.pid)
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while not (fresh := [p for p in descendants(server.process.pid) if p != worker]):
        if time.monotonic() > deadline:
            pytest.fail("no replacement was started")
        time.sleep(0.02)
    os.kill(fresh[0], signal.SIGKILL)
    assert server.process.wait(timeout=60) != 0
    assert "a worker died again within 5.5 s of being replaced" in server.log.read_text()
