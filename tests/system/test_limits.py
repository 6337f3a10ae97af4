"""Bounded work per article over the real server: an article of 50,000 keywords, or of
20 MB with the size cap raised, leaves the service responsive and every feed readable."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from tests.conftest import WriteArticle
from tests.system.conftest import LiveServer
from tests.unit.test_limits import (
    FULL_ARTICLE_NOTE,
    ITEM_CONTENT_BYTES,
    keywords,
    rss_items,
    text_nodes,
)


def test_a_server_with_an_article_of_50000_keywords_stays_responsive(
    write_article: WriteArticle, live_server: Callable[..., LiveServer]
) -> None:
    """The only worker is never busy for long: the feeds answer at once, /healthz too,
    the article page stays small, and the log names the file and what was left out."""
    path = write_article("2026-01-01-tagged.txt", keywords=keywords(50_000))
    server = live_server()
    started = time.monotonic()
    response = server.get("/feed.rss")  # a 10 s timeout; it took minutes
    assert response.status == 200
    assert len(rss_items(response.body)[0].findall("category")) == 100
    for fmt in ("atom", "json"):
        assert server.get(f"/feed.{fmt}").status == 200
    assert server.get("/healthz").status == 200
    assert time.monotonic() - started < 10
    page = server.get("/articles/tagged")
    assert page.status == 200 and len(page.body) < 100_000  # was 23.5 MB
    assert f"{path}: 50,000 tags: the first 100 are kept, 49,900 left out" in (
        server.log.read_text()
    )


def test_a_20_mb_article_served_with_the_cap_raised_leaves_every_feed_readable(
    write_article: WriteArticle, live_server: Callable[..., LiveServer]
) -> None:
    """The feeds of the real server parse with libxml2's default limits: no text node
    past 10 MB ("Text node too long" stopped libxml2-based readers)."""
    write_article("2026-01-01-huge.txt", keywords="Climate", body=("y" * (20 << 20),))
    write_article("2026-01-02-small.txt", keywords="Climate")
    server = live_server(MAX_ARTICLE_BYTES=str(24 << 20))
    for path in ("/feed.rss", "/feed.atom", "/tags/climate/feed.rss", "/tags/climate/feed.atom"):
        response = server.get(path)
        assert response.status == 200, path
        assert len(response.body) < 2 * ITEM_CONTENT_BYTES, path
        texts = text_nodes(response.body)
        assert max(len(t.encode()) for t in texts) <= ITEM_CONTENT_BYTES, path
        assert any(f"{FULL_ARTICLE_NOTE} " in t for t in texts), path
    item = json.loads(server.get("/feed.json").body)["items"][1]
    assert FULL_ARTICLE_NOTE in item["content_html"]
