"""Bounded under attack, in this process: every memo and table a request can grow is
bounded by bytes, an entry too large for the cache is not kept, and /healthz shows its
details only to whom the setting allows."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from feedsvc.app import create_app
from feedsvc.cache import Entry, RequestLine, ResponseCache
from feedsvc.responses import Representation, choose_coding
from feedsvc.settings import Settings, SettingsError
from feedsvc.views import pages
from tests.conftest import WriteArticle

MB = 1 << 20


def long_name(number: int, size: int) -> str:
    """A distinct URL-safe name of ``size`` characters that is no known tag."""
    return f"{number:08d}" + "x" * (size - 8)


SECRET = "secret-token-123"


def retained(work: Callable[[int], object], n: int) -> list[int]:
    """Bytes still allocated after ``work(i)`` for i below n, then below 2n."""
    figures = []
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for batch in range(2):
            for i in range(batch * n, (batch + 1) * n):
                work(i)
            figures.append(tracemalloc.get_traced_memory()[0] - base)
    finally:
        tracemalloc.stop()
    return figures


def representation(size: int) -> Entry:
    return Entry("", 1, Representation.of(b"x" * size, "text/plain", 0.0, 60))


def test_fast_path_alias_table_is_bounded_by_bytes() -> None:
    """Distinct aliasable request lines, short and long, never hold more than the alias budget."""
    cache = ResponseCache(max_entries=100_000, max_bytes=MB)
    cache.put("feed", representation(100))

    def alias(i: int, size: int) -> None:
        cache.put(
            "feed", representation(100), RequestLine("/feed.rss", f"url={long_name(i, size)}")
        )

    short = retained(lambda i: alias(i, 900), 4_000)
    long = retained(lambda i: alias(i, 64_000), 200)
    print(f"alias table after N and 2N short lines: {short}; long lines: {long}")
    assert short[1] - short[0] < MB // 4 and short[1] < cache.max_bytes // 4
    assert long[1] < MB // 4


def test_an_entry_larger_than_the_whole_cache_is_not_kept() -> None:
    cache = ResponseCache(max_entries=100, max_bytes=10_000)
    cache.put("small", representation(1_000), RequestLine("/small", ""))
    cache.put("huge", representation(12_000), RequestLine("/huge", ""))
    assert cache.get("huge", 1) is None and cache.for_request("/huge", "") is None
    assert cache.size <= cache.max_bytes
    assert cache.get("small", 1) is not None  # and it pushed nothing out


def test_coding_memo_is_bounded_by_bytes() -> None:
    """Distinct long Accept-Encoding values are not kept: the memo stays small."""
    figures = retained(lambda i: choose_coding(f"gzip, x-{long_name(i, 8_000)}"), 2_000)
    print(f"coding memo after N and 2N values: {figures}")
    assert figures[1] < MB // 2


@pytest.fixture
def broken_corpus(write_article: WriteArticle) -> None:
    write_article("good.txt", keywords="Good")
    write_article(
        "colon.txt", text=f"---\nthis line has no colon {SECRET}\n---\nT\n\nS.\n\nk\n\nB.\n"
    )
    write_article("image.txt", keywords="k", front={"image": f"javascript:{SECRET}"})
    write_article("dated.txt", keywords="k", front={"date": f"{SECRET} o'clock"})
    write_article("twin.txt", keywords="k", front={"slug": "good"})


def test_health_details_only_for_loopback_or_when_enabled(
    broken_corpus: None, articles_dir: Path
) -> None:
    def health(app: Flask, address: str, headers: dict[str, str] | None = None) -> Any:
        client = app.test_client()
        response = client.get("/healthz", environ_base={"REMOTE_ADDR": address}, headers=headers)
        return json.loads(response.data)

    app = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False})
    public = health(app, "203.0.113.9")
    assert public["status"] == "degraded" and public["skipped_count"] == 4
    assert "skipped" not in public
    assert len(health(app, "127.0.0.1")["skipped"]) == 4
    assert len(health(app, "127.3.4.5")["skipped"]) == 4
    assert len(health(app, "::1")["skipped"]) == 4
    # Behind a proxy on the same host, every client comes from loopback: a proxy's
    # forwarding header means "not a local client".
    assert "skipped" not in health(app, "127.0.0.1", {"X-Forwarded-For": "203.0.113.9"})
    assert "skipped" not in health(app, "::ffff:203.0.113.9")
    shown = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False, "HEALTH_DETAILS": True})
    assert len(health(shown, "203.0.113.9")["skipped"]) == 4


@pytest.mark.parametrize("value", ["maybe", 2, "", None])
def test_health_details_setting_is_a_boolean(value: object) -> None:
    with pytest.raises(SettingsError, match="HEALTH_DETAILS"):
        Settings.from_mapping({"HEALTH_DETAILS": value})
    assert Settings.from_mapping({}).health_details is False


def test_health_lists_a_bounded_number_of_skipped_files_and_counts_them_all(
    broken_corpus: None, articles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder of thousands of broken files keeps /healthz cheap (a load balancer or
    Varnish polls it): every skipped file is counted, the first HEALTH_LISTED by path
    are listed, and the folder's own problem comes first."""
    monkeypatch.setattr(pages, "HEALTH_LISTED", 2)
    client = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False}).test_client()
    report = json.loads(client.get("/healthz").data)
    assert report["status"] == "degraded" and report["skipped_count"] == 4
    assert [entry["path"] for entry in report["skipped"]] == ["colon.txt", "dated.txt"]
    hidden = articles_dir.with_name("hidden")
    articles_dir.rename(hidden)  # the folder is gone: it is the first problem listed
    try:
        report = json.loads(client.get("/healthz").data)
    finally:
        hidden.rename(articles_dir)
    # The index still serves what it holds: degraded, with the folder's problem said.
    assert report["status"] == "degraded" and report["skipped_count"] == 5
    assert "cannot be read" in report["folder"]["problem"]
    assert [entry["path"] for entry in report["skipped"]] == [".", "colon.txt"]
