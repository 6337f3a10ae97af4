"""What a combination of tags costs to render, first time (nothing kept), in process.

``python -m bench.combinations --corpus DIR --state DIR`` builds (or reuses) the index
of a realistic corpus (``python -m bench.corpus``) and renders the first page of
combination feeds in every format, each from a fresh snapshot as a request takes
one: an AND of the two biggest tags, an OR of them, the biggest NOT the second, an
AND of the biggest with a small tag (few matches: the most rows read for a page),
and a NOT that takes almost everything away. It prints the median and the max per
kind, the rows of the index each reads, and a single tag's feed as the reference
measured in the same run. ``--quick`` is the smoke test: 2,000 generated articles.

``--memory N`` then starts ``feedsvc serve`` (one worker, a response cache of
``--cache-megabytes``, 32 by default) on that index and asks it for N distinct random
combinations of two to four of the biggest tags (AND, OR, NOT; canonical, one format each)
over one kept-alive connection, printing the service's memory (VmRSS of the main
process and the worker) twenty times along the way: what made-up combinations leave.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

from bench.corpus import built, corpus_and_state, corpus_arguments
from bench.processes import Processes, descendants, free_port, memory_mb, wait_healthy
from bench.servers import ROOT, clean_env
from feedsvc.combinations import CombinationError, read
from feedsvc.feeds import FORMATS
from feedsvc.settings import Settings
from feedsvc.store import Store
from feedsvc.syndication import Syndication
from feedsvc.urls import Urls


def kinds(store: Store) -> dict[str, str]:
    """The scopes measured, by kind."""
    index = store.begin()
    try:
        ranked = [(tag.key, tag.count) for tag in index.tags_by_count()]
    finally:
        index.close()
    (big, _), (second, _) = ranked[0], ranked[1]
    # A tag of about 50 articles: an AND with the biggest reads far to fill a page.
    small = min(ranked, key=lambda pair: abs(pair[1] - 50))[0]
    first, other = sorted((big, second))
    return {
        "one tag (reference)": big,
        "AND of the two biggest": f"{first}+{other}",
        "OR of the two biggest": f"{first},{other}",
        "biggest NOT second": f"{big}+-{second}",
        f"AND of the biggest and a small tag ({small})": "+".join(sorted((big, small))),
        "second NOT biggest": f"{second}+-{big}",
    }


def render_times(
    store: Store, syndication: Syndication, scope: str, rounds: int
) -> tuple[list[float], int]:
    """Milliseconds of each first-page render in every format, and the articles shown."""
    times = []
    shown = 0
    for _ in range(rounds):
        for fmt in FORMATS.values():
            started = time.perf_counter()
            index = store.begin()
            try:
                shown = len(index.newest(scope, syndication.settings.feed_items))
                syndication.feed(index, scope, fmt)
            finally:
                index.close()
            times.append((time.perf_counter() - started) * 1000)
    return times, shown


def render_table(corpus: Path, state: Path, kinds: dict[str, str], rounds: int) -> None:
    """Print a markdown row per kind of scope: the median and max milliseconds of a first
    render (:func:`render_times`), as a ratio of the first kind's (the reference)."""
    store = Store(str(state))
    settings = Settings.from_mapping({"ARTICLES_DIR": str(corpus), "STATE_DIR": str(state)})
    syndication = Syndication(settings, Urls.of(settings))
    print("| feed | median ms | max ms | items | scope |")
    print("|---|---:|---:|---:|---|")
    reference = None
    for kind, scope in kinds.items():
        times, shown = render_times(store, syndication, scope, rounds)
        median = statistics.median(times)
        reference = reference or median
        print(
            f"| {kind} | {median:.1f} ({median / reference:.2f}x) | {max(times):.1f} | "
            f"{shown} | `{scope}` |"
        )


def memory_run(
    args: argparse.Namespace,
    state: Path,
    work: Path,
    paths: Callable[[list[str]], Iterator[str]],
    what: str,
) -> None:
    """The service's memory while ``args.memory`` distinct URLs of ``paths`` are asked
    for, its response cache ``args.cache_megabytes`` and its feeds ``args.items`` long.

    ``paths`` is given the keys of every tag and yields distinct paths, each to be a 200.
    """
    corpus, count = args.corpus, args.memory
    procs = Processes()
    port = free_port()
    env = {
        **clean_env(),
        "FEEDSVC_ARTICLES_DIR": str(corpus),
        "FEEDSVC_STATE_DIR": str(state),
        "FEEDSVC_WATCH": "false",
        "FEEDSVC_ACCESS_LOG": "off",
        "FEEDSVC_CACHE_MEGABYTES": str(args.cache_megabytes),
        "FEEDSVC_FEED_ITEMS": str(args.items),
    }
    command = [sys.executable, "-m", "feedsvc.cli", "serve", "--port", str(port)]
    server = procs.start([*command, "--workers", "1"], work / "serve.log", env=env, cwd=ROOT)
    try:
        wait_healthy(port, server, limit=600)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", "/tags.json")
        keys = [tag["key"] for tag in json.loads(connection.getresponse().read())["tags"]]
        print(f"| distinct {what} asked | service VmRSS MB | seconds |")
        print("|---:|---:|---:|")
        started = time.perf_counter()
        for asked, path in enumerate(itertools.islice(paths(keys), count), 1):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: {response.status}")
            if asked % max(1, count // 20) == 0:
                rss = memory_mb([server.pid, *descendants(server.pid)])
                elapsed = time.perf_counter() - started
                print(f"| {asked:,} | {rss:.0f} | {elapsed:.0f} |", flush=True)
    finally:
        procs.stop_all()


def combination_paths(keys: list[str]) -> Iterator[str]:
    """Distinct random combinations of two to four of ``keys`` (AND, OR, NOT), canonical,
    one format each."""
    rng = random.Random(7)
    seen: set[str] = set()
    formats = ("rss", "atom", "json")
    while True:
        # Two to four tags, each joined by AND, OR or AND NOT.
        first, *others = rng.sample(keys, rng.randint(2, 4))
        spelling = first + "".join(rng.choice(("+", ",", "+-")) + key for key in others)
        try:
            text = read(spelling, str, 4).text
        except CombinationError:  # "a+-b,c": a NOT in an OR
            continue
        if text in seen:
            continue
        seen.add(text)
        yield f"/tags/{quote(text, safe='+,')}/feed.{formats[len(seen) % 3]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    corpus_arguments(parser)
    parser.add_argument("--memory", type=int, metavar="N", help="then N distinct combinations")
    parser.add_argument("--cache-megabytes", type=int, default=32)
    parser.add_argument("--items", type=int, default=20, help="FEEDSVC_FEED_ITEMS of --memory")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="feedsvc-combinations-"))
    try:
        args.corpus, state = corpus_and_state(parser, args, work)
        store = built(args.corpus, state)
        render_table(args.corpus, state, kinds(store), args.rounds)
        if args.memory:
            memory_run(args, state, work, combination_paths, "combinations")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
