"""The persistent index as operators meet it: restarts, kills, damage, several processes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.processes import descendants
from feedsvc.store import SITE, Store
from tests.conftest import WriteArticle, article_text, wait_until
from tests.system.conftest import LiveServer

INDEX = [sys.executable, "-m", "feedsvc.cli", "index"]


def fill(folder: Path, count: int, *, title: str = "Article", start: int = 0) -> None:
    for n in range(start, start + count):
        text = article_text(title=f"{title} {n}", keywords=f"alpha, tag{n % 7}")
        (folder / f"2025-01-01-a{n:05d}.txt").write_text(text)


def run_index(folder: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FEEDSVC_STATE_DIR": str(state)}
    return subprocess.run(
        [*INDEX, *args, str(folder)], env=env, capture_output=True, text=True, timeout=120
    )


def titles_in(state: Path) -> list[str]:
    with Store(str(state)).reading() as view:
        return [a.title for a in view.newest(SITE, 100_000)]


def test_index_killed_mid_build_recovers_whole(articles_dir: Path, tmp_path: Path) -> None:
    """SIGKILL during a first build on every core: the next run builds it all, once."""
    fill(articles_dir, 20_000)  # enough to take a few seconds, so the kill lands mid-way
    state = tmp_path / "state"
    env = {**os.environ, "FEEDSVC_STATE_DIR": str(state)}
    process = subprocess.Popen(
        [*INDEX, str(articles_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def building() -> bool:
        try:
            progress = json.loads((state / "progress.json").read_text())
        except (OSError, ValueError):
            return False
        return progress["phase"] == "building" and progress["done"] > 0

    wait_until(building, 60, "the build under way")
    os.killpg(process.pid, signal.SIGKILL)  # the indexer and its reading processes
    process.wait()
    assert not (state / "index.sqlite").exists()  # nothing half-made was put in place
    done = run_index(articles_dir, state)
    assert done.returncode == 0, done.stderr
    found = titles_in(state)
    assert len(found) == len(set(found)) == 20_000


def test_server_killed_mid_update_recovers(
    write_article: WriteArticle, articles_dir: Path, live_server: Callable[..., LiveServer]
) -> None:
    """SIGKILL while edits pour in: the next start serves every article once, as on disk."""
    fill(articles_dir, 200)
    server = live_server()
    for n in range(0, 200, 2):  # edits, a deletion and additions while it runs
        write_article(f"2025-01-01-a{n:05d}.txt", title=f"Edited {n}", keywords="alpha")
    (articles_dir / "2025-01-01-a00001.txt").unlink()
    fill(articles_dir, 20, start=500)
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait()
    again = live_server()
    wait_until(lambda: json.loads(again.get("/healthz").body)["articles"] == 219, 10)
    feed = json.loads(again.get("/feed.json?limit=100").body)
    names = [item["title"] for item in feed["items"]]
    assert len(names) == len(set(names))
    everything = []
    for page in range(1, 4):
        reply = again.get(f"/feed.json?limit=100&page={page}")
        everything += [item["title"] for item in json.loads(reply.body)["items"]]
    assert sorted(everything) == sorted(
        [f"Edited {n}" for n in range(0, 200, 2)]
        + [f"Article {n}" for n in range(3, 200, 2)]
        + [f"Article {n}" for n in range(500, 520)]
    )


def test_damaged_index_is_moved_aside_and_rebuilt(articles_dir: Path, tmp_path: Path) -> None:
    fill(articles_dir, 5)
    state = tmp_path / "state"
    assert run_index(articles_dir, state).returncode == 0
    (state / "index.sqlite").write_bytes(b"this is not a database" * 1000)
    done = run_index(articles_dir, state)
    assert done.returncode == 0, done.stderr
    assert "unusable" in done.stderr and "Traceback" not in done.stderr
    assert len(titles_in(state)) == 5
    assert list(state.glob("index.sqlite.damaged-*"))


def test_index_of_a_newer_feedsvc_is_a_clear_error(articles_dir: Path, tmp_path: Path) -> None:
    fill(articles_dir, 3)
    state = tmp_path / "state"
    assert run_index(articles_dir, state).returncode == 0
    with sqlite3.connect(state / "index.sqlite") as db:
        db.execute("UPDATE meta SET value = 99 WHERE key = 'schema'")
    done = run_index(articles_dir, state)
    assert done.returncode == 1
    assert "newer feedsvc" in done.stderr and "feedsvc index --rebuild" in done.stderr
    assert "Traceback" not in done.stderr
    assert run_index(articles_dir, state, "--rebuild").returncode == 0
    assert len(titles_in(state)) == 3


def test_state_directory_that_cannot_be_made_is_a_clear_error(
    articles_dir: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = run_index(articles_dir, blocker / "state")
    assert done.returncode != 0
    assert str(blocker) in done.stderr and "Traceback" not in done.stderr


def test_index_of_another_folder_is_refused(articles_dir: Path, tmp_path: Path) -> None:
    fill(articles_dir, 2)
    other = tmp_path / "other"
    other.mkdir()
    state = tmp_path / "state"
    assert run_index(articles_dir, state).returncode == 0
    done = run_index(other, state)
    assert done.returncode == 1 and "FEEDSVC_STATE_DIR" in done.stderr


def test_deleting_the_state_directory_is_safe(articles_dir: Path, tmp_path: Path) -> None:
    fill(articles_dir, 4)
    state = tmp_path / "state"
    assert run_index(articles_dir, state).returncode == 0
    for path in sorted(state.iterdir(), reverse=True):
        path.unlink()
    state.rmdir()
    assert run_index(articles_dir, state).returncode == 0
    assert len(titles_in(state)) == 4


def test_feeds_answer_503_until_the_first_build_completes(
    articles_dir: Path, live_server: Callable[..., LiveServer]
) -> None:
    """Never an empty feed while building: 503 with Retry-After, and /healthz says how far."""
    fill(articles_dir, 6000)
    server = live_server(ready=False, INDEX_WORKERS="1")
    feed = server.get("/feed.rss")
    assert feed.status == 503 and int(feed.getheader("Retry-After")) > 0
    reports = []
    deadline = time.monotonic() + 60
    while (report := json.loads(server.get("/healthz").body))["index"] != "ready":
        assert time.monotonic() < deadline, "the first build did not complete"
        reports.append(report)
        assert server.get("/tags/tag1/feed.rss").status in (503, 200)  # 200 only once built
    assert reports and all(r["status"] == "starting" for r in reports)
    assert {r["index"] for r in reports} == {"building"}
    assert any(r["progress"]["total"] == 6000 for r in reports)
    assert server.get("/feed.rss").status == 200
    assert json.loads(server.get("/healthz").body)["articles"] == 6000


def test_second_service_on_the_same_state_reads_and_follows(
    write_article: WriteArticle, articles_dir: Path, live_server: Callable[..., LiveServer]
) -> None:
    """Never two writers: the second service reads the first one's index, changes included."""
    write_article("2026-01-01-one.txt", title="One", keywords="alpha")
    first = live_server()
    second = live_server()
    assert "another process indexes" in second.log.read_text()
    write_article("2026-01-02-two.txt", title="Two", keywords="alpha")
    for server in (first, second):
        wait_until(lambda s=server: b"Two" in s.get("/tags/alpha/feed.atom").body, 5)  # type: ignore[misc]


def test_two_workers_share_one_index_and_both_see_edits(
    write_article: WriteArticle, articles_dir: Path, live_server: Callable[..., LiveServer]
) -> None:
    """``--workers 2``: one process indexes, and two different workers (told apart by the
    ``pid`` of the JSON access log) answer with the edit."""
    for n in range(30):
        write_article(f"2026-01-{n % 28 + 1:02d}-w{n}.txt", title=f"W{n}", keywords="alpha")
    server = live_server(args=("--workers", "2"), ACCESS_LOG="json")
    assert server.log.read_text().count("indexed 30 files") == 1
    write_article("2026-01-01-w0.txt", title="W0 edited", keywords="alpha")
    wait_until(lambda: b"W0 edited" in server.get("/feed.atom?limit=50").body, 5)
    mark = f"/feed.atom?limit=50&after-edit={time.monotonic_ns()}"
    answered: set[int] = set()

    def both_workers_answered() -> bool:
        assert b"W0 edited" in server.get(mark).body  # each connection is new
        lines = server.log.read_text(errors="replace").splitlines()
        answered.update(
            json.loads(line)["pid"] for line in lines if line.startswith("{") and mark in line
        )
        return len(answered) >= 2

    wait_until(both_workers_answered, 30, "answers from both workers")
    assert answered <= set(descendants(server.process.pid))
