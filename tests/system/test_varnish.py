"""The shipped Varnish configuration, run by a real varnishd in front of the real service.

Each test fills in the VCL's deployment lines (and nothing else) and shows one
promise: hits, per-tag purges on edits, scheduled articles on time, the purge ACL,
and two origins behind one cache with one of them stopped.
"""

from __future__ import annotations

import gzip
import http.client
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest

from bench.processes import free_port
from bench.varnish import Varnish, shipped_vcl, start_varnish, stop_varnish
from tests.conftest import WriteArticle, wait_until
from tests.system.conftest import LiveServer, start_server, stop_server


def request(
    base: str,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    source: str | None = None,
) -> Any:
    """One request to ``base``, from the loopback address ``source``; the response, read."""
    connection = http.client.HTTPConnection(
        base.removeprefix("http://"),
        timeout=10,
        source_address=(source, 0) if source else None,
    )
    connection.request(method, path, headers=headers or {})
    response = connection.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


def cache_state(base: str, path: str, headers: dict[str, str] | None = None) -> str:
    response = request(base, path, headers)
    assert response.status == 200, (path, response.status, response.body[:200])
    return str(response.getheader("X-Cache"))


def health(server: LiveServer) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(server.get("/healthz").body)
    return report


def purges_sent(server: LiveServer) -> int:
    """Purges the origin delivered, once none waits (0 while one does)."""
    entries = health(server).get("purge", [])
    if not entries or any(entry["pending"] for entry in entries):
        return 0
    return sum(entry["sent"] for entry in entries)


def wait_for_purge(server: LiveServer, before: int) -> None:
    wait_until(lambda: purges_sent(server) > before, 10, "the purge")


class Tier:
    """Origins on one articles folder (each with its own state) behind one varnishd."""

    def __init__(self, tmp: Path, articles: Path, origins: int = 1, **settings: str) -> None:
        self.tmp = tmp
        self.articles = articles
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.origins: list[LiveServer] = []
        for number in range(origins):
            self.origins.append(
                start_server(
                    articles,
                    tmp / f"origin{number}.log",
                    BASE_URL=self.url,
                    PURGE_URLS=f"{self.url}/",
                    STATE_DIR=str(tmp / f"state{number}"),
                    **settings,
                )
            )
        ports = [int(origin.url.rsplit(":", 1)[1]) for origin in self.origins]
        vcl = shipped_vcl(ports, ["127.0.0.1"], interval=0.2)
        self.varnish: Varnish = start_varnish(tmp / "varnish", vcl, self.port)
        for origin in self.origins:  # the first build's purge, sent once varnishd is up
            wait_for_purge(origin, 0)

    def stop(self) -> None:
        stop_varnish(self.varnish)
        for origin in self.origins:
            stop_server(origin)


@pytest.fixture
def tier(tmp_path: Path, articles_dir: Path) -> Iterator[Callable[..., Tier]]:
    started: list[Tier] = []

    def start(origins: int = 1, **settings: str) -> Tier:
        started.append(Tier(tmp_path, articles_dir, origins, **settings))
        return started[-1]

    yield start
    for each in started:
        each.stop()


def write_two_tags(write: WriteArticle) -> None:
    write("2025-01-01-a-one.txt", title="Alpha one", keywords="alpha")
    write("2025-01-02-a-two.txt", title="Alpha two", keywords="alpha")
    write("2025-01-03-b-one.txt", title="Beta one", keywords="beta")


A_PATHS = [
    *(f"/tags/alpha/feed.{fmt}" for fmt in ("rss", "atom", "json")),
    "/tags/alpha/feed.atom?limit=1&page=2",
    *(f"/feed.{fmt}" for fmt in ("rss", "atom", "json")),
    "/feed.rss?limit=1&page=3",
    "/articles/a-one",
    "/headlines.json",
    "/tags/alpha/headlines.json",
    "/tags.json",
    "/tags/alpha/",
    "/",
]
B_PATHS = [
    *(f"/tags/beta/feed.{fmt}" for fmt in ("rss", "atom", "json")),
    "/tags/beta/headlines.json",
    "/tags/beta/",
    "/articles/b-one",
    "/articles/a-two",
]


def test_second_request_is_a_hit_in_each_coding(write_article: WriteArticle, tier: Any) -> None:
    write_two_tags(write_article)
    cache = tier()
    path = "/tags/alpha/feed.atom"
    bodies = {}
    for coding in ("br", "gzip", "identity"):
        headers = {"Accept-Encoding": coding}
        first = request(cache.url, path, headers)
        second = request(cache.url, path, headers)
        assert (first.getheader("X-Cache"), second.getheader("X-Cache")) == ("MISS", "HIT")
        assert second.getheader("ETag") == first.getheader("ETag")
        assert second.getheader("Content-Encoding", "identity") == coding
        decode = {"br": brotli.decompress, "gzip": gzip.decompress}.get(coding, bytes)
        bodies[coding] = decode(second.body)
        # Browsers get the origin's max-age and nothing a downstream cache could keep.
        assert second.getheader("Cache-Control") == "public, max-age=300"
        assert second.getheader("Age") is None
        assert second.getheader("xkey") is None
        # A reader's conditional request is still a 304, from the cache.
        again = request(cache.url, path, {**headers, "If-None-Match": first.getheader("ETag")})
        assert again.status == 304
        assert again.getheader("X-Cache") == "HIT"
    assert bodies["br"] == bodies["gzip"] == bodies["identity"]
    assert b"Alpha one" in bodies["identity"]


def test_edit_purges_exactly_the_tag_it_touches(write_article: WriteArticle, tier: Any) -> None:
    write_two_tags(write_article)
    cache = tier()
    origin = cache.origins[0]
    for path in A_PATHS + B_PATHS:
        cache_state(cache.url, path)
        assert cache_state(cache.url, path) == "HIT", path
    before = purges_sent(origin)
    write_article("2025-01-01-a-one.txt", title="Alpha one, corrected", keywords="alpha")
    wait_for_purge(origin, before)
    for path in A_PATHS:
        assert cache_state(cache.url, path) == "MISS", path
        assert cache_state(cache.url, path) == "HIT", path
    for path in B_PATHS:
        assert cache_state(cache.url, path) == "HIT", path
    for path in ("/tags/alpha/feed.rss", "/feed.json", "/articles/a-one", "/headlines.json"):
        assert b"Alpha one, corrected" in request(cache.url, path).body, path


def test_scheduled_article_is_served_through_the_cache_on_time(
    write_article: WriteArticle, tier: Any
) -> None:
    """Scheduled once the cache is up, far enough ahead that a loaded machine is ready
    before the release: the cache keeps the feed no longer than until then."""
    write_two_tags(write_article)
    cache = tier()
    origin = cache.origins[0]
    release = time.time() + 30
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(release))
    write_article("later.txt", title="Alpha later", keywords="alpha", front={"date": stamp})

    def shared_lifetime() -> int:
        direct = origin.get("/tags/alpha/feed.rss")
        return int(direct.getheader("Cache-Control").rsplit("s-maxage=", 1)[1])

    # The shared lifetime ends at the release, not a day later, once the file is indexed.
    wait_until(lambda: shared_lifetime() <= 30, 60, "the scheduled article indexed")
    assert time.time() < release, "the machine took longer than the schedule allows"
    cache_state(cache.url, "/tags/alpha/feed.rss")
    assert cache_state(cache.url, "/tags/alpha/feed.rss") == "HIT"
    assert b"Alpha later" not in request(cache.url, "/tags/alpha/feed.rss").body
    before = purges_sent(origin)
    wait_until(lambda: time.time() >= release, 60, "the release time")
    wait_until(
        lambda: b"Alpha later" in request(cache.url, "/tags/alpha/feed.rss").body,
        60,
        "the scheduled article through the cache after its release",
    )
    wait_for_purge(origin, before)  # and the release was purged, as edits are


def test_purge_only_from_allowed_addresses(write_article: WriteArticle, tier: Any) -> None:
    write_two_tags(write_article)
    cache = tier()
    path = "/tags/alpha/feed.rss"
    cache_state(cache.url, path)
    everything = {"xkey-purge": "all"}
    refused = request(cache.url, "/", everything, method="PURGE", source="127.0.0.2")
    assert refused.status == 403
    assert cache_state(cache.url, path) == "HIT"
    assert request(cache.url, "/", method="PURGE").status == 400  # no keys named
    assert request(cache.url, "/", everything, method="PURGE").status == 200
    assert cache_state(cache.url, path) == "MISS"
    # Through the cache, other methods reach the origin, which refuses them.
    assert request(cache.url, path, method="DELETE").status == 405


def test_two_origins_purge_and_one_can_stop(write_article: WriteArticle, tier: Any) -> None:
    write_two_tags(write_article)
    cache = tier(origins=2)
    first, second = cache.origins
    paths = ["/tags/alpha/feed.atom", "/feed.rss", "/tags/beta/feed.json", "/articles/a-one"]
    for path in paths:
        cache_state(cache.url, path)
        assert cache_state(cache.url, path) == "HIT"
    sent = [purges_sent(first), purges_sent(second)]
    write_article("2025-01-01-a-one.txt", title="Alpha one, second origin", keywords="alpha")
    wait_for_purge(first, sent[0])
    wait_for_purge(second, sent[1])  # each origin purges for the change it indexed
    assert b"Alpha one, second origin" in request(cache.url, "/tags/alpha/feed.atom").body

    stop_server(first)
    sent = purges_sent(second)
    write_article("2025-01-02-a-two.txt", title="Alpha two, one origin", keywords="alpha")
    wait_for_purge(second, sent)
    for path in paths:
        served = [request(cache.url, path) for _ in range(6)]
        assert {response.status for response in served} == {200}, path
        assert len({response.body for response in served}) == 1, path  # one version
    assert b"Alpha two, one origin" in request(cache.url, "/tags/alpha/feed.atom").body
    assert b"Alpha one, second origin" in request(cache.url, "/feed.rss").body


def test_every_article_page_and_feed_carries_its_keys(
    write_article: WriteArticle, tier: Any
) -> None:
    write_article("s.txt", title="São Paulo", keywords="São Paulo, metro")
    cache = tier()
    origin = cache.origins[0]
    keys = {
        "/tags/s%C3%A3o-paulo/feed.rss": "all tag:s%C3%A3o-paulo",
        "/tags/metro/": "all tag:metro",
        "/feed.json": "all site",
        "/articles/s": "all article:s",
        "/embed.js": "all static",
    }
    for path, expected in keys.items():
        response = origin.get(path)
        assert response.getheader("xkey") == expected, path
        assert response.getheader("Surrogate-Key") == expected, path
        assert response.getheader("Cache-Tag") == expected.replace(" ", ","), path
        assert "s-maxage=86400" in response.getheader("Cache-Control"), path
    for path in ("/healthz", "/tags/nothing/feed.rss", "/rss"):
        assert origin.get(path).getheader("xkey") is None, path
        assert cache_state_any(cache.url, path) != "HIT", path


def cache_state_any(base: str, path: str) -> str:
    request(base, path)
    return str(request(base, path).getheader("X-Cache"))
