"""What every view needs: the site, URL builders, tag resolution, query arguments, answers.

A view takes one snapshot of the index with :func:`snapshot` (a read transaction,
ended when the request is) and passes it down, so the tag it resolved is the tag
it renders. Cacheable resources go through
:func:`cached`, which renders (or reuses) a :class:`Representation` and answers
through :func:`respond`, exactly as the fast path in front of Flask would.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import math
import sqlite3
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, unquote

import brotli
from flask import Blueprint, Response, abort, current_app, g, render_template, request
from werkzeug.datastructures import Headers

from ..articles import Article, normalize_tag
from ..cache import RequestLine, ResponseCache
from ..feeds import FORMATS
from ..indexer import Indexer
from ..responses import (
    CORS_HEADERS,
    NOT_ACCEPTABLE,
    Rendered,
    Representation,
    cache_control,
    choose_coding,
    respond,
)
from ..settings import Settings
from ..store import Snapshot, Store, is_damage, report_damage
from ..surrogate import key_headers, keys_of, with_keys
from ..syndication import Syndication
from ..urls import (
    HEALTH_PATH,
    PREFERRED_FORMAT,
    Icons,
    Urls,
    feed_path,
    scope_path,
)


@dataclass(frozen=True, slots=True)
class Site:
    """What the views need, kept in ``app.extensions["feedsvc"]`` by the factory."""

    settings: Settings
    store: Store
    indexer: Indexer | None
    """Present in the one process that writes the index."""
    cache: ResponseCache
    urls: Urls
    syndication: Syndication
    pending_renders: Callable[[], int] | None = None
    """How many scopes wait for their feeds to be rendered again, in the writing process."""


def site() -> Site:
    found: Site = current_app.extensions["feedsvc"]
    return found


def snapshot() -> Snapshot:
    """The index as this request sees it: take it once, pass it down.

    :raises NotReady: before the first build completes (answered 503).
    """
    found: Snapshot | None = g.get("feedsvc_snapshot")
    if found is None:
        current = site()
        if current.indexer is not None:
            current.indexer.release_due()
        found = g.feedsvc_snapshot = current.store.begin()
    return found


def end_snapshot(error: BaseException | None = None) -> None:
    """End the request's read transaction (registered as a teardown)."""
    found: Snapshot | None = g.pop("feedsvc_snapshot", None)
    if found is not None:
        try:
            found.close()
        except sqlite3.Error as failed:  # the answer is made: it must not become a 500
            if is_damage(failed):
                report_damage(site().settings.state_dir, failed)


# Routes ----------------------------------------------------------------------


class Routes(Blueprint):
    """A blueprint whose URLs are strict on their own terms, never by the framework's.

    Werkzeug's strict and merged slashes answer with a redirect built on the
    request's ``Host`` header (an open redirect, and poison for a shared cache). Here
    every rule matches loosely instead (a missing or extra trailing slash, doubled
    slashes), and :func:`canonical_path` answers a loose match with a 301 to the
    canonical URL on the public base URL. A route given ``canonical=False`` is one
    whose view always redirects to a canonical URL anyway.
    """

    def __init__(self, name: str, import_name: str) -> None:
        super().__init__(name, import_name)
        self.loose: set[str] = set()
        self.before_request(self.canonical_path)

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Callable[..., Any] | None = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        if not options.pop("canonical", True):
            self.loose.add(endpoint or (view_func.__name__ if view_func else ""))
        options.setdefault("strict_slashes", False)
        options.setdefault("merge_slashes", False)
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)

    def canonical_path(self) -> Response | None:
        """A 301 to the canonical form of a loosely matched path, else nothing."""
        rule = request.url_rule
        if rule is None or request.method == "OPTIONS" or rule.endpoint is None:
            return None
        if rule.endpoint.rpartition(".")[2] in self.loose:
            return None
        built = rule.build(request.view_args or {}, append_unknown=False)
        if built is None:
            return None
        # The path as sent (WSGI gives its bytes as Latin-1), not Werkzeug's, which
        # drops leading slashes.
        sent = request.environ.get("PATH_INFO", "").encode("latin-1")
        if unquote(built[1]) == sent.decode("utf-8", "replace"):
            return None
        return moved(built[1])


# Security headers ----------------------------------------------------------------


STATIC_DIR = Path(__file__).parent.parent / "static"
SITE_CSS = (STATIC_DIR / "site.css").read_text("utf-8")
PAGE_SCRIPT = (STATIC_DIR / "page.js").read_text("utf-8")
"""The pages' style sheet and the tag page's script, inlined and allowed by their hashes."""


def source_hash(text: str) -> str:
    """A CSP hash source for an inline ``<style>`` or ``<script>`` of exactly ``text``."""
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


PAGE_POLICY = (
    "default-src 'none'; "
    f"script-src {source_hash(PAGE_SCRIPT)}; "
    f"style-src {source_hash(SITE_CSS)}; "
    # Article pictures may be on any host.
    "img-src http: https:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""The HTML pages: nothing but their own style and script, the pictures, and no framing."""
ERROR_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""Errors, redirects and other plain text: nothing at all."""
NOT_CROSS_ORIGIN = frozenset({"pages.healthz"})
NOT_CROSS_ORIGIN_PATHS = frozenset({HEALTH_PATH})
"""Their paths: a 405 there is answered before any endpoint is known."""
"""Endpoints that get no CORS headers: they are for the operators, not for other sites."""
ECHOED = 100
"""The most characters of a request an error message repeats."""


def secure(response: Response, policy: str = ERROR_POLICY) -> Response:
    """Add the security headers of an HTML page or an error to ``response``.

    The page is framed only where ``policy``'s ``frame-ancestors`` allows it.
    """
    response.headers["Content-Security-Policy"] = policy
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if "frame-ancestors 'none'" in policy:
        response.headers["X-Frame-Options"] = "DENY"
    return response


def quoted(text: str) -> str:
    """``text`` for an error message: quoted, escaped, and at most :data:`ECHOED` characters."""
    shown = repr(text[: ECHOED + 1])
    if len(shown) > ECHOED:
        shown = shown[: ECHOED - 2] + "…" + shown[0]
    return shown


# URLs ----------------------------------------------------------------------


def url(path: str, **query: object) -> str:
    """An absolute URL on the configured public base URL."""
    return site().urls.to(path, **query)


def absolute(link: str | None) -> str | None:
    return site().urls.absolute(link)


def icons() -> Icons:
    return site().urls.icons


def feed_links(view: Snapshot, scope: str) -> list[dict[str, str]]:
    """Autodiscovery and visible links to a scope's feeds, one per format."""
    title = scope_title(view, scope)
    return [
        {
            "href": url(feed_path(scope, fmt.name)),
            "type": fmt.media_type,
            "name": fmt.label,
            "title": f"{title} ({fmt.label})",
        }
        for fmt in sorted(FORMATS.values(), key=lambda f: f.name != PREFERRED_FORMAT)
    ]


# What a scope says about itself ---------------------------------------------


def scope_title(view: Snapshot, scope: str) -> str:
    return site().syndication.title(view, scope)


def scope_label(view: Snapshot, scope: str) -> str:
    return site().syndication.label(view, scope)


# Requests --------------------------------------------------------------------


def fail(status: int, message: str) -> NoReturn:
    """Answer with a one-line plain-text error; quote any part of the request with
    :func:`quoted`."""
    abort(secure(Response(f"{message}\n", status, mimetype="text/plain", headers=CORS_HEADERS)))


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


MAX_SPELLING = 1000
"""The longest spelling of a tag (in characters) read as another spelling of a known
one: normalising is linear in its length, and no real keyword comes near."""


def tag_key(view: Snapshot, tag: str) -> str | None:
    """The key of a known tag in any spelling, or ``None``."""
    if view.has_tag(tag):
        return tag
    if len(tag) > MAX_SPELLING:
        return None
    normal = normalize_tag(tag)
    return normal.key if normal is not None and view.has_tag(normal.key) else None


def known_tag(view: Snapshot, tag: str) -> str:
    """The key of a known tag in any spelling; an unknown tag is a 404."""
    key = tag_key(view, tag)
    if key is None:
        fail(404, f"no tag {quoted(tag)}")
    return key


def resolve_tag(view: Snapshot, tag: str, suffix: str = "") -> str:
    """The key of a known tag; another spelling of one is a 301 to its canonical URL."""
    key = known_tag(view, tag)
    if key != tag:
        abort(moved(f"{scope_path(key)}{suffix}"))
    return key


MAX_QUERY = 2048
"""The longest query string a redirect carries on; a longer one is a 400."""
QUERY_SAFE = "!$&'()*+,;=:@/?%"
"""What a query string may hold unescaped (RFC 3986), and "%" for the escapes in it."""


def moved(path: str) -> Response:
    """A 301 to ``path`` on the public base URL, keeping the query string.

    The Location is built from the base URL alone: no request header changes it.
    """
    query = request.query_string
    if len(query) > MAX_QUERY:
        fail(400, f"the query string is longer than {MAX_QUERY} bytes")
    location = url(path) + (f"?{quote(query, safe=QUERY_SAFE)}" if query else "")
    response = Response("", 301, mimetype="text/plain", headers={"Location": location})
    return secure(response)


# Answers -----------------------------------------------------------------------


class ExactResponse(Response):
    """A response whose headers go out as given.

    Werkzeug drops ``Last-Modified`` from a 304; the fast path keeps it, and both
    paths must send the same validators.
    """

    def get_wsgi_headers(self, environ: dict[str, Any]) -> Headers:
        return Headers(self.headers)


def send(representation: Representation) -> Response | None:
    """Answer through :func:`respond`, exactly as the fast path would; ``None`` when
    a kept body turned out gone or damaged."""
    answer = respond(
        representation,
        "GET",  # Werkzeug drops the body of a HEAD response itself
        request.headers.get("If-None-Match"),
        request.headers.get("If-Modified-Since"),
        request.headers.get("Accept-Encoding"),
        time.time(),
        request.headers.get("Sec-Fetch-Dest"),
    )
    if answer is None:
        return None
    status, headers, body = answer
    response = ExactResponse(body, status)
    response.headers.clear()
    response.headers.extend(headers)
    return response


def cached(view: Snapshot, scope: str, key: Hashable, render: Callable[[], Rendered]) -> Response:
    """Serve a scope's resource from the cache, rendering it when its version moved.

    A rendering carries the scope's surrogate keys, computed once with it.
    """
    current = site()
    environ = request.environ
    line = RequestLine(environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""))
    for fresh in (False, True):
        representation = current.cache.fetch(
            key,
            scope,
            view.version(scope),
            with_keys(render, scope),
            max_age=current.syndication.max_age,
            release=view.release_of(scope),
            shared_max_age=current.syndication.shared_max_age,
            request=line,
            fresh=fresh,
        )
        response = send(representation)
        if response is not None:
            return response
    raise AssertionError("a freshly rendered representation holds every body")


PAGE_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    # Pages are rendered per request: a quick setting, still far smaller than identity.
    "br": lambda body: bytes(brotli.compress(body, quality=5)),
    "gzip": lambda body: gzip.compress(body, compresslevel=6, mtime=0),
    "identity": lambda body: body,
}


def page(
    template: str,
    *,
    policy: str = PAGE_POLICY,
    scope: str | None = None,
    slug: str | None = None,
    **context: Any,
) -> Response:
    """An HTML page with its own validators and a shorter cache lifetime than feeds,
    under ``policy``; compressed as ``Accept-Encoding`` asks, negotiated as feeds are
    (:func:`~feedsvc.responses.choose_coding`), each coding with its own ETag.

    The page is made from ``scope`` (the site or a tag) or from the article ``slug``:
    its surrogate keys name them, and its lifetimes end at the scope's next release.
    """
    settings = site().settings
    accept = request.headers.get("Accept-Encoding")
    coding = choose_coding(accept) if accept else "identity"
    if coding is None:
        refused = Response(NOT_ACCEPTABLE, 406, mimetype="text/plain")
        refused.vary.add("Accept-Encoding")
        return secure(refused)
    html = render_template(
        template,
        settings=settings,
        url=url,
        site_css=SITE_CSS,
        page_script=PAGE_SCRIPT,
        icons=icons(),
        opml=site().urls.opml,
        urls=site().urls,
        **context,
    )
    response = Response(PAGE_COMPRESSORS[coding](html.encode()), mimetype="text/html")
    if coding != "identity":
        response.headers["Content-Encoding"] = coding
    release = math.inf if scope is None else snapshot().release_of(scope)
    response.headers["Cache-Control"] = cache_control(
        settings.page_max_age, site().syndication.shared_max_age, release, time.time()
    )
    response.headers.extend(
        key_headers(keys_of([] if scope is None else [scope], [] if slug is None else [slug]))
    )
    response.vary.add("Accept-Encoding")
    response.add_etag()  # of the bytes sent: each coding has its own
    response.make_conditional(request)
    return secure(response, policy)


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of a scope's headlines, and where the pages before and after it are."""

    articles: Sequence[Article]
    number: int
    pages: int
    previous: str | None
    """The newer page's URL (``rel="prev"``)."""
    next: str | None
    """The older page's URL (``rel="next"``)."""
    canonical: str


def listing(view: Snapshot, scope: str) -> Listing:
    """The page of a scope's headlines that ``?page=N`` asks for; past the last is a 404."""
    per_page = site().settings.page_items
    number = whole_number("page", 1) or 1
    pages = max(1, -(-view.count(scope) // per_page))
    if number > pages:
        fail(404, f"page {number} is past the last page, {pages}")
    path = scope_path(scope)

    def at(page: int) -> str:
        return url(path, page=page if page > 1 else None)

    return Listing(
        articles=view.newest(scope, per_page, (number - 1) * per_page),
        number=number,
        pages=pages,
        previous=at(number - 1) if number > 1 else None,
        next=at(number + 1) if number < pages else None,
        canonical=at(number),
    )


Meta = list[tuple[str, str, str]]
"""``<meta>`` elements as (attribute, name, content): ``property`` for Open Graph."""


def share_meta(
    *,
    kind: str,
    title: str,
    description: str,
    address: str,
    image: str | None,
    image_alt: str | None = None,
) -> Meta:
    """Open Graph and Twitter card metadata, so a shared link shows a preview: the
    page's picture when there is one (a large card), else the site's icon (a small one)."""
    settings = site().settings
    picture = image or icons().icon
    meta: Meta = [
        ("name", "description", description),
        ("property", "og:type", kind),
        ("property", "og:site_name", settings.site_title),
        ("property", "og:title", title),
        ("property", "og:description", description),
        ("property", "og:url", address),
        ("property", "og:image", picture),
        ("property", "og:locale", settings.language.replace("-", "_")),
        ("name", "twitter:card", "summary_large_image" if image else "summary"),
        ("name", "twitter:title", title),
        ("name", "twitter:description", description),
        ("name", "twitter:image", picture),
    ]
    if image and image_alt:
        meta += [("property", "og:image:alt", image_alt), ("name", "twitter:image:alt", image_alt)]
    return meta
