"""A bulk arrival: thousands of new files moved into a running site at once.

``python -m bench.bulk --corpus DIR --extra DIR [--against REV]`` (from the repository
root) links the articles of ``--corpus`` into a folder of its own, builds its index,
starts the real ``feedsvc serve`` on it, then moves every file of ``--extra`` into the
folder at once (a migration, a restore, a sync) and, a second later, writes one
unrelated new article. It reports how long until every new article is served
(``/healthz`` counts them), how long the unrelated one waited for its page, and the
most the index said was pending meanwhile. With ``--against REV`` the same run follows
with another revision's code, on the same files. ``--quick``: 2,000 and 300 generated
articles (the smoke test).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.corpus import generate
from bench.processes import Processes, free_port, health, wait_healthy
from bench.servers import ROOT, feedsvc_env
from bench.side_by_side import checkout, remove_checkouts

UNRELATED = "bulk-unrelated-edit"


@dataclass(frozen=True)
class Arrival:
    files: int
    all_served: float
    """Seconds from the move until ``/healthz`` counted every new article."""
    unrelated: float
    """Seconds from the unrelated article's write until its page answered 200."""
    most_pending: int
    """The most files ``/healthz`` said were waiting to be read."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def status(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        connection.close()


def articles_served(report: dict[str, object]) -> int:
    count = report.get("articles")
    return count if isinstance(count, int) else -1


def pending(report: dict[str, object]) -> int:
    progress = report.get("progress")
    if report.get("index") != "updating" or not isinstance(progress, dict):
        return 0
    return int(progress.get("total", 0)) - int(progress.get("done", 0))


def arrive(tree: Path, corpus: Path, extra: Path, work: Path, limit: float) -> Arrival:
    """One run with ``tree``'s code."""
    articles, staging, state = work / "articles", work / "staging", work / "state"
    for folder in (articles, staging, state):
        shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(corpus, articles, copy_function=os.link)
    shutil.copytree(extra, staging, copy_function=os.link)
    names = sorted(os.listdir(staging))
    procs = Processes()
    port = free_port()
    env = {**feedsvc_env(articles, port), "FEEDSVC_STATE_DIR": str(state)}
    env["PYTHONPATH"] = str(tree)
    try:
        log(f"{tree.name}: building the index of {len(os.listdir(articles)):,} files")
        server = procs.start(
            [sys.executable, "-m", "feedsvc.cli", "serve", "--port", str(port)],
            work / f"serve-{tree.name}.log",
            env=env,
            cwd=tree,
        )
        before = articles_served(wait_healthy(port, server, limit=limit))
        log(f"{tree.name}: {before:,} served; moving {len(names):,} files in")
        if before < 0:
            raise RuntimeError("the service says no article count")
        started = time.monotonic()
        for name in names:
            os.rename(staging / name, articles / name)
        # A name in both folders was replaced: every file is one article (or skipped).
        files = len(os.listdir(articles)) + 1
        time.sleep(1.0)
        written = time.monotonic()
        (articles / f"{UNRELATED}.txt").write_text(
            "An unrelated article\n\nWritten during a bulk arrival.\n\nbulk\n\nIts body.\n",
            encoding="utf-8",
        )
        unrelated = all_served = None
        most = 0
        while time.monotonic() - started < limit and (unrelated is None or all_served is None):
            if unrelated is None and status(port, f"/articles/{UNRELATED}") == 200:
                unrelated = time.monotonic() - written
                log(f"{tree.name}: the unrelated article answered after {unrelated:.1f} s")
            report = health(port, timeout=10)
            most = max(most, pending(report))
            skipped = report.get("skipped_count", 0)
            if all_served is None and articles_served(report) + int(str(skipped)) >= files:
                all_served = time.monotonic() - started
                log(f"{tree.name}: every new article served after {all_served:.1f} s")
            time.sleep(0.1)
        nan = float("nan")
        return Arrival(len(names), all_served or nan, unrelated or nan, most)
    finally:
        procs.stop_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--extra", type=Path)
    parser.add_argument("--against", metavar="REV")
    parser.add_argument("--limit", type=float, default=1800, help="seconds a run may take")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="feedsvc-bulk-"))
    try:
        if args.quick:
            args.corpus, args.extra = work / "corpus", work / "extra"
            generate(args.corpus, 2000, 200, seed=1)
            generate(args.extra, 300, 200, seed=2)
        if args.corpus is None or args.extra is None:
            parser.error("--corpus and --extra (or --quick)")
        trees = [("this tree", ROOT)]
        if args.against:
            trees.append((args.against, checkout(args.against, work)))
        results = [
            (name, arrive(tree, args.corpus, args.extra, work, args.limit)) for name, tree in trees
        ]
        print(
            "| code | files added | all served (s) | an unrelated edit waited (s) | most pending |"
        )
        print("|---|---:|---:|---:|---:|")
        for name, result in results:
            print(
                f"| {name} | {result.files:,} | {result.all_served:.1f} | {result.unrelated:.1f} "
                f"| {result.most_pending:,} |"
            )
        print(json.dumps({name: vars(result) for name, result in results}))
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            remove_checkouts(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
