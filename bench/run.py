"""The feedsvc benchmark: feedsvc against nginx serving the same bytes, on one machine.

``python -m bench.run`` (from the repository root) does, in one run:

1. generates a corpus (``bench.corpus``, deterministic seed; ``--corpus realistic``
   by default, or ``easy``) in a temporary folder;
2. starts ``feedsvc serve`` (granian, 1 worker, file watching on) pinned to CPU 0,
   takes the RSS feed of the most used tag, and writes its bytes (identity and
   gzip) into a docroot served by a real nginx (1 worker, ``gzip_static``, ETag),
   also pinned to CPU 0;
3. drives them alternately with ``wrk -t1 -c32`` pinned to CPU 1, several rounds,
   for warm 200s, conditional requests answered 304, and gzip; the median of the
   rounds is reported with the ratio to nginx (``bench.phases``);
4. runs one more feedsvc load run while an article of the benchmarked tag is
   edited in a loop, counting error responses and parsing a sample of bodies;
5. times the first render of uncached tag feeds against ``bench.baseline`` (a
   straightforward Flask + feedgen app rendering per request, same server;
   ``bench.first_render``);
6. generates a 100,000-article corpus and times a cold start (process start to
   the first 200 feed response) and the worker's resident memory, then times an
   edit until it is served over HTTP, and the re-index CPU time in-process
   (``bench.startup``).

``--quick`` is the smoke test run in CI: a few hundred articles, one-second runs,
a 2,000-article cold start. No figure is asserted anywhere; targets are printed
(``bench.report``).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

from bench.client import wait_for
from bench.corpus import CORPUS_KINDS, generate
from bench.first_render import phase_first_render
from bench.load import Client
from bench.phases import FOREIGN_LIMIT, Load, phase_edit_loop, phase_gunicorn, phase_throughput
from bench.processes import Processes
from bench.report import report
from bench.results import Results, RunSettings
from bench.servers import Setup, start_feedsvc, start_nginx
from bench.startup import phase_cold, phase_cold_variant, phase_reindex

logger = logging.getLogger("bench")


@dataclass(frozen=True)
class Sizes:
    """The defaults of the sizing options, for a full run or a quick one."""

    articles: int
    tags: int
    duration: float
    rounds: int
    cold_articles: int
    retries: int


FULL = Sizes(articles=10_000, tags=2_000, duration=10.0, rounds=3, cold_articles=100_000, retries=2)
QUICK = Sizes(articles=300, tags=100, duration=1.0, rounds=1, cold_articles=2_000, retries=0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="feedsvc vs nginx benchmark")
    parser.add_argument("--corpus", choices=CORPUS_KINDS, default="realistic")
    parser.add_argument("--articles", type=int)
    parser.add_argument("--tags", type=int)
    parser.add_argument("--duration", type=float, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, help="alternating rounds per test")
    parser.add_argument("--cold-articles", type=int, help="corpus size for tests 4 and 5")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--retries",
        type=int,
        help="times to repeat a load run during which other processes used "
        f"more than {FOREIGN_LIMIT:g}%% of a core",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="the CI smoke test: small and fast")
    parser.add_argument(
        "--variant-serve-args",
        metavar="ARGS",
        help="also time a cold start with these more `feedsvc serve` arguments "
        "(e.g. --variant-serve-args='--workers 2') and report it beside the default",
    )
    parser.add_argument(
        "--profile", action="store_true", help="log cProfile tops of the scan and an update"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for option in fields(Sizes):
        if getattr(args, option.name) is None:
            setattr(args, option.name, getattr(defaults, option.name))
    return args


def measure(args: argparse.Namespace, setup: Setup) -> Results:
    """Every phase, in order; servers are stopped as soon as their phases are done."""
    work = setup.work
    corpus = generate(work / "articles", args.articles, args.tags, args.seed, args.corpus)
    logger.info(f"corpus: {args.articles:,} articles, {corpus.total_bytes / 1e6:.1f} MB")
    docroot = work / "docroot"
    svc = start_feedsvc(setup, corpus.directory, "feedsvc")
    nginx = start_nginx(setup, docroot)
    wait_for(svc.port, "/feed.rss", svc.process)  # 503 until the index is built
    docroot.mkdir(exist_ok=True)
    (docroot / "ping").write_text("ok")
    wait_for(nginx.port, "/ping", nginx.process, limit=10)
    load = Load(args.duration, args.rounds, args.retries)
    throughput = phase_throughput(setup, corpus, nginx, svc, docroot, load)
    edit_loop = phase_edit_loop(setup, corpus, svc, load)
    first = phase_first_render(setup, corpus, svc, 5 if args.quick else 20, args.duration)
    setup.procs.stop_all()
    gunicorn = phase_gunicorn(setup, corpus, throughput.feed.path, args.duration)
    small = phase_reindex(corpus, 5)
    shutil.rmtree(corpus.directory)
    big = generate(work / "big", args.cold_articles, args.tags, args.seed, args.corpus)
    logger.info(f"corpus: {args.cold_articles:,} articles, {big.total_bytes / 1e6:.1f} MB")
    cold, edit_served = phase_cold(setup, big, 3 if args.quick else 5)
    variant = None
    if args.variant_serve_args:
        variant = phase_cold_variant(setup, big, shlex.split(args.variant_serve_args))
    large = phase_reindex(big, 6 if args.profile else 5, args.profile)
    settings = RunSettings(
        args.corpus, args.articles, args.tags, args.connections, args.duration, args.rounds
    )
    return Results(
        settings, throughput, edit_loop, first, gunicorn, cold, variant, edit_served, small, large
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)  # progress only: the table goes to stdout
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for tool in ("nginx", "wrk", "taskset"):
        if shutil.which(tool) is None:
            logger.error(f"{tool} is not installed")
            return 2
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = cpus[0], cpus[1] if len(cpus) > 1 else cpus[0]
    os.sched_setaffinity(0, {client_cpu})  # keep this process off the server's core
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="feedsvc-bench-"))
    setup = Setup(work, Processes(), server_cpu, Client(client_cpu, args.connections))
    try:
        logger.info(f"work folder {work}; server on CPU {server_cpu}, wrk on CPU {client_cpu}")
        print(report(measure(args, setup)), flush=True)
    finally:
        setup.procs.stop_all()
        if args.keep:
            logger.info(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
