"""The index at scale: first build, restart from the store, memory with two workers, one edit.

``python -m bench.scale --articles 1000000`` (or ``--corpus DIR`` to reuse a corpus made
by ``python -m bench.corpus``) measures the persistent index's targets on this machine
(``--state DIR`` reuses a state directory built before, say by ``feedsvc index``, and
measures all but the first build):

1. **first build**: ``feedsvc serve`` with no state; time from start to the first 200
   of a tag feed (feeds answer 503 until the build completes);
2. **restart**: the same folder, the store present and the folder unchanged, with
   ``--workers 2``; time from start to the first 200 of a tag feed;
3. **memory**: each worker's ``VmRSS`` after 200 distinct tag feeds were served;
4. **one edit**: an article's title changed on disk, time until its tag feed shows it
   (median of 5); then, with the server stopped, the indexing CPU of one edit measured
   in process (median of 5).

Figures go to standard output as a table; progress to standard error.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, unquote

from bench.client import get, retitled
from bench.corpus import generate
from bench.processes import Processes, descendants, free_port, memory_kb, wait_healthy
from bench.servers import ROOT, feedsvc_env

Row = tuple[str, str, str]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def start(
    procs: Processes, articles: Path, state: Path, work: Path, name: str, workers: int
) -> tuple[subprocess.Popen[bytes], int]:
    """``feedsvc serve`` with its own state directory, not pinned: a build uses every core."""
    port = free_port()
    env = {**feedsvc_env(articles, port), "FEEDSVC_STATE_DIR": str(state)}
    # One public address whatever the port: a restart serves what it kept (a new base
    # URL would make every kept feed obsolete, and render them all again).
    env["FEEDSVC_BASE_URL"] = "http://127.0.0.1:8000"
    command = [sys.executable, "-m", "feedsvc.cli", "serve", "--port", str(port)]
    command += ["--workers", str(workers)]
    return procs.start(command, work / f"{name}.log", env=env, cwd=ROOT), port


def first_200(port: int, path: str, process: subprocess.Popen[bytes], limit: float = 1800) -> float:
    """Seconds until ``path`` answers 200 (feeds answer 503 until the index is built)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if process.poll() is not None:
            raise RuntimeError("feedsvc exited")
        try:
            if get(port, path, timeout=30).status == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"no 200 for {path} within {limit} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--tags", type=int, default=2000)
    parser.add_argument("--corpus", type=Path, help="reuse this corpus folder")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--state", type=Path, help="reuse this state directory: no first build is measured"
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="feedsvc-scale-"))
    procs = Processes()
    try:
        articles = args.corpus or work / "articles"
        if args.corpus is None:
            log(f"writing {args.articles:,} articles to {articles}")
            generate(articles, args.articles, args.tags, seed=1)
        count = sum(1 for _ in articles.iterdir())
        state = args.state or work / "state"
        rows = measure(procs, articles, state, work, count, reuse=args.state is not None)
        print(f"feedsvc index at scale, {time.strftime('%Y-%m-%d')}: {count:,} files in {articles}")
        print()
        print("| test | measured | target |")
        print("|---|---:|---:|")
        for row in rows:
            print(f"| {row[0]} | {row[1]} | {row[2]} |")
    finally:
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def measure(
    procs: Processes, articles: Path, state: Path, work: Path, count: int, reuse: bool = False
) -> list[Row]:
    # 1. First build: no state (unless one is reused: then it is not measured).
    build_s = None
    if not reuse:
        process, port = start(procs, articles, state, work, "first", 1)
        build_s = first_200(port, "/feed.rss", process)  # every feed answers from then on
        log(f"first build: {build_s:.1f} s")
        procs.stop(process)
    size = sum(p.stat().st_size for p in state.iterdir() if p.is_file()) / 2**20
    # The least used tag: its newest article is on its feed's first page, for the edits.
    index = sqlite3.connect(f"file:{state / 'index.sqlite'}?mode=ro", uri=True)
    ((key,),) = index.execute(
        "SELECT scope FROM scopes WHERE scope != '' AND count > 0 ORDER BY count, scope LIMIT 1"
    ).fetchall()
    index.close()
    path = f"/tags/{quote(key, safe='')}/feed.rss"

    # 2. Restart from the store with two workers.
    process, port = start(procs, articles, state, work, "restart", 2)
    started = time.monotonic() - first_200(port, path, process)
    restart_s = time.monotonic() - started
    log(f"restart: first tag feed after {restart_s:.2f} s")
    # Edits wait for the reconciliation (every file's stamp checked against the index).
    wait_healthy(port, process, limit=1800)
    reconciled_s = time.monotonic() - started
    log(f"restart: reconciled after {reconciled_s:.1f} s")
    tags = [t["key"] for t in json.loads(get(port, "/tags.json").body)["tags"]]
    newest = json.loads(get(port, f"/tags/{quote(key, safe='')}/feed.json").body)["items"][0]
    slug = unquote(newest["url"].rsplit("/", 1)[1])
    # Named after the slug, with or without a YYYY-MM-DD- date prefix.
    target = next(p for p in articles.iterdir() if f"{slug}.txt" in (p.name, p.name[11:]))
    step = max(1, len(tags) // 200)
    for key in tags[::step][:200]:
        for _ in range(2):  # connections land on either worker
            get(port, f"/tags/{quote(key, safe='')}/feed.rss")
    workers = [pid for pid in descendants(process.pid) if memory_kb(pid) > 0]
    rss = sorted((memory_kb(pid) / 1024 for pid in workers), reverse=True)
    log(f"memory: {rss} MB")

    # 3. One edit, seen in its tag feed.
    original = target.read_text()
    visible = []
    for trial in range(5):
        title = f"edited {trial}"
        target.write_text(retitled(original, f" {title}"))
        started = time.monotonic()
        while title.encode() not in get(port, f"{path}?limit=100").body:
            if time.monotonic() - started > 10:
                raise RuntimeError("edit not seen")
            time.sleep(0.005)
        visible.append(time.monotonic() - started)
    procs.stop(process)
    target.write_text(original)
    cpu = edit_cpu(articles, state, target)
    median_ms, max_ms = 1000 * statistics.median(visible), 1000 * max(visible)
    cpu_ms, cpu_max_ms = 1000 * statistics.median(cpu), 1000 * max(cpu)
    return [
        (
            f"first build, no store: first tag feed ({count:,} files)",
            "not measured (--state)" if build_s is None else f"{build_s:.1f} s",
            "≤ 5 s (100k), ≤ 60 s (1M)",
        ),
        ("index size on disk", f"{size:,.0f} MB", ""),
        (
            "restart, store present, folder unchanged: first tag feed (2 workers)",
            f"{restart_s:.2f} s",
            "≤ 2 s",
        ),
        (
            "restart: folder reconciled with the index (in the background)",
            f"{reconciled_s:.1f} s",
            "",
        ),
        (
            "RSS of each process after 200 distinct tag feeds",
            " / ".join(f"{r:.0f}" for r in rss) + " MB",
            "≤ 300 MB a worker",
        ),
        (
            "one edited file visible in its tag feed (median / max of 5)",
            f"{median_ms:.0f} / {max_ms:.0f} ms",
            "≤ 1000 ms",
        ),
        (
            "indexing CPU per edit, in process (median / max of 5)",
            f"{cpu_ms:.1f} / {cpu_max_ms:.1f} ms",
            "≤ 20 ms",
        ),
    ]


def edit_cpu(articles: Path, state: Path, target: Path) -> list[float]:
    from feedsvc.indexer import Indexer
    from feedsvc.settings import Settings

    # As the service made it (its settings are the defaults): another site author
    # would build the index anew.
    settings = Settings.from_mapping({"ARTICLES_DIR": str(articles), "STATE_DIR": str(state)})
    indexer = Indexer.of(settings)
    indexer.open()
    original = target.read_text()
    costs = []
    try:
        for trial in range(5):
            target.write_text(retitled(original, f" cpu {trial}"))
            indexer.update([str(target)])
            costs.append(indexer.last_update_cpu)
    finally:
        target.write_text(original)
        indexer.update([str(target)])
        indexer.close()
    return costs


if __name__ == "__main__":
    sys.exit(main())
