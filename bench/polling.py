"""Polling at scale: random requests over every tag feed, feedsvc beside nginx.

``python -m bench.polling --corpus DIR`` (a corpus made by ``python -m bench.corpus``;
without it one is generated, ``--articles`` and ``--tags``) measures what aggregators
do: every feed (each tag and the site, in three formats) fetched once, then requests
spread at random over all of them with ``Accept-Encoding: gzip``:

1. **plain GETs**, each answered 200;
2. **conditional GETs**, every client already current: each answered 304;

against one ``feedsvc serve`` worker on CPU 0 and nginx serving the same bytes
(``gzip_static``, the ``.gz`` files written from feedsvc's own answers) on CPU 0,
wrk (a Lua script picking a URL at random per request) on CPU 1, in alternating
rounds in the same run; then both at once, each loaded by its own wrk, for the ratio
of their requests per CPU-second (both share CPU 0 and whatever else runs there, so
this ratio holds on a busy machine, where the alternating rounds' does not). Then
both mixes again with two workers each (``--workers 2`` for feedsvc) on both CPUs,
wrk still on CPU 1, nginx's gain from its second worker being what this machine
allows; the memory of both process trees; and the time from saving an edited article
to each of its feeds serving the new content (median of 5).

``--state DIR`` keeps feedsvc's state directory (index and kept feeds) between runs:
the first run renders every feed once before measuring. Figures go to standard
output as a table; progress to standard error. ``--quick`` is the smoke test.
``--combinations N`` polls N distinct combinations of tags (AND, OR and NOT of two of
the biggest tags, canonical, one format each) instead of the tags' feeds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote, unquote

from bench.client import get, retitled
from bench.corpus import generate
from bench.load import Client, parse_wrk
from bench.processes import (
    TICK,
    Processes,
    clean_up,
    descendants,
    free_port,
    memory_kb,
    pinned,
    process_ticks,
)
from bench.servers import ROOT, Setup, feedsvc_env, start_nginx
from feedsvc.combinations import read

WRK_SCRIPT = """\
-- One request per call, to a path drawn at random: "plain" and "conditional" with gzip,
-- "identity" without compression. Each thread counts its answers by status; done() (in
-- the main state) reads the threads' counts.
local paths, etags = {}, {}
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  counts = {}
  for line in io.lines(args[1]) do
    local path, etag = line:match("^([^\\t]*)\\t?(.*)$")
    paths[#paths + 1] = path
    etags[#etags + 1] = etag
  end
  conditional = args[2] == "conditional"
  identity = args[2] == "identity"
  math.randomseed(os.time() + (tonumber(args[3]) or 0))
end
function request()
  local i = math.random(#paths)
  local headers = {}
  if not identity then headers["Accept-Encoding"] = "gzip" end
  if conditional then headers["If-None-Match"] = etags[i] end
  return wrk.format("GET", paths[i], headers)
end
function response(status)
  counts[status] = (counts[status] or 0) + 1
end
function done()
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      io.write(string.format("status %d %d\\n", status, n))
    end
  end
end
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def feed_paths(port: int) -> list[str]:
    """Every feed's canonical path: the site's and each tag's, in three formats."""
    listing = json.loads(get(port, "/tags.json", timeout=60).body)
    scopes = ["/"] + [f"/tags/{quote(tag['key'], safe='')}/" for tag in listing["tags"]]
    return [f"{scope}feed.{fmt}" for scope in scopes for fmt in ("rss", "atom", "json")]


def combination_paths(port: int, count: int, seed: int = 1) -> list[str]:
    """``count`` distinct combinations of tags (AND, OR, NOT of two of the 200 biggest
    tags), each in its canonical spelling and one of the three formats."""
    listing = json.loads(get(port, "/tags.json", timeout=60).body)
    keys = [tag["key"] for tag in listing["tags"][:200]]
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < min(count, 3 * len(keys) * (len(keys) - 1) // 2):
        a, b = rng.sample(keys, 2)
        spelling = rng.choice([f"{a}+{b}", f"{a},{b}", f"{a}+-{b}"])
        found[read(spelling, lambda key: key, 4).text] = None
    formats = ("rss", "atom", "json")
    return [f"/tags/{quote(text, safe='+,')}/feed.{formats[n % 3]}" for n, text in enumerate(found)]


def wait_ready(port: int, process: subprocess.Popen[bytes], limit: float) -> None:
    """Until the index is built and no feed waits to be rendered again."""
    deadline = time.monotonic() + limit
    last = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("feedsvc exited")
        try:
            health = json.loads(get(port, "/healthz", timeout=30).body)
        except (OSError, ValueError):
            time.sleep(0.2)
            continue
        pending = health.get("representations", {}).get("pending")
        state = f"{health['index']} {health['progress']['done']}/{health['progress']['total']}"
        state += f", {pending} scopes to render"
        if state != last:
            log(f"  {state}")
            last = state
        if health["index"] == "ready" and pending == 0:
            return
        time.sleep(1.0)
    raise RuntimeError(f"not ready within {limit} s")


def mirror(port: int, paths: list[str], docroot: Path) -> list[str]:
    """Fetch every feed with gzip; write its bytes (and ``.gz``) for nginx; return ETags."""
    etags = []
    for number, path in enumerate(paths):
        reply = get(port, path, {"Accept-Encoding": "gzip"}, timeout=60)
        if reply.status != 200 or reply.headers.get("content-encoding") != "gzip":
            raise RuntimeError(f"{path}: {reply.status} {reply.headers}")
        target = docroot / unquote(path).lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.decompress(reply.body))
        target.with_name(target.name + ".gz").write_bytes(reply.body)
        etags.append(reply.headers["etag"])
        if number % 2000 == 0:
            log(f"  fetched {number}/{len(paths)}")
    return etags


def nginx_etags(port: int, paths: list[str]) -> list[str]:
    return [get(port, p, {"Accept-Encoding": "gzip"}).headers["etag"] for p in paths]


def run_wrk(
    client: Client, port: int, urls: Path, seconds: float, conditional: bool, script: Path
) -> tuple[float, dict[int, int]]:
    """Requests per second, and how many answers of each status."""
    command = ["wrk", "-t1", f"-c{client.connections}", f"-d{seconds:g}s", "--timeout", "5s"]
    command += ["-s", str(script), f"http://127.0.0.1:{port}", "--", str(urls)]
    command += ["conditional" if conditional else "plain", str(port)]
    done = subprocess.run(
        pinned(client.cpu, command), capture_output=True, text=True, timeout=seconds + 60
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
    statuses: dict[int, int] = {}
    for line in done.stdout.splitlines():
        if line.startswith("status "):
            _, status, count = line.split()
            statuses[int(status)] = statuses.get(int(status), 0) + int(count)
    if not statuses:
        raise RuntimeError(f"wrk counted no answers:\n{done.stdout}")
    return parse_wrk(done.stdout, 0.0).requests_per_s, statuses


def tree_ticks(server: subprocess.Popen[bytes]) -> int:
    return process_ticks([server.pid, *descendants(server.pid)])


def load_together(
    targets: list[tuple[int, Path]], seconds: float, conditional: bool, script: Path
) -> dict[int, int]:
    """Requests answered by each server (port, URL list), all loaded at once."""
    answered: dict[int, int] = {}

    def load(port: int, urls: Path) -> None:
        _, statuses = run_wrk(Client(1, 32), port, urls, seconds, conditional, script)
        answered[port] = sum(statuses.values())

    threads = [threading.Thread(target=load, args=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answered


def alternating_rounds(
    client: Client,
    servers: list[tuple[str, int, Path, subprocess.Popen[bytes]]],
    args: argparse.Namespace,
    script: Path,
    label: str = "",
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Both mixes against each server (name, port, URL list, process) in turn, for
    ``args.rounds`` rounds: requests a second, and requests per CPU-second of the
    server's process tree (whether another worker adds capacity where the machine
    cannot show it in throughput), each by "name mix"."""
    rates: dict[str, list[float]] = {}
    per_cpu: dict[str, list[float]] = {}
    for round_number in range(args.rounds):
        for conditional in (False, True):
            mix = "conditional" if conditional else "plain"
            for name, target, urls, tree in servers:
                before = tree_ticks(tree)
                rate, statuses = run_wrk(client, target, urls, args.duration, conditional, script)
                cpu = (tree_ticks(tree) - before) / TICK
                expected = 304 if conditional else 200
                wrong = sum(n for status, n in statuses.items() if status != expected)
                if wrong:
                    raise RuntimeError(f"{name} {mix}: {statuses} (expected all {expected})")
                rates.setdefault(f"{name} {mix}", []).append(rate)
                per_cpu.setdefault(f"{name} {mix}", []).append(sum(statuses.values()) / cpu)
                log(f"  round {round_number + 1}: {name} {mix}{label}: {rate:,.0f} req/s")
    return rates, per_cpu


def tree_mb(pid: int) -> float:
    return sum(memory_kb(p) for p in [pid, *descendants(pid)]) / 1024


def edit_latency(port: int, articles: Path, state: Path, tags: list[str]) -> list[float]:
    """Seconds from saving a retitled article to its tag's (or combination's) three feeds
    showing the new title, for the newest article of the last five that have one (so it
    is on its feeds' first page)."""
    index = sqlite3.connect(f"file:{state / 'index.sqlite'}?mode=ro", uri=True)
    seconds: list[float] = []
    try:
        for attempt, tag in enumerate(reversed(tags)):
            if len(seconds) == 5:
                break
            feeds = [f"/tags/{quote(tag, safe='+,')}/feed.{fmt}" for fmt in ("rss", "atom", "json")]
            items = json.loads(get(port, feeds[2]).body)["items"]
            if not items:
                continue
            newest = items[0]["url"]
            slug = unquote(newest.rsplit("/articles/", 1)[1])
            (name,) = index.execute("SELECT path FROM articles WHERE slug = ?", (slug,)).fetchone()
            path = articles / (name.decode() if isinstance(name, bytes) else name)
            original = path.read_text()
            marker = f"Edited{attempt}x{int(time.time())}"
            started = time.monotonic()
            path.write_text(retitled(original, f" {marker}"))
            try:
                waiting = set(feeds)
                while waiting and time.monotonic() - started < 30:
                    for feed in list(waiting):
                        if marker.encode() in get(port, feed).body:
                            waiting.discard(feed)
                    time.sleep(0.005)
                if waiting:
                    raise RuntimeError(f"{sorted(waiting)} never showed the edit")
                seconds.append(time.monotonic() - started)
            finally:
                path.write_text(original)
            time.sleep(1.0)
    finally:
        index.close()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="reuse this corpus folder")
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--tags", type=int, default=2_000)
    parser.add_argument("--state", type=Path, help="keep feedsvc's state directory here")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny corpus, 1 s runs")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--combinations", type=int, metavar="N", help="poll N combinations of tags instead"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.articles, args.tags, args.duration, args.rounds = 300, 40, 1.0, 1
    work = Path(tempfile.mkdtemp(prefix="feedsvc-polling-"))
    procs = Processes()
    client = Client(cpu=1, connections=args.connections)
    setup = Setup(work, procs, 0, client)
    rows: list[tuple[str, str, str, str]] = []
    try:
        articles = args.corpus
        if articles is None:
            articles = work / "articles"
            log(f"generating {args.articles} articles")
            generate(articles, args.articles, args.tags)
        state = args.state or work / "state"
        script = work / "random.lua"
        script.write_text(WRK_SCRIPT)

        def serve(workers: int, cpus: str) -> tuple[subprocess.Popen[bytes], int]:
            port = free_port()
            env = {**feedsvc_env(articles, port), "FEEDSVC_STATE_DIR": str(state)}
            # One public address whatever the port: the two starts share what they kept.
            env["FEEDSVC_BASE_URL"] = "http://127.0.0.1:8000"
            command = ["taskset", "-c", cpus, sys.executable, "-m", "feedsvc.cli", "serve"]
            command += ["--port", str(port), "--workers", str(workers)]
            log_file = work / f"feedsvc-{workers}.log"
            return procs.start(command, log_file, env=env, cwd=ROOT), port

        log("starting feedsvc (1 worker, CPU 0)")
        server, port = serve(1, "0")
        wait_ready(port, server, limit=3600)
        if args.combinations:
            paths = combination_paths(port, args.combinations)
        else:
            paths = feed_paths(port)
        log(f"{len(paths)} feeds; fetching each once")
        docroot = work / "docroot"
        etags = mirror(port, paths, docroot)
        nginx = start_nginx(setup, docroot)
        time.sleep(0.5)
        ours = work / "feedsvc-urls.tsv"
        ours.write_text("".join(f"{p}\t{e}\n" for p, e in zip(paths, etags, strict=True)))
        theirs = work / "nginx-urls.tsv"
        theirs.write_text(
            "".join(
                f"{p}\t{e}\n" for p, e in zip(paths, nginx_etags(nginx.port, paths), strict=True)
            )
        )
        figures, per_cpu = alternating_rounds(
            client,
            [("feedsvc", port, ours, server), ("nginx", nginx.port, theirs, nginx.process)],
            args,
            script,
        )
        # Both servers loaded at once, each by its own wrk: the same interference for
        # both, so the ratio of their requests per CPU-second holds on a busy machine.
        at_once: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for conditional in (False, True):
                ticks = [tree_ticks(server), tree_ticks(nginx.process)]
                answered = load_together(
                    [(port, ours), (nginx.port, theirs)], args.duration, conditional, script
                )
                used = [tree_ticks(server) - ticks[0], tree_ticks(nginx.process) - ticks[1]]
                ours_cpu = answered[port] / (used[0] / TICK)
                theirs_cpu = answered[nginx.port] / (used[1] / TICK)
                mix = "conditional" if conditional else "plain"
                at_once.setdefault(mix, []).append(ours_cpu / theirs_cpu)
                log(
                    f"  at once: {mix}: feedsvc {ours_cpu:,.0f}, nginx {theirs_cpu:,.0f} "
                    f"requests per CPU-second ({ours_cpu / theirs_cpu:.3f})"
                )
        one_worker_mb = tree_mb(server.pid)
        procs.stop(server)
        for mix in ("plain", "conditional"):
            ours_rate = statistics.median(figures[f"feedsvc {mix}"])
            theirs_rate = statistics.median(figures[f"nginx {mix}"])
            rows.append(
                (
                    f"random {mix} GETs over {len(paths)} feeds, 1 worker",
                    f"{ours_rate:,.0f} req/s",
                    f"{theirs_rate:,.0f} req/s",
                    f"{ours_rate / theirs_rate:.3f}",
                )
            )
            rows.append(
                (
                    f"(the same, both loaded at once: requests per CPU-second, {mix})",
                    "",
                    "",
                    f"{statistics.median(at_once[mix]):.3f}",
                )
            )

        log("starting feedsvc and nginx, 2 workers each, on CPUs 0-1")
        server, port = serve(2, "0,1")
        wait_ready(port, server, limit=600)
        for path in paths:  # each worker's hot tier fills as it would under load
            get(port, path, {"Accept-Encoding": "gzip"}, timeout=60)
        # What two workers can gain on this machine: nginx's own gain is the reference.
        nginx_two = start_nginx(setup, docroot, workers=2, cpus="0,1")
        time.sleep(0.5)
        two, per_cpu_two = alternating_rounds(
            client,
            [
                ("feedsvc", port, ours, server),
                ("nginx", nginx_two.port, theirs, nginx_two.process),
            ],
            args,
            script,
            ", 2 workers",
        )
        two_workers_mb = tree_mb(server.pid)
        for name in ("feedsvc", "nginx"):
            for mix in ("plain", "conditional"):
                one = statistics.median(figures[f"{name} {mix}"])
                both = statistics.median(two[f"{name} {mix}"])
                rows.append(
                    (
                        f"{name}: random {mix} GETs, 2 workers on CPUs 0-1 (wrk shares CPU 1)",
                        f"{both:,.0f} req/s",
                        f"1 worker: {one:,.0f} req/s",
                        f"{both / one:.2f}",
                    )
                )
                one = statistics.median(per_cpu[f"{name} {mix}"])
                both = statistics.median(per_cpu_two[f"{name} {mix}"])
                rows.append(
                    (
                        f"({name}, the same: requests per CPU-second of its process tree)",
                        f"{both:,.0f}",
                        f"1 worker: {one:,.0f}",
                        f"{both / one:.2f}",
                    )
                )
        rows.append(
            (
                "memory of the server's process tree (RSS)",
                f"2 workers: {two_workers_mb:.0f} MB",
                f"1 worker: {one_worker_mb:.0f} MB",
                f"{two_workers_mb / one_worker_mb:.2f}",
            )
        )
        tags = [unquote(p.split("/")[2]) for p in paths if p.startswith("/tags/")]
        latencies = edit_latency(port, articles, state, tags[::3])
        rows.append(
            (
                "one article edited: its feeds serve it (median of 5)",
                f"{statistics.median(latencies) * 1000:.0f} ms",
                f"max {max(latencies) * 1000:.0f} ms",
                "",
            )
        )
        procs.stop(server)
    finally:
        clean_up(procs, work, args.keep)
    print("| case | feedsvc | reference | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
