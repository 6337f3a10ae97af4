"""feedsvc behind Varnish: what the shipped VCL costs, the hit ratio, and edit-to-served time.

``python -m bench.cache_tier`` (from the repository root) does, in one run:

1. generates a corpus (``bench.corpus``) and starts ``feedsvc serve`` (1 worker)
   whose base URL is the cache and which purges it on each change;
2. starts two ``varnishd`` on the same server CPU: the shipped VCL
   (``deploy/varnish/feedsvc.vcl``, its deployment lines filled in) and a minimal
   caching VCL that keeps the plain variant for an hour; and nginx serving the
   same feed bytes, for scale;
3. drives each, and the origin alone, with ``wrk`` for warm plain 200s of the most
   used tag's RSS feed, alternating rounds; the medians and their ratios are
   reported (target: the shipped VCL at 0.9 of the minimal one at least);
4. polls the site's and the 30 most used tags' feeds (every format) through the
   shipped VCL with ``wrk`` while an article of the top tag is edited every
   second, and reads the hit ratio from ``varnishstat`` (target: 99% at least);
5. saves an edit to a file and times until the new title is served through the
   cache (target: under a second).

``--quick`` is the CI smoke test: a few hundred articles and one-second runs. No
figure is asserted anywhere.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.client import get, item_slugs, retitled, tag_feed_path, wait_for
from bench.corpus import Corpus, generate
from bench.load import Client, EditLoop, ForeignCpu, parse_wrk
from bench.phases import Load, copy_to_docroot, kept_run, top_feed
from bench.processes import Processes, free_port, pinned
from bench.servers import Server, Setup, start_feedsvc, start_nginx
from bench.varnish import MINIMAL_VCL, counters, shipped_vcl, varnishd_command, wait_answering

logger = logging.getLogger("bench")

POLLED_TAGS = 30
EDIT_PAUSE = 5.0
"""Seconds between edits while the hit ratio is measured: a busy newsroom's twelve a minute."""


@dataclass(frozen=True)
class Figures:
    rates: dict[str, float]
    hit_ratio: float
    requests: int
    edits: int
    served_after: list[float]


def start_varnishd(setup: Setup, name: str, vcl: str, port: int) -> Server:
    work = setup.work / name
    command = varnishd_command(work, vcl, port)
    log = work / "varnishd.log"
    process = setup.procs.start(pinned(setup.server_cpu, command), log)
    wait_answering(port, process, log)
    return Server(process, port)


def rates(setup: Setup, servers: dict[str, Server], path: str, load: Load) -> dict[str, float]:
    """Median warm plain-200 rate of each server, in alternating rounds."""
    found: dict[str, list[float]] = {name: [] for name in servers}
    names = list(servers)
    for number in range(load.rounds):
        for name in names if number % 2 == 0 else reversed(names):
            result = kept_run(setup, servers[name], path, {}, load, f"{name:>14}")
            if result.errors:
                raise RuntimeError(f"{name}: {result.errors} errors")
            found[name].append(result.requests_per_s)
    return {name: statistics.median(values) for name, values in found.items()}


def polled_paths(corpus: Corpus) -> list[str]:
    scopes = [
        "/",
        *(
            tag_feed_path(label).removesuffix("feed.rss")
            for label in corpus.popular()[:POLLED_TAGS]
        ),
    ]
    return [f"{scope}feed.{fmt}" for scope in scopes for fmt in ("rss", "atom", "json")]


def hit_ratio(
    setup: Setup, corpus: Corpus, cache: Server, seconds: float
) -> tuple[float, int, int]:
    """Poll many feeds through the cache while edits arrive: hit ratio, requests, edits."""
    paths = polled_paths(corpus)
    script = setup.work / "poll.lua"
    listed = ", ".join(f'"{p}"' for p in paths)
    script.write_text(
        f"paths = {{{listed}}}\ni = 0\n"
        "request = function()\n  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend\n"
    )
    for path in paths:  # warm
        get(cache.port, path)
    label = corpus.popular()[0]
    edited = Path(corpus.files_by_tag[label][0])
    before = counters(setup.work / "shipped")
    loop = EditLoop(edited, EDIT_PAUSE)
    loop.start()
    command = ["wrk", "-t1", f"-c{setup.client.connections}", f"-d{seconds:g}s"]
    command += ["-s", str(script), f"http://127.0.0.1:{cache.port}"]
    meter = ForeignCpu([])
    done = subprocess.run(
        pinned(setup.client.cpu, command), capture_output=True, text=True, timeout=seconds + 60
    )
    loop.stop.set()
    loop.join()
    result = parse_wrk(done.stdout, meter.percent())
    after = counters(setup.work / "shipped")
    hits = after["MAIN.cache_hit"] - before["MAIN.cache_hit"]
    misses = after["MAIN.cache_miss"] - before["MAIN.cache_miss"]
    logger.info(
        f"  polling {len(paths)} feeds: {result.requests:,} requests, {loop.edits} edits, "
        f"{hits:,} hits, {misses:,} misses, errors {result.errors}"
    )
    return hits / max(1, hits + misses), result.requests, loop.edits


def edit_to_served(corpus: Corpus, cache: Server, samples: int) -> list[float]:
    """Seconds from saving an edit to its new title served through the cache."""
    path = tag_feed_path(corpus.popular()[0])
    newest = item_slugs(get(cache.port, path).body)[0]  # an article the feed shows
    article = Path(corpus.paths_by_slug[newest])
    original = article.read_text()
    found = []
    for number in range(samples):
        title = f"edit number {number} served"
        get(cache.port, path)
        temporary = article.with_name(f".{article.name}.tmp")
        temporary.write_text(retitled(original, f" {title}"))
        started = time.perf_counter()
        os.replace(temporary, article)
        while title.encode() not in get(cache.port, path).body:
            if time.perf_counter() - started > 30:
                raise RuntimeError("the edit was not served through the cache in 30 s")
            time.sleep(0.005)
        found.append(time.perf_counter() - started)
        time.sleep(0.3)
    article.write_text(original)
    return found


def measure(args: argparse.Namespace, setup: Setup) -> Figures:
    corpus = generate(setup.work / "articles", args.articles, args.tags, args.seed)
    logger.info(f"corpus: {args.articles:,} articles")
    cache_port, minimal_port = free_port(), free_port()
    cache_url = f"http://127.0.0.1:{cache_port}"
    svc = start_feedsvc(
        setup,
        corpus.directory,
        "feedsvc",
        settings={"BASE_URL": cache_url, "PURGE_URLS": f"{cache_url}/"},
    )
    wait_for(svc.port, "/feed.rss", svc.process)
    path, feed = top_feed(corpus, svc)
    docroot = setup.work / "docroot"
    copy_to_docroot(svc, path, feed, docroot)
    servers = {
        "origin alone": svc,
        "nginx": start_nginx(setup, docroot),
        "minimal VCL": start_varnishd(
            setup, "minimal", MINIMAL_VCL.format(port=svc.port), minimal_port
        ),
        "shipped VCL": start_varnishd(
            setup, "shipped", shipped_vcl([svc.port], ["127.0.0.1"]), cache_port
        ),
    }
    for name, server in servers.items():
        reply = wait_for(server.port, path, server.process, limit=20)
        if reply.body != feed.body:
            raise RuntimeError(f"{name} does not serve the feed's bytes")
        get(server.port, path)  # cached now
    shipped = get(cache_port, path)
    if shipped.headers.get("x-cache") != "HIT":
        raise RuntimeError(f"the shipped VCL did not cache {path}: {shipped.headers}")
    load = Load(args.duration, args.rounds, args.retries)
    found = rates(setup, servers, path, load)
    ratio, requests, edits = hit_ratio(setup, corpus, servers["shipped VCL"], args.poll_seconds)
    served = edit_to_served(corpus, servers["shipped VCL"], args.samples)
    return Figures(found, ratio, requests, edits, served)


def report(figures: Figures, args: argparse.Namespace) -> str:
    rates = figures.rates
    lines = [
        f"## feedsvc behind Varnish ({args.articles:,} articles, wrk -c{args.connections}, "
        f"{args.duration:g} s runs, median of {args.rounds})",
        "",
        "| warm plain 200s | req/s | vs nginx |",
        "|---|---:|---:|",
    ]
    for name, rate in rates.items():
        lines.append(f"| {name} | {rate:,.0f} | {rate / rates['nginx']:.2f} |")
    shipped = rates["shipped VCL"] / rates["minimal VCL"]
    served = figures.served_after
    lines += [
        "",
        f"- shipped VCL / minimal VCL: **{shipped:.2f}** (target ≥ 0.90)",
        f"- hit ratio polling {POLLED_TAGS_LABEL}, an edit every {EDIT_PAUSE:g} s: "
        f"**{figures.hit_ratio:.2%}** over {figures.requests:,} requests and "
        f"{figures.edits} edits (target ≥ 99%)",
        f"- saved edit → served through the cache: median **{statistics.median(served):.3f} s**, "
        f"most {max(served):.3f} s over {len(served)} edits (target < 1 s)",
    ]
    return "\n".join(lines)


POLLED_TAGS_LABEL = f"the site's and {POLLED_TAGS} tags' feeds in 3 formats"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="feedsvc behind Varnish")
    parser.add_argument("--quick", action="store_true", help="the CI smoke test")
    parser.add_argument("--articles", type=int)
    parser.add_argument("--tags", type=int)
    parser.add_argument("--duration", type=float, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--poll-seconds", type=float)
    parser.add_argument("--samples", type=int, help="edits timed until served")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    defaults = (
        {
            "articles": 300,
            "tags": 100,
            "duration": 1.0,
            "rounds": 1,
            "poll_seconds": 2.0,
            "samples": 2,
        }
        if args.quick
        else {
            "articles": 10_000,
            "tags": 2_000,
            "duration": 10.0,
            "rounds": 3,
            "poll_seconds": 30.0,
            "samples": 10,
        }
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.quick:
        args.retries = 0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for tool in ("varnishd", "varnishstat", "nginx", "wrk", "taskset"):
        if shutil.which(tool) is None:
            logger.error(f"{tool} is not installed")
            return 2
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = cpus[0], cpus[1] if len(cpus) > 1 else cpus[0]
    os.sched_setaffinity(0, {client_cpu})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="feedsvc-cache-tier-"))
    setup = Setup(work, Processes(), server_cpu, Client(client_cpu, args.connections))
    try:
        print(report(measure(args, setup), args), flush=True)
    finally:
        setup.procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
