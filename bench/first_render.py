"""Row 6: the first render of uncached tag feeds, feedsvc against the baseline app; and
(run as a script, :func:`main`) what rendering one feed page costs in process.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time

from bench.client import FEED_ITEMS, Reply, get, item_titles, tag_feed_path, wait_for
from bench.corpus import Corpus
from bench.load import wrk
from bench.results import FirstRenderResult
from bench.servers import Server, Setup, start_baseline

logger = logging.getLogger(__name__)


def checked_get(port: int, path: str) -> Reply:
    reply = get(port, path)
    if reply.status != 200:
        raise RuntimeError(f"answer {reply.status} from :{port}{path}")
    return reply


def svc_first_requests(
    svc: Server, paths: list[str]
) -> tuple[list[float], list[float], list[bytes]]:
    """Each feed requested twice: ms of the first (uncached) and the second request; bodies."""
    first, again, bodies = [], [], []
    for path in paths:
        reply = checked_get(svc.port, path)
        first.append(reply.seconds * 1000)
        bodies.append(reply.body)
        again.append(checked_get(svc.port, path).seconds * 1000)
    return first, again, bodies


def phase_first_render(
    setup: Setup, corpus: Corpus, svc: Server, count: int, duration: float
) -> FirstRenderResult:
    """Row 6: first request of uncached tag feeds on feedsvc vs the per-request baseline."""
    tags = [t for t in corpus.popular()[1:] if corpus.tag_counts[t] >= FEED_ITEMS][:count]
    paths = [tag_feed_path(t) for t in tags]
    svc_ms, svc_cached_ms, svc_bodies = svc_first_requests(svc, paths)
    baseline = start_baseline(setup, corpus.directory)
    try:
        wait_for(baseline.port, paths[0], baseline.process)
        base = [checked_get(baseline.port, path) for path in paths]
        popular = tag_feed_path(corpus.popular()[0])
        loaded = wrk(setup.client, baseline.port, popular, duration, {}, baseline.process)
    finally:
        setup.procs.stop(baseline.process)
    same = sum(item_titles(b.body) == item_titles(s) for b, s in zip(base, svc_bodies, strict=True))
    result = FirstRenderResult(
        len(paths),
        statistics.median(svc_ms),
        statistics.median(svc_cached_ms),
        statistics.median(b.seconds * 1000 for b in base),
        same,
        loaded.requests_per_s,
        loaded.errors,
    )
    logger.info(
        f"first render of {result.feeds} uncached feeds: feedsvc median {result.svc_ms:.1f} ms "
        f"(then cached {result.svc_cached_ms:.2f} ms), baseline {result.base_ms:.1f} ms; "
        f"same items in {same}/{result.feeds}; baseline under wrk "
        f"{loaded.requests_per_s:,.0f} req/s, {loaded.errors} errors"
    )
    return result


# In process: what one render costs -----------------------------------------------


def render_costs(
    store: object, syndication: object, scopes: list[str], page: int, rounds: int
) -> tuple[list[float], float]:
    """Milliseconds of each render of ``page`` of each scope's feeds (every format, a
    snapshot each, as a request takes one), and the SQL statements a render runs."""
    from feedsvc.feeds import FORMATS

    times: list[float] = []
    statements = 0
    renders = 0
    for _ in range(rounds):
        for scope in scopes:
            for fmt in FORMATS.values():
                started = time.perf_counter()
                index = store.begin()  # type: ignore[attr-defined]
                counted = [0]

                def count(_: str, counted: list[int] = counted) -> None:
                    counted[0] += 1

                index._db.set_trace_callback(count)
                try:
                    syndication.feed(index, scope, fmt, page)  # type: ignore[attr-defined]
                finally:
                    index._db.set_trace_callback(None)
                    index.close()
                times.append((time.perf_counter() - started) * 1000)
                statements += counted[0]
                renders += 1
    return times, statements / max(1, renders)


def main(argv: list[str] | None = None) -> int:
    """``python bench/first_render.py --corpus DIR --state DIR``: the cost of rendering a
    feed page from the index in process, no HTTP and nothing kept, over the site and
    ``--scopes`` tags spread over every rank of popularity. Run as a script with
    ``PYTHONPATH`` naming another checkout, it measures that checkout's code on the same
    index: the figures of two revisions side by side."""
    import argparse

    from feedsvc.indexer import Indexer
    from feedsvc.settings import Settings
    from feedsvc.store import SITE, Store
    from feedsvc.syndication import Syndication
    from feedsvc.urls import Urls

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--scopes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    indexer = Indexer.of(
        Settings.from_mapping({"ARTICLES_DIR": args.corpus, "STATE_DIR": args.state})
    )
    indexer.open()
    indexer.catch_up()
    indexer.close()
    print(f"index ready in {time.perf_counter() - started:.1f} s")
    settings = Settings.from_mapping({"ARTICLES_DIR": args.corpus, "STATE_DIR": args.state})
    syndication = Syndication(settings, Urls.of(settings))
    store = Store(args.state)
    index = store.begin()
    try:
        ranked = [tag.key for tag in index.tags_by_count()]
        total = index.count(SITE)
    finally:
        index.close()
    step = max(1, len(ranked) // args.scopes)
    scopes = [SITE, *ranked[::step][: args.scopes]]
    print(f"{total:,} articles, {len(ranked):,} tags; {len(scopes)} scopes, 3 formats each")
    print("| page | renders | median ms | p90 ms | max ms | SQL statements a render |")
    print("|---:|---:|---:|---:|---:|---:|")
    for page in (1, 2):
        # A later page exists only where the scope has more than one.
        shown = [s for s in scopes if page == 1 or count_of(store, s) > settings.feed_items]
        times, statements = render_costs(store, syndication, shown, page, args.rounds)
        ordered = sorted(times)
        print(
            f"| {page} | {len(times):,} | {statistics.median(times):.2f} | "
            f"{ordered[int(len(ordered) * 0.9)]:.2f} | {ordered[-1]:.2f} | {statements:.1f} |"
        )
    return 0


def count_of(store: object, scope: str) -> int:
    index = store.begin()  # type: ignore[attr-defined]
    try:
        return int(index.count(scope))
    finally:
        index.close()


if __name__ == "__main__":
    sys.exit(main())
