"""An honest poller's latency while others ask distinct costly URLs, for two revisions.

``python -m bench.costly --corpus DIR [--against REV] [--seconds 30] [--clients 4]`` (from
the repository root) starts the real ``feedsvc serve --workers 2`` on the corpus, waits
until it is ready (its search index full), then for ``--seconds``:

* **an honest poller** asks for random tag feeds it has seen, conditionally (``304``s),
  each on a new connection, and times every answer;
* **``--clients`` costly clients** each ask, as fast as they are answered, distinct deep
  pages of one-word searches (``/search/feed.atom?q=<common word>&page=N``, N up to
  1,000) and of combinations of big tags.

It reports the poller's median, 95th percentile and worst latency, its failures, and what
the costly clients got (``200``, ``404``, ``503``), for this tree and, with ``--against``,
another revision on the same corpus in the same run. ``--quick``: 2,000 generated
articles, 5 s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from bench.corpus import generate
from bench.polling import feed_paths, log
from bench.processes import Processes, free_port, wait_healthy
from bench.servers import ROOT, feedsvc_env
from bench.side_by_side import checkout, remove_checkouts

WORDS = ("the", "and", "said", "on", "of", "new", "city", "year")


@dataclass(frozen=True)
class Outcome:
    median_ms: float
    p95_ms: float
    worst_ms: float
    polls: int
    poll_failures: int
    costly: dict[int, int]


def ask(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
    except (OSError, http.client.HTTPException):
        return 0, b"", {}
    finally:
        connection.close()


def measure(tree: Path, corpus: Path, work: Path, seconds: float, clients: int) -> Outcome:
    procs = Processes()
    port = free_port()
    env = {**feedsvc_env(corpus, port), "FEEDSVC_STATE_DIR": str(work / f"state-{tree.name}")}
    env["PYTHONPATH"] = str(tree)
    try:
        server = procs.start(
            [sys.executable, "-m", "feedsvc.cli", "serve", "--port", str(port), "--workers", "2"],
            work / f"serve-{tree.name}.log",
            env=env,
            cwd=tree,
        )
        wait_healthy(port, server, limit=3600)
        tags = json.loads(ask(port, "/tags.json")[1])["tags"]
        big = [tag["key"] for tag in tags[:12]]
        polled = [path for path in feed_paths(port) if path.startswith("/tags/")][:300]
        etags = {}
        for path in polled:
            status, _, headers = ask(port, path)
            if status == 200:
                etags[path] = headers.get("etag", "")
        log(f"{tree.name}: ready; {len(etags)} feeds to poll, {clients} costly clients")
        stop = threading.Event()
        latencies: list[float] = []
        failures = 0
        costly: Counter[int] = Counter()
        lock = threading.Lock()

        def poller() -> None:
            nonlocal failures
            rng = random.Random(1)
            paths = sorted(etags)
            while not stop.is_set():
                path = rng.choice(paths)
                started = time.monotonic()
                status, _, _ = ask(port, path, {"If-None-Match": etags[path]})
                took = time.monotonic() - started
                with lock:
                    latencies.append(took)
                    failures += status not in (200, 304)
                time.sleep(0.02)

        def attacker(number: int) -> None:
            rng = random.Random(100 + number)
            while not stop.is_set():
                if rng.random() < 0.5:
                    path = f"/search/feed.atom?q={rng.choice(WORDS)}&page={rng.randint(2, 1000)}"
                else:
                    a, b = sorted(rng.sample(big, 2))
                    pair = f"{quote(a, safe='')}+{quote(b, safe='')}"
                    path = f"/tags/{pair}/feed.atom?page={rng.randint(2, 1000)}"
                status, _, _ = ask(port, path)
                with lock:
                    costly[status] += 1

        threads = [threading.Thread(target=poller)]
        threads += [threading.Thread(target=attacker, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join()
        ms = sorted(1000 * t for t in latencies)
        return Outcome(
            statistics.median(ms),
            ms[int(0.95 * (len(ms) - 1))],
            ms[-1],
            len(ms),
            failures,
            dict(costly),
        )
    finally:
        procs.stop_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--against", metavar="REV")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="feedsvc-costly-"))
    try:
        if args.quick:
            args.corpus, args.seconds = work / "corpus", 5.0
            generate(args.corpus, 2000, 200, seed=1)
        if args.corpus is None:
            parser.error("--corpus (or --quick)")
        trees = [("this tree", ROOT)]
        if args.against:
            trees.append((args.against, checkout(args.against, work)))
        results = [
            (name, measure(tree, args.corpus.resolve(), work, args.seconds, args.clients))
            for name, tree in trees
        ]
        print(
            "| code | poller median ms | p95 ms | worst ms | polls | poll failures "
            "| costly answers |"
        )
        print("|---|---:|---:|---:|---:|---:|---|")
        for name, o in results:
            answers = ", ".join(f"{status}: {n:,}" for status, n in sorted(o.costly.items()))
            print(
                f"| {name} | {o.median_ms:.1f} | {o.p95_ms:.1f} | {o.worst_ms:.1f} | {o.polls:,} "
                f"| {o.poll_failures} | {answers} |"
            )
    finally:
        remove_checkouts(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
