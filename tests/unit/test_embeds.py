"""Partner endpoints through the test client: headlines JSON, the widget, the iframe page,
oEmbed, OPML and tags.json."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
from flask import Flask
from flask.testing import FlaskClient

from feedsvc.app import create_app
from feedsvc.store import Snapshot
from feedsvc.views import embeds
from tests.conftest import WriteArticle

BASE = "http://127.0.0.1:8000"  # the default BASE_URL of the test client's app
WIDGET = Path(__file__).resolve().parents[2] / "feedsvc" / "static" / "embed.js"
SCRIPT_TITLE = "Forces enter <script>window.pwned=1</script> Palmyra"


def write_corpus(write: WriteArticle) -> None:
    """Syria (2 articles), Climate and São Paulo (1 each), Briefs (12): 15 articles."""
    write(
        "palmyra.txt",
        title=SCRIPT_TITLE,
        standfirst="Troops reach the ancient city.",
        keywords="Syria, Palmyra",
        caption="The ruins of Palmyra | Image: F. Bandarin/UNESCO",
        front={"date": "2026-03-01T09:30:00Z", "image": "/static/palmyra.jpg"},
    )
    write(
        "aleppo.txt",
        title="Aleppo souk reopens",
        keywords="Syria",
        caption=None,
        front={"date": "2026-02-01T08:00:00Z", "updated": "2026-02-05T08:00:00Z"},
    )
    write(
        "ice.txt",
        title="Sea ice at a winter low",
        keywords="Climate, São Paulo",
        front={"date": "2026-01-15T12:00:00Z"},
    )
    for n in range(12):
        write(f"2025-05-{n + 1:02d}-brief-{n}.txt", title=f"Brief {n}", keywords="Briefs")


@pytest.fixture
def corpus(write_article: WriteArticle) -> None:
    """The corpus in the test's own articles folder."""
    write_corpus(write_article)


@pytest.fixture
def app(corpus: None, articles_dir: Path) -> Flask:
    """The app on the corpus (written before the app first scans the folder)."""
    return create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False})


def get_json(client: FlaskClient, path: str) -> dict[str, object]:
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    document: dict[str, object] = response.get_json()
    return document


def items(document: dict[str, object]) -> list[dict[str, object]]:
    found = document["items"]
    assert isinstance(found, list)
    return found


# Headlines JSON


def test_tag_headlines_document(client: FlaskClient, corpus: None) -> None:
    document = get_json(client, "/tags/syria/headlines.json")
    assert document["version"] == 1
    assert document["tag"] == "syria"
    assert document["label"] == "Syria"
    assert document["title"] == "feedsvc news: Syria"
    assert document["link"] == f"{BASE}/tags/syria/"
    assert document["site"] == {"name": "feedsvc news", "url": f"{BASE}/"}
    assert document["feeds"] == {
        fmt: f"{BASE}/tags/syria/feed.{fmt}" for fmt in ("rss", "atom", "json")
    }
    first, second = items(document)
    assert first == {
        "title": SCRIPT_TITLE,
        "url": f"{BASE}/articles/palmyra",
        "date": "2026-03-01T09:30:00Z",
        "updated": "2026-03-01T09:30:00Z",
        "standfirst": "Troops reach the ancient city.",
        "image": f"{BASE}/static/palmyra.jpg",
        "caption": "The ruins of Palmyra",
        "credit": "F. Bandarin/UNESCO",
        "author": "feedsvc newsroom",  # the site's: the article names none
        "author_url": f"{BASE}/authors/feedsvc-newsroom/",
        "authors": [{"name": "feedsvc newsroom", "url": f"{BASE}/authors/feedsvc-newsroom/"}],
    }
    # No picture, no caption: the keys are left out rather than null.
    assert set(second) == {
        "title",
        "url",
        "date",
        "updated",
        "standfirst",
        "author",
        "author_url",
        "authors",
    }
    assert second["updated"] == "2026-02-05T08:00:00Z"
    assert datetime.fromisoformat(str(second["date"])).utcoffset() is not None


def test_site_headlines_default_to_ten_newest(client: FlaskClient, corpus: None) -> None:
    document = get_json(client, "/headlines.json")
    assert document["tag"] is None
    assert document["label"] == "feedsvc news"
    assert document["link"] == f"{BASE}/"
    shown = items(document)
    assert len(shown) == 10
    dates = [str(item["date"]) for item in shown]
    assert dates == sorted(dates, reverse=True)
    assert shown[0]["title"] == SCRIPT_TITLE


def test_headline_items_setting_is_the_default(articles_dir: Path, corpus: None) -> None:
    app = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False, "HEADLINE_ITEMS": 3})
    assert len(items(get_json(app.test_client(), "/tags/briefs/headlines.json"))) == 3


@pytest.mark.parametrize(("limit", "count"), [("1", 1), ("5", 5), ("12", 12), ("100", 12)])
def test_limit_sets_the_count(client: FlaskClient, corpus: None, limit: str, count: int) -> None:
    assert len(items(get_json(client, f"/tags/briefs/headlines.json?limit={limit}"))) == count


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=-1", "limit=abc", "limit=", "limit=1.5", "limit=%D9%A3"],
)
def test_bad_limit_is_400_plain_text(client: FlaskClient, corpus: None, query: str) -> None:
    for path in ("/headlines.json", "/tags/syria/headlines.json"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400
        assert response.mimetype == "text/plain"
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_headlines_follow_tag_spellings_and_404_unknown(client: FlaskClient, corpus: None) -> None:
    moved = client.get("/tags/SYRIA/headlines.json?limit=1")
    assert moved.status_code == 301
    assert moved.headers["Location"].endswith("/tags/syria/headlines.json?limit=1")
    assert client.get("/tags/s%C3%A3o-paulo/headlines.json").status_code == 200
    assert client.get("/tags/nowhere/headlines.json").status_code == 404


def test_headlines_change_when_an_article_is_added(
    app: Flask, corpus: None, write_article: WriteArticle
) -> None:
    client = app.test_client()
    before = client.get("/tags/syria/headlines.json")
    write_article("new.txt", title="Fresh from Syria", keywords="Syria")
    app.extensions["feedsvc"].indexer.scan()
    after = client.get("/tags/syria/headlines.json")
    assert after.headers["ETag"] != before.headers["ETag"]
    assert items(after.get_json())[0]["title"] == "Fresh from Syria"


# Conditional GET and CORS over HTTP, on the real server

PUBLIC = [
    "/headlines.json",
    "/tags/syria/headlines.json?limit=1",
    "/tags.json",
    "/feeds.opml",
    "/embed.js",
    "/feed.rss",
    "/tags/briefs/feed.json",
]


ALL_PUBLIC = [
    *PUBLIC,
    "/tags/syria/feed.atom",
    "/",
    "/tags/",
    "/tags/syria/",
    "/embed/tags/syria",
    "/articles/aleppo",
]


# The widget script


def test_widget_is_served_as_small_cacheable_javascript(client: FlaskClient) -> None:
    response = client.get("/embed.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/javascript; charset=utf-8"
    assert response.get_data() == WIDGET.read_bytes()
    assert len(response.get_data()) < 6000
    assert (
        client.get("/embed.js", headers={"If-None-Match": response.headers["ETag"]}).status_code
        == 304
    )


def test_widget_inserts_text_only() -> None:
    source = WIDGET.read_text()
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "Function(",
    ):
        assert sink not in source, sink
    assert "textContent" in source and "attachShadow" in source


# The iframe page


class Page(HTMLParser):
    """Elements with their attributes, and the text of each element kind."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, str] = {}
        self._open: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            del self._open[self._open.index(tag) :]

    def handle_data(self, data: str) -> None:
        if self._open:
            self.text[self._open[-1]] = self.text.get(self._open[-1], "") + data

    def all(self, tag: str, **wanted: str) -> list[dict[str, str | None]]:
        return [
            attrs
            for name, attrs in self.elements
            if name == tag and all(attrs.get(k) == v for k, v in wanted.items())
        ]


def test_embed_page_is_scriptless_frameable_and_escaped(client: FlaskClient, corpus: None) -> None:
    response = client.get("/embed/tags/syria")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    policy = {
        part.split()[0]: part.split()[1:]
        for part in response.headers["Content-Security-Policy"].split(";")
    }
    assert policy["frame-ancestors"] == ["*"]
    assert policy["default-src"] == ["'none'"]
    assert "script-src" not in policy  # default-src 'none' forbids every script
    assert "X-Frame-Options" not in response.headers
    text = response.get_data(as_text=True)
    page = Page(text)
    assert not page.all("script")
    assert "<script>window" not in text and "&lt;script&gt;window.pwned=1" in text
    links = [a["href"] for a in page.all("a", target="_blank", rel="noopener")]
    assert links == [
        f"{BASE}/tags/syria/",
        f"{BASE}/articles/palmyra",
        f"{BASE}/articles/aleppo",
        f"{BASE}/tags/syria/",
    ]
    assert [t["datetime"] for t in page.all("time")] == [
        "2026-03-01T09:30:00Z",
        "2026-02-01T08:00:00Z",
    ]
    # The one inline style is allowed by its hash, so the page is styled under its own policy.
    style = re.search(r"<style>(.*?)</style>", text, re.DOTALL)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style[1].encode()).digest()).decode()
    assert policy["style-src"] == [f"'sha256-{digest}'"]


def test_embed_page_limit_spellings_and_unknown(client: FlaskClient, corpus: None) -> None:
    assert len(Page(client.get("/embed/tags/briefs?limit=4").get_data(as_text=True)).all("li")) == 4
    assert len(Page(client.get("/embed/tags/briefs").get_data(as_text=True)).all("li")) == 10
    moved = client.get("/embed/tags/Briefs?limit=2")
    assert moved.status_code == 301
    assert moved.headers["Location"].endswith("/embed/tags/briefs?limit=2")
    assert client.get("/embed/tags/nowhere").status_code == 404
    assert client.get("/embed/tags/briefs?limit=0").status_code == 400


# oEmbed


def oembed(client: FlaskClient, **query: str) -> tuple[int, str, dict[str, object] | None]:
    response = client.get(f"/oembed?{urlencode(query)}")
    mimetype = str(response.mimetype)
    document = response.get_json() if mimetype == "application/json" else None
    return response.status_code, mimetype, document


def test_oembed_rich_response(client: FlaskClient, corpus: None) -> None:
    status, _, document = oembed(client, url=f"{BASE}/tags/syria/", format="json")
    assert status == 200 and document is not None
    assert document["version"] == "1.0"
    assert document["type"] == "rich"
    assert document["title"] == "feedsvc news: Syria"
    assert document["provider_name"] == "feedsvc news"
    assert document["provider_url"] == f"{BASE}/"
    assert (document["width"], document["height"]) == (400, 460)
    frame = Page(str(document["html"])).all("iframe")
    assert len(frame) == 1
    assert frame[0]["src"] == f"{BASE}/embed/tags/syria?limit=5"
    assert (frame[0]["width"], frame[0]["height"]) == ("400", "460")
    embedded = client.get(str(frame[0]["src"]).removeprefix(BASE))
    assert embedded.status_code == 200 and "Content-Security-Policy" in embedded.headers


@pytest.mark.parametrize(
    "address",
    [
        f"{BASE}/tags/syria",
        f"{BASE}/tags/Syria/",
        f"{BASE}/tags/syria/?utm_source=x#top",
        "https://127.0.0.1:8000/tags/syria/",
        "HTTP://127.0.0.1:8000/tags/SYRIA/",
    ],
)
def test_oembed_accepts_any_spelling_of_a_tag_page(
    client: FlaskClient, corpus: None, address: str
) -> None:
    status, _, document = oembed(client, url=address)  # format defaults to json
    assert status == 200 and document is not None
    assert "/embed/tags/syria?" in str(document["html"])


def test_oembed_unicode_tag_and_max_size(client: FlaskClient, corpus: None) -> None:
    address = f"{BASE}/tags/S%C3%A3o%20Paulo/"
    status, _, document = oembed(client, url=address, maxwidth="300", maxheight="2000")
    assert status == 200 and document is not None
    assert (document["width"], document["height"]) == (300, 460)
    assert 'width="300"' in str(document["html"])
    assert "/embed/tags/s%C3%A3o-paulo?limit=5" in str(document["html"])


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({}, 400),
        ({"url": "  "}, 400),
        ({"url": f"{BASE}/tags/syria/", "maxwidth": "wide"}, 400),
        ({"url": f"{BASE}/tags/syria/", "maxheight": "0"}, 400),
        ({"url": f"{BASE}/tags/syria/", "format": "xml"}, 501),
        ({"url": f"{BASE}/tags/syria/", "format": "yaml"}, 501),
        ({"url": f"{BASE}/tags/nowhere/"}, 404),
        ({"url": f"{BASE}/"}, 404),
        ({"url": f"{BASE}/tags/"}, 404),
        ({"url": f"{BASE}/articles/aleppo"}, 404),
        ({"url": f"{BASE}/tags/syria/feed.rss"}, 404),
        ({"url": "http://elsewhere.example/tags/syria/"}, 404),
        ({"url": "http://127.0.0.1:9999/tags/syria/"}, 404),
        ({"url": "javascript:alert(1)"}, 404),
    ],
)
def test_oembed_errors(
    client: FlaskClient, corpus: None, query: dict[str, str], status: int
) -> None:
    got, mimetype, _ = oembed(client, **query)
    assert (got, mimetype) == (status, "text/plain")


def test_oembed_escapes_the_title_in_its_html(
    app: Flask, client: FlaskClient, write_article: WriteArticle
) -> None:
    write_article("odd.txt", keywords='Fish & "Chips" <b>')
    app.extensions["feedsvc"].indexer.scan()
    status, _, document = oembed(client, url=f"{BASE}/tags/fish-chips-b/")
    assert status == 200 and document is not None
    assert document["title"] == 'feedsvc news: Fish & "Chips" <b>'
    frame = Page(str(document["html"])).all("iframe")
    assert frame[0]["title"] == 'feedsvc news: Fish & "Chips" <b>'
    assert "<b>" not in str(document["html"])


# OPML


def outlines(body: bytes) -> list[dict[str, str]]:
    """The feeds of the OPML's one folder, which is titled with the site."""
    root = ElementTree.fromstring(body)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == "feedsvc news: feeds"
    folders = root.findall("body/outline")
    assert [dict(f.attrib) for f in folders] == [{"text": "feedsvc news"}]
    return [dict(outline.attrib) for outline in folders[0].iterfind("outline")]


def site_titled(*labels: str) -> list[str]:
    """Tag feed titles as the OPML gives them, "Site — Tag"; the site feed by its name."""
    return [
        label if label == "feedsvc news" else f"feedsvc news \u2014 {label}" for label in labels
    ]


@pytest.mark.parametrize(
    ("query", "texts"),
    [
        ("tags=syria,Climate", ["Syria", "Climate"]),
        ("tags=S%C3%A3o%20Paulo,syria,SYRIA", ["São Paulo", "Syria"]),
        ("min=2", ["feedsvc news", "Briefs", "Syria"]),
        ("min=3", ["feedsvc news", "Briefs"]),
        ("min=0", ["feedsvc news", "Briefs", "Climate", "Palmyra", "São Paulo", "Syria"]),
        ("tags=syria,briefs&min=3", ["Briefs"]),
    ],
)
def test_opml_filters(client: FlaskClient, corpus: None, query: str, texts: list[str]) -> None:
    response = client.get(f"/feeds.opml?{query}")
    assert response.status_code == 200
    assert [o["text"] for o in outlines(response.get_data())] == site_titled(*texts)


@pytest.mark.parametrize(
    "query", ["tags=nowhere", "tags=", "tags=syria,,climate", "min=-1", "min=x", "min=", "min=1e3"]
)
def test_opml_bad_filters_are_400(client: FlaskClient, corpus: None, query: str) -> None:
    response = client.get(f"/feeds.opml?{query}")
    assert response.status_code == 400
    assert response.mimetype == "text/plain"


# tags.json


def test_tags_json(client: FlaskClient, corpus: None) -> None:
    document = get_json(client, "/tags.json")
    assert document["site"] == {"name": "feedsvc news", "url": f"{BASE}/"}
    tags = document["tags"]
    assert isinstance(tags, list)
    by_key = {tag["key"]: tag for tag in tags}
    assert [tag["key"] for tag in tags] == ["briefs", "syria", "climate", "palmyra", "são-paulo"]
    syria = by_key["syria"]
    assert syria == {
        "key": "syria",
        "label": "Syria",
        "count": 2,
        "newest": "2026-03-01T09:30:00Z",
        "url": f"{BASE}/tags/syria/",
        "headlines": f"{BASE}/tags/syria/headlines.json",
        "feeds": {fmt: f"{BASE}/tags/syria/feed.{fmt}" for fmt in ("rss", "atom", "json")},
    }
    assert by_key["briefs"]["count"] == 12
    assert by_key["briefs"]["newest"] == "2025-05-12T00:00:00Z"
    for tag in tags:
        for address in [tag["url"], tag["headlines"], *tag["feeds"].values()]:
            assert client.get(address.removeprefix(BASE)).status_code == 200, address


# The tag page: discovery, copy control and snippet


def test_tag_page_offers_discovery_copy_and_snippet(client: FlaskClient, corpus: None) -> None:
    page = Page(client.get("/tags/syria/").get_data(as_text=True))
    feeds = {str(link["type"]): str(link["href"]) for link in page.all("link", rel="alternate")}
    assert feeds == {
        "application/rss+xml": f"{BASE}/tags/syria/feed.rss",
        "application/atom+xml": f"{BASE}/tags/syria/feed.atom",
        "application/feed+json": f"{BASE}/tags/syria/feed.json",
        "application/json+oembed": f"{BASE}/oembed?"
        + urlencode({"url": f"{BASE}/tags/syria/", "format": "json"}),
        "text/x-opml": f"{BASE}/feeds.opml",
    }
    status, _, document = oembed(client, url=f"{BASE}/tags/syria/", format="json")
    discovered = client.get(feeds["application/json+oembed"].removeprefix(BASE))
    assert status == 200 and discovered.get_json() == document
    copy = page.all("input", id="feed-url")
    assert copy and copy[0]["value"] == feeds["application/atom+xml"] and "readonly" in copy[0]
    assert page.all("button", id="copy-feed")
    assert page.text["textarea"] == (
        '<div data-feedsvc-tag="syria" data-limit="5"></div>\n'
        f'<script src="{BASE}/embed.js" async></script>'
    )


def test_other_pages_keep_their_feed_links(client: FlaskClient, corpus: None) -> None:
    for path in ("/", "/tags/", "/articles/aleppo"):
        page = Page(client.get(path).get_data(as_text=True))
        types = [link["type"] for link in page.all("link", rel="alternate")]
        # Their own feeds first, Atom first of them (an article page then adds its tags'
        # feeds), then the OPML of every feed; no oEmbed link.
        assert types[:3] == ["application/atom+xml", "application/rss+xml", "application/feed+json"]
        assert types[-1] == "text/x-opml"
        assert set(types) == {*types[:3], "text/x-opml"}


def test_opml_minimums_that_list_the_same_tags_share_one_rendering(
    client: FlaskClient, corpus: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ?min= from one tag count to the next lists the same feeds: one cache key and
    one render for them all, and one for every minimum past the busiest tag. A made-up
    minimum is no new render."""
    renders: list[list[str]] = []
    real = embeds.opml_of

    def counted(*given: Any) -> Any:
        renders.append(given[1])
        return real(*given)

    monkeypatch.setattr(embeds, "opml_of", counted)
    counts = sorted({tag["count"] for tag in get_json(client, "/tags.json")["tags"]})  # type: ignore[union-attr]
    assert len(counts) >= 3
    low, high = counts[-2], counts[-1]
    bodies = {client.get(f"/feeds.opml?min={n}").get_data() for n in range(low + 1, high + 1)}
    assert len(bodies) == 1 and len(renders) == 1
    past = {client.get(f"/feeds.opml?min={n}").get_data() for n in range(high + 1, high + 40)}
    assert len(past) == 1 and len(renders) == 2 and renders[-1] == [""]
    assert client.get("/feeds.opml?min=0").get_data() == client.get("/feeds.opml?min=1").get_data()
    assert len(renders) == 3


def test_opml_of_named_tags_reads_only_those(
    client: FlaskClient, corpus: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """?tags= costs what it names, not a read of every tag (a site may have many thousand)."""

    def every_tag(*_: Any) -> Any:
        raise AssertionError("read every tag")

    monkeypatch.setattr(Snapshot, "tags_by_count", every_tag)
    response = client.get("/feeds.opml?tags=syria,briefs&min=3")
    assert response.status_code == 200
    assert [o["text"] for o in outlines(response.get_data())] == site_titled("Briefs")
