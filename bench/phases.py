"""The load phases: feedsvc against nginx (rows 1-3), the edit loop, feedsvc under gunicorn.

Each phase is a function returning a frozen result of ``bench.results``.
"""

from __future__ import annotations

import gzip
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

from bench.client import (
    Reply,
    check_feed,
    get,
    item_slugs,
    item_titles,
    tag_feed_path,
    wait_for,
)
from bench.corpus import Corpus
from bench.load import EditLoop, Sampler, WrkResult, wrk
from bench.results import (
    EditLoopResult,
    FeedUnderTest,
    GunicornResult,
    ScenarioResult,
    ThroughputResult,
)
from bench.servers import Server, Setup, start_gunicorn

logger = logging.getLogger(__name__)

FOREIGN_LIMIT = 10.0
"""A load run during which other processes used more than this % of a core is run again."""
RSS_TYPE = "application/rss+xml; charset=utf-8"

ServerName = Literal["nginx", "feedsvc"]


@dataclass(frozen=True)
class Scenario:
    number: int
    name: str
    headers: dict[ServerName, dict[str, str]]


@dataclass(frozen=True)
class Load:
    """Seconds per wrk run, alternating rounds per test, re-runs allowed for a noisy run."""

    duration: float
    rounds: int
    retries: int


def top_feed(corpus: Corpus, svc: Server) -> tuple[str, Reply]:
    """The path and the reply of the most used tag's RSS feed on feedsvc."""
    path = tag_feed_path(corpus.popular()[0])
    feed = get(svc.port, path)
    if feed.status != 200:
        raise RuntimeError(f"feedsvc answered {feed.status} for {path}")
    return path, feed


def copy_to_docroot(svc: Server, path: str, feed: Reply, docroot: Path) -> int:
    """Write the feed and its gzip variant where nginx serves ``path``; the gzip size."""
    gz = get(svc.port, path, {"Accept-Encoding": "gzip"})
    if gz.headers.get("content-encoding") != "gzip":
        raise RuntimeError(f"feedsvc did not answer gzip: {gz.headers}")
    if gzip.decompress(gz.body) != feed.body:
        raise RuntimeError("feedsvc's gzip body differs from its identity body")
    target = docroot / unquote(path).lstrip("/")  # nginx decodes the URI to find the file
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(feed.body)
    Path(f"{target}.gz").write_bytes(gz.body)
    return len(gz.body)


def check_alike(nginx: Server, svc: Server, path: str, feed: Reply) -> dict[ServerName, str]:
    """Check nginx serves the same bytes, types, gzip and 304s; each server's ETag."""
    plain = get(nginx.port, path)
    if plain.status != 200 or plain.body != feed.body:
        raise RuntimeError(f"nginx does not serve the feed bytes: {plain.status}")
    for name, reply in (("nginx", plain), ("feedsvc", feed)):
        if reply.headers.get("content-type") != RSS_TYPE:
            raise RuntimeError(f"{name} Content-Type {reply.headers.get('content-type')!r}")
    ngz = get(nginx.port, path, {"Accept-Encoding": "gzip"})
    if ngz.headers.get("content-encoding") != "gzip" or gzip.decompress(ngz.body) != feed.body:
        raise RuntimeError(f"nginx did not serve the pre-compressed feed: {ngz.headers}")
    etags: dict[ServerName, str] = {"nginx": plain.headers["etag"], "feedsvc": feed.headers["etag"]}
    pairs: tuple[tuple[ServerName, Server], ...] = (("nginx", nginx), ("feedsvc", svc))
    for name, server in pairs:
        reply = get(server.port, path, {"If-None-Match": etags[name]})
        if reply.status != 304:
            raise RuntimeError(f"{name} answered {reply.status} to If-None-Match")
    return etags


def scenarios(etags: dict[ServerName, str]) -> list[Scenario]:
    return [
        Scenario(1, "warm 200", {"nginx": {}, "feedsvc": {}}),
        Scenario(2, "conditional 304", {s: {"If-None-Match": etags[s]} for s in etags}),
        Scenario(3, "gzip 200", {s: {"Accept-Encoding": "gzip"} for s in etags}),
    ]


def kept_run(
    setup: Setup, server: Server, path: str, headers: dict[str, str], load: Load, what: str
) -> WrkResult:
    """One wrk run, repeated (up to ``load.retries`` times) while other processes were busy."""
    for attempt in range(load.retries + 1):
        result = wrk(setup.client, server.port, path, load.duration, headers, server.process)
        noisy = result.foreign > FOREIGN_LIMIT
        logger.info(
            f"  {what} {result.requests_per_s:10,.0f} req/s  "
            f"{result.bytes_per_response:8,.0f} B/resp  errors {result.errors}  "
            f"other processes {result.foreign:4.0f}% of a core"
            + ("  (noisy, again)" if noisy and attempt < load.retries else "")
        )
        if not noisy:
            break
    return result


def run_scenario(
    setup: Setup, servers: dict[ServerName, Server], path: str, scenario: Scenario, load: Load
) -> tuple[ScenarioResult, float]:
    """Alternating rounds of one scenario; also the most foreign CPU a kept run saw."""
    rates: dict[ServerName, list[float]] = {"nginx": [], "feedsvc": []}
    errors, foreign = 0, 0.0
    for number in range(load.rounds):
        order: tuple[ServerName, ...] = (
            ("nginx", "feedsvc") if number % 2 == 0 else ("feedsvc", "nginx")
        )
        for name in order:
            what = f"{scenario.name:15} round {number + 1} {name:8}"
            result = kept_run(setup, servers[name], path, scenario.headers[name], load, what)
            rates[name].append(result.requests_per_s)
            errors += result.errors
            foreign = max(foreign, result.foreign)
    measured = ScenarioResult(
        scenario.number, scenario.name, tuple(rates["nginx"]), tuple(rates["feedsvc"]), errors
    )
    return measured, foreign


def phase_throughput(
    setup: Setup, corpus: Corpus, nginx: Server, svc: Server, docroot: Path, load: Load
) -> ThroughputResult:
    """Rows 1-3: the top tag's feed from feedsvc and, as static files, from nginx."""
    path, feed = top_feed(corpus, svc)
    items = check_feed(feed.body)
    gz_size = copy_to_docroot(svc, path, feed, docroot)
    etags = check_alike(nginx, svc, path, feed)
    logger.info(f"feed {path}: {items} items, {len(feed.body):,} B, gzip {gz_size:,} B")
    servers: dict[ServerName, Server] = {"nginx": nginx, "feedsvc": svc}
    measured = [run_scenario(setup, servers, path, s, load) for s in scenarios(etags)]
    return ThroughputResult(
        FeedUnderTest(path, items, len(feed.body), gz_size),
        tuple(result for result, _ in measured),
        max(foreign for _, foreign in measured),
    )


def comes_back(svc: Server, path: str, body: bytes, limit: float = 10) -> bool:
    """Whether the feed shows ``body``'s items again within ``limit`` s (its article was
    restored). Not the same bytes: restoring the text is itself an edit, which moves
    the article's ``updated``."""
    restored_at = time.monotonic()
    while item_titles(get(svc.port, path).body) != item_titles(body):
        if time.monotonic() - restored_at > limit:
            return False
        time.sleep(0.01)
    return True


def phase_edit_loop(setup: Setup, corpus: Corpus, svc: Server, load: Load) -> EditLoopResult:
    """The bad case: the top feed's newest article edited in a loop under load."""
    path, feed = top_feed(corpus, svc)
    article = Path(corpus.paths_by_slug[item_slugs(feed.body)[0]])
    editor, sampler = EditLoop(article), Sampler(svc.port, path)
    editor.start()
    sampler.start()
    try:
        loaded = wrk(setup.client, svc.port, path, max(load.duration, 2), {}, svc.process)
    finally:
        editor.stop.set()
        sampler.stop.set()
        editor.join()
        sampler.join()
    if not comes_back(svc, path, feed.body):
        sampler.errors.append("feed did not return to its original items within 10 s")
    result = EditLoopResult(
        editor.edits,
        loaded.requests,
        loaded.requests_per_s,
        loaded.errors,
        sampler.samples,
        len(sampler.etags),
        tuple(sampler.errors),
    )
    logger.info(
        f"  edit loop: {editor.edits} edits, {loaded.requests_per_s:,.0f} req/s, "
        f"{loaded.errors} error responses, {sampler.samples} bodies sampled "
        f"({len(sampler.etags)} versions), {len(sampler.errors)} bad"
    )
    for problem in sampler.errors[:5]:
        logger.info(f"    {problem}")
    return result


def phase_gunicorn(
    setup: Setup, corpus: Corpus, path: str, duration: float
) -> GunicornResult | None:
    """feedsvc under gunicorn (1 sync worker), warm 200s; only when gunicorn is installed."""
    server = start_gunicorn(setup, corpus.directory)
    if server is None:
        return None
    try:
        wait_for(server.port, path, server.process)
        loaded = wrk(setup.client, server.port, path, duration, {}, server.process)
    finally:
        setup.procs.stop(server.process)
    logger.info(f"feedsvc under gunicorn, 1 sync worker: {loaded.requests_per_s:,.0f} req/s")
    return GunicornResult(loaded.requests_per_s)
