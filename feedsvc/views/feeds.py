"""Feed routes: the site's and each tag's feeds in every format, paged, and their aliases.

Feeds are made by :class:`feedsvc.syndication.Syndication`; this module reads what a
URL asks for, hands the rendering to the cache, and finds kept first pages for the
fast path.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Response

from ..cache import Located
from ..feeds import FORMATS
from ..responses import Rendered
from ..settings import Settings
from ..store import SITE, Snapshot
from ..syndication import PastTheEnd, feed_key, shared_max_age
from ..urls import (
    AUTHORS,
    FEED,
    SEARCH_PATH,
    TAGS,
    TOPIC,
    feed_path,
    parse,
    site_rule,
    with_author,
)
from .kit import (
    Routes,
    cached,
    fail,
    known_author,
    known_scope,
    limit_argument,
    moved,
    resolve_author,
    resolve_scope,
    resolve_search,
    resolve_topic,
    site,
    snapshot,
    whole_number,
)

blueprint = Routes("feeds", __name__)

# URLs people and old readers guess for a feed, and the format each stands for.
FEED_ALIASES = {
    "feed": "rss",
    "feed/": "rss",
    "rss": "rss",
    "rss.xml": "rss",
    "feed.xml": "rss",
    "index.xml": "rss",
    "atom": "atom",
    "atom.xml": "atom",
    "feed.jsonfeed": "json",
}
_ALIAS_RULE = "<any(" + ", ".join(f'"{a}"' for a in FEED_ALIASES) + "):alias>"
_FORMAT_RULE = "feed.<any(" + ", ".join(FORMATS) + "):fmt>"


def feed_locator(settings: Settings) -> Callable[[str, str], Located | None]:
    """What the fast path needs to find a feed's first page on the shelf by its URL.

    Only canonical URLs with no query: anything else (another spelling, an alias,
    paging) goes through the views, which know what to answer.
    """
    max_age = settings.feed_max_age
    shared = shared_max_age(settings)  # as Syndication has them

    def locate(path: str, query: str) -> Located | None:
        if query:
            return None
        place = parse(path)
        if place is None:
            return None
        scope, resource, fmt = place  # unpacked: this runs on every request
        if resource != FEED or fmt is None:
            return None
        if not scope.isascii():
            try:  # WSGI gives the path's bytes as Latin-1
                scope = scope.encode("latin-1").decode("utf-8")
            except UnicodeError:
                return None
        return Located(feed_key(scope, fmt), scope, max_age, shared)

    return locate


def serve_feed(index: Snapshot, scope: str, name: str) -> Response:
    page = whole_number("page", 1) or 1
    limit = limit_argument()
    fmt = FORMATS[name]
    syndication = site().syndication

    def render() -> Rendered:
        try:
            return syndication.feed(index, scope, fmt, page, limit)
        except PastTheEnd as end:
            fail(404, str(end))

    return cached(index, scope, feed_key(scope, name, page, limit), render)


@blueprint.route(site_rule(_FORMAT_RULE))
def site_feed(fmt: str) -> Response:
    return serve_feed(snapshot(), SITE, fmt)


@blueprint.route(TAGS.rule(_FORMAT_RULE))
def tag_feed(tag: str, fmt: str) -> Response:
    index = snapshot()
    return serve_feed(index, resolve_scope(index, tag, f"feed.{fmt}"), fmt)


@blueprint.route(site_rule(_ALIAS_RULE), canonical=False)
def site_feed_alias(alias: str) -> Response:
    return moved(feed_path(SITE, FEED_ALIASES[alias]))


@blueprint.route(TAGS.rule(_ALIAS_RULE), canonical=False)
def tag_feed_alias(tag: str, alias: str) -> Response:
    return moved(feed_path(known_scope(snapshot(), tag), FEED_ALIASES[alias]))


@blueprint.route(AUTHORS.rule(_FORMAT_RULE))
def author_feed(author: str, fmt: str) -> Response:
    index = snapshot()
    return serve_feed(index, resolve_author(index, author, f"feed.{fmt}"), fmt)


@blueprint.route(AUTHORS.rule(_ALIAS_RULE), canonical=False)
def author_feed_alias(author: str, alias: str) -> Response:
    return moved(feed_path(known_author(snapshot(), author), FEED_ALIASES[alias]))


@blueprint.route(AUTHORS.rule(f"{TOPIC}<tag>/{_FORMAT_RULE}"))
def author_topic_feed(author: str, tag: str, fmt: str) -> Response:
    index = snapshot()
    return serve_feed(index, resolve_topic(index, author, tag, f"feed.{fmt}"), fmt)


@blueprint.route(AUTHORS.rule(f"{TOPIC}<tag>/{_ALIAS_RULE}"), canonical=False)
def author_topic_feed_alias(author: str, tag: str, alias: str) -> Response:
    index = snapshot()
    scope = with_author(known_author(index, author), known_scope(index, tag))
    return moved(feed_path(scope, FEED_ALIASES[alias]))


@blueprint.route(f"{SEARCH_PATH}{_FORMAT_RULE}")
def search_feed(fmt: str) -> Response:
    index = snapshot()
    return serve_feed(index, resolve_search(f"feed.{fmt}"), fmt)
