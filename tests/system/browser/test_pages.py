"""The site and its feeds as a person sees them, in real headless Chromium.

Pages are paged, list each article's standfirst and author with separated tags, show
the feeds and the OPML on every page, and are compressed; an article page has its
picture with the caption and credit apart and its sharing metadata; a feed clicked
from a page renders as a readable page through its CSS style sheet, no XSLT. Each
view is saved as a screenshot under ``test-output/`` for a person to look at.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import ROOT, article_writer, shared_articles_dir
from tests.system.browser.conftest import QuietHandler
from tests.system.conftest import LiveServer, serving

OUTPUT = ROOT / "test-output"
PICTURE = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="960" height="540">'
    '<rect width="960" height="540" fill="#9cc3e6"/>'
    '<circle cx="760" cy="120" r="60" fill="#fff4c2"/>'
    '<path d="M0 400 L240 220 L420 360 L600 180 L960 420 L960 540 L0 540 Z" fill="#e8eef5"/>'
    '<path d="M0 470 L960 450 L960 540 L0 540 Z" fill="#5b7fa3"/></svg>'
)
PER_PAGE = 4
GLACIERS = [
    "Alpine glaciers lose a record share of their ice",
    "Sea ice reaches one of its lowest winter peaks",
    "Battery recycling plant begins operations",
    "Heatwave strains the power grid",
    "Floods prompt new river defences",
    "Wind farm approved off the northern coast",
    "Drought cuts the olive harvest",
    "City plants ten thousand street trees",
    "Coral survey finds signs of recovery",
]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Another host serving the article's picture, as a picture desk's server would."""
    folder = tmp_path_factory.mktemp("pictures")
    (folder / "glacier.svg").write_text(PICTURE)
    handler = functools.partial(QuietHandler, directory=folder)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def site(pictures: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Nine climate articles, newest first as listed: three pages of four, then one."""
    folder = shared_articles_dir(tmp_path_factory, "browse")
    write = article_writer(folder)
    for number, title in enumerate(GLACIERS):
        front = {"date": f"2026-0{9 - number}-10T09:00:00Z"}
        if number % 3 == 0:
            front["author"] = ["Claire Dubois", "Sam Okoye", "Ana Lima"][number // 3]
        if number == 0:
            front["image"] = f"{pictures}/glacier.svg"
        write(
            f"story-{number}.txt",
            title=title,
            standfirst=f"{title.split()[0]} matters: what changed this season, and why.",
            keywords="Climate, Science, Europe" if number % 2 == 0 else "Climate, Energy",
            caption="Ice at the edge of the glacier | Image: K. Lindqvist/Polar Institute",
            body=("The first paragraph of the report.", "A second, longer paragraph."),
            front=front,
        )
    OUTPUT.mkdir(exist_ok=True)
    with serving(folder, PAGE_ITEMS=str(PER_PAGE), SITE_TITLE="Desk News") as running:
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def shot(page: Page, name: str) -> None:
    """The whole page: the viewport made as tall as the document (Playwright's own full
    page capture stalls on an XML document)."""
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 1000, "height": min(max(height, 400), 4000)})
    page.screenshot(path=str(OUTPUT / f"browse-{name}.png"))


def listed(page: Page) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        "ol.headlines li",
        """items => items.map(li => ({
            title: li.querySelector('a strong').textContent,
            meta: li.querySelector('.meta').innerText,
            standfirst: li.querySelector('.standfirst').innerText,
            tags: li.querySelector('.tags').innerText,
        }))""",
    )


def test_home_page_lists_standfirsts_authors_and_pages(site: LiveServer, page: Page) -> None:
    response = page.goto(f"{site.url}/")
    assert response is not None and response.headers.get("content-encoding") == "br"
    shot(page, "home")
    shown = listed(page)
    assert [item["title"] for item in shown] == GLACIERS[:PER_PAGE]
    assert shown[0]["meta"].endswith("by Claire Dubois")
    assert shown[1]["meta"].endswith("by feedsvc newsroom")  # the site author
    assert shown[0]["standfirst"] == "Alpine matters: what changed this season, and why."
    assert shown[0]["tags"] == "Tags: Climate, Science, Europe"  # separated, as text
    # The feeds and the OPML are offered where a person sees them, on every page.
    for name in ("RSS", "Atom", "JSON Feed", "All feeds (OPML)"):
        assert page.is_visible(f"header .follow >> text={name}")
    assert page.get_attribute("link[rel=next]", "href") == f"{site.url}/?page=2"
    page.click("a[rel=next]")
    page.wait_for_url(f"{site.url}/?page=2")
    assert [item["title"] for item in listed(page)] == GLACIERS[PER_PAGE : 2 * PER_PAGE]
    assert page.get_attribute("link[rel=prev]", "href") == f"{site.url}/"


def test_tag_page_two_links_both_ways(site: LiveServer, page: Page) -> None:
    page.goto(f"{site.url}/tags/climate/")
    shot(page, "tag")
    assert page.is_visible("text=page 1 of 3")
    page.click("a[rel=next]")
    page.wait_for_url(f"{site.url}/tags/climate/?page=2")
    shot(page, "tag-page-2")
    assert [item["title"] for item in listed(page)] == GLACIERS[PER_PAGE : 2 * PER_PAGE]
    assert page.title() == "Desk News: Climate: page 2"
    assert page.get_attribute("link[rel=prev]", "href") == f"{site.url}/tags/climate/"
    assert page.get_attribute("link[rel=next]", "href") == f"{site.url}/tags/climate/?page=3"
    assert page.get_attribute("link[rel=canonical]", "href") == (f"{site.url}/tags/climate/?page=2")
    assert page.get_attribute("meta[property='og:url']", "content") == (
        f"{site.url}/tags/climate/?page=2"
    )
    page.click("a[rel=prev]")
    page.wait_for_url(f"{site.url}/tags/climate/")
    assert page.goto(f"{site.url}/tags/climate/?page=4").status == 404  # type: ignore[union-attr]


def test_article_page_shows_picture_caption_credit_and_sharing(
    site: LiveServer, pictures: str, page: Page
) -> None:
    page.goto(f"{site.url}/articles/story-0")
    page.wait_for_function("document.querySelector('figure img').naturalWidth > 0")
    shot(page, "article")
    assert page.inner_text(".standfirst") == "Alpine matters: what changed this season, and why."
    caption = page.eval_on_selector_all("figcaption p", "ps => ps.map(p => p.innerText)")
    assert caption == ["Ice at the edge of the glacier", "Image: K. Lindqvist/Polar Institute"]
    meta = page.eval_on_selector_all(
        "meta[property], meta[name]",
        "ms => Object.fromEntries(ms.map(m => [m.getAttribute('property') || m.name, m.content]))",
    )
    assert meta["og:type"] == "article"
    assert meta["og:title"] == GLACIERS[0]
    assert meta["og:image"] == meta["twitter:image"] == f"{pictures}/glacier.svg"
    assert meta["twitter:card"] == "summary_large_image"
    assert meta["og:url"] == f"{site.url}/articles/story-0"
    # An article with no picture shows no caption: it would describe nothing.
    page.goto(f"{site.url}/articles/story-1")
    assert page.query_selector("figure") is None
    assert page.query_selector("text=Ice at the edge of the glacier") is None
    assert page.get_attribute("meta[name='twitter:card']", "content") == "summary"


def test_the_site_icon_is_the_pages_icon(site: LiveServer, page: Page) -> None:
    page.goto(f"{site.url}/")
    sizes = page.evaluate(
        """async () => Promise.all(['/favicon.ico', '/icon.png'].map(async path => {
            const image = new Image(); image.src = path; await image.decode();
            return [image.naturalWidth, image.naturalHeight];
        }))"""
    )
    assert sizes[1] == [512, 512]
    assert sizes[0][0] == sizes[0][1] >= 16  # the favicon decodes, square


@pytest.mark.parametrize(("name", "root"), [("RSS", "channel"), ("Atom", "feed")])
def test_a_clicked_feed_explains_itself(site: LiveServer, page: Page, name: str, root: str) -> None:
    """Clicked from a page, a feed renders through its CSS style sheet: the note, the
    feed's title and each item's title and summary; its raw HTML content stays hidden."""
    page.goto(f"{site.url}/tags/climate/")
    with page.expect_navigation():
        page.click(f"header .follow >> text={name}")
    extension = "rss" if name == "RSS" else "atom"
    assert page.url == f"{site.url}/tags/climate/feed.{extension}"
    assert page.evaluate("document.contentType") == "application/xml"
    shot(page, f"feed-{extension}")
    note = page.evaluate(
        f"getComputedStyle(document.getElementsByTagName('{root}')[0], '::before').content"
    )
    assert "This is a web feed" in note and "feed reader" in note
    shown = page.evaluate(
        """() => [...document.getElementsByTagName('title')]
            .filter(t => t.getBoundingClientRect().height > 0).map(t => t.textContent)"""
    )
    assert shown[0] == "Desk News: Climate"
    assert shown[1 : 1 + len(GLACIERS)] == GLACIERS
    content = "encoded" if name == "RSS" else "content"
    hidden = page.evaluate(
        f"""() => [...document.getElementsByTagNameNS('*', '{content}')]
            .every(e => getComputedStyle(e).display === 'none')"""
    )
    assert hidden


def test_a_feed_in_a_tab_is_only_relabelled(site: LiveServer) -> None:
    """A browser tab (Sec-Fetch-Dest: document) gets the same bytes as application/xml,
    with its own ETag; readers get the feed's own type. Both paths, both codings."""
    for path in ("/feed.rss", "/tags/climate/feed.atom"):
        for _ in range(2):  # rendered, then from the fast path
            reader = site.get(path)
            tab = site.get(path, {"Sec-Fetch-Dest": "document"})
            assert reader.body == tab.body
            assert reader.getheader("Content-Type").startswith("application/")
            assert reader.getheader("Content-Type") != tab.getheader("Content-Type")
            assert tab.getheader("Content-Type") == "application/xml; charset=utf-8"
            assert reader.getheader("Content-Security-Policy") is None
            assert "style-src 'self'" in tab.getheader("Content-Security-Policy")
            assert reader.getheader("ETag") != tab.getheader("ETag")
            for response in (reader, tab):
                assert response.getheader("Vary") == "Accept-Encoding, Sec-Fetch-Dest"
            again = site.get(
                path, {"Sec-Fetch-Dest": "document", "If-None-Match": tab.getheader("ETag")}
            )
            assert again.status == 304
            assert site.get(path, {"If-None-Match": tab.getheader("ETag")}).status == 200
        zipped = site.get(path, {"Sec-Fetch-Dest": "document", "Accept-Encoding": "gzip"})
        assert zipped.getheader("Content-Encoding") == "gzip"
        assert zipped.getheader("Content-Type") == "application/xml; charset=utf-8"
    assert site.get("/feed.json", {"Sec-Fetch-Dest": "document"}).getheader("Content-Type") == (
        "application/feed+json; charset=utf-8"
    )
    assert Path(OUTPUT).is_dir()
