"""What each phase measured, as frozen dataclasses.

Every field of a result is printed by ``bench.report``: a figure nobody reads is not measured.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.corpus import CorpusKind


@dataclass(frozen=True)
class RunSettings:
    """The arguments a run was made with, as the report's header states them."""

    corpus: CorpusKind
    articles: int
    tags: int
    connections: int
    duration: float
    rounds: int


@dataclass(frozen=True)
class FeedUnderTest:
    """The top tag's RSS feed, served by both feedsvc and nginx."""

    path: str
    items: int
    size: int
    gz_size: int


@dataclass(frozen=True)
class ScenarioResult:
    """Rows 1-3: requests/s of each round, per server."""

    number: int
    name: str
    nginx_rates: tuple[float, ...]
    feedsvc_rates: tuple[float, ...]
    errors: int

    @property
    def nginx(self) -> float:
        return statistics.median(self.nginx_rates)

    @property
    def feedsvc(self) -> float:
        return statistics.median(self.feedsvc_rates)

    @property
    def ratio(self) -> float:
        return self.feedsvc / self.nginx


@dataclass(frozen=True)
class ThroughputResult:
    feed: FeedUnderTest
    scenarios: tuple[ScenarioResult, ...]
    foreign: float
    """The most CPU other processes used during a kept run, in % of one core."""


@dataclass(frozen=True)
class EditLoopResult:
    """The bad case: the feed under wrk while one of its articles is rewritten."""

    edits: int
    requests: int
    requests_per_s: float
    errors: int
    samples: int
    versions: int
    bad: tuple[str, ...]


@dataclass(frozen=True)
class FirstRenderResult:
    """Row 6: first requests of uncached tag feeds, feedsvc against the baseline app."""

    feeds: int
    svc_ms: float
    svc_cached_ms: float
    base_ms: float
    same_items: int
    """Feeds whose item titles are the same on both servers, of ``feeds``."""
    base_requests_per_s: float
    base_errors: int


@dataclass(frozen=True)
class GunicornResult:
    """feedsvc under gunicorn, warm 200s: the measurement behind ``serve`` using granian."""

    requests_per_s: float


@dataclass(frozen=True)
class ColdStartResult:
    """Row 4: from process start to the first feed 200, and memory then."""

    articles: int
    serve_args: tuple[str, ...]
    port_open_s: float
    first_feed_s: float
    worker_mb: float
    main_mb: float


@dataclass(frozen=True)
class EditServedResult:
    """Row 5: one file edited until the edit is served over HTTP; the worker's peak memory."""

    articles: int
    median_ms: float
    max_ms: float
    worker_peak_mb: float


@dataclass(frozen=True)
class ReindexResult:
    """Rows 4-5 in process: a full scan, then one-file updates."""

    articles: int
    scan_s: float
    scan_cpu_s: float
    update_ms: float
    update_max_ms: float


@dataclass(frozen=True)
class Results:
    settings: RunSettings
    throughput: ThroughputResult
    edit_loop: EditLoopResult
    first_render: FirstRenderResult
    gunicorn: GunicornResult | None
    cold: ColdStartResult
    cold_variant: ColdStartResult | None
    edit_served: EditServedResult
    reindex_small: ReindexResult
    reindex_big: ReindexResult
