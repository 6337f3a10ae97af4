"""Titles and standfirsts exactly as written, read back by feedparser in every format.

Each element says whether it holds text or HTML: RSS's ``description`` is HTML, so the
plain-text standfirst is escaped as HTML and then as XML; an HTML-reading client that
strips tags and decodes entities must show what the author wrote."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import feedparser
import pytest

from feedsvc.app import create_app
from tests.conftest import WriteArticle

CASES = [
    "<ABC> CORP reports record quarterly profit",
    "AT&T and Q&A",
    "a literal &amp; stays as written",
    "1 < 2 > 0",
    "<b>bold</b> as text",
    "\"quoted\" and 'single' quotes",
    "&nbsp; as text",
    "<script>alert(1)</script> as a word",
]


def shown(value: str, media_type: str) -> str:
    """What a reader shows of a value: HTML has its tags stripped and entities decoded."""
    if media_type == "text/html":
        return html.unescape(re.sub(r"<[^>]*>", "", value))
    return value


def write_cases(write: WriteArticle, **more: Any) -> None:
    """One article a case, the case in its title and standfirst, tagged matrix."""
    for n, text in enumerate(CASES):
        write(
            f"2026-01-{n + 1:02d}-case-{n}.txt",
            title=f"Title {n}: {text}",
            standfirst=f"Standfirst {n}: {text}",
            keywords="matrix",
            **more,
        )


@pytest.fixture
def corpus(write_article: WriteArticle) -> None:
    write_cases(write_article)


def entries(articles_dir: Path, fmt: str) -> list[Any]:
    client = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False}).test_client()
    body = client.get(f"/feed.{fmt}?limit=50").data
    if fmt == "json":
        return list(json.loads(body)["items"])
    parsed = feedparser.parse(body)
    assert not parsed.bozo
    return list(parsed.entries)


RSS_TITLE_AS_HTML = {
    "a literal &amp; stays as written": "a literal & stays as written",
    "<b>bold</b> as text": "bold as text",
    "&nbsp; as text": "\xa0 as text",
}
"""RSS never said whether a title is text or HTML, and readers guess: feedparser takes a
title that looks like markup for HTML. No encoding of these three pleases every reader
(escaping twice breaks newsboat and sfeed, which show titles as written); Atom and JSON
Feed say which they hold, and pages offer Atom first."""


@pytest.mark.usefixtures("corpus")
@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_feedparser_shows_standfirsts_as_written(articles_dir: Path, fmt: str) -> None:
    seen = {
        entry.title.split(":")[0]: shown(entry.summary, entry.summary_detail.type)
        for entry in entries(articles_dir, fmt)
    }
    assert seen == {f"Title {n}": f"Standfirst {n}: {text}" for n, text in enumerate(CASES)}


@pytest.mark.usefixtures("corpus")
@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_feedparser_shows_titles_as_written_but_where_rss_is_ambiguous(
    articles_dir: Path, fmt: str
) -> None:
    seen = {shown(entry.title, entry.title_detail.type) for entry in entries(articles_dir, fmt)}
    lost = RSS_TITLE_AS_HTML if fmt == "rss" else {}
    assert seen == {f"Title {n}: {lost.get(text, text)}" for n, text in enumerate(CASES)}


@pytest.mark.usefixtures("corpus")
def test_json_feed_titles_and_summaries_are_plain_text_as_written(articles_dir: Path) -> None:
    seen = {item["title"]: item["summary"] for item in entries(articles_dir, "json")}
    assert seen == {f"Title {n}: {text}": f"Standfirst {n}: {text}" for n, text in enumerate(CASES)}
    for item in entries(articles_dir, "json"):
        standfirst = shown(item["content_html"], "text/html").split("\n")[0]
        assert standfirst == item["summary"]  # the HTML content leads with it, as written


@pytest.mark.usefixtures("corpus")
def test_rss_titles_use_hexadecimal_references_for_markup_characters(articles_dir: Path) -> None:
    """The RSS Board's profile for plain text: ``&#x26;``, ``&#x3C;``, ``&#x3E;``."""
    client = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False}).test_client()
    body = client.get("/feed.rss?limit=50").data
    titles = re.findall(rb"<title>([^<]*)</title>", body)
    assert b"Title 0: &#x3C;ABC&#x3E; CORP reports record quarterly profit" in titles
    assert b"Title 1: AT&#x26;T and Q&#x26;A" in titles
    assert not any(re.search(rb"&(amp|lt|gt);", title) for title in titles)
