"""The widget, the iframe page and oEmbed in real headless Chromium, on a partner's page.

The partner page is served by a plain ``http.server`` on another loopback port, so
every request to the service is cross-origin, as on a real partner site.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Page, Route

from bench.processes import free_port
from tests.conftest import ROOT, article_writer, shared_articles_dir
from tests.system.browser.conftest import QuietHandler
from tests.system.conftest import LiveServer, serving

OUTPUT = ROOT / "test-output"
WIDGET = ROOT / "feedsvc" / "static" / "embed.js"
SCRIPT_TITLE = "Forces enter Palmyra <script>window.pwned=1</script>"
IMG_TITLE = 'Sea ice record <img src=x onerror="window.pwned=2">'
# What a careless partner stylesheet does to everything it can reach.
AGGRESSIVE_CSS = """
* { color: red !important; display: inline !important; font-size: 40px !important;
    font-family: serif !important; line-height: 3 !important; margin: 9px !important;
    padding: 9px !important; border: 3px dashed orange !important; background: #ff0 !important;
    text-decoration: line-through !important; font-weight: 100 !important; }
a { display: none !important; }
li, ol, time, img, div { all: unset !important; }
head { display: none !important; }
"""
THUMBNAIL = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="112" height="112">'
    '<rect width="112" height="112" fill="#c8a165"/><circle cx="56" cy="40" r="18" fill="#f4d58d"/>'
    '<rect y="74" width="112" height="38" fill="#8c6a3f"/></svg>'
)


@dataclass
class Partner:
    url: str
    folder: Path

    def page(self, name: str, body: str, css: str = "") -> str:
        """Write a partner page and return its URL."""
        html = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Partner</title>'
            # Whole-pixel line heights and margins put the widgets on whole pixels, so
            # screenshots of their parts on two partner pages can be compared exactly.
            "<style>body{font:16px/24px Georgia, serif;max-width:820px}"
            f"h1{{line-height:40px;margin:16px 0}}{css}</style></head>"
            '<body><h1>The Partner Gazette</h1><p id="own">Partner copy. <a href="#">A link</a></p>'
            f"{body}</body></html>"
        )
        (self.folder / name).write_text(html, encoding="utf-8")
        return f"{self.url}/{name}"


@pytest.fixture(scope="module")
def partner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Partner]:
    """One partner site for the module; each test writes pages of its own names."""
    folder = tmp_path_factory.mktemp("partner")
    (folder / "thumb.svg").write_text(THUMBNAIL)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=folder))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield Partner(f"http://127.0.0.1:{httpd.server_address[1]}", folder)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def service(partner: Partner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Syria (two articles, one with a thumbnail) and Climate (two); both titles hostile.

    One server for the module: no test here changes an article.
    """
    folder = shared_articles_dir(tmp_path_factory, "browser")
    write_article = article_writer(folder)
    write_article(
        "palmyra.txt",
        title=SCRIPT_TITLE,
        keywords="Syria",
        front={"date": "2026-03-24T14:05:00Z", "image": f"{partner.url}/thumb.svg"},
    )
    write_article(
        "aleppo.txt",
        title="Aleppo souk reopens",
        keywords="Syria",
        front={"date": "2025-07-19T09:00:00Z"},
    )
    write_article(
        "ice.txt", title=IMG_TITLE, keywords="Climate", front={"date": "2026-02-27T10:00:00Z"}
    )
    write_article(
        "glaciers.txt",
        title="Alpine glaciers retreat",
        keywords="Climate",
        front={"date": "2025-12-01T10:00:00Z"},
    )
    OUTPUT.mkdir(exist_ok=True)
    with serving(folder) as running:
        yield running


def widgets(service: LiveServer, tag_two: str = "climate") -> str:
    """Two widgets, each pasted with its own copy of the script tag, as partners do."""
    script = f'<script src="{service.url}/embed.js" async></script>'
    return (
        f'<div id="w1" data-feedsvc-tag="syria" data-limit="5" data-images></div>{script}'
        f'<p>Between the widgets.</p><div id="w2" data-feedsvc-tag="{tag_two}"></div>{script}'
    )


READ_WIDGET = """id => {
  const root = document.getElementById(id).shadowRoot;
  if (!root) return null;
  const link = a => ({text: a.textContent, href: a.getAttribute('href')});
  return {
    boxes: root.querySelectorAll('.w').length,
    heading: root.querySelector('.h') && link(root.querySelector('.h')),
    items: [...root.querySelectorAll('li')].map(li => ({
      ...link(li.querySelector('a')),
      date: li.querySelector('time').textContent,
      datetime: li.querySelector('time').getAttribute('datetime'),
      images: [...li.querySelectorAll('img')].map(img => img.getAttribute('src')),
    })),
    more: root.querySelector('.more') && link(root.querySelector('.more')),
    links: [...root.querySelectorAll('a')].map(link),
    elements: [...root.querySelectorAll('*')].map(e => e.localName),
  };
}"""

STYLES = """id => {
  const root = document.getElementById(id).shadowRoot;
  const names = ['color', 'font-size', 'font-family', 'font-weight', 'line-height', 'display',
    'margin-top', 'padding-top', 'border-top-width', 'border-top-style', 'background-color',
    'text-decoration-line'];
  // The box's size depends on the room the partner gives it; the thumbnail's does not.
  return ['.w', '.h', 'ol', 'li', 'li a', 'time', '.more', 'img'].map(selector => {
    const element = root.querySelector(selector);
    if (!element) return [selector, null];
    const style = getComputedStyle(element);
    const wanted = selector === 'img' ? [...names, 'width', 'height'] : names;
    return [selector, Object.fromEntries(wanted.map(name => [name, style.getPropertyValue(name)]))];
  });
}"""


def rendered(page: Page, *ids: str) -> None:
    page.wait_for_function(
        "ids => ids.every(id => document.getElementById(id).shadowRoot?.querySelector('ol'))",
        arg=list(ids),
    )
    page.wait_for_load_state("networkidle")


def test_two_widgets_on_a_hostile_partner_page(
    browser: Browser, partner: Partner, service: LiveServer
) -> None:
    context = browser.new_context(locale="en-GB", timezone_id="Europe/London")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(partner.page("hostile.html", widgets(service, "Climate"), AGGRESSIVE_CSS))
    rendered(page, "w1", "w2")

    syria = page.evaluate(READ_WIDGET, "w1")
    assert syria["boxes"] == 1  # the second copy of the script left it alone
    assert syria["heading"] == {"text": "Syria", "href": f"{service.url}/tags/syria/"}
    assert syria["items"] == [
        {
            "text": SCRIPT_TITLE,
            "href": f"{service.url}/articles/palmyra",
            "date": "24 Mar 2026",
            "datetime": "2026-03-24T14:05:00Z",
            "images": [f"{partner.url}/thumb.svg"],
        },
        {
            "text": "Aleppo souk reopens",
            "href": f"{service.url}/articles/aleppo",
            "date": "19 Jul 2025",
            "datetime": "2025-07-19T09:00:00Z",
            "images": [],
        },
    ]
    assert syria["more"] == {
        "text": "More from feedsvc news →",
        "href": f"{service.url}/tags/syria/",
    }
    # "Climate" is another spelling of the climate tag: the widget follows the 301.
    climate = page.evaluate(READ_WIDGET, "w2")
    assert [item["text"] for item in climate["items"]] == [IMG_TITLE, "Alpine glaciers retreat"]
    assert [item["date"] for item in climate["items"]] == ["27 Feb 2026", "1 Dec 2025"]
    assert all(item["images"] == [] for item in climate["items"])  # no data-images

    # Hostile titles are text: no element was made from them and nothing ran.
    assert "script" not in syria["elements"] + climate["elements"]
    assert climate["elements"].count("img") == 0 and syria["elements"].count("img") == 1
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert errors == []

    # The partner's CSS reached the partner's own elements and the host, not the widget.
    assert (
        page.evaluate("getComputedStyle(document.getElementById('own')).color") == "rgb(255, 0, 0)"
    )
    assert page.evaluate("getComputedStyle(document.querySelector('#own a')).display") == "none"
    for selector in ("#w1 li a", "#w1 .more", "#w2 .h"):
        # Playwright locators pierce open shadow roots.
        assert page.locator(selector).first.is_visible(), selector
    hostile = {"w1": page.evaluate(STYLES, "w1"), "w2": page.evaluate(STYLES, "w2")}
    looks = dict(hostile["w1"])
    assert looks["li a"]["color"] == "rgb(11, 87, 208)"
    assert looks["li a"]["font-size"] == "14px" and looks["li a"]["font-weight"] == "600"
    assert looks["li"]["display"] == "flex" and looks[".w"]["display"] == "inline-block"
    assert looks["img"]["width"] == "56px"
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / "embed-hostile-partner.png", full_page=True)

    # The same widgets on a partner page with no stylesheet compute to the same styles.
    clean_context = browser.new_context(locale="en-US", timezone_id="America/New_York")
    clean = clean_context.new_page()
    clean.goto(partner.page("clean.html", widgets(service)))
    rendered(clean, "w1", "w2")
    for id in ("w1", "w2"):
        assert clean.evaluate(STYLES, id) == hostile[id], id
    # Computed styles miss what is painted from outside (a partner's text-decoration
    # propagates into descendants without being inherited): compare the pixels too.
    for selector in ("#w1 li a", "#w2 li a", "#w1 .more"):
        assert (
            clean.locator(selector).first.screenshot() == page.locator(selector).first.screenshot()
        ), selector
    # Dates follow the reader's locale.
    assert [i["date"] for i in clean.evaluate(READ_WIDGET, "w1")["items"]] == [
        "Mar 24, 2026",
        "Jul 19, 2025",
    ]
    clean.screenshot(path=OUTPUT / "embed-partner.png", full_page=True)
    clean_context.close()
    context.close()


def test_fallback_link_when_the_service_is_down_or_refuses(
    browser: Browser, partner: Partner, service: LiveServer
) -> None:
    # A service that is down: a loopback port nothing listens on refuses every request.
    down = f"http://127.0.0.1:{free_port()}"
    context = browser.new_context()
    page = context.new_page()

    # The script itself is still in the reader's cache (served here from disk); every
    # request to the stopped service is refused.
    def cached_script(route: Route) -> None:
        route.fulfill(body=WIDGET.read_bytes(), content_type="application/javascript")

    page.route(f"{down}/embed.js", cached_script)
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    body = f'<div id="w1" data-feedsvc-tag="syria"></div><script src="{down}/embed.js"></script>'
    page.goto(partner.page("down.html", body, AGGRESSIVE_CSS))
    page.wait_for_load_state("networkidle")
    assert failed == [f"{down}/tags/syria/headlines.json"]
    widget = page.evaluate(READ_WIDGET, "w1")
    assert widget["links"] == [{"text": "Latest headlines: syria", "href": f"{down}/tags/syria/"}]
    assert widget["items"] == []
    assert page.locator("#w1 a").is_visible()

    # A tag the service does not know: the 404 leaves the same plain link.
    other = context.new_page()
    script = f'<script src="{service.url}/embed.js" async></script>'
    other.goto(
        partner.page("unknown.html", f'<div id="w1" data-feedsvc-tag="nowhere"></div>{script}')
    )
    other.wait_for_load_state("networkidle")
    widget = other.evaluate(READ_WIDGET, "w1")
    assert widget["links"] == [
        {"text": "Latest headlines: nowhere", "href": f"{service.url}/tags/nowhere/"}
    ]
    other.screenshot(path=OUTPUT / "embed-fallback.png")
    context.close()


def test_a_widget_of_a_combination_of_tags(
    browser: Browser, partner: Partner, service: LiveServer
) -> None:
    """Tags written as a person would ("Syria, Climate"): the widget follows the 301 to
    the combination's canonical headlines and shows every article of either tag."""
    context = browser.new_context(locale="en-GB", timezone_id="Europe/London")
    page = context.new_page()
    script = f'<script src="{service.url}/embed.js" async></script>'
    page.goto(
        partner.page(
            "either.html", f'<div id="w1" data-feedsvc-tag="Syria, Climate"></div>{script}'
        )
    )
    rendered(page, "w1")
    either = page.evaluate(READ_WIDGET, "w1")
    assert either["heading"] == {
        "text": "Climate or Syria",
        "href": f"{service.url}/tags/climate,syria/",
    }
    assert [item["text"] for item in either["items"]] == [
        SCRIPT_TITLE,
        IMG_TITLE,
        "Alpine glaciers retreat",
        "Aleppo souk reopens",
    ]
    context.close()


def test_oembed_iframe_in_the_browser(
    browser: Browser, partner: Partner, service: LiveServer
) -> None:
    """A CMS asks oEmbed for a tag page's URL (cross-origin) and pastes the html it gets."""
    context = browser.new_context()
    page = context.new_page()
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.goto(partner.page("cms.html", '<div id="slot"></div>'))
    endpoint = (
        f"{service.url}/oembed?url={quote(service.url + '/tags/climate/', safe='')}&format=json"
    )
    document = page.evaluate("url => fetch(url).then(r => r.json())", endpoint)
    assert document["type"] == "rich" and document["provider_name"] == "feedsvc news"
    page.evaluate("html => { document.getElementById('slot').innerHTML = html }", document["html"])
    frame_element = page.wait_for_selector("#slot iframe")
    assert frame_element is not None
    box = frame_element.bounding_box()
    assert box is not None and (box["width"], box["height"]) == (
        document["width"],
        document["height"],
    )
    frame = frame_element.content_frame()
    assert frame is not None
    frame.wait_for_selector("li")
    assert frame.url == f"{service.url}/embed/tags/climate?limit=5"
    titles = frame.eval_on_selector_all(
        "li a", "links => links.map(a => [a.textContent, a.href, a.target])"
    )
    assert titles == [
        [IMG_TITLE, f"{service.url}/articles/ice", "_blank"],
        ["Alpine glaciers retreat", f"{service.url}/articles/glaciers", "_blank"],
    ]
    assert frame.evaluate("document.querySelectorAll('script, img').length") == 0
    assert frame.evaluate("typeof window.pwned") == "undefined"
    assert page.evaluate("typeof window.pwned") == "undefined"
    # The stylesheet is allowed by its hash: the page is styled and no policy was broken.
    color = frame.eval_on_selector("li a", "a => getComputedStyle(a).color")
    assert color == "rgb(11, 87, 208)"
    assert not [m for m in messages if "Content Security Policy" in m], messages
    page.screenshot(path=OUTPUT / "embed-iframe.png", full_page=True)
    context.close()


def test_copy_feed_url_and_snippet_on_the_tag_page(browser: Browser, service: LiveServer) -> None:
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=service.url)
    page = context.new_page()
    page.goto(f"{service.url}/tags/syria/")
    page.click("#copy-feed")
    page.wait_for_function("document.getElementById('copy-feed').textContent === 'Copied'")
    # Atom, the format offered first: it says whether a title is text or HTML.
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"{service.url}/tags/syria/feed.atom"
    page.screenshot(path=OUTPUT / "tag-page.png", full_page=True)
    snippet = page.input_value("#embed-snippet")
    assert snippet == (
        '<div data-feedsvc-tag="syria" data-limit="5"></div>\n'
        f'<script src="{service.url}/embed.js" async></script>'
    )
    discovery = page.get_attribute('link[type="application/json+oembed"]', "href")
    assert discovery is not None
    assert json.loads(page.request.get(discovery).body())["type"] == "rich"
    context.close()


def test_pages_work_under_their_content_security_policy(
    browser: Browser, service: LiveServer
) -> None:
    """Every page is styled, the tag page's script runs and the article's picture shows,
    all under a policy with no inline allowance: nothing is blocked."""
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=service.url)
    page = context.new_page()
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    for path in ("/", "/tags/", "/tags/syria/", "/articles/palmyra"):
        response = page.goto(f"{service.url}{path}")
        assert (
            response is not None
            and "'unsafe-inline'" not in (response.headers["content-security-policy"])
        )
        color = page.eval_on_selector("header a", "a => getComputedStyle(a).color")
        assert color == "rgb(11, 87, 208)", path  # the style sheet applied
    picture = page.wait_for_selector("figure img")
    assert picture is not None
    page.wait_for_function("document.querySelector('figure img').naturalWidth > 0")
    page.goto(f"{service.url}/tags/syria/")
    assert page.is_visible("#copy-feed")  # the script ran: it shows the button
    page.focus("#embed-snippet")
    selected = page.evaluate(
        "() => { const t = document.getElementById('embed-snippet');"
        " return t.value.slice(t.selectionStart, t.selectionEnd); }"
    )
    assert selected == page.input_value("#embed-snippet")
    assert not [m for m in messages if "Content Security Policy" in m], messages
    context.close()
