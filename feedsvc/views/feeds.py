"""Feed routes: the site's and each tag's feeds in every format, paged, and their aliases.

Bodies come from :mod:`feedsvc.feeds`; this module decides which articles a URL
shows, what the feed says about itself, and hands the result to the cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from flask import Response

from ..cache import Located
from ..feeds import EPOCH, FORMATS, FeedInfo, Format
from ..responses import Rendered
from ..settings import Settings
from ..store import SITE, Snapshot
from ..surrogate import hub_links
from ..urls import (
    FEED,
    FEED_STYLE_PATH,
    TAG_INDEX_PATH,
    TAGS,
    feed_id,
    feed_path,
    parse,
    scope_path,
    site_rule,
)
from .kit import (
    Routes,
    cached,
    fail,
    icons,
    known_tag,
    limit_argument,
    make_items,
    moved,
    resolve_tag,
    scope_title,
    shared_max_age,
    site,
    snapshot,
    tag_labels,
    url,
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


def render_feed(view: Snapshot, scope: str, fmt: Format, page: int, limit: int | None) -> Rendered:
    """Render one page of a scope's feed, dated by when its items last changed.

    A page past the last is a 404.
    """
    settings = site().settings
    per_page = limit or settings.feed_items
    pages = max(1, math.ceil(view.count(scope) / per_page))
    if page > pages:
        fail(404, f"page {page} is past the last page, {pages}")
    shown = view.newest(scope, per_page, (page - 1) * per_page)
    path = feed_path(scope, fmt.name)
    links = {"first": url(path, limit=limit), "last": url(path, limit=limit, page=pages)}
    if page > 1:
        links["previous"] = url(path, limit=limit, page=page - 1 if page > 2 else None)
    if page < pages:
        links["next"] = url(path, limit=limit, page=page + 1)
    # A WebSub topic is a feed's own URL: paged and shortened feeds advertise no hub.
    hubs = settings.websub_hubs if page == 1 and limit is None else ()
    # Later pages shift when anything newer changes, so they date from all of it.
    updated = view.newest_update(scope, page * per_page) or EPOCH
    pictures = icons()
    info = FeedInfo(
        id=feed_id(view.authority(), scope),
        title=scope_title(view, scope),
        description=settings.site_description
        if scope == SITE
        else f"Articles tagged {view.label(scope)}",
        home_url=url(scope_path(scope)),
        self_url=url(path, limit=limit, page=page if page > 1 else None),
        feed_url=url(path, limit=limit),
        language=settings.language,
        author=settings.author,
        updated=updated,
        links=links if pages > 1 else {},
        ttl_minutes=max(1, settings.feed_max_age // 60),
        category_url=url(TAG_INDEX_PATH),
        labels=tag_labels(view, shown),
        item_content_bytes=settings.item_content_bytes,
        icon_url=pictures.icon,
        favicon_url=pictures.favicon,
        logo_url=pictures.logo,
        rss_image_url=pictures.rss_image,
        rss_image_size=pictures.rss_image_size,
        stylesheet_url=url(FEED_STYLE_PATH),
        hubs=hubs,
    )
    items = make_items(view, shown)
    advertised = (("Link", hub_links(hubs, info.self_url)),) if hubs else ()
    # Last-Modified is when the scope last changed, not its newest item's date: an
    # edit, a deletion or a back-dated addition moves it too.
    body = fmt.render(items, info)
    return Rendered(body, fmt.content_type, view.changed(scope), advertised)


def feed_key(scope: str, name: str, page: int = 1, limit: int | None = None) -> tuple[object, ...]:
    """The cache key of one page of a scope's feed in one format."""
    return ("feed", scope, name, page, limit)


def feed_locator(settings: Settings) -> Callable[[str, str], Located | None]:
    """What the fast path needs to find a feed's first page on the shelf by its URL.

    Only canonical URLs with no query: anything else (another spelling, an alias,
    paging) goes through the views, which know what to answer.
    """
    max_age = settings.feed_max_age
    shared = shared_max_age(settings)

    def locate(path: str, query: str) -> Located | None:
        if query:
            return None
        place = parse(path)
        if place is None or place.resource != FEED or place.format is None:
            return None
        scope = place.scope
        if not scope.isascii():
            try:  # WSGI gives the path's bytes as Latin-1
                scope = scope.encode("latin-1").decode("utf-8")
            except UnicodeError:
                return None
        return Located(feed_key(scope, place.format), scope, max_age, shared)

    return locate


def serve_feed(view: Snapshot, scope: str, name: str) -> Response:
    page = whole_number("page", 1) or 1
    limit = limit_argument()
    fmt = FORMATS[name]
    return cached(
        view,
        scope,
        feed_key(scope, name, page, limit),
        lambda: render_feed(view, scope, fmt, page, limit),
    )


@blueprint.route(site_rule(_FORMAT_RULE))
def site_feed(fmt: str) -> Response:
    return serve_feed(snapshot(), SITE, fmt)


@blueprint.route(TAGS.rule(_FORMAT_RULE))
def tag_feed(tag: str, fmt: str) -> Response:
    view = snapshot()
    return serve_feed(view, resolve_tag(view, tag, f"feed.{fmt}"), fmt)


@blueprint.route(site_rule(_ALIAS_RULE), canonical=False)
def site_feed_alias(alias: str) -> Response:
    return moved(feed_path(SITE, FEED_ALIASES[alias]))


@blueprint.route(TAGS.rule(_ALIAS_RULE), canonical=False)
def tag_feed_alias(tag: str, alias: str) -> Response:
    return moved(feed_path(known_tag(snapshot(), tag), FEED_ALIASES[alias]))
