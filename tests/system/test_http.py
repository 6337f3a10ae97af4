"""Aggregator-grade HTTP over the real server: validators, 304s, compression, paging, 301s."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate, parsedate_to_datetime

import brotli
import feedparser
import pytest

from tests.conftest import WriteArticle, article_writer, shared_articles_dir, wait_until
from tests.system.conftest import LiveServer, serving


def write_corpus(write: WriteArticle) -> None:
    """Two tags, alpha and beta, with articles of known dates; 25 alpha articles for paging."""
    for n in range(25):
        write(
            f"2026-01-{n + 1:02d}-alpha-{n}.txt",
            title=f"Alpha {n}",
            keywords="Alpha, shared",
        )
    write(
        "beta-one.txt",
        title="Beta one",
        keywords="Beta",
        front={"date": "2026-02-01T10:00:00Z", "updated": "2026-02-03T10:00:00Z"},
    )
    write("2025-12-01-beta-two.txt", title="Beta two", keywords="beta, shared")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The corpus on one server shared by the tests that only read.

    No test using it writes a file; a test about a URL's first render (through
    Flask, before the fast path has it) asks for a URL no other test asks for.
    """
    folder = shared_articles_dir(tmp_path_factory, "http")
    write_corpus(article_writer(folder))
    with serving(folder) as running:
        yield running


@pytest.fixture
def own_server(write_article: WriteArticle, live_server: Callable[..., LiveServer]) -> LiveServer:
    """The same corpus on a server of the test's own, for a test that edits files."""
    write_corpus(write_article)
    return live_server()


@pytest.fixture(scope="module")
def odd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Odd articles kept out of the main corpus (its feeds' counts and dates), read only."""
    folder = shared_articles_dir(tmp_path_factory, "http-odd")
    write = article_writer(folder)
    write("sp.txt", keywords="São Paulo")
    write(
        "odd.txt",
        keywords="odd",
        front={"date": "2026-01-01T00:00:00Z", "updated": "2099-01-01T00:00:00Z"},
    )
    with serving(folder) as running:
        yield running


def test_feed_carries_validators_and_caching_headers(server: LiveServer) -> None:
    response = server.get("/tags/beta/feed.atom")
    assert response.status == 200
    etag = response.getheader("ETag")
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    # Last-Modified is when beta's feed last changed (here: when it was indexed), not
    # its items' dates, so an edit or a deletion moves it too.
    last_modified = parsedate_to_datetime(response.getheader("Last-Modified")).timestamp()
    assert time.time() - 600 < last_modified <= time.time()
    assert response.getheader("Cache-Control") == "public, max-age=300"
    assert response.getheader("Vary") == "Accept-Encoding, Sec-Fetch-Dest"
    assert response.getheader("Content-Type") == "application/atom+xml; charset=utf-8"


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
def test_if_none_match_gives_304_with_same_validators(server: LiveServer, fmt: str) -> None:
    first = server.get(f"/tags/alpha/feed.{fmt}")
    again = server.get(f"/tags/alpha/feed.{fmt}", {"If-None-Match": first.getheader("ETag")})
    assert again.status == 304
    assert again.body == b""
    assert again.getheader("ETag") == first.getheader("ETag")
    assert again.getheader("Last-Modified") == first.getheader("Last-Modified")
    assert again.getheader("Cache-Control") == first.getheader("Cache-Control")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("*", 304),
        ('"nope", {etag}', 304),
        ("W/{etag}", 304),  # weak comparison, as RFC 9110 says for If-None-Match
        ('"nope"', 200),
        ('"nope", "other"', 200),
    ],
    ids=["star", "list", "weak", "mismatch", "list-mismatch"],
)
def test_if_none_match_forms(server: LiveServer, header: str, expected: int) -> None:
    etag = server.get("/feed.rss").getheader("ETag")
    response = server.get("/feed.rss", {"If-None-Match": header.format(etag=etag)})
    assert response.status == expected


def test_if_modified_since(server: LiveServer) -> None:
    first = server.get("/tags/beta/feed.rss")
    last_modified = parsedate_to_datetime(first.getheader("Last-Modified")).timestamp()
    same = server.get(
        "/tags/beta/feed.rss", {"If-Modified-Since": first.getheader("Last-Modified")}
    )
    assert same.status == 304
    earlier = formatdate(last_modified - 1, usegmt=True)
    assert server.get("/tags/beta/feed.rss", {"If-Modified-Since": earlier}).status == 200
    assert server.get("/tags/beta/feed.rss", {"If-Modified-Since": "garbage"}).status == 200


def test_if_none_match_wins_over_if_modified_since(server: LiveServer) -> None:
    first = server.get("/tags/beta/feed.rss")
    headers = {"If-None-Match": '"stale"', "If-Modified-Since": first.getheader("Last-Modified")}
    assert server.get("/tags/beta/feed.rss", headers).status == 200


def test_head_answers_like_get_without_body(server: LiveServer) -> None:
    get = server.get("/tags/alpha/feed.rss")
    head = server.get("/tags/alpha/feed.rss", method="HEAD")
    assert head.status == 200
    assert head.body == b""
    for name in ("ETag", "Last-Modified", "Content-Type", "Content-Length", "Cache-Control"):
        assert head.getheader(name) == get.getheader(name), name


@pytest.mark.parametrize(
    ("coding", "decode"),
    [("gzip", gzip.decompress), ("br", brotli.decompress)],
)
def test_compressed_bodies_decode_to_identity_and_have_own_etag(
    server: LiveServer, coding: str, decode
) -> None:  # type: ignore[no-untyped-def]
    identity = server.get("/tags/alpha/feed.atom", {"Accept-Encoding": "identity"})
    compressed = server.get("/tags/alpha/feed.atom", {"Accept-Encoding": coding})
    assert identity.getheader("Content-Encoding") is None
    assert compressed.getheader("Content-Encoding") == coding
    assert compressed.getheader("Vary") == "Accept-Encoding, Sec-Fetch-Dest"
    assert decode(compressed.body) == identity.body
    assert compressed.getheader("ETag") != identity.getheader("ETag")
    # Conditional requests work per variant: each variant's own ETag gives a 304.
    again = server.get(
        "/tags/alpha/feed.atom",
        {"Accept-Encoding": coding, "If-None-Match": compressed.getheader("ETag")},
    )
    assert again.status == 304
    assert again.getheader("ETag") == compressed.getheader("ETag")


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip, deflate, br", "br"),
        ("gzip;q=1.0, br;q=0", "gzip"),
        ("br;q=0, gzip;q=0", None),
        ("*", "br"),
        ("deflate", None),
    ],
)
def test_accept_encoding_negotiation(server: LiveServer, accept: str, expected: str | None) -> None:
    assert server.get("/feed.json", {"Accept-Encoding": accept}).getheader("Content-Encoding") == (
        expected
    )


def test_editing_one_tag_leaves_other_tags_validators(
    own_server: LiveServer, write_article: WriteArticle
) -> None:
    server = own_server
    alpha = server.get("/tags/alpha/feed.rss")
    beta = server.get("/tags/beta/feed.rss")
    write_article("2026-01-25-alpha-24.txt", title="Alpha 24, edited", keywords="Alpha, shared")
    wait_until(
        lambda: server.get("/tags/alpha/feed.rss").getheader("ETag") != alpha.getheader("ETag"),
        5,
        "the edit showing in the alpha feed",
    )
    assert (
        server.get("/tags/beta/feed.rss", {"If-None-Match": beta.getheader("ETag")}).status == 304
    )
    unchanged = server.get("/tags/beta/feed.rss")
    assert unchanged.getheader("ETag") == beta.getheader("ETag")
    assert unchanged.getheader("Last-Modified") == beta.getheader("Last-Modified")


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=abc",
        "limit=10000",
        "limit=-1",
        "limit=",
        "page=0",
        "page=x",
        "limit=%D9%A3",
        "limit=" + "9" * 5000,  # past int()'s digit limit: still a 400, never a 500
        "page=" + "9" * 5000,
    ],
)
def test_bad_limit_or_page_is_400_plain(server: LiveServer, query: str) -> None:
    response = server.get(f"/tags/alpha/feed.rss?{query}")
    assert response.status == 400
    assert response.getheader("Content-Type").startswith("text/plain")
    assert response.body.count(b"\n") == 1 and len(response.body) < 120


def test_limit_sets_item_count_and_unknown_parameters_are_ignored(server: LiveServer) -> None:
    assert len(feedparser.parse(server.get("/feed.rss?limit=3").body).entries) == 3
    assert len(feedparser.parse(server.get("/feed.rss?limit=100&x=1").body).entries) == 27
    assert len(feedparser.parse(server.get("/feed.rss?utm_source=x").body).entries) == 20


def _links(body: bytes) -> dict[str, str]:
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.bozo_exception
    return {link["rel"]: link["href"] for link in parsed.feed.links}


def test_paging_links_walk_every_article_once(server: LiveServer) -> None:
    seen: list[str] = []
    path: str | None = "/tags/alpha/feed.atom?limit=10"
    pages = 0
    while path:
        response = server.get(path)
        assert response.status == 200
        parsed = feedparser.parse(response.body)
        seen += [entry.id for entry in parsed.entries]
        links = _links(response.body)
        assert links["first"] == f"{server.url}/tags/alpha/feed.atom?limit=10"
        assert links["last"] == f"{server.url}/tags/alpha/feed.atom?limit=10&page=3"
        path = links["next"].removeprefix(server.url) if "next" in links else None
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 25


def test_rss_and_json_carry_paging_links(server: LiveServer) -> None:
    rss = _links(server.get("/tags/alpha/feed.rss?limit=10&page=2").body)
    assert rss["previous"] == f"{server.url}/tags/alpha/feed.rss?limit=10"
    assert rss["next"] == f"{server.url}/tags/alpha/feed.rss?limit=10&page=3"
    feed = json.loads(server.get("/tags/alpha/feed.json?limit=10&page=2").body)
    assert feed["next_url"] == f"{server.url}/tags/alpha/feed.json?limit=10&page=3"
    assert "next_url" not in json.loads(server.get("/tags/alpha/feed.json?limit=10&page=3").body)


def test_page_past_the_end_is_404(server: LiveServer) -> None:
    assert server.get("/tags/alpha/feed.rss?page=2").status == 200
    assert server.get("/tags/alpha/feed.rss?page=3").status == 404
    assert server.get("/tags/beta/feed.rss?page=2").status == 404


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/tags/Alpha/feed.rss", "/tags/alpha/feed.rss"),
        ("/tags/ALPHA/", "/tags/alpha/"),
        ("/tags/Alpha/feed.json?limit=2", "/tags/alpha/feed.json?limit=2"),
        ("/feed", "/feed.rss"),
        ("/rss", "/feed.rss"),
        ("/atom.xml", "/feed.atom"),
        ("/feed.xml", "/feed.rss"),
        ("/tags/alpha/rss", "/tags/alpha/feed.rss"),
        ("/tags/Alpha/atom", "/tags/alpha/feed.atom"),
    ],
)
def test_non_canonical_urls_are_301(server: LiveServer, path: str, location: str) -> None:
    response = server.get(path)
    assert response.status == 301
    assert response.getheader("Location") in (location, server.url + location)


def test_non_canonical_unicode_tag_is_301(odd_server: LiveServer) -> None:
    server = odd_server
    response = server.get("/tags/S%C3%A3o%20Paulo/")
    assert response.status == 301
    assert response.getheader("Location").endswith("/tags/s%C3%A3o-paulo/")
    assert server.get("/tags/s%C3%A3o-paulo/feed.rss").status == 200


@pytest.mark.parametrize("path", ["/tags/gamma/feed.rss", "/tags/Gamma/", "/tags/gamma/rss"])
def test_unknown_tag_stays_404(server: LiveServer, path: str) -> None:
    assert server.get(path).status == 404


def test_feeds_allow_any_origin(server: LiveServer) -> None:
    assert server.get("/feed.rss").getheader("Access-Control-Allow-Origin") == "*"
    preflight = server.get(
        "/tags/alpha/feed.json",
        {"Origin": "http://partner.test", "Access-Control-Request-Method": "GET"},
        method="OPTIONS",
    )
    assert preflight.status in (200, 204)
    assert preflight.getheader("Access-Control-Allow-Origin") == "*"
    assert "GET" in preflight.getheader("Access-Control-Allow-Methods")
    assert preflight.getheader("Access-Control-Allow-Credentials") is None


def test_html_pages_have_shorter_cache_and_304(server: LiveServer) -> None:
    page = server.get("/tags/alpha/")
    assert page.getheader("Cache-Control") == "public, max-age=60"
    again = server.get("/tags/alpha/", {"If-None-Match": page.getheader("ETag")})
    assert again.status == 304


def test_cached_hits_send_the_same_headers_as_first_render(server: LiveServer) -> None:
    """The first response is rendered through Flask, the next from the fast path.

    That the repeat never enters Flask is shown in-process, in test_cache.py; here
    the two replies are compared as a client gets them over HTTP.
    """
    first = server.get("/tags/beta/feed.rss?limit=5")
    second = server.get("/tags/beta/feed.rss?limit=5")
    drop = {"date"}
    assert first.status == second.status == 200
    assert [e.title for e in feedparser.parse(first.body).entries] == ["Beta one", "Beta two"]
    assert first.body == second.body
    assert sorted((k.lower(), v) for k, v in first.getheaders() if k.lower() not in drop) == sorted(
        (k.lower(), v) for k, v in second.getheaders() if k.lower() not in drop
    )


def test_head_before_any_get_has_the_full_length(server: LiveServer) -> None:
    """A HEAD that renders the feed (no cached copy yet) still reports the body's length."""
    head = server.get("/tags/beta/feed.json?limit=7", method="HEAD")
    get = server.get("/tags/beta/feed.json?limit=7")
    assert head.status == 200 and head.body == b""
    assert int(head.getheader("Content-Length")) == len(get.body) > 0
    assert head.getheader("ETag") == get.getheader("ETag")


def test_304_headers_are_the_same_from_first_render_and_from_cache(server: LiveServer) -> None:
    """A 304 rendered through Flask and one from the fast path carry the same validators."""
    first = server.get("/tags/alpha/feed.atom?limit=4", {"If-None-Match": "*"})
    second = server.get("/tags/alpha/feed.atom?limit=4", {"If-None-Match": "*"})
    assert first.status == second.status == 304

    def headers(response) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
        return sorted((k.lower(), v) for k, v in response.getheaders() if k.lower() != "date")

    assert headers(first) == headers(second)
    assert first.getheader("Last-Modified") and first.getheader("ETag")


def test_future_updated_date_never_makes_a_future_last_modified(odd_server: LiveServer) -> None:
    response = odd_server.get("/tags/odd/feed.rss")
    assert response.status == 200
    assert parsedate_to_datetime(response.getheader("Last-Modified")).timestamp() <= time.time()
