"""Row 6: the first render of uncached tag feeds, feedsvc against the baseline app."""

from __future__ import annotations

import logging
import statistics

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
