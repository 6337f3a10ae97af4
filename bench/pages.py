"""What an HTML page costs: rendered and answered by the service's views, in process.

``python -m bench.pages --corpus DIR [--state DIR] [--against REV]`` builds (or reuses)
the index of a corpus (``python -m bench.corpus``) and asks the service's Flask app,
through its test client (no HTTP, no server), for its pages: the home page, the tag
list, the biggest tag's first and second pages, the author list, the most prolific
author and the newest article, each in br and in gzip as a browser asks. Pages are
rendered for every request, so each ask is a render, a compression and an answer.

With ``--against REV`` the same pages are asked of revision ``REV`` (a git worktree,
its own index in a state directory of its own) in turns with this tree's, round after
round, each round in a fresh process, so both see the same noise; the table gives each
page's median over the rounds and this tree's ratio to ``REV``. ``--quick`` is the
smoke test: 2,000 generated articles, one round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from bench.corpus import built, corpus_and_state, corpus_arguments
from bench.side_by_side import checkout, remove_checkouts, run_in_tree
from feedsvc.store import SITE, Store
from feedsvc.urls import scope_path

ASKS = 20
"""Each page is asked this many times a round, in each coding; a round gives the median."""
CODINGS = ("br", "gzip")
TIMING = r"""
import json, statistics, sys, time
from feedsvc.app import create_app
corpus, state, paths, asks = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
app = create_app({"ARTICLES_DIR": corpus, "STATE_DIR": state, "WATCH": False})
client = app.test_client()
found = {}
for path in paths:
    for coding in ("br", "gzip"):
        client.get(path, headers={"Accept-Encoding": coding})  # a warm-up: imports, templates
        times = []
        for _ in range(asks):
            started = time.perf_counter()
            answer = client.get(path, headers={"Accept-Encoding": coding})
            answer.get_data()
            times.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200:
                raise SystemExit(f"{path}: {answer.status_code}")
        found[f"{path} {coding}"] = statistics.median(times)
print(json.dumps(found))
"""
"""Run by a tree's own Python: open the app on the index and time each page (JSON on
the last line: the median milliseconds of each page in each coding)."""


def pages(state: Path) -> dict[str, str]:
    """The pages asked for, by what they are."""
    with Store(str(state)).reading() as index:
        tag = index.tags_by_count()[0].key
        author = max(index.authors_by_date(), key=lambda scope: scope.count).key
        newest = index.newest(SITE, 1)[0].slug
    return {
        "home": "/",
        "tag list": "/tags/",
        "the biggest tag": scope_path(tag),
        "the biggest tag, page 2": f"{scope_path(tag)}?page=2",
        "author list": "/authors/",
        "the most prolific author": scope_path(author),
        "the newest article": f"/articles/{newest}",
    }


def timed(tree: Path, corpus: Path, state: Path, paths: list[str]) -> dict[str, float]:
    found: dict[str, float] = run_in_tree(
        tree, TIMING, str(corpus), str(state), json.dumps(paths), str(ASKS)
    )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    corpus_arguments(parser)
    parser.add_argument("--against", metavar="REV", help="a revision to compare with")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="feedsvc-pages-"))
    try:
        args.corpus, state = corpus_and_state(parser, args, work)
        built(args.corpus, state)
        asked = pages(state)
        trees = {"this tree": Path(__file__).resolve().parent.parent}
        states = {"this tree": state}
        if args.against:
            trees[args.against] = checkout(args.against, work)
            states[args.against] = work / "against-state"
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():  # in turns: both see the same noise
                rounds[name].append(timed(tree, args.corpus, states[name], list(asked.values())))
        names = list(trees)
        print(
            f"| page | coding | {' | '.join(f'{name}: median ms' for name in names)} |"
            + (" ratio |" if args.against else "")
        )
        print("|---|---|" + "---:|" * (len(names) + bool(args.against)))
        for kind, path in asked.items():
            for coding in CODINGS:
                key = f"{path} {coding}"
                medians = [statistics.median(r[key] for r in rounds[name]) for name in names]
                ratio = f" {medians[0] / medians[1]:.2f} |" if args.against else ""
                shown = " | ".join(f"{median:.2f}" for median in medians)
                print(f"| {kind} (`{path}`) | {coding} | {shown} |{ratio}")
    finally:
        remove_checkouts(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
