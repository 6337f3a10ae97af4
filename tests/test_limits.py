"""Work per article is bounded: an article keeps its first ``FEEDSVC_MAX_KEYWORDS``
tags (the rest are logged), and no feed, page or start-up grows with what one author
wrote.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from feedsvc.app import create_app
from feedsvc.articles import Article, Stamp, Tag, parse_text
from feedsvc.feeds import FeedInfo, Item, render_atom, render_rss
from tests.conftest import LiveServer, WriteArticle, article_text

ITEM_CONTENT_BYTES = 100_000  # the default of FEEDSVC_ITEM_CONTENT_BYTES
FULL_ARTICLE_NOTE = "The full article is on the site:"
STAMP = Stamp(1_700_000_000 * 10**9, 1)
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
}
INFO = FeedInfo(
    id="tag:example.org,2026:feed",
    title="Site",
    description="All of it",
    home_url="http://example.org/",
    self_url="http://example.org/feed.rss",
    language="en",
    author="Desk",
    category_url="http://example.org/tags/",
)
# libxml2's own parser with its default limits: what most feed readers use.
STRICT = etree.XMLParser(huge_tree=False, resolve_entities=False)


def keywords(count: int) -> str:
    return ", ".join(f"keyword {i}" for i in range(count))


def text_nodes(document: bytes) -> list[str]:
    """Every text of an XML document, parsed the way libxml2-based readers parse it."""
    root = etree.fromstring(document, STRICT)  # raises "Text node too long" past 10 MB
    return [t for t in root.itertext() if t]


def rss_items(document: bytes) -> list[Any]:
    return list(etree.fromstring(document, STRICT).iter("item"))


# Keywords per article ---------------------------------------------------------------


def test_an_article_keeps_its_first_keywords_and_says_how_many_were_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """50,000 keywords: the article is served with the first 100 tags, in order; the
    rest are reported, never silently dropped."""
    data = article_text(keywords=keywords(50_000)).encode()
    with caplog.at_level(logging.WARNING, logger="feedsvc.articles"):
        article, _ = parse_text("/srv/articles/many.txt", data, STAMP)
    assert [t.label for t in article.tags] == [f"keyword {i}" for i in range(100)]
    assert article.notes == ("50,000 tags: the first 100 are kept, 49,900 left out",)
    assert caplog.messages == [
        "/srv/articles/many.txt: 50,000 tags: the first 100 are kept, 49,900 left out"
    ]


def test_repeated_keywords_do_not_count_against_the_limit() -> None:
    line = ", ".join(["Syria", "syria", "SYRIA"] * 50 + ["Iraq"])
    article, _ = parse_text("/a.txt", article_text(keywords=line).encode(), STAMP, max_keywords=2)
    assert [t.key for t in article.tags] == ["syria", "iraq"]
    assert article.notes == ()


def test_an_overlong_keyword_is_left_out_and_noted() -> None:
    """A keyword of a whole paragraph (a missing blank line, say) makes no tag."""
    line = "Climate, " + "word " * 5_000
    article, _ = parse_text("/a.txt", article_text(keywords=line).encode(), STAMP)
    assert [t.key for t in article.tags] == ["climate"]
    assert article.notes == ("1 keyword longer than 100 characters left out",)


def test_the_keyword_limit_is_a_setting(
    articles_dir: Path, write_article: WriteArticle, caplog: pytest.LogCaptureFixture
) -> None:
    write_article("2026-01-01-many.txt", keywords=keywords(12))
    with caplog.at_level(logging.WARNING, logger="feedsvc.articles"):
        app = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False, "MAX_KEYWORDS": 5})
    item = json.loads(app.test_client().get("/feed.json").data)["items"][0]
    assert item["tags"] == [f"keyword {i}" for i in range(5)]
    assert f"{articles_dir / '2026-01-01-many.txt'}: 12 tags: the first 5 are kept" in caplog.text


def render_seconds(render: Callable[[list[Item], FeedInfo], bytes], tags: int) -> float:
    """The best of three renderings of one item carrying ``tags`` tags."""
    when = datetime(2026, 1, 1, tzinfo=UTC)
    article = Article(
        slug="a",
        title="T",
        standfirst="S",
        tags=tuple(Tag(f"tag-{i}", f"Tag {i}") for i in range(tags)),
        published=when,
        updated=when,
        path="/a.txt",
        stamp=STAMP,
    )
    item = Item(article, ("Body.",), "http://example.org/articles/a", "tag:example.org,2026:a")
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        render([item], INFO)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("render", [render_rss, render_atom], ids=["rss", "atom"])
def test_rendering_is_linear_in_the_number_of_tags(
    render: Callable[[list[Item], FeedInfo], bytes],
) -> None:
    """8 times the tags cost about 8 times the time, not 64 (feedgen rebuilt its RSS
    category list on every category added: 1k tags took 0.2 s, 8k took 10 s)."""
    small, large = render_seconds(render, 500), render_seconds(render, 4_000)
    assert large < 24 * max(small, 0.002), (small, large)


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
