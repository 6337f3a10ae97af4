"""Partner endpoints over the real server: conditional GET and caching like the feeds,
CORS for browsers on other origins, and an OPML whose every feed is valid."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import feedparser
import pytest

from tests.conftest import article_writer, shared_articles_dir
from tests.system.conftest import LiveServer, serving
from tests.unit.test_embeds import ALL_PUBLIC, PUBLIC, outlines, site_titled, write_corpus


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The corpus on one real server, shared by the tests over HTTP: none writes a file."""
    folder = shared_articles_dir(tmp_path_factory, "embeds")
    write_corpus(article_writer(folder))
    with serving(folder) as running:
        yield running


@pytest.mark.parametrize("path", PUBLIC)
def test_conditional_get_and_caching_match_the_feeds(server: LiveServer, path: str) -> None:
    first = server.get(path, {"Accept-Encoding": "gzip"})
    assert first.status == 200
    assert first.getheader("Content-Encoding") == "gzip"
    assert first.getheader("Cache-Control") == "public, max-age=300"
    # A feed a browser tab may open is labelled by Sec-Fetch-Dest too.
    browsable = path.endswith((".rss", ".atom"))
    assert first.getheader("Vary") == (
        "Accept-Encoding, Sec-Fetch-Dest" if browsable else "Accept-Encoding"
    )
    assert first.getheader("Last-Modified")
    # The first reply was rendered through Flask (this is the first test to ask the
    # shared server for these paths): the CORS test below may see only cached copies.
    assert first.getheader("Access-Control-Allow-Origin") == "*"
    assert first.getheader("Access-Control-Allow-Credentials") is None
    for _ in range(2):  # both from the cache the first reply filled
        again = server.get(
            path, {"Accept-Encoding": "gzip", "If-None-Match": first.getheader("ETag")}
        )
        assert again.status == 304
        assert again.body == b""
        assert again.getheader("ETag") == first.getheader("ETag")
        assert again.getheader("Access-Control-Allow-Origin") == "*"


@pytest.mark.parametrize("path", [*ALL_PUBLIC, "/oembed?url=URL/tags/syria/"])
def test_cors_preflight_and_simple_requests(server: LiveServer, path: str) -> None:
    path = path.replace("URL", quote(server.url, safe=""))
    origin = {"Origin": "http://partner.example"}
    preflight = server.get(
        path,
        {
            **origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
        method="OPTIONS",
    )
    assert preflight.status in (200, 204)
    assert preflight.getheader("Access-Control-Allow-Origin") == "*"
    methods = {m.strip() for m in preflight.getheader("Access-Control-Allow-Methods").split(",")}
    assert {"GET", "HEAD"} <= methods
    assert not methods & {"POST", "PUT", "PATCH", "DELETE"}
    allowed = preflight.getheader("Access-Control-Allow-Headers").lower()
    assert "if-none-match" in allowed
    assert preflight.getheader("Access-Control-Allow-Credentials") is None
    for _ in range(2):
        simple = server.get(path, origin)
        assert simple.status == 200
        assert simple.getheader("Access-Control-Allow-Origin") == "*"
        assert simple.getheader("Access-Control-Allow-Credentials") is None
    assert server.get(path, origin, method="POST").status == 405  # nothing writes


def test_opml_lists_every_feed_and_each_is_a_valid_feed(server: LiveServer) -> None:
    response = server.get("/feeds.opml")
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/x-opml; charset=utf-8"
    found = outlines(response.body)
    assert [o["text"] for o in found] == site_titled(
        "feedsvc news", "Briefs", "Climate", "Palmyra", "São Paulo", "Syria"
    )
    assert found[0]["xmlUrl"] == f"{server.url}/feed.atom"  # Atom offered first
    assert found[-1]["htmlUrl"] == f"{server.url}/tags/syria/"
    for outline in found:
        assert outline["type"] == "rss"
        assert outline["title"] == outline["text"]
        assert outline["xmlUrl"].startswith(server.url + "/")
        feed = server.get(outline["xmlUrl"].removeprefix(server.url))
        assert feed.status == 200, outline
        assert feed.getheader("Content-Type") == "application/atom+xml; charset=utf-8"
        parsed = feedparser.parse(feed.body)
        assert not parsed.bozo, (outline["xmlUrl"], parsed.bozo_exception)
        assert parsed.version == "atom10"
        assert parsed.entries
        assert parsed.feed.title.endswith(outline["text"].rpartition(" \u2014 ")[2])
        assert server.get(outline["htmlUrl"].removeprefix(server.url)).status == 200
