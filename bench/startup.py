"""Rows 4 and 5: cold start, memory and edit-to-served time over HTTP; re-index CPU in process."""

from __future__ import annotations

import contextlib
import cProfile
import io
import logging
import pstats
import shlex
import socket
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from bench.client import Reply, check_feed, get, item_slugs, retitled, tag_feed_path, wait_for
from bench.corpus import Corpus
from bench.processes import descendants, memory_mb
from bench.results import ColdStartResult, EditServedResult, ReindexResult
from bench.servers import Server, Setup, start_feedsvc

logger = logging.getLogger(__name__)


def seconds_to_port(server: Server, started: float) -> float:
    """Seconds from ``started`` until the server accepts connections (0 if it died first)."""
    while server.process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", server.port), 1):
            return time.monotonic() - started
        time.sleep(0.005)
    return 0.0


def cold_start(
    setup: Setup, corpus: Corpus, name: str, serve_args: Sequence[str] = ()
) -> tuple[Server, Reply, ColdStartResult]:
    """Start feedsvc on the corpus and time it to the top tag's feed; leaves it running."""
    path = tag_feed_path(corpus.popular()[0])
    started = time.monotonic()
    server = start_feedsvc(setup, corpus.directory, name, serve_args)
    port_open = seconds_to_port(server, started)
    first = wait_for(server.port, path, server.process)
    cold = time.monotonic() - started
    check_feed(first.body)
    time.sleep(0.5)
    workers = descendants(server.process.pid)
    result = ColdStartResult(
        len(corpus.paths_by_slug),
        tuple(serve_args),
        port_open,
        cold,
        memory_mb(workers),
        memory_mb([server.process.pid]),
    )
    logger.info(
        f"cold start on {result.articles:,} articles{with_args(serve_args)}: port open "
        f"after {port_open:.2f} s, first feed after {cold:.2f} s; VmRSS worker "
        f"{result.worker_mb:.0f} MB (pids {workers}), main {result.main_mb:.0f} MB"
    )
    return server, first, result


def with_args(serve_args: Sequence[str]) -> str:
    return f" with `serve {shlex.join(serve_args)}`" if serve_args else ""


def edit_delays(port: int, path: str, article: Path, trials: int) -> list[float]:
    """Seconds from each edit of the article's title until the feed at ``path`` shows it."""
    original = article.read_text()
    delays = []
    try:
        for trial in range(trials):
            marker = f"edited {trial} {time.time_ns()}"
            edited_at = time.monotonic()
            article.write_text(retitled(original, f" {marker}"))
            while marker.encode() not in get(port, path).body:
                if time.monotonic() - edited_at > 30:
                    raise RuntimeError("edit not served within 30 s")
                time.sleep(0.005)
            delays.append(time.monotonic() - edited_at)
            time.sleep(0.2)
    finally:
        article.write_text(original)
    return delays


def phase_cold(
    setup: Setup, corpus: Corpus, trials: int
) -> tuple[ColdStartResult, EditServedResult]:
    """Cold start on a big corpus, memory, then edits of the top feed's newest article."""
    server, first, cold = cold_start(setup, corpus, "feedsvc-cold")
    try:
        article = Path(corpus.paths_by_slug[item_slugs(first.body)[0]])
        path = tag_feed_path(corpus.popular()[0])
        delays = edit_delays(server.port, path, article, trials)
        peak = memory_mb(descendants(server.process.pid), "VmHWM")
    finally:
        setup.procs.stop(server.process)
    edit = EditServedResult(
        cold.articles, statistics.median(delays) * 1000, max(delays) * 1000, peak
    )
    logger.info(
        f"edit served after median {edit.median_ms:.0f} ms (max {edit.max_ms:.0f} ms); "
        f"worker peak {peak:.0f} MB"
    )
    return cold, edit


def phase_cold_variant(setup: Setup, corpus: Corpus, serve_args: Sequence[str]) -> ColdStartResult:
    """The cold start again, with more ``feedsvc serve`` arguments (``--variant-serve-args``)."""
    server, _, cold = cold_start(setup, corpus, "feedsvc-variant", serve_args)
    setup.procs.stop(server.process)
    return cold


@dataclass(frozen=True)
class InProcessIndex:
    """The in-process feedsvc index, as far as the re-index figures need it."""

    scan: Callable[[], None]
    update: Callable[[Path], float]
    """Re-read one file; the CPU seconds that took."""
    problems: Callable[[], int]
    """How many files the index skips."""


def open_index(directory: Path) -> InProcessIndex:
    """The one place the benchmark uses feedsvc's index API directly.

    ``scan`` is a first build into a fresh state directory beside the corpus.
    """
    from feedsvc.indexer import Indexer
    from feedsvc.store import Store

    state = tempfile.mkdtemp(prefix="feedsvc-bench-state-", dir=directory.parent)
    indexer = Indexer(str(directory), state, UTC)

    def update(path: Path) -> float:
        indexer.update([str(path)])
        return indexer.last_update_cpu

    def problems() -> int:
        with Store(state).reading() as index:
            return len(index.problems())

    return InProcessIndex(lambda: indexer.catch_up(rebuild=True), update, problems)


def profiled(what: str, call: Callable[[], object], top: int = 15) -> None:
    """Run ``call`` under cProfile and log its most expensive functions."""
    profile = cProfile.Profile()
    profile.runcall(call)
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(top)
    logger.info(f"profile of {what}, by own time:")
    logger.info("\n".join(line for line in out.getvalue().splitlines() if line.strip()))


def timed_scan(corpus: Corpus) -> tuple[InProcessIndex, float, float]:
    """A full scan of the corpus in process: the index, wall and CPU seconds."""
    index = open_index(corpus.directory)
    wall, cpu = time.perf_counter(), time.process_time()
    index.scan()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if skipped := index.problems():
        raise RuntimeError(f"{skipped} files of the corpus are not articles")
    return index, wall, cpu


def phase_reindex(corpus: Corpus, trials: int, profile: bool = False) -> ReindexResult:
    """In process: scan the corpus, then time one-file updates of a top-tag article."""
    index, scan_s, scan_cpu_s = timed_scan(corpus)
    if profile:
        what = f"a full scan of {len(corpus.paths_by_slug):,} articles"
        profiled(what, open_index(corpus.directory).scan)
    path = Path(corpus.files_by_tag[corpus.popular()[0]][0])
    original = path.read_text()
    costs = []
    try:
        for trial in range(trials):
            path.write_text(retitled(original, f" re-index {trial}"))
            if profile and trial == trials - 1:
                profiled("a one-file update", lambda: index.update(path))
            else:
                costs.append(index.update(path) * 1000)
    finally:
        path.write_text(original)
    return ReindexResult(
        len(corpus.paths_by_slug), scan_s, scan_cpu_s, statistics.median(costs), max(costs)
    )
