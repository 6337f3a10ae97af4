"""Partner embeds and discovery: headlines JSON, the widget, the iframe page, oEmbed, OPML.

Everything here is public and read-only. Scope-versioned resources go through
:func:`feedsvc.views.kit.cached`, so they get the feeds' validators, compression, 304s,
CORS headers and the fast path; the iframe page is an HTML page like the others.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Mapping
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

from flask import Response, request

from ..articles import Article
from ..combinations import CombinationError, UnknownTag, is_combination
from ..feeds import rfc3339, to_json
from ..responses import Rendered
from ..search import is_search
from ..store import SITE, STATIC, Snapshot
from ..urls import (
    AUTHOR_OPML_PATH,
    AUTHORS,
    EMBED_TAG_RULE,
    HEADLINES_FILE,
    OEMBED_PATH,
    OPML_PATH,
    PAGE,
    PREFERRED_FORMAT,
    SEARCH_PATH,
    TAG_LIST_PATH,
    TAGS,
    TOPIC,
    WIDGET_PATH,
    embed_path,
    on_topic,
    parse,
    shape_of,
    site_rule,
)
from .html import page
from .kit import (
    Routes,
    absolute,
    cached,
    fail,
    known_scope,
    limit_argument,
    moved,
    quoted,
    resolve_author,
    resolve_scope,
    resolve_search,
    resolve_topic,
    scope_of,
    site,
    snapshot,
    whole_number,
)
from .policy import source_hash

blueprint = Routes("embeds", __name__)

STATIC_DIR = Path(__file__).parent.parent / "static"
WIDGET = STATIC_DIR / "embed.js"
JSON_TYPE = "application/json; charset=utf-8"
OPML_TYPE = "text/x-opml; charset=utf-8"
OEMBED_WIDTH = 400
OEMBED_HEIGHT = 460
OEMBED_ITEMS = 5
MAX_DIMENSION = 10_000

EMBED_CSS = (STATIC_DIR / "embed-frame.css").read_text("utf-8")
# No script may run in the iframe page, and any site may frame it.
EMBED_CSP = (
    f"default-src 'none'; style-src {source_hash(EMBED_CSS)}; "
    "frame-ancestors *; base-uri 'none'; form-action 'none'"
)


def sort_key(label: str) -> str:
    return unicodedata.normalize("NFKD", label).casefold()


def headline(article: Article) -> dict[str, object]:
    entry: dict[str, object] = {
        "title": article.title,
        "url": site().urls.article(article.slug),
        "date": rfc3339(article.published),
        "updated": rfc3339(article.updated),
        "standfirst": article.standfirst,
        "author": article.author or site().settings.author,
    }
    authors = [{"name": a.label, "url": site().urls.scope(a.key)} for a in article.authors]
    if authors:
        entry["author_url"] = authors[0]["url"]
        entry["authors"] = authors
    image = absolute(article.image)
    for name, value in (("image", image), ("caption", article.caption), ("credit", article.credit)):
        if value:
            entry[name] = value
    return entry


def serve_headlines(index: Snapshot, scope: str) -> Response:
    count = limit_argument() or site().settings.headline_items

    author, topic = on_topic(scope) or (None, scope if shape_of(scope) is TAGS else None)
    if shape_of(scope) is AUTHORS:
        author = scope

    def render() -> Rendered:
        shown = index.newest(scope, count)
        urls = site().urls
        document = {
            "version": 1,
            "title": site().syndication.title(index, scope),
            "tag": topic,
            "author": None if author is None else AUTHORS.key(author),
            **({"q": index.label(scope)} if is_search(scope) else {}),
            "label": site().syndication.label(index, scope),
            "link": urls.scope(scope),
            "site": {"name": site().settings.site_title, "url": urls.home},
            "feeds": urls.feeds(scope),
            "items": [headline(a) for a in shown],
        }
        return Rendered(to_json(document), JSON_TYPE, index.changed(scope))

    return cached(index, scope, ("headlines", scope, count), render)


@blueprint.route(site_rule(HEADLINES_FILE))
def site_headlines() -> Response:
    if "q" in request.args:  # the site's articles that match: a search's headlines
        return moved(f"{SEARCH_PATH}{HEADLINES_FILE}")
    return serve_headlines(snapshot(), SITE)


@blueprint.route(f"{SEARCH_PATH}{HEADLINES_FILE}")
def search_headlines() -> Response:
    index = snapshot()
    return serve_headlines(index, resolve_search(HEADLINES_FILE))


@blueprint.route(TAGS.rule(HEADLINES_FILE))
def tag_headlines(tag: str) -> Response:
    index = snapshot()
    return serve_headlines(index, resolve_scope(index, tag, HEADLINES_FILE))


@blueprint.route(AUTHORS.rule(HEADLINES_FILE))
def author_headlines(author: str) -> Response:
    index = snapshot()
    return serve_headlines(index, resolve_author(index, author, HEADLINES_FILE))


@blueprint.route(AUTHORS.rule(f"{TOPIC}<tag>/{HEADLINES_FILE}"))
def author_topic_headlines(author: str, tag: str) -> Response:
    index = snapshot()
    return serve_headlines(index, resolve_topic(index, author, tag, HEADLINES_FILE))


@blueprint.route(WIDGET_PATH)
def widget() -> Response:
    def render() -> Rendered:
        body = WIDGET.read_bytes()
        return Rendered(body, "application/javascript; charset=utf-8", WIDGET.stat().st_mtime)

    return cached(snapshot(), STATIC, ("embed.js",), render)


@blueprint.route(EMBED_TAG_RULE)
def embed_page(tag: str) -> Response:
    """A tag's (or a combination's) headlines as a self-contained page for an
    ``<iframe>``: no script at all."""
    index = snapshot()
    key = known_scope(index, tag)
    if key != tag:
        return moved(embed_path(key))
    limit = limit_argument()
    return page(
        "embed.html",
        policy=EMBED_CSP,
        scope=key,
        title=site().syndication.title(index, key),
        label=index.label(key),
        link=site().urls.scope(key),
        articles=index.newest(key, limit or site().settings.headline_items),
        css=EMBED_CSS,
        rfc3339=rfc3339,
    )


MAX_PAGE_URL = 2048
"""The longest tag page URL oEmbed considers: real ones are short, and a long one
would only cost memory (Python memoises what urlsplit parses) and time."""


def tag_of_page_url(index: Snapshot, address: str) -> str | None:
    """The tag whose page ``address`` is (either scheme, any spelling of the tag), or ``None``.

    A malformed or overlong address is no tag page.
    """
    address = address.strip()
    if len(address) > MAX_PAGE_URL:
        return None
    base = urlsplit(site().settings.base_url)
    try:
        parts = urlsplit(address)
    except ValueError:  # "http://[": an unclosed IPv6 address, and the like
        return None
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != base.netloc.lower():
        return None
    base_path = base.path.rstrip("/")
    if not parts.path.startswith(base_path + "/"):
        return None
    path = parts.path[len(base_path) :]
    place = parse(path if path.endswith("/") else path + "/")  # the slash is optional
    if place is None or place.resource != PAGE or shape_of(place.scope) is not TAGS:
        return None
    try:
        return scope_of(index, unquote(TAGS.key(place.scope)))
    except (UnknownTag, CombinationError):
        return None


def dimension(name: str) -> int:
    """``maxwidth`` or ``maxheight`` in pixels; empty or absent means no limit."""
    if not request.args.get(name):
        return MAX_DIMENSION
    return whole_number(name, 1, MAX_DIMENSION) or MAX_DIMENSION


@blueprint.route(OEMBED_PATH)
def oembed() -> Response:
    """oEmbed 1.0 for tag page URLs: a ``rich`` response whose html is the iframe."""
    address = request.args.get("url", "")
    if not address.strip():
        fail(400, "url is required: the address of a tag page")
    if request.args.get("format", "json") != "json":
        fail(501, "only format=json is available")
    width = min(OEMBED_WIDTH, dimension("maxwidth"))
    height = min(OEMBED_HEIGHT, dimension("maxheight"))
    index = snapshot()
    key = tag_of_page_url(index, address)
    if key is None:
        fail(404, "not the address of a tag page on this site")

    def render() -> Rendered:
        settings = site().settings
        title = site().syndication.title(index, key)
        src = site().urls.embed(key, limit=OEMBED_ITEMS)
        frame = (
            f'<iframe src="{html.escape(src)}" width="{width}" height="{height}" '
            f'title="{html.escape(title)}" style="border:0" loading="lazy"></iframe>'
        )
        document = {
            "version": "1.0",
            "type": "rich",
            "title": title,
            "provider_name": settings.site_title,
            "provider_url": site().urls.home,
            "cache_age": settings.feed_max_age,
            "html": frame,
            "width": width,
            "height": height,
        }
        return Rendered(to_json(document), JSON_TYPE, index.changed(key))

    return cached(index, key, ("oembed", key, width, height), render)


def opml_title(site_title: str, label: str, scope: str) -> str:
    return site_title if scope == SITE else f"{site_title} \u2014 {label}"


@blueprint.route(OPML_PATH)
def opml() -> Response:
    """OPML 2.0: the site feed and every tag feed, or the tags asked for, as RSS, in one
    folder titled with the site."""
    index = snapshot()
    wanted: list[str] | None = None
    if "tags" in request.args or "tag" in request.args:
        wanted = []
        # In ?tags= commas part the feeds: each a tag, or a combination without OR (a +
        # in a query string arrives as a space, which a combination reads as +). Each
        # ?tag= is one feed: a tag or any combination, its commas an OR.
        names = request.args["tags"].split(",") if "tags" in request.args else []
        for name in [*names, *request.args.getlist("tag")]:
            try:
                key = scope_of(index, name)
            except UnknownTag as unknown:
                fail(400, f"tags: no tag {quoted(unknown.name.strip())}")
            except CombinationError as error:
                fail(400, f"tags: {error}")
            if key not in wanted:
                wanted.append(key)
    minimum = least_listed(index)
    chosen = tuple(wanted) if wanted is not None else None

    def render() -> Rendered:
        if chosen is not None:  # only those: a made-up list costs what it names
            scopes = [k for k in chosen if is_combination(k) or index.count(k) >= minimum]
            return opml_of(index, scopes, "feeds", {})
        summaries = [tag for tag in index.tags_by_count() if tag.count >= minimum]
        # Accented letters sort with their base letter: "São Paulo" before "Syria".
        summaries.sort(key=lambda tag: (sort_key(tag.label), tag.key))
        labels = {tag.key: tag.label for tag in summaries}
        return opml_of(index, [SITE, *labels], "feeds", labels)

    return cached(index, SITE, ("opml", chosen, minimum), render)


def least_listed(index: Snapshot, authors: bool = False) -> int:
    """``?min=N`` as the least count of at least N that a tag (or an author) has: every
    minimum from one count to the next lists the same feeds, so one key (and one render)
    serves them all, and past the busiest one serves every larger N."""
    found = index.least_count(whole_number("min", 0) or 0, authors)
    return index.count(SITE) + 1 if found is None else found


@blueprint.route(AUTHOR_OPML_PATH)
def author_opml() -> Response:
    """OPML 2.0: every author's feed as :func:`opml` lists tags, by name; ``?min=N``
    lists only authors of at least N articles."""
    index = snapshot()
    minimum = least_listed(index, authors=True)

    def render() -> Rendered:
        authors = [a for a in index.authors_by_date() if a.count >= minimum]
        authors.sort(key=lambda author: (sort_key(author.label), author.key))
        labels = {author.key: author.label for author in authors}
        return opml_of(index, list(labels), "authors' feeds", labels)

    return cached(index, SITE, ("author-opml", minimum), render)


def opml_of(index: Snapshot, scopes: list[str], what: str, labels: Mapping[str, str]) -> Rendered:
    """An OPML 2.0 document of these scopes' feeds, in one folder titled with the site;
    ``what`` they are, for its title. A scope's label comes from ``labels`` when there,
    else from the index (a query each: for a few scopes, never for every tag)."""
    settings = site().settings
    updated = index.changed(SITE)
    root = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "title").text = f"{settings.site_title}: {what}"
    ElementTree.SubElement(head, "dateModified").text = formatdate(updated, usegmt=True)
    ElementTree.SubElement(head, "ownerName").text = settings.author
    ElementTree.SubElement(head, "docs").text = "https://opml.org/spec2.opml"
    body = ElementTree.SubElement(root, "body")
    # One folder titled with the site: readers file the feeds under it. Only "text":
    # an outline with more attributes needs a type (the W3C validator says so).
    folder = ElementTree.SubElement(body, "outline", text=settings.site_title)
    urls = site().urls
    for scope in scopes:
        # "Site — Tag": a tag feed's name says whose it is, in any reader's list.
        label = opml_title(settings.site_title, labels.get(scope) or index.label(scope), scope)
        ElementTree.SubElement(
            folder,
            "outline",
            type="rss",
            text=label,
            title=label,
            # Atom: it says whether a title is text or HTML, and RSS does not
            # (docs/http.md, "Text as written"); "rss" is OPML's type for any feed.
            xmlUrl=urls.feed(scope, PREFERRED_FORMAT),
            htmlUrl=urls.scope(scope),
        )
    ElementTree.indent(root)
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, "unicode")
    return Rendered((text + "\n").encode(), OPML_TYPE, updated)


@blueprint.route(TAG_LIST_PATH)
def tags_json() -> Response:
    """Every tag with its label, article count, newest article date and feed URLs."""

    index = snapshot()

    def render() -> Rendered:
        urls = site().urls
        tags = [
            {
                "key": tag.key,
                "label": tag.label,
                "count": tag.count,
                "newest": rfc3339(tag.newest),
                "url": urls.scope(tag.key),
                "headlines": urls.headlines(tag.key),
                "feeds": urls.feeds(tag.key),
            }
            for tag in index.tags_by_count()
        ]
        document: dict[str, object] = {
            "version": 1,
            "site": {"name": site().settings.site_title, "url": urls.home},
            "tags": tags,
        }
        return Rendered(to_json(document), JSON_TYPE, index.changed(SITE))

    return cached(index, SITE, ("tags.json",), render)
