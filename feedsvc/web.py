"""HTTP: feed routes, the URL and argument helpers every view shares, and errors.

Feed bodies come from :mod:`feedsvc.feeds`, validators and compression from
:mod:`feedsvc.responses`; this module decides what a URL means, which articles it
shows, and caches what it rendered so the fast path can answer next time. HTML
pages are in :mod:`feedsvc.pages`, partner endpoints in :mod:`feedsvc.embeds`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NoReturn
from urllib.parse import quote, urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    request,
)
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException

from .app import Site
from .articles import Article, normalize_tag
from .cache import Entry
from .feeds import EPOCH, FeedInfo, Item, render_atom, render_json, render_rss
from .index import SITE, STATIC, Catalogue
from .responses import CORS_HEADERS, Representation, respond

log = logging.getLogger(__name__)
blueprint = Blueprint("feedsvc", __name__)

Renderer = Callable[[Sequence[Item], FeedInfo], bytes]
FORMATS: dict[str, tuple[str, Renderer]] = {
    "rss": ("application/rss+xml; charset=utf-8", render_rss),
    "atom": ("application/atom+xml; charset=utf-8", render_atom),
    "json": ("application/feed+json; charset=utf-8", render_json),
}
QUERY_ARGUMENTS = frozenset(
    {"limit", "page", "url", "format", "maxwidth", "maxheight", "tags", "min"}
)
"""Every query argument some endpoint reads; any other is ignored."""
FORMAT_NAMES = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}
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


def site() -> Site:
    found: Site = current_app.extensions["feedsvc"]
    return found


def url(path: str, **query: object) -> str:
    """An absolute URL on the configured public base URL."""
    given = {k: v for k, v in query.items() if v is not None}
    return site().settings.base_url + path + (f"?{urlencode(given)}" if given else "")


def scope_path(scope: str) -> str:
    return "/" if scope == SITE else f"/tags/{quote(scope, safe='')}/"


def feed_path(scope: str, fmt: str) -> str:
    return f"{scope_path(scope)}feed.{fmt}"


def article_path(slug: str) -> str:
    return f"/articles/{quote(slug, safe='')}"


def item_id(slug: str) -> str:
    # A tag URI (RFC 4151): it names the article, not where it is served from, so
    # it survives a move to another host or to https.
    return f"tag:{site().settings.id_authority}:articles/{quote(slug, safe='')}"


def absolute(link: str | None) -> str | None:
    if link and link.startswith("/"):
        return site().settings.base_url + link
    return link


def fail(status: int, message: str) -> NoReturn:
    abort(Response(f"{message}\n", status, mimetype="text/plain", headers=CORS_HEADERS))


def whole_number(name: str, low: int, high: int = 999_999_999) -> int | None:
    """A whole-number query argument within bounds, ``None`` when absent; else a 400."""
    text = request.args.get(name)
    if text is None:
        return None
    # Length first: int() of thousands of digits is slow, and past 4,300 it raises.
    if len(text) > 9 or not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        upper = "" if high == 999_999_999 else f" to {high}"
        fail(400, f"{name} must be a whole number from {low}{upper}")
    return int(text)


def limit_argument() -> int | None:
    """``?limit=N``, from 1 to the configured maximum."""
    return whole_number("limit", 1, site().settings.max_items)


def paging_arguments() -> tuple[int, int | None]:
    """The ``page`` and ``limit`` query arguments, checked; anything else is ignored."""
    return whole_number("page", 1) or 1, limit_argument()


def tag_key(catalogue: Catalogue, tag: str) -> str | None:
    """The key of a known tag in any spelling, or ``None``."""
    if tag in catalogue.by_tag:
        return tag
    normal = normalize_tag(tag)
    return normal.key if normal is not None and normal.key in catalogue.by_tag else None


def known_tag(tag: str) -> str:
    """The key of a known tag in any spelling; an unknown tag is a 404."""
    key = tag_key(site().library.current(), tag)
    if key is None:
        fail(404, f"no tag {tag!r}")
    return key


def resolve_tag(tag: str, suffix: str = "") -> str:
    """The key of a known tag; another spelling of one is a 301 to its canonical URL."""
    key = known_tag(tag)
    if key != tag:
        abort(moved(f"{scope_path(key)}{suffix}"))
    return key


def make_items(articles: Sequence[Article]) -> list[Item]:
    library = site().library
    items = []
    for article in articles:
        body = library.body(article)
        if body is None:
            # The standfirst stands in, and this response is not cached (see cached()).
            g.feedsvc_incomplete = True
            body = (article.standfirst,)
        items.append(
            Item(
                article=article,
                body=body,
                url=url(article_path(article.slug)),
                id=item_id(article.slug),
                image=absolute(article.image),
            )
        )
    return items


def scope_title(catalogue: Catalogue, scope: str) -> str:
    title = site().settings.site_title
    return title if scope == SITE else f"{title}: {catalogue.labels[scope]}"


def newest_update(articles: Sequence[Article]) -> datetime:
    return max((a.updated for a in articles), default=EPOCH)


def build_feed(
    catalogue: Catalogue, scope: str, fmt: str, page: int, limit: int | None
) -> tuple[bytes, datetime]:
    """Render one page of a scope's feed, and say when it last changed.

    A page past the last is a 404.
    """
    settings = site().settings
    articles = catalogue.in_scope(scope)
    per_page = limit or settings.feed_items
    pages = max(1, math.ceil(len(articles) / per_page))
    if page > pages:
        fail(404, f"page {page} is past the last page, {pages}")
    shown = articles[(page - 1) * per_page : page * per_page]
    path = feed_path(scope, fmt)
    links = {"first": url(path, limit=limit), "last": url(path, limit=limit, page=pages)}
    if page > 1:
        links["previous"] = url(path, limit=limit, page=page - 1 if page > 2 else None)
    if page < pages:
        links["next"] = url(path, limit=limit, page=page + 1)
    # Later pages shift when anything newer changes, so they date from all of it.
    updated = newest_update(articles[: page * per_page])
    info = FeedInfo(
        id=f"tag:{settings.id_authority}:" + ("feed" if scope == SITE else f"tags/{quote(scope)}"),
        title=scope_title(catalogue, scope),
        description=settings.site_description
        if scope == SITE
        else f"Articles tagged {catalogue.labels[scope]}",
        home_url=url(scope_path(scope)),
        self_url=url(path, limit=limit, page=page if page > 1 else None),
        language=settings.language,
        author=settings.author,
        updated=updated,
        links=links if pages > 1 else {},
        ttl_minutes=max(1, settings.feed_max_age // 60),
        category_url=url("/tags/"),
        labels=catalogue.labels,
    )
    return FORMATS[fmt][1](make_items(shown), info), updated


class ExactResponse(Response):
    """A response whose headers go out as given.

    Werkzeug drops ``Last-Modified`` from a 304; the fast path keeps it, and both
    paths must send the same validators.
    """

    def get_wsgi_headers(self, environ: dict[str, Any]) -> Headers:
        return Headers(self.headers)


def send(representation: Representation) -> Response:
    """Answer through :func:`respond`, exactly as the fast path would."""
    status, headers, body = respond(
        representation,
        "GET",  # Werkzeug drops the body of a HEAD response itself
        request.headers.get("If-None-Match"),
        request.headers.get("If-Modified-Since"),
        request.headers.get("Accept-Encoding"),
        time.time(),
    )
    response = ExactResponse(body, status)
    response.headers.clear()
    response.headers.extend(headers)
    return response


def cached(
    scope: str, key: tuple[object, ...], render: Callable[[Catalogue], tuple[bytes, str, float]]
) -> Response:
    """Serve a scope's resource from the cache, rendering it when its version moved."""
    current = site()
    catalogue = current.library.current()
    if scope not in (SITE, STATIC) and scope not in catalogue.by_tag:
        fail(404, f"no tag {scope!r}")  # its last article went since the URL was resolved
    version = catalogue.version(scope)
    representation = current.cache.get(key, version)
    if representation is None:
        body, content_type, last_modified = render(catalogue)
        representation = Representation(
            body,
            content_type,
            # An `updated` date in the future must not make a future Last-Modified.
            min(last_modified, time.time()),
            current.settings.feed_max_age,
            release=catalogue.release_of(scope),
        )
        if g.get("feedsvc_incomplete"):
            return send(representation)
    raw_request = None
    if request.args.keys() <= QUERY_ARGUMENTS:
        # Only requests without made-up arguments get a fast-path alias: unique junk
        # query strings must not push the hot aliases out.
        raw_request = (
            request.environ.get("PATH_INFO", ""),
            request.environ.get("QUERY_STRING", ""),
        )
    current.cache.put(key, Entry(scope, version, representation), raw_request)
    return send(representation)


def serve_feed(scope: str, fmt: str) -> Response:
    page, limit = paging_arguments()

    def render(catalogue: Catalogue) -> tuple[bytes, str, float]:
        body, updated = build_feed(catalogue, scope, fmt, page, limit)
        return body, FORMATS[fmt][0], updated.timestamp()

    return cached(scope, ("feed", scope, fmt, page, limit), render)


@blueprint.route("/feed.<any(rss, atom, json):fmt>")
def site_feed(fmt: str) -> Response:
    return serve_feed(SITE, fmt)


@blueprint.route("/tags/<tag>/feed.<any(rss, atom, json):fmt>")
def tag_feed(tag: str, fmt: str) -> Response:
    return serve_feed(resolve_tag(tag, f"feed.{fmt}"), fmt)


@blueprint.route("/<any(" + ", ".join(f'"{a}"' for a in FEED_ALIASES) + "):alias>")
def site_feed_alias(alias: str) -> Response:
    return moved(feed_path(SITE, FEED_ALIASES[alias]))


@blueprint.route("/tags/<tag>/<any(" + ", ".join(f'"{a}"' for a in FEED_ALIASES) + "):alias>")
def tag_feed_alias(tag: str, alias: str) -> Response:
    return moved(feed_path(known_tag(tag), FEED_ALIASES[alias]))


def moved(path: str) -> Response:
    """A 301 to ``path`` on the public base URL, keeping the query string."""
    query = request.query_string.decode("latin-1")
    return redirect(url(path) + (f"?{query}" if query else ""), 301)  # type: ignore[return-value]


@blueprint.after_app_request
def allow_cross_origin(response: Response) -> Response:
    """Everything here is public and read-only: any page may read it, no credentials."""
    response.headers.setdefault("Access-Control-Allow-Origin", "*")
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "If-None-Match, If-Modified-Since"
        response.headers["Access-Control-Max-Age"] = "86400"
    return response


@blueprint.app_errorhandler(HTTPException)
def plain_error(error: HTTPException) -> Response:
    """Errors are one short line of plain text, never an HTML page or a traceback."""
    if error.response is not None:
        return error.response  # type: ignore[return-value]
    code = error.code or 500
    message = f"{code} {error.name}"
    response = Response(f"{message}\n", code, mimetype="text/plain")
    for name, value in error.get_headers():
        if name.lower() != "content-type":  # keep Allow on a 405
            response.headers[name] = value
    return response


@blueprint.app_errorhandler(Exception)
def internal_error(error: Exception) -> Response:
    log.exception("unhandled error on %s", request.path)
    return Response("500 Internal Server Error\n", 500, mimetype="text/plain")
