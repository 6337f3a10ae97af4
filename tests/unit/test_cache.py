"""The response cache stays bounded, junk query strings cannot flush hot entries, and a
cached hit is answered by the fast path without entering Flask."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import Client

from feedsvc.access import AccessLog
from feedsvc.app import create_app
from feedsvc.cache import ENTRY_OVERHEAD, Entry, FastPath, RequestLine, ResponseCache
from feedsvc.responses import Representation
from tests.conftest import WriteArticle


def entry(size: int, version: int = 1) -> Entry:
    return Entry("", version, Representation.of(b"x" * size, "text/plain", 0.0, 60))


def test_cache_is_bounded_by_bytes() -> None:
    cache = ResponseCache(max_entries=100, max_bytes=10_000)
    for n in range(10):
        cache.put(("k", n), entry(1_000), RequestLine("/f", f"page={n}"))
    assert cache.size <= 10_000
    assert len(cache) == 5  # each counts its body once, and its bookkeeping
    assert cache.get(("k", 0), 1) is None and cache.get(("k", 9), 1) is not None
    assert cache.for_request("/f", "page=0") is None  # its alias dangles, so Flask answers
    assert cache.for_request("/f", "page=9") is not None


def test_cache_evicts_the_least_recently_used() -> None:
    cache = ResponseCache(max_entries=100, max_bytes=10_000)
    for n in range(5):
        cache.put(n, entry(1_000))
    assert cache.get(0, 1) is not None  # used: now the most recent
    cache.put(5, entry(1_000))
    assert cache.get(0, 1) is not None and cache.get(1, 1) is None


def test_a_body_loaded_later_is_counted_and_makes_room() -> None:
    """A representation from the shelf holds no body until one is asked for; then the
    cache counts it, once, and evicts to stay within its budget."""
    cache = ResponseCache(max_entries=100, max_bytes=10_000)
    for n in range(4):
        cache.put(n, entry(1_000))
    kept = Representation("text/plain", 0.0, 60, "d", load=lambda coding: b"y" * 4_000)
    cache.put("kept", Entry("", 1, kept))
    before = cache.size
    assert kept.body("gzip") == b"y" * 4_000
    assert cache.size <= 10_000 and cache.get(0, 1) is None  # the oldest made room
    assert cache.size > before - 2_000  # the body counts: 4,000 in, one 2,000 entry out
    kept.body("gzip")  # already held: counted once
    assert cache.size == sum(
        e.representation.held() + ENTRY_OVERHEAD for e in cache._by_key.values()
    )


def test_cache_is_bounded_by_entries() -> None:
    cache = ResponseCache(max_entries=3, max_bytes=1 << 30)
    for n in range(5):
        cache.put(n, entry(10))
    assert len(cache) == 3 and cache.get(4, 1) is not None and cache.get(0, 1) is None


def test_stale_version_is_a_miss() -> None:
    cache = ResponseCache()
    cache.put("k", entry(10, version=1))
    assert cache.get("k", 2) is None


class CountingApp:
    """A WSGI app that counts the requests it passes on to another."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self.calls += 1
        return self.app(environ, start_response)


def count_flask(app: Flask) -> tuple[Client, CountingApp]:
    """A client for the app, and a count of the requests that got past the fast path."""
    outer = app.wsgi_app
    if isinstance(outer, AccessLog):  # it asks the fast path first, then calls Flask
        fast = getattr(outer.answer, "__self__", None)
        assert isinstance(fast, FastPath) and fast.app is outer.app
        flask = CountingApp(fast.app)
        fast.app = outer.app = flask
        return Client(outer), flask
    assert isinstance(outer, FastPath)
    flask = CountingApp(outer.app)
    outer.app = flask
    return Client(outer), flask


@pytest.fixture
def two_tags(write_article: WriteArticle, articles_dir: Path) -> Flask:
    write_article("2026-01-01-a.txt", title="Alpha", keywords="alpha")
    write_article("2026-01-02-b.txt", title="Beta", keywords="beta")
    return create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False})


def test_cached_hits_never_enter_flask(two_tags: Flask, write_article: WriteArticle) -> None:
    client, flask = count_flask(two_tags)
    first = client.get("/tags/alpha/feed.rss")
    assert first.status_code == 200 and b"Alpha" in first.data
    assert flask.calls == 1  # rendered through Flask
    beta = client.get("/tags/beta/feed.rss")
    assert flask.calls == 2

    again = client.get("/tags/alpha/feed.rss")
    conditional = client.get(
        "/tags/alpha/feed.rss", headers={"If-None-Match": first.headers["ETag"]}
    )
    zipped = client.get("/tags/alpha/feed.rss", headers={"Accept-Encoding": "gzip"})
    head = client.head("/tags/alpha/feed.rss")
    assert flask.calls == 2  # none of these entered Flask
    assert again.status_code == 200 and again.data == first.data
    assert sorted(again.headers.items()) == sorted(first.headers.items())
    assert conditional.status_code == 304 and conditional.data == b""
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == first.data
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == first.headers["Content-Length"]

    # An edit makes a new version of alpha: its next request renders again, once.
    write_article("2026-01-01-a.txt", title="Alpha, edited", keywords="alpha")
    two_tags.extensions["feedsvc"].indexer.scan()
    edited = client.get("/tags/alpha/feed.rss")
    assert flask.calls == 3
    assert b"Alpha, edited" in edited.data and edited.headers["ETag"] != first.headers["ETag"]
    assert client.get("/tags/alpha/feed.rss").data == edited.data
    # Beta's version did not move: it is still answered without Flask.
    assert client.get("/tags/beta/feed.rss").data == beta.data
    assert flask.calls == 3


def test_made_up_query_arguments_get_no_fast_path_alias(two_tags: Flask) -> None:
    client, flask = count_flask(two_tags)
    cache = two_tags.extensions["feedsvc"].cache
    assert client.get("/feed.rss?utm_source=x").status_code == 200
    assert cache.for_request("/feed.rss", "utm_source=x") is None
    assert client.get("/feed.rss?utm_source=x").status_code == 200
    assert flask.calls == 2  # no alias: every such request goes through Flask
    assert client.get("/feed.rss?limit=5").status_code == 200
    assert cache.for_request("/feed.rss", "limit=5") is not None
    assert client.get("/feed.rss?limit=5").status_code == 200
    assert flask.calls == 3  # the second one came from the fast path


def test_a_polled_alias_outlives_a_flood_of_made_up_ones() -> None:
    cache = ResponseCache(max_entries=100, max_bytes=160_000)  # 10,000 bytes of aliases
    cache.put("feed", entry(10), RequestLine("/feed.rss", ""))
    for n in range(200):  # each alias about 330 bytes: thirty fit
        cache.put("feed", entry(10), RequestLine("/feed.rss", f"page={n}"))
        assert cache.for_request("/feed.rss", "") is not None  # polled all along
    assert cache.for_request("/feed.rss", "page=0") is None  # the made-up ones left
