"""What readers see, read by two parsers: feedparser (Python) and, over HTTP from the
real server, rss-parser and feed-extractor (JavaScript, in Node, as reader apps built
on them do). Each test is one of the points readers reported:

1. the standfirst leads the full content; 2. a figure only with its picture, caption
and credit apart; 3. an author on every item; 4. an OPML folder of "Site — Tag" feeds;
5. Atom's first link is the site; 6. icons in every format; 7. a paged JSON Feed keeps
its own ``feed_url``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import pytest

from tests.conftest import ROOT, article_writer, shared_articles_dir
from tests.system.conftest import LiveServer, serving

READERS = ROOT / "tests" / "readers"
NODE = shutil.which("node")
SITE = "Desk News"
SITE_AUTHOR = "The Desk"
FORMATS = ("rss", "atom", "json")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Alpha names its author and has a picture; Beta has a caption but no picture;
    Gamma has neither a caption nor an author."""
    folder = shared_articles_dir(tmp_path_factory, "readers")
    write = article_writer(folder)
    write(
        "alpha.txt",
        title="Alpha floods the city",
        standfirst="Alpha standfirst.",
        keywords="Climate, São Paulo",
        caption="Flooded street | Image: A. Photographer",
        body=("Alpha one.", "Alpha two."),
        front={"date": "2026-03-01T10:00:00Z", "author": "Claire Dubois", "image": "/a.jpg"},
    )
    write(
        "beta.txt",
        title="Beta powers up",
        standfirst="Beta standfirst.",
        keywords="Climate, Energy",
        caption="Turbines at dusk | Image: B. Photographer",
        body=("Beta body.",),
        front={"date": "2026-02-01T10:00:00Z"},
    )
    write(
        "gamma.txt",
        title="Gamma looks back",
        standfirst="Gamma standfirst.",
        keywords="Energy",
        caption=None,
        body=("Gamma body.",),
        front={"date": "2026-01-01T10:00:00Z"},
    )
    with serving(folder, SITE_TITLE=SITE, AUTHOR=SITE_AUTHOR) as running:
        yield running


def node_read(server: LiveServer, *paths: str) -> dict[str, Any]:
    """What the JavaScript readers saw at each path."""
    assert NODE, "node is required (scripts/test installs it)"
    assert (READERS / "node_modules" / "rss-parser").is_dir(), "run scripts/test: npm ci"
    done = subprocess.run(
        [NODE, str(READERS / "read.mjs"), server.url, *paths],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen: dict[str, Any] = json.loads(done.stdout)
    return seen


def python_read(server: LiveServer, path: str) -> Any:
    """The feed at ``path`` through feedparser, which must find nothing wrong with it."""
    response = server.get(path)
    assert response.status == 200, response.body
    if path.endswith(".json"):
        return json.loads(response.body)
    parsed = feedparser.parse(response.body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def by_title(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["title"]: item for item in items}


def test_1_full_content_leads_with_the_standfirst(server: LiveServer) -> None:
    """Readers that show only the content (newsboat, reader, feed-extractor) show the
    standfirst first, bold; the summary is still the standfirst alone."""
    seen = node_read(server, "/feed.rss", "/feed.atom")
    for fmt in ("rss", "atom"):
        entries = {e.title: e for e in python_read(server, f"/feed.{fmt}").entries}
        node_items = by_title(seen[f"/feed.{fmt}"]["rssParser"]["items"])
        for title, lead in [("Alpha floods the city", "Alpha"), ("Gamma looks back", "Gamma")]:
            expected = f'<p class="standfirst"><strong>{lead} standfirst.</strong></p>'
            assert entries[title].content[0].value.startswith(expected), fmt
            assert entries[title].summary == f"{lead} standfirst."
            assert node_items[title]["content"].startswith(expected), fmt
    document = python_read(server, "/feed.json")
    assert all(
        i["content_html"].startswith('<p class="standfirst"><strong>') for i in document["items"]
    )


def test_2_a_figure_only_with_its_picture_caption_and_credit_apart(server: LiveServer) -> None:
    seen = node_read(server, "/feed.rss", "/feed.atom")
    picture = f"{server.url}/a.jpg"
    for fmt in ("rss", "atom"):
        node_items = by_title(seen[f"/feed.{fmt}"]["rssParser"]["items"])
        entries = {e.title: e for e in python_read(server, f"/feed.{fmt}").entries}
        for content in (
            node_items["Alpha floods the city"]["content"],
            entries["Alpha floods the city"].content[0].value,
        ):
            # feedparser's sanitiser writes attributes in its own order.
            assert "<figure>\n<img " in content and f'src="{picture}"' in content
            # Two elements on lines of their own: no reader runs the credit onto the
            # caption, not even one that takes the text out for a snippet.
            assert (
                '<figcaption>\n<p class="caption">Flooded street</p>\n'
                '<p class="credit"><small>Image: A. Photographer</small></p>\n</figcaption>\n'
                "</figure>"
            ) in content
        for content in (
            node_items["Beta powers up"]["content"],
            entries["Beta powers up"].content[0].value,
        ):
            assert "<figure" not in content and "Turbines at dusk" not in content
            assert "B. Photographer" not in content


def test_3_every_item_names_an_author(server: LiveServer) -> None:
    """RSS dc:creator, Atom entry author, JSON Feed authors: the article's or the site's."""
    expected = {
        "Alpha floods the city": "Claire Dubois",
        "Beta powers up": SITE_AUTHOR,
        "Gamma looks back": SITE_AUTHOR,
    }
    seen = node_read(server, "/feed.rss", "/feed.atom")
    rss = by_title(seen["/feed.rss"]["rssParser"]["items"])
    atom = by_title(seen["/feed.atom"]["rssParser"]["items"])
    assert {title: item["creator"] for title, item in rss.items()} == expected
    assert {title: item["author"] for title, item in atom.items()} == expected
    for fmt in ("rss", "atom"):
        parsed = python_read(server, f"/feed.{fmt}")
        assert {e.title: e.author for e in parsed.entries} == expected
    document = python_read(server, "/feed.json")
    assert {i["title"]: i["authors"] for i in document["items"]} == {
        title: [{"name": name, "url": f"{server.url}/authors/{name.lower().replace(' ', '-')}/"}]
        for title, name in expected.items()
    }


def test_4_the_opml_is_one_folder_of_site_titled_feeds(server: LiveServer) -> None:
    opml = node_read(server, "/feeds.opml")["/feeds.opml"]
    assert opml["type"] == "text/x-opml; charset=utf-8"
    [folder] = opml["opml"]
    assert folder["text"] == SITE
    assert [(f["text"], f["xmlUrl"]) for f in folder["feeds"]] == [
        (SITE, f"{server.url}/feed.atom"),
        (f"{SITE} \u2014 Climate", f"{server.url}/tags/climate/feed.atom"),
        (f"{SITE} \u2014 Energy", f"{server.url}/tags/energy/feed.atom"),
        (f"{SITE} \u2014 São Paulo", f"{server.url}/tags/s%C3%A3o-paulo/feed.atom"),
    ]
    for outline in folder["feeds"]:
        assert outline["type"] == "rss" and outline["title"] == outline["text"]
        parsed = python_read(server, outline["xmlUrl"].removeprefix(server.url))
        assert parsed.entries


def test_5_atom_names_the_site_first(server: LiveServer) -> None:
    """feed-extractor takes an Atom feed's first link for the site: it is the alternate."""
    for path, home in [("/feed.atom", "/"), ("/tags/climate/feed.atom", "/tags/climate/")]:
        seen = node_read(server, path)[path]
        assert seen["atom"]["links"][0] == {
            "href": f"{server.url}{home}",
            "rel": "alternate",
            "type": "text/html",
        }
        assert seen["feedExtractor"]["link"] == f"{server.url}{home}"
        assert seen["rssParser"]["link"] == f"{server.url}{home}"
        assert seen["rssParser"]["feedUrl"] == f"{server.url}{path}"
        parsed = python_read(server, path)
        assert parsed.feed.links[0].rel == "alternate"
        assert parsed.feed.link == f"{server.url}{home}"


def test_6_icons_in_every_format_are_served(server: LiveServer) -> None:
    seen = node_read(server, "/feed.rss", "/feed.atom", "/feed.json")
    icon, favicon = f"{server.url}/icon.png", f"{server.url}/favicon.ico"
    rss_image = f"{server.url}/icon-144.png"  # RSS 2.0: at most 144 pixels wide
    assert seen["/feed.rss"]["rssParser"]["image"] == {
        "url": rss_image,
        "title": SITE,
        "link": f"{server.url}/",
        "width": "144",
        "height": "144",
    }
    assert (seen["/feed.atom"]["atom"]["icon"], seen["/feed.atom"]["atom"]["logo"]) == (icon, icon)
    document = seen["/feed.json"]["json"]
    assert (document["icon"], document["favicon"]) == (icon, favicon)
    rss = python_read(server, "/feed.rss").feed
    assert rss.image.href == rss_image and rss.image.link == f"{server.url}/"
    assert (rss.image.width, rss.image.height) == (144, 144)
    atom = python_read(server, "/feed.atom").feed
    assert (atom.icon, atom.logo) == (icon, icon)
    for address, kind, magic in [
        (icon, "image/png", b"\x89PNG\r\n\x1a\n"),
        (rss_image, "image/png", b"\x89PNG\r\n\x1a\n"),
        (favicon, "image/vnd.microsoft.icon", b"\x00\x00\x01\x00"),
    ]:
        response = server.get(address.removeprefix(server.url))
        assert response.status == 200
        assert response.getheader("Content-Type") == kind
        assert response.body.startswith(magic)


def test_6_configured_icon_and_logo_replace_the_built_in_ones(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = shared_articles_dir(tmp_path_factory, "icons")
    article_writer(folder)("one.txt")
    logo = "https://cdn.example.org/logo-wide.png"
    with serving(folder, ICON_URL="/brand/icon.png", LOGO_URL=logo) as running:
        icon = f"{running.url}/brand/icon.png"
        rss = python_read(running, "/feed.rss").feed
        atom = python_read(running, "/feed.atom").feed
        document = python_read(running, "/feed.json")
    assert rss.image.href == logo
    assert (atom.icon, atom.logo) == (icon, logo)
    assert (document["icon"], document["favicon"]) == (icon, icon)


def test_7_a_paged_json_feed_keeps_its_own_feed_url(server: LiveServer) -> None:
    seen = node_read(server, "/feed.json?limit=1&page=2", "/tags/climate/feed.json?limit=1")
    second = seen["/feed.json?limit=1&page=2"]["json"]
    assert second["feed_url"] == f"{server.url}/feed.json?limit=1"
    assert second["next_url"] == f"{server.url}/feed.json?limit=1&page=3"
    assert [i["title"] for i in second["items"]] == ["Beta powers up"]
    first = seen["/tags/climate/feed.json?limit=1"]["json"]
    assert first["feed_url"] == f"{server.url}/tags/climate/feed.json?limit=1"
    assert first["next_url"] == f"{server.url}/tags/climate/feed.json?limit=1&page=2"
    assert seen["/feed.json?limit=1&page=2"]["feedExtractor"]["entries"] == 1
    # The RSS and Atom pages still name themselves as self, as validators require.
    page = python_read(server, "/feed.atom?limit=1&page=2")
    assert {link.rel: link.href for link in page.feed.links}["self"] == (
        f"{server.url}/feed.atom?limit=1&page=2"
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_feed_parses_in_both_readers(server: LiveServer, fmt: str) -> None:
    paths = [f"/feed.{fmt}", f"/tags/climate/feed.{fmt}", f"/tags/s%C3%A3o-paulo/feed.{fmt}"]
    # Combinations of tags: AND, OR and NOT.
    paths += [f"/tags/{scope}/feed.{fmt}" for scope in ("climate+energy", "climate,energy")]
    paths.append(f"/tags/climate+-energy/feed.{fmt}")
    # Authors, alone and on a topic.
    paths += [f"/authors/{author}/feed.{fmt}" for author in ("claire-dubois", "the-desk")]
    paths.append(f"/authors/the-desk/tags/energy+-climate/feed.{fmt}")
    seen = node_read(server, *paths)
    for path in paths:
        python = python_read(server, path)
        count = len(python["items"] if fmt == "json" else python.entries)
        assert seen[path]["status"] == 200
        assert seen[path]["feedExtractor"]["entries"] == count > 0
        if fmt != "json":
            assert len(seen[path]["rssParser"]["items"]) == count


def test_the_node_readers_are_pinned() -> None:
    """scripts/test installs exactly the locked versions (npm ci)."""
    lock = json.loads((READERS / "package-lock.json").read_text())
    assert {"rss-parser", "@extractus/feed-extractor", "xml2js"} <= {
        name.removeprefix("node_modules/") for name in lock["packages"]
    }
    assert Path(READERS / "read.mjs").is_file()
