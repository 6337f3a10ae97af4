"""What search feeds cost: a first (unkept) render, the full-text index's build time and
size, and an edit's cost in the writer.

``python -m bench.search --corpus DIR [--state DIR]`` builds the index of a
realistic corpus (``python -m bench.corpus``) and renders the first page of search feeds
in every format, each from a fresh snapshot as a request takes one: the two commonest
words together, the commonest without a word of about 10%, a phrase from the newest
title, two words of about 1% of the articles each (they rarely meet: the most matches
read), and a rare word. It prints the median and the max per kind, with a single
tag's feed as the reference measured in the same run, then the index's size, an
edit's writer CPU (median of 5, ``Indexer.last_update_cpu``), and, from ``feedsvc
serve`` on that index, how long an edit that adds a word takes to show in the search
feed for it over HTTP (median and max of 7).

``--against REV`` builds the same corpus with revision ``REV`` (a git worktree, in a
process of its own) and prints its build time, size and edit CPU beside this tree's:
with ``REV`` a revision before the search index, what full text costs. ``--quick`` is
the smoke test: 2,000 generated articles.

``--memory N`` then asks ``feedsvc serve`` (one worker, a response cache of
``--cache-megabytes``) for N distinct searches, as :mod:`bench.combinations` does for
combinations, printing the service's memory along the way: what made-up searches leave.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.combinations import memory_run, render_table
from bench.corpus import corpus_and_state, corpus_arguments
from bench.processes import Processes, free_port, wait_healthy
from bench.servers import ROOT, clean_env
from bench.side_by_side import checkout, remove_checkouts, run_in_tree
from feedsvc.search import QueryError, read
from feedsvc.store import SITE, Store, connect
from feedsvc.urls import resource_path

COSTS = r"""
import json, os, statistics, sys, time
from feedsvc.indexer import Indexer
from feedsvc.settings import Settings
corpus, state = sys.argv[1], sys.argv[2]
settings = Settings.from_mapping({"ARTICLES_DIR": corpus, "STATE_DIR": state})
make = getattr(Indexer, "of", None)
indexer = make(settings) if make else Indexer(corpus, state)
started = time.perf_counter()
indexer.open()
indexer.catch_up()
built = time.perf_counter() - started
name = sorted(n for n in os.listdir(corpus) if n.endswith(".txt"))[-1]
path = os.path.join(corpus, name)
original = open(path, encoding="utf-8").read()
costs = []
try:
    for trial in range(5):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(original.replace("\n\n", f" edited {trial}\n\n", 1))
        indexer.update([path])
        costs.append(indexer.last_update_cpu * 1000)
finally:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(original)
    indexer.update([path])
    indexer.close()
files = [os.path.join(state, n) for n in os.listdir(state) if n.startswith("index.sqlite")]
size = sum(os.path.getsize(f) for f in files)
print(json.dumps({"built": built, "size": size, "edit_ms": statistics.median(costs)}))
"""
"""Run by a tree's own Python: build the index, edit the newest file five times, and say
what it cost (JSON on the last line)."""


def costs(tree: Path, corpus: Path, state: Path) -> dict[str, float]:
    found: dict[str, float] = run_in_tree(tree, COSTS, str(corpus), str(state))
    return found


def edit_latency(corpus: Path, state: Path, work: Path, rounds: int = 7) -> list[float]:
    """Milliseconds from an edit that adds a new word to a file to the search feed for
    that word showing the article, over HTTP from ``feedsvc serve`` (two workers,
    following the folder), on the built index."""
    procs = Processes()
    port = free_port()
    env = {
        **clean_env(),
        "FEEDSVC_ARTICLES_DIR": str(corpus),
        "FEEDSVC_STATE_DIR": str(state),
        "FEEDSVC_ACCESS_LOG": "off",
    }
    command = [sys.executable, "-m", "feedsvc.cli", "serve", "--port", str(port), "--workers", "2"]
    server = procs.start(command, work / "serve.log", env=env, cwd=ROOT)
    name = sorted(n for n in os.listdir(corpus) if n.endswith(".txt"))[0]
    path = corpus / name
    original = path.read_text(encoding="utf-8")
    times = []
    try:
        wait_healthy(port, server, limit=900)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def found(word: str) -> bool:
            connection.request("GET", f"/search/feed.atom?q={word}")
            return b"<entry>" in connection.getresponse().read()

        for trial in range(rounds):
            word = f"zqxedit{trial}"
            found(word)  # asked once before: an empty answer is cached
            started = time.monotonic()
            # A paragraph of its own at the end: the body, whatever the file's front matter.
            path.write_text(f"{original.rstrip()}\n\n{word}\n", encoding="utf-8")
            while not found(word):
                if time.monotonic() - started > 60:
                    raise RuntimeError(f"the edit of {path} never reached the search for {word}")
                time.sleep(0.005)
            times.append((time.monotonic() - started) * 1000)
            time.sleep(0.3)
    finally:
        path.write_text(original, encoding="utf-8")
        procs.stop_all()
    return times


def vocabulary(state: Path, most: int = 50_000) -> list[tuple[str, int]]:
    """The index's ``most`` commonest words of three letters or more, with how many
    articles hold each, commonest first."""
    db = connect(str(state / "index.sqlite"))
    try:
        db.execute("CREATE VIRTUAL TABLE temp.vocabulary USING fts5vocab(main, 'search', 'row')")
        return [
            (term, count)
            for term, count in db.execute(
                "SELECT term, doc FROM temp.vocabulary WHERE length(term) > 2 ORDER BY doc DESC"
            )
            if term.isalpha()
        ][:most]
    finally:
        db.close()


def search_paths(words: list[tuple[str, int]]) -> Callable[[list[str]], Iterator[str]]:
    """Distinct random searches as people type them: one to three words, drawn as often
    as articles hold them, one search in five with a word excluded; canonical, one
    format each."""

    def paths(_tags: list[str]) -> Iterator[str]:
        rng = random.Random(7)
        terms = [term for term, _ in words]
        weights = [count for _, count in words]
        seen: set[str] = set()
        formats = ("rss", "atom", "json")
        while True:
            chosen = rng.choices(terms, weights, k=rng.randint(1, 3))
            if rng.random() < 0.2:
                chosen.append("-" + rng.choice(terms))
            try:
                query = read(" ".join(chosen))
            except QueryError:  # only exclusions left, say
                continue
            if query.text in seen:
                continue
            seen.add(query.text)
            yield resource_path(query.scope, f"feed.{formats[len(seen) % 3]}")

    return paths


def kinds(state: Path) -> dict[str, str]:
    """The searches measured, by kind, from the words the index holds."""
    ranked = vocabulary(state, most=sys.maxsize)
    db = connect(str(state / "index.sqlite"))
    try:
        total = db.execute("SELECT count(*) FROM articles WHERE state = 0").fetchone()[0]
        title = db.execute(
            "SELECT title FROM articles WHERE state = 0 ORDER BY published DESC LIMIT 1"
        ).fetchone()[0]
        tag = db.execute(
            "SELECT scope FROM scopes WHERE scope != '' AND substr(scope, 1, 1) != '@' "
            "ORDER BY count DESC LIMIT 1"
        ).fetchone()[0]
    finally:
        db.close()
    first, second = ranked[0][0], ranked[1][0]

    def about(share: float, skip: int = 0) -> str:
        near = sorted(ranked, key=lambda pair: abs(pair[1] - share * total))
        return str(near[skip][0])

    phrase = " ".join(title.split()[:2])
    return {
        "one tag (reference)": tag,
        "the two commonest words": read(f"{first} {second}").scope,
        "the commonest word, not one of about 10%": read(f"{first} -{about(0.1)}").scope,
        "a phrase from the newest title": read(f'"{phrase}"').scope,
        "two words of about 1% each": read(f"{about(0.01)} {about(0.01, 1)}").scope,
        "a rare word (about 50 articles)": read(about(50 / max(total, 1))).scope,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    corpus_arguments(parser)
    parser.add_argument("--against", metavar="REV", help="a revision to compare costs with")
    parser.add_argument("--memory", type=int, metavar="N", help="then N distinct searches")
    parser.add_argument("--cache-megabytes", type=int, default=32)
    parser.add_argument("--items", type=int, default=20, help="FEEDSVC_FEED_ITEMS of --memory")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="feedsvc-search-"))
    try:
        args.corpus, state = corpus_and_state(parser, args, work)
        if (state / "index.sqlite").exists():
            parser.error(f"{state} holds an index: give an empty folder (the build is measured)")
        started = time.perf_counter()
        ours = costs(Path(__file__).resolve().parent.parent, args.corpus, state)
        print(f"index ready in {time.perf_counter() - started:.1f} s")
        store = Store(str(state))
        with store.reading() as index:
            total = index.count(SITE)
        print(f"{total:,} articles")
        render_table(args.corpus, state, kinds(state), args.rounds)
        print("\n| tree | first build s | index MB | edit CPU ms (median of 5) |")
        print("|---|---:|---:|---:|")
        rows = [("this tree", ours)]
        if args.against:
            tree = checkout(args.against, work)
            rows.append((args.against, costs(tree, args.corpus, work / "against-state")))
        for name, found in rows:
            print(
                f"| {name} | {found['built']:.1f} | {found['size'] / 1e6:.0f} | "
                f"{found['edit_ms']:.1f} |"
            )
        latency = edit_latency(args.corpus, state, work)
        print(
            f"\nan edit adding a word, to its search feed over HTTP: median "
            f"{statistics.median(latency):.0f} ms, max {max(latency):.0f} ms "
            f"(of {len(latency)}: {', '.join(f'{t:.0f}' for t in latency)})"
        )
        if args.memory:
            print()
            memory_run(args, state, work, search_paths(vocabulary(state)), "searches")
    finally:
        remove_checkouts(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
