"""The site through the real server on a loopback port: routes, types, errors, links."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import feedparser
import pytest

from tests.conftest import WriteArticle
from tests.system.conftest import LiveServer

RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
JSON_FEED = "application/feed+json; charset=utf-8"
HTML = "text/html; charset=utf-8"
FEED_TYPES = {"rss": RSS, "atom": ATOM, "json": JSON_FEED}
FEED_MEDIA = ("application/rss+xml", "application/atom+xml", "application/feed+json")
ATOM_NS = "http://www.w3.org/2005/Atom"
SEED_SLUG = "syrian-forces-enter-palmyra"
FORBIDDEN = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")

StartServer = Callable[..., LiveServer]


def get(server: LiveServer, path: str, status: int = 200) -> Any:
    """GET ``path`` (or an absolute URL on the server) and check the status."""
    if path.startswith("http"):
        assert path.startswith(f"{server.url}/"), f"{path} is not on {server.url}"
        parts = urlsplit(path)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
    response = server.get(path)
    assert response.status == status, f"{path}: {response.status} {response.body[:200]!r}"
    return response


class LinkCollector(HTMLParser):
    """Collects <link> and <a> attributes from an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str]] = []
        self.anchors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "link":
            self.links.append(values)
        elif tag == "a" and "href" in values:
            self.anchors.append(values["href"])


def page_links(body: bytes) -> LinkCollector:
    collector = LinkCollector()
    collector.feed(body.decode("utf-8"))
    return collector


def feed_links(body: bytes, fmt: str) -> Iterator[tuple[str, str]]:
    """Every (kind, URL) a feed links to: channel, self, paging, items, category scheme."""
    if fmt == "json":
        document = json.loads(body)
        for key in ("home_page_url", "feed_url", "next_url"):
            if key in document:
                yield key, document[key]
        for item in document["items"]:
            yield "item", item["url"]
        return
    root = ET.fromstring(body)
    top = root.find("channel") if fmt == "rss" else root
    assert top is not None
    items = top.findall("item") if fmt == "rss" else top.findall(f"{{{ATOM_NS}}}entry")
    for link in top.findall(f"{{{ATOM_NS}}}link"):
        yield link.get("rel", "alternate"), link.get("href", "")
    if fmt == "rss":
        yield "link", top.findtext("link", "")
    for item in items:
        for link in item.findall(f"{{{ATOM_NS}}}link"):
            yield "item", link.get("href", "")
        if fmt == "rss":
            yield "item", item.findtext("link", "")
        for category in item.iter():
            if category.tag.rpartition("}")[2] == "category":
                yield "category", category.get("domain") or category.get("scheme") or ""


def site_scopes(server: LiveServer) -> list[str]:
    """The site scope and every tag's page path, read from the tags index."""
    anchors = page_links(get(server, "/tags/").body).anchors
    tags = sorted({a for a in anchors if re.fullmatch(rf"{re.escape(server.url)}/tags/[^/]+/", a)})
    assert tags
    return ["/", *(urlsplit(t).path for t in tags)]


def check_every_feed_link(server: LiveServer) -> int:
    """Fetch every feed of every scope and every link in them; return how many links."""
    checked: dict[str, int] = {}
    for scope in site_scopes(server):
        for fmt, content_type in FEED_TYPES.items():
            path = f"{scope}feed.{fmt}"
            response = get(server, path)
            assert response.getheader("Content-Type") == content_type
            body = response.body
            if fmt != "json":
                assert not feedparser.parse(body).bozo, path
            links = list(feed_links(body, fmt))
            selfs = [u for kind, u in links if kind in ("self", "feed_url")]
            assert selfs == [f"{server.url}{path}"], path
            assert any(kind == "item" for kind, _ in links), path
            for _, link in links:
                if link not in checked:
                    checked[link] = get(server, link).status
    assert set(checked.values()) == {200}
    return len(checked)


def test_bundled_site_routes_have_their_content_types(bundled_server: LiveServer) -> None:
    """Every route of the site answers 200 with its declared Content-Type."""
    routes = {
        "/": HTML,
        "/tags/": HTML,
        "/tags/palmyra/": HTML,
        f"/articles/{SEED_SLUG}": HTML,
        "/healthz": "application/json",
        **{f"/feed.{fmt}": t for fmt, t in FEED_TYPES.items()},
        **{f"/tags/palmyra/feed.{fmt}": t for fmt, t in FEED_TYPES.items()},
    }
    got = {path: get(bundled_server, path).getheader("Content-Type") for path in routes}
    assert got == routes


@pytest.mark.parametrize(
    ("path", "feeds"),
    [
        pytest.param("/", "/feed", id="home"),
        pytest.param("/tags/", "/feed", id="tags-index"),
        pytest.param("/tags/palmyra/", "/tags/palmyra/feed", id="tag-page"),
        pytest.param(f"/articles/{SEED_SLUG}", "/feed", id="article-page"),
    ],
)
def test_html_pages_advertise_the_three_feeds(
    bundled_server: LiveServer, path: str, feeds: str
) -> None:
    """Each HTML page carries autodiscovery links for RSS, Atom and JSON Feed, and they work.

    Its own scope's feeds come first; an article page then offers its tags' feeds.
    """
    links = page_links(get(bundled_server, path).body).links
    alternates: dict[str, str] = {}
    for link in links:
        if link.get("rel") == "alternate" and link.get("type") in FEED_MEDIA:
            alternates.setdefault(link["type"], link["href"])
    assert alternates == {
        "application/rss+xml": f"{bundled_server.url}{feeds}.rss",
        "application/atom+xml": f"{bundled_server.url}{feeds}.atom",
        "application/feed+json": f"{bundled_server.url}{feeds}.json",
    }
    assert all(link.get("title") for link in links if link.get("rel") == "alternate")
    for content_type, href in alternates.items():
        assert get(bundled_server, href).getheader("Content-Type").startswith(content_type)


def test_article_page_shows_the_article(bundled_server: LiveServer) -> None:
    """The article page has the title, standfirst, body and linked tags; with no picture,
    no caption or credit (they would describe nothing)."""
    page = get(bundled_server, f"/articles/{SEED_SLUG}").body.decode()
    assert "Syrian government forces reportedly enter Islamic State-held city of Palmyra" in page
    assert '<p class="standfirst"><strong>In Iraq, armed forces are said' in page
    assert "This image shows ruins in the city of Palmyra" not in page
    assert "F. Bandarin/UNESCO" not in page
    assert "demolishing several of its ancient structures" in page
    assert f'href="{bundled_server.url}/tags/palmyra/"' in page


@pytest.mark.parametrize(
    "path",
    [
        "/tags/no-such-tag/",
        "/tags/no-such-tag/feed.rss",
        "/tags/no-such-tag/feed.atom",
        "/tags/no-such-tag/feed.json",
        "/articles/no-such-slug",
        "/articles/",
        "/no/such/page",
    ],
    ids=[
        "unknown-tag-page",
        "unknown-tag-rss",
        "unknown-tag-atom",
        "unknown-tag-json",
        "unknown-slug",
        "no-slug",
        "unknown-path",
    ],
)
def test_unknown_tag_or_slug_is_a_short_plain_text_404(
    bundled_server: LiveServer, path: str
) -> None:
    """A 404 is one short line of plain text: no HTML, no traceback."""
    response = get(bundled_server, path, status=404)
    assert response.getheader("Content-Type").startswith("text/plain")
    text = response.body.decode()
    assert 0 < len(text) < 200
    assert "<" not in text
    assert "Traceback" not in text


def test_bundled_site_health_reports_no_skipped_files(bundled_server: LiveServer) -> None:
    """The bundled articles are all readable, and health counts them."""
    report = json.loads(get(bundled_server, "/healthz").body)
    assert report["skipped"] == []
    assert report["articles"] >= 10
    assert report["tags"] == len(site_scopes(bundled_server)) - 1


def test_every_link_in_every_bundled_feed_resolves(bundled_server: LiveServer) -> None:
    """Site and tag feeds, all three formats: every link in them is a 200 on the server."""
    assert check_every_feed_link(bundled_server) > 50


def test_every_item_link_leads_to_its_article(bundled_server: LiveServer) -> None:
    """Each site feed item links to the HTML page of that very article."""
    document = json.loads(get(bundled_server, "/feed.json").body)
    assert document["items"]
    for item in document["items"]:
        page = get(bundled_server, item["url"]).body.decode()
        assert f"<h1>{item['title']}</h1>" in unescape(page)


def test_links_resolve_with_non_ascii_tags_slugs_and_paging(
    write_article: WriteArticle, live_server: StartServer
) -> None:
    """Non-ASCII tag keys and slugs, and paging links, all resolve on the server."""
    write_article("2026-01-01-café-opens.txt", keywords="São Paulo, Straße, food")
    write_article("2026-01-02-b.txt", keywords="São Paulo, C++ / Rust")
    write_article("2026-01-03-c.txt", keywords="food, 東京")
    write_article("2026-01-04-d.txt", keywords="food", front={"slug": "d_slug.v2"})
    server = live_server(FEED_ITEMS="2")
    assert check_every_feed_link(server) > 10
    rss = get(server, "/feed.rss").body.decode()
    assert f'href="{server.url}/feed.rss?page=2" rel="next"' in rss
    atom = get(server, "/tags/food/feed.atom").body.decode()
    assert "/tags/food/feed.atom?page=2" in atom


def test_health_reports_counts_and_skipped_files(
    write_article: WriteArticle, live_server: StartServer
) -> None:
    """/healthz counts published articles and tags and lists each skipped file with its reason."""
    write_article("good.txt", keywords="Good, Shared")
    write_article("other.txt", keywords="Shared, Other")
    write_article("draft.txt", keywords="Draft", front={"draft": "true"})
    write_article("no-body.txt", text="Title\n\nStandfirst.\n\nnews\n")
    write_article("latin.txt", text=b"Caf\xe9\n\nS.\n\nk\n\nBody.\n")
    response = get(live_server(), "/healthz")
    assert response.getheader("Content-Type").startswith("application/json")
    report = json.loads(response.body)
    assert report["articles"] == 2
    assert report["tags"] == 3
    assert report["skipped"] == [
        {"path": "latin.txt", "reason": "not UTF-8 (byte 3)"},
        {"path": "no-body.txt", "reason": "no body paragraph"},
    ]


def test_control_characters_and_a_broken_file_break_no_feed(
    write_article: WriteArticle, live_server: StartServer
) -> None:
    """One article with control characters, one broken file, one good: every feed is valid."""
    write_article(
        "2026-02-01-good.txt",
        title="Good article",
        keywords="Good, Shared",
    )
    write_article(
        "2026-02-02-dirty.txt",
        title="Dirty\x00 arti\x1bcle\x0b",
        standfirst="Stand\x07first\x0c.",
        keywords="Dir\x01ty, Shared",
        caption="Cap\x1ftion | Image: Cre\x08dit",
        body=("Bo\x0bdy\x00.",),
        front={"author": "Ann\x1b Author"},
    )
    write_article("2026-02-03-broken.txt", text="Broken title\n\nNo keyword line follows.\n")
    server = live_server()
    for scope, titles in [
        ("/", ["Dirty article", "Good article"]),
        ("/tags/shared/", ["Dirty article", "Good article"]),
        ("/tags/good/", ["Good article"]),
        ("/tags/dirty/", ["Dirty article"]),
    ]:
        for fmt, content_type in FEED_TYPES.items():
            response = get(server, f"{scope}feed.{fmt}")
            assert response.getheader("Content-Type") == content_type
            assert not FORBIDDEN.search(response.body)
            if fmt == "json":
                got = [item["title"] for item in json.loads(response.body)["items"]]
            else:
                feed = feedparser.parse(response.body)
                assert not feed.bozo, (scope, fmt, feed.get("bozo_exception"))
                got = [entry.title for entry in feed.entries]
            assert got == titles, (scope, fmt)
    report = json.loads(get(server, "/healthz").body)
    assert report["articles"] == 2
    assert report["skipped"] == [
        {"path": "2026-02-03-broken.txt", "reason": "missing the keyword line"}
    ]
    page = get(server, "/articles/dirty").body
    assert not FORBIDDEN.search(page)
    assert b"Dirty article" in page
