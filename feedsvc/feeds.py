"""Render items as RSS 2.0, Atom 1.0 and JSON Feed 1.1 bytes.

Pure and deterministic: the same items and :class:`FeedInfo` give the same bytes,
nothing is taken from the clock or from a request. This is the only module that
knows feedgen, and it steps around feedgen's traps: entries are appended in the
order given (feedgen prepends by default), ``updated`` is always set from data
(feedgen defaults it to now), in RSS the alternate link is added last (feedgen's
RSS ``<link>`` is the last link added) while Atom gets it first (readers take an
Atom feed's first link as the site), the summary never doubles as content, and an
entry's categories are given in one call (feedgen rebuilds its RSS list on every
call, which made rendering quadratic in the number of tags).

An item's content reads well in readers that show only it: the standfirst (marked
as such), the picture with its caption and credit as separate elements (only when
there is a picture: a caption alone describes nothing), then the body. Every item
names an author: the article's own, else the site's.

RSS and Atom documents may name a CSS style sheet in an ``xml-stylesheet``
processing instruction, which renders them as a readable page in a browser and is
ignored by readers and validators.

Every item is bounded: its content is at most :attr:`FeedInfo.item_content_bytes`
of HTML (a longer article is carried as its standfirst and a link to it), and its
title and summary are cut to a tenth of that, so an item holds at most 1.2 times
the budget of text and no feed holds a text node that an XML parser refuses
(libxml2 refuses one over 10 MB), whatever the articles hold.
"""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from .articles import Article
from .settings import DEFAULTS
from .urls import FEED_FORMATS
from .version import VERSION

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_NS = "http://search.yahoo.com/mrss/"
RSS_TYPE = "application/rss+xml"
ATOM_TYPE = "application/atom+xml"
JSON_FEED_TYPE = "application/feed+json"
PAGING_RELS = ("first", "previous", "next", "last")
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
ITEM_CONTENT_BYTES: int = DEFAULTS["ITEM_CONTENT_BYTES"]
"""The most bytes of HTML an item's content holds, by default."""
LINE_SHARE = 10
"""A title or a summary is cut to this fraction of the content budget."""
ELLIPSIS = "\u2026"
FULL_ARTICLE_NOTE = "The full article is on the site:"

# feedgen formats RSS dates through locale.setlocale(), which is process-global:
# two threads rendering at once could see each other's locale.
_render_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Item:
    """An article ready to render: its body and absolute URLs resolved."""

    article: Article
    body: tuple[str, ...]
    url: str
    id: str
    image: str | None = None
    authors: tuple[tuple[str, str], ...] = ()
    """Each author's name as the article spells it, and their page; none when the site
    has no author either."""


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """What a feed says about itself."""

    id: str
    title: str
    description: str
    home_url: str
    self_url: str
    language: str
    author: str
    updated: datetime = EPOCH
    links: Mapping[str, str] = field(default_factory=dict)
    """RFC 5005 paging links by relation: first, previous, next, last."""
    ttl_minutes: int | None = None
    category_url: str | None = None
    """Base of tag page URLs, used as the Atom category scheme."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Tag labels by key (the first spelling met); an article's own spelling otherwise."""
    item_content_bytes: int = ITEM_CONTENT_BYTES
    """The most bytes of HTML an item's content holds; title and summary get a tenth of it."""
    feed_url: str | None = None
    """The feed's own URL, whatever page this is (JSON Feed's ``feed_url``); ``self_url``
    when not given."""
    icon_url: str | None = None
    """A small square icon: Atom ``icon``, JSON Feed ``icon``."""
    favicon_url: str | None = None
    """JSON Feed's ``favicon``; the icon when not given."""
    logo_url: str | None = None
    """Atom ``logo``."""
    rss_image_url: str | None = None
    """The RSS channel ``image`` (at most 144 pixels wide and 400 high)."""
    rss_image_size: tuple[int, int] | None = None
    """Its width and height in pixels, when known: RSS says 88 by 31 when not given."""
    stylesheet_url: str | None = None
    """A CSS style sheet for browsers, named in RSS and Atom by ``xml-stylesheet``."""
    hubs: tuple[str, ...] = ()
    """WebSub hubs to advertise (``rel="hub"``); the self link is the topic."""

    @property
    def line_bytes(self) -> int:
        """The most bytes of an item's title, and of its summary."""
        return self.item_content_bytes // LINE_SHARE

    def label(self, key: str, spelling: str) -> str:
        return self.labels.get(key, spelling)


def clip(text: str, budget: int) -> str:
    """``text`` if it fits in ``budget`` bytes of UTF-8, else its start and an ellipsis.

    Only the first ``budget`` characters are ever looked at.
    """
    if len(text) <= budget // 4 or (len(text) <= budget and len(text.encode()) <= budget):
        return text
    room = max(0, budget - len(ELLIPSIS.encode()))
    return text[:room].encode()[:room].decode(errors="ignore").rstrip() + ELLIPSIS


def item_content(item: Item, budget: int = ITEM_CONTENT_BYTES) -> str:
    """The item's content: the whole article as HTML if it fits in ``budget`` bytes, else
    the standfirst and a link to the article on the site, saying so.

    The work is bounded by the budget, not by the size of the article.
    """
    article = item.article
    standfirst = clip(article.standfirst, budget // LINE_SHARE)  # as the item's summary is
    texts = (
        standfirst,
        article.caption or "",
        article.credit or "",
        item.image or "",
        *item.body,
    )
    # Escaping only lengthens and a character is at least a byte: past the budget already.
    if sum(map(len, texts)) <= budget:
        full = content_html(item, standfirst)
        if len(full) <= budget // 4 or len(full.encode()) <= budget:
            return full
    link = html.escape(item.url)
    note = f'<p>{FULL_ARTICLE_NOTE} <a href="{link}">{link}</a></p>'
    room = budget - len(note.encode()) - len(STANDFIRST_OPEN + STANDFIRST_CLOSE + "\n")
    lead = _clip_html(html.escape(standfirst, quote=False), room)
    return f"{STANDFIRST_OPEN}{lead}{STANDFIRST_CLOSE}\n{note}" if lead else note


def _clip_html(escaped: str, budget: int) -> str:
    """Escaped text cut to ``budget`` bytes, never inside a character reference."""
    if budget <= 0:
        return ""
    if len(escaped.encode()) <= budget:
        return escaped
    cut = clip(escaped, budget).removesuffix(ELLIPSIS)
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + ELLIPSIS


STANDFIRST_OPEN = '<p class="standfirst"><strong>'
STANDFIRST_CLOSE = "</strong></p>"
"""The standfirst leads the content, bold, so readers that strip classes still set it apart."""


def content_html(item: Item, standfirst: str | None = None) -> str:
    """The whole article as HTML: the standfirst (or the ``standfirst`` given, a cut
    one), the picture with its caption and credit (when there is a picture), then the
    body's paragraphs.

    Feeds carry :func:`item_content`, which bounds it.
    """
    article = item.article
    lead = html.escape(article.standfirst if standfirst is None else standfirst, quote=False)
    parts = [f"{STANDFIRST_OPEN}{lead}{STANDFIRST_CLOSE}"]
    if item.image:
        parts.append(figure_html(item.image, article))
    parts.extend(f"<p>{html.escape(p, quote=False)}</p>" for p in item.body)
    return "\n".join(parts)


def figure_html(image: str, article: Article) -> str:
    """The picture, then its caption and its credit as two paragraphs of the caption, so
    that no reader runs the credit onto the caption; each block on a line of its own."""
    alt = html.escape(article.caption or article.title)
    figure = ["<figure>", f'<img src="{html.escape(image)}" alt="{alt}">']
    lines = []
    if article.caption:
        lines.append(f'<p class="caption">{html.escape(article.caption, quote=False)}</p>')
    if article.credit:
        credit = html.escape(article.credit, quote=False)
        lines.append(f'<p class="credit"><small>Image: {credit}</small></p>')
    if lines:
        figure.append("<figcaption>\n" + "\n".join(lines) + "\n</figcaption>")
    figure.append("</figure>")
    # A line break between blocks: a reader that takes the text out of the HTML (for a
    # snippet, say) keeps "Paulo" and "Image:" apart.
    return "\n".join(figure)


class _PagingExtension(BaseExtension):  # type: ignore[misc]
    """Adds WebSub hubs and RFC 5005 paging relations as ``atom:link`` to an RSS channel."""

    def __init__(self) -> None:
        self.links: Mapping[str, str] = {}
        self.hubs: Sequence[str] = ()

    def extend_ns(self) -> dict[str, str]:
        return {"atom": ATOM_NS}

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        channel = feed[0]
        # Right after the self link, so the channel reads in a natural order.
        position = next(
            (i + 1 for i, el in enumerate(channel) if el.tag == f"{{{ATOM_NS}}}link"), 3
        )
        added: list[tuple[str, str, str | None]] = [(hub, "hub", None) for hub in self.hubs]
        added += [(self.links[rel], rel, RSS_TYPE) for rel in PAGING_RELS if rel in self.links]
        for offset, (href, rel, media_type) in enumerate(added):
            link = etree.Element(f"{{{ATOM_NS}}}link", href=href, rel=rel)
            if media_type:
                link.set("type", media_type)
            channel.insert(position + offset, link)
        return feed


class _NoEntryExtension(BaseEntryExtension):  # type: ignore[misc]
    pass


class _MediaExtension(BaseExtension):  # type: ignore[misc]
    def extend_ns(self) -> dict[str, str]:
        return {"media": MEDIA_NS}


class _MediaEntryExtension(BaseEntryExtension):  # type: ignore[misc]
    """One ``media:content`` per picture; feedgen's own wraps it in a one-child
    ``media:group``, which validators reject."""

    def __init__(self) -> None:
        self.image: str | None = None

    def _extend(self, entry: etree._Element) -> etree._Element:
        if self.image:
            etree.SubElement(entry, f"{{{MEDIA_NS}}}content", url=self.image, medium="image")
        return entry

    extend_rss = extend_atom = _extend


def _generator(items: Sequence[Item], info: FeedInfo, feed_type: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.register_extension("media", _MediaExtension, _MediaEntryExtension)
    fg.id(info.id)
    fg.title(info.title)
    fg.subtitle(info.description)
    fg.description(info.description)
    fg.language(info.language)
    fg.author({"name": info.author})
    # Atom's generator carries its version apart; RSS's is one text.
    if feed_type == ATOM_TYPE:
        fg.generator("feedsvc", version=VERSION)
    else:
        fg.generator(f"feedsvc {VERSION}")
    fg.updated(info.updated)
    fg.lastBuildDate(info.updated)
    if info.ttl_minutes:
        fg.ttl(info.ttl_minutes)
    if feed_type == ATOM_TYPE:
        # First: readers take an Atom feed's first link for the site's address.
        fg.link(href=info.home_url, rel="alternate", type="text/html")
        fg.link(href=info.self_url, rel="self", type=feed_type)
        for hub in info.hubs:
            fg.link(href=hub, rel="hub")
        for rel in PAGING_RELS:
            if rel in info.links:
                fg.link(href=info.links[rel], rel=rel, type=feed_type)
    else:
        fg.link(href=info.self_url, rel="self", type=feed_type)
        # Last, because feedgen's RSS <link> is whichever link was added last.
        fg.link(href=info.home_url, rel="alternate", type="text/html")
    if info.icon_url:
        fg.icon(info.icon_url)
    # feedgen makes one picture both the RSS image and the Atom logo: each format gets
    # only its own, the RSS one small enough for RSS.
    if feed_type == RSS_TYPE and info.rss_image_url:
        # RSS requires the image's title and link: the channel's own, as readers expect.
        width, height = (str(n) for n in info.rss_image_size) if info.rss_image_size else ("", "")
        fg.image(
            url=info.rss_image_url, title=info.title, link=info.home_url, width=width, height=height
        )
    elif feed_type == ATOM_TYPE and info.logo_url:
        fg.logo(info.logo_url)
    for item in items:
        _add_entry(fg, item, info, feed_type)
    return fg


def _add_entry(fg: FeedGenerator, item: Item, info: FeedInfo, feed_type: str) -> None:
    article = item.article
    fe = fg.add_entry(order="append")
    fe.id(item.id)
    fe.guid(item.id, permalink=False)
    fe.title(clip(article.title, info.line_bytes))
    fe.link(href=item.url, rel="alternate", type="text/html")
    fe.published(article.published)
    fe.updated(article.updated)
    summary = clip(article.standfirst, info.line_bytes)
    if feed_type == RSS_TYPE:
        # RSS's description is HTML and the standfirst plain text: escaped as HTML here,
        # then as XML, as the RSS Board's encoding examples do. Escaped only as XML, a
        # reader takes "<ABC> CORP" for a tag and drops it, and shows "AT&amp;T".
        fe.description(html.escape(summary, quote=False), isSummary=True)
    else:
        fe.summary(summary)  # Atom's summary is text (no type): escaped as XML alone
    fe.content(item_content(item, info.item_content_bytes), type="html")
    scheme = {"scheme": info.category_url} if info.category_url else {}
    categories = [
        {"term": tag.key, "label": info.label(tag.key, tag.label), **scheme} for tag in article.tags
    ]
    if categories:  # in one call: feedgen redoes its whole RSS list on each
        fe.category(categories)
    # Per item in every format: readers show an entry's own author, never the feed's.
    # Atom gives each author their page; RSS's dc:creator is the line as written.
    fe.author([{"name": name, "uri": page} for name, page in item.authors] or _unnamed(item, info))
    fe.dc.dc_creator(article.author or info.author)
    if item.image:
        fe.media.image = item.image


def render_rss(items: Sequence[Item], info: FeedInfo) -> bytes:
    """An RSS 2.0 document with content:encoded, dc:creator and media:content."""
    with _render_lock:
        fg = _generator(items, info, RSS_TYPE)
        fg.register_extension("paging", _PagingExtension, _NoEntryExtension, atom=False)
        fg.paging.links = info.links
        fg.paging.hubs = info.hubs
        document = plain_text_references(bytes(fg.rss_str(pretty=False)))
        return with_stylesheet(document, info.stylesheet_url)


def render_atom(items: Sequence[Item], info: FeedInfo) -> bytes:
    """An Atom 1.0 (RFC 4287) document."""
    fg = _generator(items, info, ATOM_TYPE)  # Atom dates need no locale
    return with_stylesheet(bytes(fg.atom_str(pretty=False)), info.stylesheet_url)


_TITLE = re.compile(rb"<title>([^<]*)</title>")
_HEX_REFERENCES = {b"&amp;": b"&#x26;", b"&lt;": b"&#x3C;", b"&gt;": b"&#x3E;"}
_NAMED = re.compile(rb"&(?:amp|lt|gt);")


def plain_text_references(document: bytes) -> bytes:
    """RSS titles with ``&``, ``<`` and ``>`` as hexadecimal character references, as the
    RSS Board's profile asks of plain-text elements (the W3C validator's CharacterData
    warning): an XML parser reads the same text, and a title is told from HTML."""

    def hexed(title: re.Match[bytes]) -> bytes:
        text = _NAMED.sub(lambda m: _HEX_REFERENCES[m.group()], title.group(1))
        return b"<title>" + text + b"</title>"

    return _TITLE.sub(hexed, document) if b"&" in document else document


def with_stylesheet(document: bytes, stylesheet_url: str | None) -> bytes:
    """``document`` with an ``xml-stylesheet`` instruction for ``stylesheet_url`` right
    after its XML declaration, where a browser looks for it (none when not given)."""
    if not stylesheet_url:
        return document
    end = document.index(b"?>") + 2
    href = html.escape(stylesheet_url).encode()
    instruction = b'\n<?xml-stylesheet type="text/css" href="' + href + b'"?>'
    return document[:end] + instruction + document[end:]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def render_json(items: Sequence[Item], info: FeedInfo) -> bytes:
    """A JSON Feed 1.1 document; ``next_url`` carries the paging link."""
    feed: dict[str, object] = {
        "version": JSON_FEED_VERSION,
        "title": info.title,
        "home_page_url": info.home_url,
        # The feed's own URL on every page: a reader subscribes to it, and pages by next_url.
        "feed_url": info.feed_url or info.self_url,
        "description": info.description,
        "language": info.language,
        # No top-level authors: every item names its own, and a reader such as Miniflux
        # credits each item to its authors and the feed's together ("Mary O'Brien,
        # feedsvc newsroom"). JSON Feed 1.1 takes an item's own authors as complete.
    }
    if info.icon_url:
        feed["icon"] = info.icon_url
    if info.favicon_url or info.icon_url:
        feed["favicon"] = info.favicon_url or info.icon_url
    if "next" in info.links:
        feed["next_url"] = info.links["next"]
    if info.hubs:
        feed["hubs"] = [{"type": "WebSub", "url": hub} for hub in info.hubs]
    feed["items"] = [_json_item(item, info) for item in items]
    return to_json(feed)


def to_json(document: object) -> bytes:
    """Compact UTF-8 JSON, as every JSON document here is served."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _json_item(item: Item, info: FeedInfo) -> dict[str, object]:
    article = item.article
    entry: dict[str, object] = {
        "id": item.id,
        "url": item.url,
        "title": clip(article.title, info.line_bytes),
        "summary": clip(article.standfirst, info.line_bytes),
        "content_html": item_content(item, info.item_content_bytes),
        "date_published": rfc3339(article.published),
        "date_modified": rfc3339(article.updated),
        "tags": [info.label(tag.key, tag.label) for tag in article.tags],
    }
    entry["authors"] = [{"name": name, "url": page} for name, page in item.authors] or (
        _unnamed(item, info)
    )
    if item.image:
        entry["image"] = item.image
    if article.lang:
        entry["language"] = article.lang
    return entry


def _unnamed(item: Item, info: FeedInfo) -> list[dict[str, str]]:
    """An item's author when the index gave it none: the line as written, or the site's."""
    return [{"name": item.article.author or info.author}]


Renderer = Callable[[Sequence[Item], FeedInfo], bytes]


@dataclass(frozen=True, slots=True)
class Format:
    """One feed format: its URL extension, media type, name for people and renderer."""

    name: str
    """The key and the URL extension: ``feed.<name>``."""
    media_type: str
    label: str
    render: Renderer

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8"


_RENDERERS = {
    f.name: f
    for f in (
        Format("rss", RSS_TYPE, "RSS", render_rss),
        Format("atom", ATOM_TYPE, "Atom", render_atom),
        Format("json", JSON_FEED_TYPE, "JSON Feed", render_json),
    )
}
FORMATS: dict[str, Format] = {name: _RENDERERS[name] for name in FEED_FORMATS}
"""Every format served (:data:`feedsvc.urls.FEED_FORMATS`), in the order pages list them."""
