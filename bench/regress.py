"""Did this change slow feedsvc down? Two revisions measured in one run, on one corpus.

``python -m bench.regress --against REV [--corpus DIR]`` (from the repository root; a
corpus made by ``python -m bench.corpus``; ``--quick`` makes 300 articles and runs 1 s)
measures, for ``REV`` and for the working tree:

* **the first build**: ``feedsvc index`` into a new state directory, the two revisions
  alternating, ``--rounds`` times each (wall seconds, median);
* **the poll mix**: random GETs of every feed with gzip, plain and conditional (304s),
  the ``bench.polling`` method;
* **the hot identity feed**: the site's RSS feed, asked again and again without
  compression, the access log on (the default).

For the last two both servers run at once, one worker each on CPU 0, each loaded by its
own ``wrk`` on CPU 1: requests per CPU-second of each server's processes, so both see the
same noise (the same revision against itself gives ratios of 0.97-1.03). The table says
this tree's figure over ``REV``'s: a build time ratio above 1 or a request ratio below 1
is a slowdown. Quote it in the note of every change to the request path, the first
build or the index.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.corpus import generate
from bench.load import parse_wrk
from bench.polling import WRK_SCRIPT, feed_paths, log, mirror, tree_ticks, wait_ready
from bench.processes import TICK, Processes, free_port, pinned
from bench.servers import ROOT, feedsvc_env
from bench.side_by_side import checkout, remove_checkouts

MODES = {
    "plain": "poll mix, random plain GETs (gzip)",
    "conditional": "poll mix, random conditional GETs (304)",
    "identity": "hot identity feed (/feed.rss, no compression)",
}


def first_build(tree: Path, corpus: Path, state: Path) -> float:
    """Seconds ``feedsvc index`` of ``tree`` takes to build the index of ``corpus``."""
    shutil.rmtree(state, ignore_errors=True)
    env = {**feedsvc_env(corpus, 8000), "FEEDSVC_STATE_DIR": str(state)}
    env["PYTHONPATH"] = str(tree)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", "index", str(corpus)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{tree}: feedsvc index failed:\n{done.stderr[-2000:]}")
    return took


def answered(port: int, urls: Path, seconds: float, mode: str, script: Path) -> int:
    command = ["wrk", "-t1", "-c32", f"-d{seconds:g}s", "--timeout", "5s", "-s", str(script)]
    command += [f"http://127.0.0.1:{port}", "--", str(urls), mode, str(port)]
    done = subprocess.run(
        pinned(1, command), capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
    counts = [
        int(line.split()[2]) for line in done.stdout.splitlines() if line.startswith("status")
    ]
    parse_wrk(done.stdout, 0.0)  # fails on a run wrk could not make
    return sum(counts)


def per_cpu_second(
    servers: list[tuple[subprocess.Popen[bytes], int, Path]],
    seconds: float,
    mode: str,
    script: Path,
) -> list[float]:
    """Requests per CPU-second of each server, loaded at the same time."""
    before = [tree_ticks(server) for server, _, _ in servers]
    counts: dict[int, int] = {}

    def load(port: int, urls: Path) -> None:
        counts[port] = answered(port, urls, seconds, mode, script)

    threads = [threading.Thread(target=load, args=(port, urls)) for _, port, urls in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [
        counts[port] / ((tree_ticks(server) - ticks) / TICK)
        for (server, port, _), ticks in zip(servers, before, strict=True)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", required=True, metavar="REV")
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of each wrk run")
    parser.add_argument("--quick", action="store_true", help="smoke test: 300 articles, 1 s")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="feedsvc-regress-"))
    procs = Processes()
    try:
        if args.quick:
            args.rounds, args.duration = 1, 1.0
            args.corpus = work / "articles"
            generate(args.corpus, 300, 40)
        if args.corpus is None:
            parser.error("--corpus is required (a folder made by python -m bench.corpus)")
        corpus = args.corpus.resolve()
        trees = [checkout(args.against, work), ROOT]
        names = [args.against, "this tree"]
        builds: list[list[float]] = [[], []]
        for round_number in range(args.rounds):
            for number, tree in enumerate(trees):
                took = first_build(tree, corpus, work / f"state-{number}")
                builds[number].append(took)
                log(f"round {round_number + 1}: {names[number]}: first build {took:.1f} s")
        script = work / "regress.lua"
        script.write_text(WRK_SCRIPT)
        servers = []
        for number, tree in enumerate(trees):
            port = free_port()
            env = {**feedsvc_env(corpus, port), "FEEDSVC_STATE_DIR": str(work / f"state-{number}")}
            env["PYTHONPATH"] = str(tree)
            command = ["taskset", "-c", "0", sys.executable, "-m", "feedsvc.cli", "serve"]
            server = procs.start(
                [*command, "--port", str(port)], work / f"serve-{number}.log", env=env, cwd=tree
            )
            servers.append((server, port))
        loaded = []
        for server, port in servers:
            wait_ready(port, server, limit=3600)
            paths = feed_paths(port)
            etags = mirror(port, paths, work / f"docroot-{port}")
            mix = work / f"mix-{port}.tsv"
            mix.write_text("".join(f"{p}\t{e}\n" for p, e in zip(paths, etags, strict=True)))
            hot = work / f"hot-{port}.tsv"
            hot.write_text("/feed.rss\t\n")
            loaded.append((server, port, {"plain": mix, "conditional": mix, "identity": hot}))
        figures: dict[str, list[list[float]]] = {mode: [[], []] for mode in MODES}
        for round_number in range(args.rounds):
            for mode in MODES:
                targets = [(server, port, files[mode]) for server, port, files in loaded]
                for number, figure in enumerate(
                    per_cpu_second(targets, args.duration, mode, script)
                ):
                    figures[mode][number].append(figure)
                    said = f"{names[number]}: {mode}: {figure:,.0f} req/cpu-s"
                    log(f"round {round_number + 1}: {said}")
        print(f"| measure (median of {args.rounds}) | {names[0]} | {names[1]} | ratio |")
        print("|---|---:|---:|---:|")
        old, new = (statistics.median(times) for times in builds)
        print(
            f"| first build, `feedsvc index`, seconds | {old:.1f} | {new:.1f} | {new / old:.2f} |"
        )
        for mode, label in MODES.items():
            old, new = (statistics.median(values) for values in figures[mode])
            print(
                f"| {label}, requests per CPU-second | {old:,.0f} | {new:,.0f} | {new / old:.2f} |"
            )
        count = sum(1 for _ in os.scandir(corpus))
        print(f"\n{count:,} files in {corpus}; this tree's figure over {args.against}'s")
    finally:
        procs.stop_all()
        time.sleep(0.2)
        remove_checkouts(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
