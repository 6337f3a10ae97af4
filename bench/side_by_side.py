"""Two versions of feedsvc measured at the same time, so both see the same noise.

``python -m bench.side_by_side --corpus DIR A B`` compares what one request costs in
two versions of the service: each variant is a git revision (``.`` for the working
tree) with optional settings, ``REV[,NAME=VALUE...]``, for example ``HEAD~1 .`` or
``.,FEEDSVC_ACCESS_LOG=off .`` (``--quick``, the smoke test, compares the working
tree with itself on 300 generated articles). Both servers run on CPU 0 with one worker each, and
each is loaded by its own wrk on CPU 1 with the polling benchmark's random mixes (plain
GETs, then 304s) at the same time. The figure is requests per CPU-second of each
server's process tree: on a shared machine the rate of one server moves with whatever
else runs, but both servers here share CPU 0 and the same interference, so their
ratio holds still (the same revision against itself gives 0.99-1.01).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.corpus import generate
from bench.polling import (
    WRK_SCRIPT,
    feed_paths,
    load_together,
    log,
    mirror,
    tree_ticks,
    wait_ready,
)
from bench.processes import TICK, Processes, free_port
from bench.servers import ROOT, feedsvc_env


def checkout(revision: str, work: Path) -> Path:
    """A folder with ``revision``'s code: the working tree itself for ``.``."""
    if revision == ".":
        return ROOT
    folder = work / f"tree-{revision.replace('/', '_')}"
    if not folder.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), revision],
            check=True,
            capture_output=True,
        )
    return folder


def run_in_tree(tree: Path, program: str, *arguments: str) -> Any:
    """Run ``program`` (Python source) with ``tree``'s own code, and read the JSON it
    prints on its last line."""
    done = subprocess.run(
        [sys.executable, "-c", program, *arguments],
        cwd=tree,  # "-c" puts the working directory first on the path
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def remove_checkouts(work: Path) -> None:
    """Remove what :func:`checkout` made in ``work``, then ``work`` itself."""
    for folder in work.glob("tree-*"):
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)],
            check=False,
            capture_output=True,
        )
    shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="*", default=[".", "."], metavar="REV[,NAME=VALUE]")
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny corpus, 1 s")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="feedsvc-side-by-side-"))
    if args.quick:
        args.duration, args.rounds = 1.0, 1
        args.corpus = work / "articles"
        generate(args.corpus, 300, 40)
    if len(args.variants) != 2:
        parser.error("give two variants (by default the working tree twice)")
    if args.corpus is None:
        parser.error("--corpus is required (a folder made by python -m bench.corpus)")
    procs = Processes()
    script = work / "random.lua"
    script.write_text(WRK_SCRIPT)
    servers = []
    try:
        for number, variant in enumerate(args.variants):
            revision, *settings = variant.split(",")
            port = free_port()
            env = {**feedsvc_env(args.corpus, port), "FEEDSVC_STATE_DIR": str(work / f"s{number}")}
            env.update(setting.split("=", 1) for setting in settings)
            # The code of the revision: run from its folder, which comes first on sys.path.
            command = ["taskset", "-c", "0", sys.executable, "-m", "feedsvc.cli", "serve"]
            command += ["--port", str(port)]
            tree = checkout(revision, work)
            server = procs.start(command, work / f"feedsvc-{number}.log", env=env, cwd=tree)
            servers.append((variant, server, port))
        urls = {}
        for variant, server, port in servers:
            log(f"{variant}: waiting for every feed to be rendered")
            wait_ready(port, server, limit=3600)
            paths = feed_paths(port)
            etags = mirror(port, paths, work / f"docroot-{port}")
            urls[port] = work / f"urls-{port}.tsv"
            urls[port].write_text("".join(f"{p}\t{e}\n" for p, e in zip(paths, etags, strict=True)))
        per_cpu: dict[tuple[int, bool], list[float]] = {}
        for round_number in range(args.rounds):
            for conditional in (False, True):
                ticks = {port: tree_ticks(server) for _, server, port in servers}
                answered = load_together(
                    [(port, urls[port]) for _, _, port in servers],
                    args.duration,
                    conditional,
                    script,
                )
                for number, (variant, server, port) in enumerate(servers):
                    used = tree_ticks(server) - ticks[port]
                    figure = answered[port] / (used / TICK)
                    per_cpu.setdefault((number, conditional), []).append(figure)
                    mix = "conditional" if conditional else "plain"
                    log(f"  round {round_number + 1}: {variant} {mix}: {figure:,.0f} req/cpu-s")
        first, second = args.variants
        print(f"| mix | {first} | {second} | ratio |")
        print("|---|---:|---:|---:|")
        for conditional in (False, True):
            a = statistics.median(per_cpu[(0, conditional)])
            b = statistics.median(per_cpu[(1, conditional)])
            mix = "random conditional GETs (304)" if conditional else "random plain GETs"
            print(f"| {mix}, requests per CPU-second | {a:,.0f} | {b:,.0f} | {a / b:.3f} |")
    finally:
        procs.stop_all()
        time.sleep(0.2)
        remove_checkouts(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
