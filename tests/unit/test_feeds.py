"""Feeds rendered from a temporary articles folder, parsed back with feedparser."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser
import pytest
import time_machine
from flask.testing import FlaskClient

from feedsvc.app import create_app
from feedsvc.articles import Stamp, parse_text
from feedsvc.feeds import FeedInfo, Item, render_atom, render_json, render_rss
from tests.conftest import WriteArticle

BASE = "https://news.example.org/desk"
SITE_AUTHOR = "The Desk"
AUTHORITY = "news.example.org,2026"
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "media": "http://search.yahoo.com/mrss/",
}
FORMATS = ["rss", "atom", "json"]
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

Serve = Callable[..., FlaskClient]


def item_id(slug: str) -> str:
    return f"tag:{AUTHORITY}:articles/{slug}"


@pytest.fixture
def serve(articles_dir: Path) -> Serve:
    """A factory for a fresh app on the articles folder (call it after writing articles)."""

    def make(clock: Callable[[], float] | None = None, **config: Any) -> FlaskClient:
        settings = {
            "ARTICLES_DIR": str(articles_dir),
            "WATCH": False,
            "BASE_URL": BASE,
            "AUTHOR": SITE_AUTHOR,
            **config,
        }
        return create_app(settings, clock=clock).test_client()

    return make


@pytest.fixture
def newsroom(write_article: WriteArticle) -> None:
    """Three published articles, a draft and a scheduled one, sharing tags."""
    write_article(
        "alpha.txt",
        title="Alpha floods the city",
        standfirst="Alpha standfirst.",
        keywords="Climate, São Paulo",
        caption="Flooded street | Image: A. Photographer",
        body=("Alpha one.", "Alpha two & <three>."),
        front={
            "date": "2026-03-01T10:00:00+02:00",
            "author": "Claire Dubois",
            "image": "/images/alpha.jpg",
        },
    )
    write_article(
        "beta.txt",
        title="Beta powers up",
        standfirst="Beta standfirst.",
        keywords="climate, Energy",
        caption=None,
        body=("Beta body.",),
        front={"date": "2026-04-01T09:00:00Z", "updated": "2026-04-02T12:30:00+01:00"},
    )
    write_article(
        "old-file-name.txt",
        title="Gamma looks back",
        standfirst="Gamma standfirst.",
        keywords="Energy",
        front={"date": "2025-12-24T18:00:00-05:00", "slug": "gamma-slug"},
    )
    write_article(
        "draft.txt",
        title="Draft not ready",
        keywords="Climate, Drafts",
        front={"date": "2026-02-01T00:00:00Z", "draft": "true"},
    )
    write_article(
        "future.txt",
        title="Future not yet",
        keywords="Energy, Future",
        front={"date": "2099-01-01T00:00:00Z"},
    )


def fetch(client: FlaskClient, path: str) -> bytes:
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.data


def parsed(client: FlaskClient, path: str) -> Any:
    """The feed at ``path`` through feedparser, which must find nothing wrong with it."""
    result = feedparser.parse(fetch(client, path))
    assert not result.bozo, result.get("bozo_exception")
    return result


def ids_in(client: FlaskClient, path: str) -> list[str]:
    if path.endswith(".json"):
        return [item["id"] for item in json.loads(fetch(client, path))["items"]]
    return [entry.id for entry in parsed(client, path).entries]


def by_id(client: FlaskClient, path: str) -> dict[str, Any]:
    if path.endswith(".json"):
        return {item["id"]: item for item in json.loads(fetch(client, path))["items"]}
    return {entry.id: entry for entry in parsed(client, path).entries}


def rss_items(client: FlaskClient, path: str) -> dict[str, ET.Element]:
    channel = ET.fromstring(fetch(client, path)).find("channel")
    assert channel is not None
    return {item.findtext("guid", ""): item for item in channel.findall("item")}


def atom_entries(client: FlaskClient, path: str) -> dict[str, ET.Element]:
    feed = ET.fromstring(fetch(client, path))
    return {e.findtext("atom:id", "", NS): e for e in feed.findall("atom:entry", NS)}


@pytest.mark.usefixtures("newsroom")
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("scope", "slugs"),
    [
        pytest.param("/", ["beta", "alpha", "gamma-slug"], id="site"),
        pytest.param("/tags/climate/", ["beta", "alpha"], id="tag-climate"),
        pytest.param("/tags/energy/", ["beta", "gamma-slug"], id="tag-energy"),
        pytest.param("/tags/s%C3%A3o-paulo/", ["alpha"], id="tag-sao-paulo"),
    ],
)
def test_feed_lists_published_articles_newest_first(
    serve: Serve, scope: str, slugs: list[str], fmt: str
) -> None:
    """Each feed holds its scope's published articles, newest first."""
    assert ids_in(serve(), f"{scope}feed.{fmt}") == [item_id(s) for s in slugs]


@pytest.mark.usefixtures("newsroom")
@pytest.mark.parametrize("fmt", FORMATS)
def test_feed_items_are_capped_by_setting(serve: Serve, fmt: str) -> None:
    """A feed carries at most FEED_ITEMS items, the newest ones."""
    assert ids_in(serve(FEED_ITEMS=2), f"/feed.{fmt}") == [item_id("beta"), item_id("alpha")]


@pytest.mark.usefixtures("newsroom")
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "path",
    ["/tags/drafts/feed", "/tags/future/feed"],
    ids=["draft-only-tag", "future-only-tag"],
)
def test_tag_of_unpublished_articles_is_404(serve: Serve, path: str, fmt: str) -> None:
    """A tag carried only by a draft or a scheduled article has no feed."""
    assert serve().get(f"{path}.{fmt}").status_code == 404


@pytest.mark.usefixtures("newsroom")
@pytest.mark.parametrize("fmt", FORMATS)
def test_drafts_and_future_articles_are_in_no_feed(serve: Serve, fmt: str) -> None:
    """Neither a draft nor an article dated in the future shows in any feed."""
    client = serve()
    for scope in ["/", "/tags/climate/", "/tags/energy/", "/tags/s%C3%A3o-paulo/"]:
        ids = ids_in(client, f"{scope}feed.{fmt}")
        assert ids, scope
        assert item_id("draft") not in ids
        assert item_id("future") not in ids


@pytest.mark.parametrize("fmt", FORMATS)
def test_id_survives_editing_the_text(serve: Serve, write_article: WriteArticle, fmt: str) -> None:
    """Editing an article's title and body changes its content but never its id."""
    write_article("2026-01-05-edited.txt", title="First title", body=("Original body.",))
    before = by_id(serve(), f"/feed.{fmt}")
    write_article(
        "2026-01-05-edited.txt", title="Second title", body=("Rewritten body.", "And more.")
    )
    after = by_id(serve(), f"/feed.{fmt}")
    assert list(before) == list(after) == [item_id("edited")]
    old, new = before[item_id("edited")], after[item_id("edited")]
    assert (old["title"], new["title"]) == ("First title", "Second title")


@pytest.mark.parametrize("fmt", FORMATS)
def test_id_follows_the_slug_not_the_file_name(
    serve: Serve, write_article: WriteArticle, articles_dir: Path, fmt: str
) -> None:
    """Renaming a file that names its slug in front matter keeps the item's id."""
    path = write_article("draft-name.txt", front={"slug": "kept-slug", "date": "2026-01-01"})
    before = ids_in(serve(), f"/feed.{fmt}")
    path.rename(articles_dir / "final-name.txt")
    assert ids_in(serve(), f"/feed.{fmt}") == before == [item_id("kept-slug")]


@pytest.mark.usefixtures("newsroom")
def test_rss_guid_is_stable_and_not_a_permalink(serve: Serve) -> None:
    """The RSS guid is the tag URI, marked isPermaLink=false, and equals the Atom and JSON ids."""
    client = serve()
    items = rss_items(client, "/feed.rss")
    assert list(items) == [item_id("beta"), item_id("alpha"), item_id("gamma-slug")]
    for item in items.values():
        guid = item.find("guid")
        assert guid is not None
        assert guid.get("isPermaLink") == "false"
    assert all(not e.guidislink for e in parsed(client, "/feed.rss").entries)
    assert list(items) == list(atom_entries(client, "/feed.atom"))
    assert list(items) == ids_in(client, "/feed.json")


@pytest.mark.usefixtures("newsroom")
def test_dates_are_converted_to_utc_in_every_format(serve: Serve) -> None:
    """An article dated 10:00+02:00 is published at 08:00 UTC in every feed."""
    client = serve()
    alpha = item_id("alpha")
    rss = rss_items(client, "/feed.rss")[alpha]
    assert rss.findtext("pubDate") == "Sun, 01 Mar 2026 08:00:00 +0000"
    atom = atom_entries(client, "/feed.atom")[alpha]
    assert atom.findtext("atom:published", namespaces=NS) == "2026-03-01T08:00:00+00:00"
    assert atom.findtext("atom:updated", namespaces=NS) == "2026-03-01T08:00:00+00:00"
    item = by_id(client, "/feed.json")[alpha]
    assert (item["date_published"], item["date_modified"]) == (
        "2026-03-01T08:00:00Z",
        "2026-03-01T08:00:00Z",
    )
    for path in ["/feed.rss", "/feed.atom"]:
        assert tuple(by_id(client, path)[alpha].published_parsed)[:6] == (2026, 3, 1, 8, 0, 0)


@pytest.mark.usefixtures("newsroom")
def test_updated_date_is_carried_separately(serve: Serve) -> None:
    """An explicit ``updated`` shows as the Atom updated and the JSON date_modified."""
    client = serve()
    beta = item_id("beta")
    atom = atom_entries(client, "/feed.atom")[beta]
    assert atom.findtext("atom:published", namespaces=NS) == "2026-04-01T09:00:00+00:00"
    assert atom.findtext("atom:updated", namespaces=NS) == "2026-04-02T11:30:00+00:00"
    item = by_id(client, "/feed.json")[beta]
    assert (item["date_published"], item["date_modified"]) == (
        "2026-04-01T09:00:00Z",
        "2026-04-02T11:30:00Z",
    )


BETA_UPDATED = ("Thu, 02 Apr 2026 11:30:00 +0000", "2026-04-02T11:30:00+00:00")
ALPHA_UPDATED = ("Sun, 01 Mar 2026 08:00:00 +0000", "2026-03-01T08:00:00+00:00")


@pytest.mark.usefixtures("newsroom")
@pytest.mark.parametrize(
    ("scope", "newest"),
    [
        pytest.param("/", BETA_UPDATED, id="site"),
        pytest.param("/tags/energy/", BETA_UPDATED, id="tag-energy"),
        pytest.param("/tags/s%C3%A3o-paulo/", ALPHA_UPDATED, id="tag-sao-paulo"),
    ],
)
def test_feed_date_is_its_newest_item_update_not_the_clock(
    serve: Serve, scope: str, newest: tuple[str, str]
) -> None:
    """RSS lastBuildDate and Atom updated are the newest item's ``updated`` in that scope."""
    client = serve()
    channel = ET.fromstring(fetch(client, f"{scope}feed.rss")).find("channel")
    assert channel is not None
    assert channel.findtext("lastBuildDate") == newest[0]
    feed = ET.fromstring(fetch(client, f"{scope}feed.atom"))
    assert feed.findtext("atom:updated", namespaces=NS) == newest[1]


@pytest.mark.usefixtures("newsroom")
@pytest.mark.parametrize(
    ("scope", "home"),
    [
        pytest.param("/", f"{BASE}/", id="site"),
        pytest.param("/tags/climate/", f"{BASE}/tags/climate/", id="tag"),
        pytest.param("/tags/s%C3%A3o-paulo/", f"{BASE}/tags/s%C3%A3o-paulo/", id="tag-non-ascii"),
    ],
)
def test_feed_links_point_to_page_and_self(serve: Serve, scope: str, home: str) -> None:
    """The RSS channel link is the HTML page; each format's self link is the feed's own URL."""
    client = serve()
    channel = ET.fromstring(fetch(client, f"{scope}feed.rss")).find("channel")
    assert channel is not None
    assert channel.findtext("link") == home
    rss_self = [a.get("href") for a in channel.findall("atom:link", NS) if a.get("rel") == "self"]
    assert rss_self == [f"{BASE}{scope}feed.rss"]

    feed = ET.fromstring(fetch(client, f"{scope}feed.atom"))
    links = {(a.get("rel"), a.get("href")) for a in feed.findall("atom:link", NS)}
    assert links == {("self", f"{BASE}{scope}feed.atom"), ("alternate", home)}

    document = json.loads(fetch(client, f"{scope}feed.json"))
    assert (document["home_page_url"], document["feed_url"]) == (home, f"{BASE}{scope}feed.json")


@pytest.mark.usefixtures("newsroom")
def test_every_url_in_every_feed_is_absolute(serve: Serve) -> None:
    """Links, self links, item links, images and img src all start with the base URL."""
    client = serve()
    found: list[str] = []
    for scope in ["/", "/tags/climate/", "/tags/s%C3%A3o-paulo/"]:
        for fmt in ["rss", "atom"]:
            root = ET.fromstring(fetch(client, f"{scope}feed.{fmt}"))
            for element in root.iter():
                name = element.tag.rpartition("}")[2]
                if name == "link" and element.text:
                    found.append(element.text)
                found += [element.get(a, "") for a in ("href", "url") if element.get(a)]
                if name in ("encoded", "content") and element.text:
                    found += re.findall(r'(?:src|href)="([^"]*)"', element.text)
        document = json.loads(fetch(client, f"{scope}feed.json"))
        found += [document["home_page_url"], document["feed_url"]]
        for item in document["items"]:
            found += [item["url"], *re.findall(r'(?:src|href)="([^"]*)"', item["content_html"])]
            found += [item["image"]] if "image" in item else []
    assert f"{BASE}/images/alpha.jpg" in found
    assert f"{BASE}/articles/alpha" in found
    assert [u for u in found if not u.startswith(f"{BASE}/")] == []


@pytest.mark.usefixtures("newsroom")
def test_categories_carry_tag_key_and_first_spelling(serve: Serve) -> None:
    """Categories: Atom term is the key and label the first spelling met, in every format.

    Beta spells its tag ``climate`` but alpha, older, spelled it ``Climate`` first.
    """
    client = serve()
    entries = by_id(client, "/feed.atom")
    beta, alpha = entries[item_id("beta")], entries[item_id("alpha")]
    assert [(t.term, t.label, t.scheme) for t in alpha.tags] == [
        ("climate", "Climate", f"{BASE}/tags/"),
        ("são-paulo", "São Paulo", f"{BASE}/tags/"),
    ]
    assert [(t.term, t.label) for t in beta.tags] == [("climate", "Climate"), ("energy", "Energy")]
    rss = rss_items(client, "/feed.rss")
    assert [c.text for c in rss[item_id("alpha")].findall("category")] == ["Climate", "São Paulo"]
    assert [c.text for c in rss[item_id("beta")].findall("category")] == ["Climate", "Energy"]
    items = by_id(client, "/feed.json")
    assert items[item_id("alpha")]["tags"] == ["Climate", "São Paulo"]
    assert items[item_id("beta")]["tags"] == ["Climate", "Energy"]


def test_renderers_use_the_catalogue_label_over_the_article_spelling() -> None:
    """Given the labels of the catalogue, every renderer shows them, not each article's spelling."""
    data = b"Title\n\nStandfirst.\n\nclimate, SAO paulo\n\nBody.\n"
    article, body = parse_text("/a/x.txt", data, Stamp(0, len(data)))
    item = Item(article, body, f"{BASE}/articles/x", item_id("x"))
    info = FeedInfo(
        id="tag:example.org,2026:feed",
        title="T",
        description="D",
        home_url=f"{BASE}/",
        self_url=f"{BASE}/feed",
        language="en",
        author=SITE_AUTHOR,
        labels={"climate": "Climate", "sao-paulo": "São Paulo (SP)"},
    )
    expected = ["Climate", "São Paulo (SP)"]
    for render in (render_rss, render_atom):
        entry = feedparser.parse(render([item], info)).entries[0]
        assert [t.get("label") or t.term for t in entry.tags] == expected
    assert json.loads(render_json([item], info))["items"][0]["tags"] == expected
    plain = dataclasses.replace(info, labels={})
    assert json.loads(render_json([item], plain))["items"][0]["tags"] == ["climate", "SAO paulo"]


@pytest.mark.usefixtures("newsroom")
def test_content_is_standfirst_figure_then_body_summary_is_standfirst(serve: Serve) -> None:
    """Full content leads with the standfirst, marked, then the picture with its caption
    and credit as separate elements, then the body; the summary is the standfirst."""
    client = serve()
    alpha = item_id("alpha")
    rss = rss_items(client, "/feed.rss")[alpha]
    atom = atom_entries(client, "/feed.atom")[alpha]
    atom_content = atom.find("atom:content", NS)
    assert atom_content is not None
    assert atom_content.get("type") == "html"
    item = by_id(client, "/feed.json")[alpha]
    contents = [rss.findtext("content:encoded", "", NS), atom_content.text, item["content_html"]]
    for html in contents:
        assert html == (
            '<p class="standfirst"><strong>Alpha standfirst.</strong></p>\n'
            f'<figure>\n<img src="{BASE}/images/alpha.jpg" alt="Flooded street">\n<figcaption>\n'
            '<p class="caption">Flooded street</p>\n'
            '<p class="credit"><small>Image: A. Photographer</small></p>\n</figcaption>\n'
            "</figure>\n"
            "<p>Alpha one.</p>\n<p>Alpha two &amp; &lt;three&gt;.</p>"
        )
    assert rss.findtext("description") == "Alpha standfirst."
    assert atom.findtext("atom:summary", namespaces=NS) == "Alpha standfirst."
    assert item["summary"] == "Alpha standfirst."
    children = [c.tag for c in rss]
    assert children.index("description") < children.index(f"{{{NS['content']}}}encoded")
    entry = by_id(client, "/feed.atom")[alpha]
    assert entry.content[0].type == "text/html"
    assert entry.summary == "Alpha standfirst."


@pytest.mark.usefixtures("newsroom")
def test_article_without_caption_has_standfirst_and_paragraphs(serve: Serve) -> None:
    """No caption, credit or image: the content is the standfirst and the paragraphs."""
    item = by_id(serve(), "/feed.json")[item_id("beta")]
    assert item["content_html"] == (
        '<p class="standfirst"><strong>Beta standfirst.</strong></p>\n<p>Beta body.</p>'
    )
    assert "image" not in item


def test_caption_without_picture_is_left_out(serve: Serve, write_article: WriteArticle) -> None:
    """A caption and credit with no picture describe nothing: no figure, no caption."""
    write_article("plain.txt", standfirst="S.", caption="Ruins | Image: F. Bandarin", body=("B.",))
    client = serve()
    item = by_id(client, "/feed.json")[item_id("plain")]
    assert item["content_html"] == '<p class="standfirst"><strong>S.</strong></p>\n<p>B.</p>'
    page = client.get("/articles/plain").get_data(as_text=True)
    assert "Bandarin" not in page
    assert "<figure" not in page


@pytest.mark.usefixtures("newsroom")
def test_every_item_names_its_author_or_the_site_author(serve: Serve) -> None:
    """Per item in every format: dc:creator in RSS, the entry's author in Atom, authors in
    JSON Feed; the site author for an article that names none."""
    client = serve()
    rss = rss_items(client, "/feed.rss")
    assert rss[item_id("alpha")].findtext("dc:creator", namespaces=NS) == "Claire Dubois"
    assert rss[item_id("beta")].findtext("dc:creator", namespaces=NS) == SITE_AUTHOR
    assert by_id(client, "/feed.rss")[item_id("alpha")].author == "Claire Dubois"
    assert by_id(client, "/feed.rss")[item_id("beta")].author == SITE_AUTHOR

    feed = ET.fromstring(fetch(client, "/feed.atom"))
    assert feed.findtext("atom:author/atom:name", namespaces=NS) == SITE_AUTHOR
    entries = atom_entries(client, "/feed.atom")
    assert entries[item_id("alpha")].findtext("atom:author/atom:name", namespaces=NS) == (
        "Claire Dubois"
    )
    assert entries[item_id("beta")].findtext("atom:author/atom:name", namespaces=NS) == (
        SITE_AUTHOR
    )

    document = json.loads(fetch(client, "/feed.json"))
    assert "authors" not in document  # each item's own stand alone
    items = {i["id"]: i for i in document["items"]}
    assert all(item["authors"] for item in items.values())
    pages = "https://news.example.org/desk/authors/"
    assert items[item_id("alpha")]["authors"] == [
        {"name": "Claire Dubois", "url": pages + "claire-dubois/"}
    ]
    assert items[item_id("beta")]["authors"] == [{"name": SITE_AUTHOR, "url": pages + "the-desk/"}]
    # Atom gives each author their page too.
    assert entries[item_id("alpha")].findtext("atom:author/atom:uri", namespaces=NS) == (
        pages + "claire-dubois/"
    )


@pytest.mark.usefixtures("newsroom")
def test_image_is_media_content(serve: Serve) -> None:
    """An article naming an image carries it as media:content with an absolute URL."""
    client = serve()
    image = f"{BASE}/images/alpha.jpg"
    for path in ["/feed.rss", "/feed.atom"]:
        entries = by_id(client, path)
        assert [m["url"] for m in entries[item_id("alpha")].media_content] == [image]
        assert "media_content" not in entries[item_id("beta")]
    rss = rss_items(client, "/feed.rss")[item_id("alpha")]
    media = rss.findall("media:content", NS)
    assert [(m.get("url"), m.get("medium")) for m in media] == [(image, "image")]
    assert by_id(client, "/feed.json")[item_id("alpha")]["image"] == image


@pytest.mark.usefixtures("newsroom")
def test_json_feed_fields(serve: Serve) -> None:
    """The JSON Feed 1.1 document has its version, URLs and fully typed items."""
    document = json.loads(fetch(serve(), "/tags/climate/feed.json"))
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["title"].endswith("Climate")
    assert document["language"] == "en"
    alpha = document["items"][1]
    assert alpha["id"] == item_id("alpha")
    assert alpha["url"] == f"{BASE}/articles/alpha"
    assert alpha["title"] == "Alpha floods the city"
    for item in document["items"]:
        assert isinstance(item["id"], str)
        assert RFC3339_UTC.match(item["date_published"])
        assert RFC3339_UTC.match(item["date_modified"])
        assert item["content_html"].startswith('<p class="standfirst"><strong>')
        assert isinstance(item["tags"], list)


@pytest.mark.usefixtures("newsroom")
def test_feeds_are_byte_identical_across_app_instances(
    serve: Serve, articles_dir: Path, tmp_path: Path
) -> None:
    """Two separately started apps, a day apart, render the very same bytes.

    The second runs a day later on every clock (time-machine moves the process's
    time functions), over its own index built afresh, rather than the test waiting.
    """
    paths = [f"{s}feed.{f}" for s in ["/", "/tags/climate/", "/tags/energy/"] for f in FORMATS]
    first = {p: fetch(serve(), p) for p in paths}
    with time_machine.travel(time.time() + 86_400, tick=True):
        later = serve(STATE_DIR=str(tmp_path / "another-index"))
        second = {p: fetch(later, p) for p in paths}
    assert first == second


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_site_feed_is_valid(serve: Serve, fmt: str) -> None:
    """With no articles the site feeds are still well-formed and empty."""
    client = serve()
    if fmt == "json":
        assert json.loads(fetch(client, "/feed.json"))["items"] == []
    else:
        assert parsed(client, f"/feed.{fmt}").entries == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_control_characters_never_reach_a_feed(
    serve: Serve, write_article: WriteArticle, fmt: str
) -> None:
    """An article full of forbidden characters gives a valid feed with the text cleaned."""
    write_article(
        "dirty.txt",
        title="Dirty\x00 \x1btitle\x0b",
        standfirst="Stand\x07first",
        keywords="con\x01trol",
        caption="Cap\x0ction | Image: Cre\x1fdit",
        body=("Bo\x08dy\x1b.",),
    )
    client = serve()
    for path in [f"/feed.{fmt}", f"/tags/control/feed.{fmt}"]:
        data = fetch(client, path)
        assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]", data)
        if fmt == "json":
            item = json.loads(data)["items"][0]
            title, content = item["title"], item["content_html"]
        else:
            entry = parsed(client, path).entries[0]
            title, content = entry.title, entry.content[0].value
        assert title == "Dirty title"
        assert "Body." in content


def png_size(body: bytes) -> tuple[int, int]:
    """A PNG's width and height, from its IHDR chunk."""
    assert body.startswith(b"\x89PNG\r\n\x1a\n") and body[12:16] == b"IHDR"
    return int.from_bytes(body[16:20], "big"), int.from_bytes(body[20:24], "big")


@pytest.mark.usefixtures("newsroom")
def test_the_rss_image_is_within_rss_limits_and_says_its_size(serve: Serve) -> None:
    """RSS 2.0 allows a channel image at most 144 pixels wide and 400 high, and takes one
    without a size for 88 by 31: the built-in one is 144 square and says so. Atom and
    JSON Feed keep the large icon."""
    client = serve()
    channel = ET.fromstring(client.get("/feed.rss").data).find("channel")
    assert channel is not None
    image = channel.find("image")
    assert image is not None
    url, width, height = (image.findtext(name) for name in ("url", "width", "height"))
    assert url is not None and url.startswith(f"{BASE}/")
    served = client.get(url.removeprefix(BASE))
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/png"
    assert png_size(served.data) == (int(width or 0), int(height or 0))
    assert 0 < int(width or 0) <= 144 and 0 < int(height or 0) <= 400
    assert image.findtext("title") == channel.findtext("title")
    assert image.findtext("link") == f"{BASE}/"
    atom = feedparser.parse(client.get("/feed.atom").data).feed
    assert atom.icon == atom.logo == f"{BASE}/icon.png"
    assert png_size(client.get("/icon.png").data) == (512, 512)
    assert client.get("/feed.json").get_json()["icon"] == f"{BASE}/icon.png"


@pytest.mark.usefixtures("newsroom")
def test_a_configured_logo_is_the_rss_image_without_a_made_up_size(serve: Serve) -> None:
    client = serve(LOGO_URL="https://cdn.example.org/logo-88.png")
    image = ET.fromstring(client.get("/feed.rss").data).find("channel/image")
    assert image is not None and image.findtext("url") == "https://cdn.example.org/logo-88.png"
    assert image.find("width") is None and image.find("height") is None
    atom = feedparser.parse(client.get("/feed.atom").data).feed
    assert atom.logo == "https://cdn.example.org/logo-88.png"


@pytest.mark.usefixtures("newsroom")
def test_feeds_name_the_installed_version_as_their_generator(serve: Serve) -> None:
    installed = importlib.metadata.version("feedsvc")
    client = serve()
    rss = ET.fromstring(client.get("/feed.rss").data)
    assert rss.findtext("channel/generator") == f"feedsvc {installed}"
    atom = ET.fromstring(client.get("/feed.atom").data)
    generator = atom.find("{http://www.w3.org/2005/Atom}generator")
    assert generator is not None
    assert (generator.text, generator.get("version")) == ("feedsvc", installed)
