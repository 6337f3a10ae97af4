"""What an author's feed costs to render, first time (nothing kept), and the author index.

``python -m bench.authors --corpus DIR --state DIR`` builds (or reuses) the index of a
realistic corpus (``python -m bench.corpus``: some 3,400 bylines by a Zipf law, a few
lines naming two authors or another case) and renders the first page of author feeds
in every format, each from a fresh snapshot as a request takes one: the most prolific
author, one of about 50 articles and one of about 5; the most prolific on the biggest
tag, on a small tag (few matches: the most rows read for a page), and a small author
on the biggest tag. It prints the median and the max per kind, with a single tag's
feed as the reference measured in the same run, then what ``/authors/`` costs: its
first page rendered by the service's view (median and max of ``--rounds``), its size,
and how many authors and pages there are. ``--quick`` is the smoke test: 2,000
generated articles.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.combinations import render_table
from bench.corpus import built, corpus_and_state, corpus_arguments
from feedsvc.app import create_app
from feedsvc.store import Store
from feedsvc.urls import with_author
from feedsvc.views.pages import LISTED_PER_PAGE


def kinds(store: Store) -> dict[str, str]:
    """The scopes measured, by kind."""
    with store.reading() as index:
        tags = [(tag.key, tag.count) for tag in index.tags_by_count()]
        authors = [(author.key, author.count) for author in index.authors_by_date()]
    big_tag = tags[0][0]
    small_tag = min(tags, key=lambda pair: abs(pair[1] - 50))[0]
    prolific = max(authors, key=lambda pair: pair[1])[0]

    def about(count: int) -> str:
        return min(authors, key=lambda pair: (abs(pair[1] - count), pair[0]))[0]

    return {
        "one tag (reference)": big_tag,
        "the most prolific author": prolific,
        "an author of about 50 articles": about(50),
        "an author of about 5 articles": about(5),
        "the most prolific on the biggest tag": with_author(prolific, big_tag),
        f"the most prolific on a small tag ({small_tag})": with_author(prolific, small_tag),
        "an author of about 5 on the biggest tag": with_author(about(5), big_tag),
    }


def author_index(corpus: Path, state: Path, rounds: int) -> None:
    """Time ``/authors/`` through the service's own index, and say its size."""
    app = create_app({"ARTICLES_DIR": str(corpus), "STATE_DIR": str(state), "WATCH": False})
    client = app.test_client()
    times = []
    body = b""
    for _ in range(rounds):
        started = time.perf_counter()
        answer = client.get("/authors/")
        body = answer.data
        times.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"/authors/: {answer.status_code}")
    compressed = client.get("/authors/", headers={"Accept-Encoding": "br"}).data
    with Store(str(state)).reading() as index:
        authors = index.author_count()
    pages = -(-authors // LISTED_PER_PAGE)
    print(
        f"\n/authors/: {authors:,} authors, {pages} page(s) of {LISTED_PER_PAGE}; first page "
        f"median {statistics.median(times):.1f} ms, max {max(times):.1f} ms; "
        f"{len(body) / 1000:.0f} kB ({len(compressed) / 1000:.0f} kB with br)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    corpus_arguments(parser)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="feedsvc-authors-"))
    try:
        args.corpus, state = corpus_and_state(parser, args, work)
        store = built(args.corpus, state)
        render_table(args.corpus, state, kinds(store), args.rounds)
        author_index(args.corpus, state, max(args.rounds, 3))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
