"""The markdown tables of a run, from its typed results."""

from __future__ import annotations

import os
import shlex
import time

from bench.results import (
    ColdStartResult,
    EditLoopResult,
    EditServedResult,
    FirstRenderResult,
    GunicornResult,
    ReindexResult,
    Results,
    ThroughputResult,
)

TARGET_RATIO = 0.35


def verdict(ok: bool) -> str:
    return "meets" if ok else "**below**"


def header(results: Results) -> str:
    s, feed = results.settings, results.throughput.feed
    return (
        f"feedsvc benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs; {s.corpus} "
        f"corpus, {s.articles:,} articles, {s.tags:,} tags; feed {feed.path} ({feed.items} "
        f"items, {feed.size:,} B, gzip {feed.gz_size:,} B); wrk -t1 -c{s.connections} "
        f"-d{s.duration:g}s, median of {s.rounds} alternating round(s); other processes "
        f"used at most {results.throughput.foreign:.0f}% of a core during a kept run"
    )


def throughput_table(throughput: ThroughputResult) -> list[str]:
    lines = [
        "| # | test | nginx req/s | feedsvc req/s | ratio to nginx | target | result |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for s in throughput.scenarios:
        lines.append(
            f"| {s.number} | {s.name} | {s.nginx:,.0f} | {s.feedsvc:,.0f} | {s.ratio:.2f} | "
            f"≥ {TARGET_RATIO:.2f} | {verdict(s.ratio >= TARGET_RATIO)} |"
        )
    return lines


def cold_rows(cold: ColdStartResult, edit: EditServedResult) -> list[str]:
    return [
        f"| 4 | cold start, {cold.articles:,} articles: process start to first feed 200 "
        f"(port open after {cold.port_open_s:.2f} s) "
        f"| {cold.first_feed_s:.2f} s | ≤ 5 s | {verdict(cold.first_feed_s <= 5)} |",
        f"| 4 | resident memory, granian worker (VmRSS after first feed / peak VmHWM; "
        f"main process {cold.main_mb:.0f} MB more) "
        f"| {cold.worker_mb:.0f} / {edit.worker_peak_mb:.0f} MB | < 400 MB "
        f"| {verdict(edit.worker_peak_mb + cold.main_mb < 400)} |",
    ]


def variant_rows(variant: ColdStartResult | None) -> list[str]:
    """The optional cold start with more ``feedsvc serve`` arguments (``--variant-serve-args``)."""
    if variant is None:
        return []
    return [
        f"| 4 | (cold start with `serve {shlex.join(variant.serve_args)}`, "
        f"{variant.articles:,} articles: first feed 200, port open; worker / main VmRSS) "
        f"| {variant.first_feed_s:.2f} s, {variant.port_open_s:.2f} s; "
        f"{variant.worker_mb:.0f} / {variant.main_mb:.0f} MB | | |"
    ]


def edit_served_row(edit: EditServedResult) -> str:
    return (
        f"| 5 | one file edited, {edit.articles:,} articles: served over HTTP after "
        f"(median / max) | {edit.median_ms:.0f} / {edit.max_ms:.0f} ms | ≤ 2000 ms "
        f"| {verdict(edit.max_ms <= 2000)} |"
    )


def reindex_rows(small: ReindexResult, big: ReindexResult) -> list[str]:
    return [
        f"| 5 | re-index CPU per one-file edit, {big.articles:,} articles (median / max) "
        f"| {big.update_ms:.1f} / {big.update_max_ms:.1f} ms | ≤ 50 ms "
        f"| {verdict(big.update_ms <= 50)} |",
        f"| 5 | (same at {small.articles:,} articles, for scaling) "
        f"| {small.update_ms:.1f} / {small.update_max_ms:.1f} ms | | |",
        f"| 4 | (in-process full scan, {big.articles:,} articles: wall / CPU) "
        f"| {big.scan_s:.2f} / {big.scan_cpu_s:.2f} s | | |",
        f"| 4 | (same at {small.articles:,} articles) "
        f"| {small.scan_s:.2f} / {small.scan_cpu_s:.2f} s | | |",
    ]


def first_render_rows(first: FirstRenderResult, gunicorn: GunicornResult | None) -> list[str]:
    ratio = first.svc_ms / first.base_ms
    rows = [
        f"| 6 | first render of an uncached 20-item tag feed, median of {first.feeds} "
        f"(same items on both in {first.same_items}/{first.feeds}): "
        f"feedsvc vs baseline Flask+feedgen | {first.svc_ms:.1f} vs {first.base_ms:.1f} ms "
        f"| ≤ 1.00x | {verdict(ratio <= 1)} ({ratio:.2f}x) |",
        f"| 6 | (same feed cached in feedsvc, one request; baseline under wrk, error responses) "
        f"| {first.svc_cached_ms:.2f} ms; {first.base_requests_per_s:,.0f} req/s, "
        f"{first.base_errors} errors | | |",
    ]
    if gunicorn is not None:
        rows.append(
            f"| 1 | (warm 200, feedsvc under gunicorn 1 sync worker instead of granian; "
            f"one run) | {gunicorn.requests_per_s:,.0f} req/s | | |"
        )
    return rows


def edit_loop_row(edit: EditLoopResult) -> str:
    return (
        f"| bad case | article of the benchmarked tag edited in a loop under wrk: "
        f"{edit.edits} edits, {edit.requests:,} requests ({edit.requests_per_s:,.0f} req/s) "
        f"| {edit.errors} error responses; {len(edit.bad)} bad of {edit.samples} "
        f"sampled bodies ({edit.versions} versions) | 0 | "
        f"{verdict(edit.errors == 0 and not edit.bad)} |"
    )


def report(results: Results) -> str:
    errors = sum(s.errors for s in results.throughput.scenarios)
    lines = [
        header(results),
        "",
        *throughput_table(results.throughput),
        "",
        "| # | test | measured | target | result |",
        "|---|---|---:|---:|---|",
        *cold_rows(results.cold, results.edit_served),
        *variant_rows(results.cold_variant),
        edit_served_row(results.edit_served),
        *reindex_rows(results.reindex_small, results.reindex_big),
        *first_render_rows(results.first_render, results.gunicorn),
        edit_loop_row(results.edit_loop),
        "",
        f"wrk error responses in the throughput runs: {errors}",
    ]
    return "\n".join(lines)
