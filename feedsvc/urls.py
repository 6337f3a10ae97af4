"""Where everything lives: every path the service answers, built and parsed in one place.

A *scope* is what a feed or a listing is about: the whole site, or one tag. The
site's resources live at the root, a tag's under ``/tags/<key>/`` with its key
percent-encoded; each scope has its page (``<scope>/``), its feeds
(``<scope>/feed.<format>``) and its headlines (``<scope>/headlines.json``).
:func:`parse` reads a canonical path back into its scope and resource.

A new kind of scope (an author, say) is one more :class:`Shape`
in :data:`SHAPES`: the builders, the parser, the routes, the WebSub topics and the
fast path's lookup follow from it. Plain data, no Flask.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote, quote_plus, urlencode

from .combinations import AND, OR, Combination, is_combination
from .combinations import parse as parse_combination
from .search import MARKER as SEARCH_MARKER
from .search import is_search
from .settings import Settings

SITE = ""
"""The scope of the whole site (the index names scopes by these strings)."""

FEED_FORMATS = ("rss", "atom", "json")
"""Every feed format, each at ``feed.<name>`` under its scope."""
PREFERRED_FORMAT = "atom"
"""The format offered first (autodiscovery, the OPML): Atom says whether each text is
text or HTML, where readers guess an RSS title's (docs/http.md, "Text as written")."""

FEED = "feed"
PAGE = "page"
HEADLINES = "headlines"
"""The resources every scope has (:attr:`Place.resource`)."""
HEADLINES_FILE = "headlines.json"

TAG_INDEX_PATH = "/tags/"
"""The page listing every tag."""
AUTHOR_INDEX_PATH = "/authors/"
"""The page listing every author, the latest to publish first."""
AUTHOR_OPML_PATH = "/authors.opml"
"""Every author's feed, for a feed reader to import."""
TAG_LIST_PATH = "/tags.json"
"""Every tag as JSON, with its page, headlines and feeds."""
OPML_PATH = "/feeds.opml"
HEALTH_PATH = "/healthz"
OEMBED_PATH = "/oembed"
WIDGET_PATH = "/embed.js"
FEED_STYLE_PATH = "/feed.css"
ICON_PATH = "/icon.png"
RSS_IMAGE_PATH = "/icon-144.png"
FAVICON_PATH = "/favicon.ico"
RSS_IMAGE_PIXELS = 144
"""The built-in RSS channel image's width and height (``static/icon-144.png``)."""


@dataclass(frozen=True, slots=True)
class Shape:
    """One kind of scope below the site: its resources live under ``<prefix><key>/``.

    The index names a scope of this kind ``<marker><key>``. The tags' marker is
    empty (a tag's scope is its key), so every other kind needs a marker of its own,
    one no tag key starts with, and its shape comes before the tags' in :data:`SHAPES`.
    """

    kind: str
    """The name of the key in route rules (``<tag>``)."""
    prefix: str
    marker: str = ""
    safe: str = ""
    """What a key may hold unescaped in a path: a combination's operators."""
    combines: bool = False
    """Whether its scopes include combinations (:mod:`feedsvc.combinations`)."""

    def owns(self, scope: str) -> bool:
        if (not self.combines and is_combination(scope)) or is_search(scope):
            return False
        return scope != SITE and scope.startswith(self.marker)

    def key(self, scope: str) -> str:
        return scope[len(self.marker) :]

    def scope(self, key: str) -> str:
        return self.marker + key

    def path(self, scope: str) -> str:
        return f"{self.prefix}{quote(self.key(scope), safe=self.safe)}/"

    def rule(self, rest: str = "") -> str:
        """The route rule of a resource of every scope of this kind (Werkzeug's syntax)."""
        return f"{self.prefix}<{self.kind}>/{rest}"


TAGS = Shape("tag", TAG_INDEX_PATH, safe=f"{AND}{OR}", combines=True)
"""A tag, or a combination of tags (:mod:`feedsvc.combinations`): ``/tags/a+b/``."""
AUTHORS = Shape("author", AUTHOR_INDEX_PATH, marker="@")
"""An author: ``/authors/<key>/``, the key normalised as a tag's; ``@<key>`` in the index."""
SHAPES: tuple[Shape, ...] = (AUTHORS, TAGS)
"""Every kind of scope below the site, the tags' last (their empty marker owns any scope)."""


TOPIC = "tags/"
"""After an author's path, what leads to their articles on a topic (a tag or a
combination of tags): ``/authors/ana-lima/tags/syria/``."""


def on_topic(scope: str) -> tuple[str, str] | None:
    """An author's articles on a topic, as (the author's scope, the topic's); ``None``
    for any other scope. In the index it is a combination whose terms are the author
    and the topic's (:func:`with_author`)."""
    if AUTHORS.marker not in scope or not is_combination(scope):
        return None
    combination = parse_combination(scope)
    authors = [group for group in combination.groups if AUTHORS.owns(group[0])]
    if len(authors) != 1 or len(authors[0]) != 1:
        return None
    rest = Combination(
        tuple(group for group in combination.groups if group is not authors[0]),
        combination.excluded,
    )
    return authors[0][0], rest.single or rest.text


def with_author(author: str, topic: str) -> str:
    """The scope of an author's articles on a topic (a tag or a combination's canonical
    text): the topic's combination with the author as one more term, terms sorted."""
    combination = parse_combination(topic)
    groups = sorted([*combination.groups, (author,)], key=OR.join)
    return Combination(tuple(groups), combination.excluded).text


def shape_of(scope: str) -> Shape | None:
    """The shape of a scope; ``None`` for the site."""
    return next((shape for shape in SHAPES if shape.owns(scope)), None)


# Paths ---------------------------------------------------------------------


SEARCH_PATH = "/search/"
"""A search's page; its feeds and headlines sit beside it, the query in ``?q=``."""


SCOPE_PATHS = 256
"""Scope paths remembered, the latest asked: a list of every tag asks for each tag's
page, headlines and feeds in turn (five times one path), and made-up scopes never
grow it."""


def resource_path(scope: str, file: str) -> str:
    """The path of one of a scope's resources (``""``: its page), with the query string a
    search's resources take."""
    if is_search(scope):
        return f"{SEARCH_PATH}{file}?q={quote_plus(scope[len(SEARCH_MARKER) :])}"
    return scope_path(scope) + file


@functools.lru_cache(maxsize=SCOPE_PATHS)
def scope_path(scope: str) -> str:
    """The path of a scope's page, which its other resources sit beside (for a search,
    with its query)."""
    if is_search(scope):
        return resource_path(scope, "")
    if (topical := on_topic(scope)) is not None:
        author, topic = topical
        return f"{AUTHORS.path(author)}{TOPIC}{quote(topic, safe=TAGS.safe)}/"
    shape = shape_of(scope)
    return "/" if shape is None else shape.path(scope)


def feed_path(scope: str, fmt: str) -> str:
    """The path of a scope's feed in a format: also its WebSub topic on the base URL."""
    return resource_path(scope, f"feed.{fmt}")


def headlines_path(scope: str) -> str:
    return resource_path(scope, HEADLINES_FILE)


def site_rule(rest: str = "") -> str:
    """The route rule of one of the site's resources."""
    return "/" + rest


ARTICLE_RULE = "/articles/<slug>"


def article_path(slug: str) -> str:
    return f"/articles/{quote(slug, safe='')}"


def item_id(authority: str, name: str) -> str:
    """The id of an article's items: a tag URI (RFC 4151) of the authority fixed when the
    index was made and the article's ``name`` (its ``uid``, else its slug). It names the
    article, not where it is served from or what its file is called, so it survives a
    move to another host and renames."""
    return f"tag:{authority}:articles/{quote(name, safe='')}"


def feed_id(authority: str, scope: str) -> str:
    """The id of a scope's feed, a tag URI as items' are."""
    if is_search(scope):
        return f"tag:{authority}:{scope_path(scope).strip('/')}"
    if on_topic(scope) is not None:
        return f"tag:{authority}:{quote(scope_path(scope).strip('/'), safe='/' + TAGS.safe)}"
    shape = shape_of(scope)
    if shape is None:
        return f"tag:{authority}:feed"
    key = quote(shape.key(scope), safe="/" + shape.safe)
    return f"tag:{authority}:{shape.prefix.strip('/')}/{key}"


EMBED_TAG_RULE = f"/embed{TAGS.prefix}<tag>"


def embed_path(tag: str) -> str:
    """The iframe page of a tag's headlines."""
    return f"/embed{TAGS.prefix}{quote(tag, safe=TAGS.safe)}"


# Parsing -------------------------------------------------------------------


class Place(NamedTuple):
    """What a canonical path is: a scope's page, feed or headlines. (A tuple: the fast
    path parses every request's path.)"""

    scope: str
    resource: str
    """:data:`PAGE`, :data:`FEED` or :data:`HEADLINES`."""
    format: str | None = None
    """The feed's format, for a feed."""


_FILES = {f"feed.{name}": (FEED, name) for name in FEED_FORMATS} | {
    "": (PAGE, None),
    HEADLINES_FILE: (HEADLINES, None),
}


def parse(path: str) -> Place | None:
    """The scope and resource of a path as the builders above make it, its key decoded
    (as a server gives a path); ``None`` for any other path.

    The key is not checked against the index: another spelling of a tag parses as
    that spelling, for the caller to resolve.
    """
    directory, _, file = path.rpartition("/")
    found = _FILES.get(file)
    if found is None or not path.startswith("/"):
        return None
    resource, fmt = found
    if directory == "":
        return Place(SITE, resource, fmt)
    for shape in SHAPES:
        if directory.startswith(shape.prefix):  # every prefix ends with a slash
            key = directory[len(shape.prefix) :]
            if shape is AUTHORS and f"/{TOPIC}" in key:
                author, _, topic = key.partition(f"/{TOPIC}")
                if not author or not topic or "/" in topic or "/" in author:
                    return None
                return Place(with_author(AUTHORS.scope(author), topic), resource, fmt)
            if not key or "/" in key:
                return None
            return Place(shape.marker + key, resource, fmt)
    return None


# Absolute URLs ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Icons:
    """The site's pictures as absolute URLs: the settings', else the built-in ones."""

    icon: str
    """Square: Atom ``icon``, JSON Feed ``icon``, pages' icon."""
    favicon: str
    """Small: JSON Feed ``favicon``; ``/favicon.ico`` unless an icon is configured."""
    logo: str
    """Atom ``logo``; the icon unless a logo is configured."""
    rss_image: str
    """The RSS channel ``image``: the logo, else the icon when configured, else the
    built-in icon at 144 pixels (RSS 2.0 allows at most 144 wide and 400 high)."""
    rss_image_size: tuple[int, int] | None
    """Its width and height, when known (the built-in one's)."""


class Urls:
    """Absolute URLs on the public base URL, which no request header changes."""

    def __init__(self, base_url: str, icon_url: str | None = None, logo_url: str | None = None):
        self.base_url = base_url
        self.home = self.to("/")
        self.tag_index = self.to(TAG_INDEX_PATH)
        self.author_index = self.to(AUTHOR_INDEX_PATH)
        self.author_opml = self.to(AUTHOR_OPML_PATH)
        self.search = self.to(SEARCH_PATH)
        self.opml = self.to(OPML_PATH)
        self.widget = self.to(WIDGET_PATH)
        self.favicon_file = self.to(FAVICON_PATH)
        icon = self.absolute(icon_url) or self.to(ICON_PATH)
        configured = self.absolute(logo_url) or self.absolute(icon_url)
        self.icons = Icons(
            icon=icon,
            favicon=self.absolute(icon_url) or self.to(FAVICON_PATH),
            logo=self.absolute(logo_url) or icon,
            rss_image=configured or self.to(RSS_IMAGE_PATH),
            rss_image_size=None if configured else (RSS_IMAGE_PIXELS, RSS_IMAGE_PIXELS),
        )

    @classmethod
    def of(cls, settings: Settings) -> Urls:
        return cls(settings.base_url, settings.icon_url, settings.logo_url)

    def to(self, path: str, **query: object) -> str:
        """The absolute URL of ``path``, with the query arguments that are not ``None``."""
        given = {k: v for k, v in query.items() if v is not None}
        joined = "&" if "?" in path else "?"  # a search's path holds its query
        return self.base_url + path + (f"{joined}{urlencode(given)}" if given else "")

    def absolute(self, link: str | None) -> str | None:
        """A link as written in an article or a setting: a path becomes absolute."""
        if link and link.startswith("/"):
            return self.base_url + link
        return link

    def scope(self, scope: str, **query: object) -> str:
        return self.to(scope_path(scope), **query)

    def feed(self, scope: str, fmt: str, **query: object) -> str:
        return self.to(feed_path(scope, fmt), **query)

    def feeds(self, scope: str) -> dict[str, str]:
        """A scope's feed in every format, by format."""
        return {fmt: self.feed(scope, fmt) for fmt in FEED_FORMATS}

    def headlines(self, scope: str) -> str:
        return self.to(headlines_path(scope))

    def article(self, slug: str) -> str:
        return self.to(article_path(slug))

    def embed(self, tag: str, **query: object) -> str:
        return self.to(embed_path(tag), **query)

    def oembed(self, page: str) -> str:
        """The oEmbed endpoint's answer for a page."""
        return self.to(OEMBED_PATH, url=page, format="json")
