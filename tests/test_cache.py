"""The response cache stays bounded, and junk query strings cannot flush hot entries."""

from __future__ import annotations

from feedsvc.cache import Entry, RequestLine, ResponseCache
from feedsvc.responses import Representation


def entry(size: int, version: int = 1) -> Entry:
    return Entry("", version, Representation(b"x" * size, "text/plain", 0.0, 60))


def test_cache_is_bounded_by_bytes() -> None:
    cache = ResponseCache(max_entries=100, max_bytes=10_000)
    for n in range(10):
        cache.put(("k", n), entry(1_000), RequestLine("/f", f"page={n}"))
    assert cache.size <= 10_000
    assert len(cache) == 5  # each counts twice its body: room for compressed variants
    assert cache.get(("k", 0), 1) is None and cache.get(("k", 9), 1) is not None
    assert cache.for_request("/f", "page=0") is None  # its alias dangles, so Flask answers
    assert cache.for_request("/f", "page=9") is not None


def test_cache_is_bounded_by_entries() -> None:
    cache = ResponseCache(max_entries=3, max_bytes=1 << 30)
    for n in range(5):
        cache.put(n, entry(10))
    assert len(cache) == 3 and cache.get(4, 1) is not None and cache.get(0, 1) is None


def test_stale_version_is_a_miss() -> None:
    cache = ResponseCache()
    cache.put("k", entry(10, version=1))
    assert cache.get("k", 2) is None


def test_made_up_query_arguments_get_no_fast_path_alias(client, write_article) -> None:  # type: ignore[no-untyped-def]
    write_article("2026-01-01-a.txt", keywords="alpha")
    cache = client.application.extensions["feedsvc"].cache
    assert client.get("/feed.rss?utm_source=x").status_code == 200
    assert cache.for_request("/feed.rss", "utm_source=x") is None
    assert client.get("/feed.rss?limit=5").status_code == 200
    assert cache.for_request("/feed.rss", "limit=5") is not None
