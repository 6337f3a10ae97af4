"""Work per article and per feed is bounded: keywords per article, content per feed item.

An article with tens of thousands of keywords, or of megabytes of text, is still
served, but no feed, page or start-up grows with what one author wrote: an article
keeps its first ``FEEDSVC_MAX_KEYWORDS`` tags (the rest are logged), rendering is
linear in the number of tags, and a feed item carries at most
``FEEDSVC_ITEM_CONTENT_BYTES`` of HTML, a longer article being linked instead. No
feed ever holds a text node that libxml2 refuses (10 MB without XML_PARSE_HUGE).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from lxml import etree

from feedsvc.app import create_app
from feedsvc.articles import Article, Stamp, Tag, normalize_tag, parse_text
from feedsvc.feeds import FeedInfo, Item, render_atom, render_json, render_rss
from feedsvc.writer import author_scopes
from tests.conftest import WriteArticle, article_text

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


# Content per feed item ----------------------------------------------------------------


def big_item(paragraphs: int, size: int = 1_000) -> Item:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    article = Article(
        slug="long",
        title="A long read",
        standfirst="What it says, in short & <plainly>.",
        tags=(Tag("news", "News"),),
        published=when,
        updated=when,
        path="/long.txt",
        stamp=STAMP,
        caption="A caption",
        credit="A. Photographer",
    )
    body = tuple(f"Paragraph {i} " + "x" * size for i in range(paragraphs))
    return Item(article, body, "http://example.org/articles/long", "tag:example.org,2026:long")


def contents(item: Item, info: FeedInfo = INFO) -> dict[str, str]:
    """The content of the one item in each format, as a reader gets it."""
    rss = etree.fromstring(render_rss([item], info), STRICT)
    atom = etree.fromstring(render_atom([item], info), STRICT)
    return {
        "rss": rss.findtext("channel/item/content:encoded", None, NS),
        "atom": atom.findtext("atom:entry/atom:content", None, NS),
        "json": json.loads(render_json([item], info))["items"][0]["content_html"],
    }


def test_an_article_within_the_budget_is_carried_whole() -> None:
    for fmt, html in contents(big_item(90)).items():
        assert html.count("<p>Paragraph") == 90, fmt
        assert FULL_ARTICLE_NOTE not in html


def test_an_article_past_the_budget_is_carried_as_its_standfirst_and_a_link() -> None:
    """The item says what it is and where the rest is, and stays within the budget."""
    expected = (
        '<p class="standfirst"><strong>What it says, in short &amp; &lt;plainly&gt;.</strong></p>\n'
        f'<p>{FULL_ARTICLE_NOTE} <a href="http://example.org/articles/long">'
        "http://example.org/articles/long</a></p>"
    )
    assert contents(big_item(110)) == {"rss": expected, "atom": expected, "json": expected}


def test_the_budget_is_a_field_of_the_feed_info() -> None:
    small = dataclasses.replace(INFO, item_content_bytes=5_000)
    for html in contents(big_item(3), small).values():
        assert html.count("<p>Paragraph") == 3
    for html in contents(big_item(6), small).values():
        assert FULL_ARTICLE_NOTE in html and "Paragraph" not in html


def test_an_overlong_title_and_standfirst_are_cut_to_a_tenth_of_the_budget() -> None:
    """Even a title or a standfirst of megabytes (with the file-size cap raised) makes
    no text node past the budget: an item holds at most 1.2 budgets of text."""
    item = big_item(1)
    article = dataclasses.replace(item.article, title="T" * 3_000_000, standfirst="é&" * 2_000_000)
    huge = dataclasses.replace(item, article=article)
    for document in (render_rss([huge], INFO), render_atom([huge], INFO)):
        sizes = sorted(len(t.encode()) for t in text_nodes(document))
        assert sizes[-1] <= ITEM_CONTENT_BYTES
        assert sum(sizes) <= 1.2 * ITEM_CONTENT_BYTES + 1_000  # the channel's own texts
    entry = json.loads(render_json([huge], INFO))["items"][0]
    assert len(entry["title"].encode()) <= ITEM_CONTENT_BYTES // 10
    assert len(entry["summary"].encode()) <= ITEM_CONTENT_BYTES // 10
    assert len(entry["content_html"].encode()) <= ITEM_CONTENT_BYTES
    assert entry["title"].endswith("T\u2026") and entry["summary"].endswith("\u2026")
    assert "<p>Paragraph 0 " in entry["content_html"]  # the body itself fits


def test_the_budget_is_a_setting(articles_dir: Path, write_article: WriteArticle) -> None:
    write_article("2026-01-01-short.txt", body=("Short.",))
    write_article("2026-01-02-long.txt", body=("Long. " * 400,))
    client = create_app(
        {"ARTICLES_DIR": str(articles_dir), "WATCH": False, "ITEM_CONTENT_BYTES": 2_000}
    ).test_client()
    long, short = json.loads(client.get("/feed.json").data)["items"]
    assert FULL_ARTICLE_NOTE in long["content_html"]
    assert FULL_ARTICLE_NOTE not in short["content_html"]


def test_a_megabyte_article_with_the_size_cap_raised_is_linked_from_every_feed(
    articles_dir: Path, write_article: WriteArticle
) -> None:
    """A 1 MiB article, readable with FEEDSVC_MAX_ARTICLE_BYTES raised, is still one
    bounded item in the site feed and its tags' feeds, in every format."""
    body = tuple(f"Paragraph {i}. " + "Words and more words. " * 48 for i in range(1_000))
    path = write_article("2026-01-01-long.txt", keywords="Climate", body=body)
    assert 1 << 20 <= path.stat().st_size < 2 << 20
    client = create_app(
        {"ARTICLES_DIR": str(articles_dir), "WATCH": False, "MAX_ARTICLE_BYTES": 2 << 20}
    ).test_client()
    link = "http://127.0.0.1:8000/articles/long"
    for scope in ("", "/tags/climate"):
        for fmt in ("rss", "atom"):
            document = client.get(f"{scope}/feed.{fmt}").data
            assert len(document) < 2 * ITEM_CONTENT_BYTES
            feed = feedparser.parse(document)
            assert not feed.bozo, feed.get("bozo_exception")
            html = feed.entries[0].content[0].value
            assert FULL_ARTICLE_NOTE in html and link in html
        item = json.loads(client.get(f"{scope}/feed.json").data)["items"][0]
        assert FULL_ARTICLE_NOTE in item["content_html"]
        assert len(item["content_html"].encode()) <= ITEM_CONTENT_BYTES
    page = client.get("/articles/long")  # the page is where the whole text is
    assert page.status_code == 200 and b"Paragraph 999." in page.data


def test_a_20_mb_article_is_skipped_and_reported_by_default(
    articles_dir: Path, write_article: WriteArticle
) -> None:
    """The file-size cap (FEEDSVC_MAX_ARTICLE_BYTES, 1 MiB) keeps it out of every feed."""
    write_article("2026-01-01-huge.txt", body=("x" * (20 << 20),))
    write_article("2026-01-02-small.txt")
    client = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False}).test_client()
    health = json.loads(client.get("/healthz").data)
    assert health["articles"] == 1
    assert health["skipped"] == [
        {"path": "2026-01-01-huge.txt", "reason": "larger than 1048576 bytes"}
    ]
    assert len(client.get("/feed.rss").data) < 10_000


def test_an_author_line_naming_thousands_keeps_its_first_authors_at_once() -> None:
    """Tens of kilobytes of names: parsed in one pass, the first MAX_AUTHORS kept, the
    line made of them, and a note naming what was left out; a name longer than a tag
    may be is left out too."""
    names = [f"Writer Number {n}" for n in range(5_000)]
    line = ", ".join(names[:2]) + ", " + "X" * 500 + ", " + ", ".join(names[2:])
    text = article_text(front={"author": line}).encode()
    article, _ = parse_text("/a.txt", text, STAMP, max_authors=20)
    assert article.author == ", ".join(names[:20])
    assert article.notes == (
        "1 author name longer than 100 characters left out",
        "5,000 authors: the first 20 are kept, 4,980 left out",
    )
    assert author_scopes(article.author, "")[-1] == Tag("@writer-number-19", "Writer Number 19")


def test_an_author_line_within_the_bounds_is_kept_as_written() -> None:
    text = article_text(front={"author": "Ana Lima and Bo Chen"}).encode()
    article, _ = parse_text("/a.txt", text, STAMP)
    assert article.author == "Ana Lima and Bo Chen" and article.notes == ()


def test_bidirectional_controls_leave_labels_and_author_lines() -> None:
    """U+202E in a label would reverse what a page shows after it; keys never had it."""
    assert normalize_tag("Evil\u202e Corp") == Tag("evil-corp", "Evil Corp")
    text = article_text(front={"author": "Ana \u202eLima"}, keywords="\u2067Syria\u2069").encode()
    article, _ = parse_text("/a.txt", text, STAMP)
    assert article.author == "Ana Lima"
    assert article.tags == (Tag("syria", "Syria"),)
