"""What every request needs: the site, its snapshot, query arguments, tag resolution,
errors and redirects, and cached answers.

A view takes one snapshot of the index with :func:`snapshot` (a read transaction,
ended when the request is) and passes it down, so the tag it resolved is the tag
it renders. Cacheable resources go through :func:`cached`, which renders (or reuses)
a :class:`Representation` and answers through :func:`respond`, exactly as the fast
path in front of Flask would; HTML pages through :func:`feedsvc.views.html.page`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import quote, unquote, urlencode

from flask import Blueprint, Response, abort, current_app, g, request
from werkzeug.datastructures import Headers as WerkzeugHeaders

from ..articles import normalize_tag
from ..budget import Budget
from ..cache import RequestLine, ResponseCache
from ..combinations import CombinationError, UnknownTag, looks_combined, read
from ..indexer import Indexer
from ..responses import (
    CORS_HEADERS,
    Rendered,
    Representation,
    respond,
)
from ..search import QueryError
from ..search import read as read_query
from ..settings import Settings
from ..store import Snapshot, Store, is_damage, report_damage
from ..surrogate import with_keys
from ..syndication import Syndication
from ..urls import AUTHORS, Urls, resource_path, scope_path, with_author
from .policy import secure


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
    budget: Budget | None = None
    """The slots that searches and combinations take to read the index."""


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
        if current.budget is not None:
            found.spend = current.budget.spend
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


ECHOED = 100
"""The most characters of a request an error message repeats."""


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
    upper = "" if high == 999_999_999 else f" to {high}"
    if not text.isascii() or not text.isdigit():
        fail(400, f"{name} must be a whole number from {low}{upper}")
    # Length first: int() of thousands of digits is slow, and past 4,300 it raises.
    if len(text) > 9 or not low <= int(text) <= high:
        fail(400, f"{name} is out of range: from {low}{upper}")
    return int(text)


def limit_argument() -> int | None:
    """``?limit=N``, from 1 to the configured maximum."""
    return whole_number("limit", 1, site().settings.max_items)


MAX_SPELLING = 1000
"""The longest spelling of a tag (in characters) read as another spelling of a known
one: normalising is linear in its length, and no real keyword comes near."""


def tag_key(index: Snapshot, tag: str) -> str | None:
    """The key of a known tag in any spelling, or ``None``."""
    if index.has_tag(tag):
        return tag
    if len(tag) > MAX_SPELLING:
        return None
    normal = normalize_tag(tag)
    return normal.key if normal is not None and index.has_tag(normal.key) else None


def known_tag(index: Snapshot, tag: str) -> str:
    """The key of a known tag in any spelling; an unknown tag is a 404."""
    key = tag_key(index, tag)
    if key is None:
        fail(404, f"no tag {quoted(tag)}")
    return key


def scope_of(index: Snapshot, spelling: str) -> str:
    """The scope a spelling after ``/tags/`` names: a known tag, or a combination of
    known tags (:mod:`feedsvc.combinations`) in its canonical text. A spelling that
    reads as a combination but is one tag's (``São Paulo``, ``AC+DC``) names that tag.

    :raises UnknownTag: a tag no article carries.
    :raises CombinationError: a combination that cannot be.
    """
    if not looks_combined(spelling):
        key = tag_key(index, spelling)
        if key is None:
            raise UnknownTag(spelling)
        return key
    try:
        combination = read(
            spelling, lambda name: tag_key(index, name), site().settings.max_combined_tags
        )
    except UnknownTag:
        key = tag_key(index, spelling)
        if key is None:
            raise
        return key
    return combination.single or combination.text


def known_scope(index: Snapshot, spelling: str) -> str:
    """:func:`scope_of`; an unknown tag is a 404, a combination that cannot be a 400."""
    try:
        return scope_of(index, spelling)
    except UnknownTag as unknown:
        fail(404, f"no tag {quoted(unknown.name)}")
    except CombinationError as error:
        fail(400, str(error))


def resolve_scope(index: Snapshot, spelling: str, suffix: str = "") -> str:
    """:func:`known_scope`; another spelling than the canonical one is a 301 to it."""
    scope = known_scope(index, spelling)
    if scope != spelling:
        abort(moved(f"{scope_path(scope)}{suffix}"))
    return scope


def author_scope(index: Snapshot, spelling: str) -> str | None:
    """The scope of a known author in any spelling of their name or key, or ``None``."""
    if index.has_author(AUTHORS.scope(spelling)):
        return AUTHORS.scope(spelling)
    if len(spelling) > MAX_SPELLING:
        return None
    normal = normalize_tag(spelling)
    if normal is None or not index.has_author(AUTHORS.scope(normal.key)):
        return None
    return AUTHORS.scope(normal.key)


def known_author(index: Snapshot, spelling: str) -> str:
    """:func:`author_scope`; an unknown author is a 404."""
    scope = author_scope(index, spelling)
    if scope is None:
        fail(404, f"no author {quoted(spelling)}")
    return scope


def resolve_author(index: Snapshot, spelling: str, suffix: str = "") -> str:
    """:func:`known_author`; another spelling than the canonical one is a 301 to it."""
    scope = known_author(index, spelling)
    if AUTHORS.key(scope) != spelling:
        abort(moved(f"{scope_path(scope)}{suffix}"))
    return scope


def resolve_topic(index: Snapshot, author: str, topic: str, suffix: str = "") -> str:
    """The scope of a known author's articles on a topic (a tag or a combination); an
    unknown author or tag is a 404, another spelling of either a 301 to the canonical
    path."""
    author_scope = known_author(index, author)
    topic_scope = known_scope(index, topic)
    scope = with_author(author_scope, topic_scope)
    if AUTHORS.key(author_scope) != author or topic_scope != topic:
        abort(moved(f"{scope_path(scope)}{suffix}"))
    return scope


def resolve_search(file: str = "") -> str:
    """The scope of the search ``?q=`` asks for (:mod:`feedsvc.search`), for the search
    resource ``file``; a query that cannot be run is a 400, another spelling of one a
    301 to its canonical URL, the other arguments kept."""
    q = request.args.get("q")
    if q is None:
        fail(400, "q is required: the words to search for")
    try:
        query = read_query(q)
    except QueryError as error:
        fail(400, str(error))
    if q != query.text:
        rest = [(k, v) for k, v in request.args.items(multi=True) if k != "q"]
        path = resource_path(query.scope, file) + (f"&{urlencode(rest)}" if rest else "")
        abort(moved(path, keep_query=False))
    return query.scope


MAX_QUERY = 2048
"""The longest query string a redirect carries on; a longer one is a 400."""
QUERY_SAFE = "!$&'()*+,;=:@/?%"
"""What a query string may hold unescaped (RFC 3986), and "%" for the escapes in it."""


def moved(path: str, *, keep_query: bool = True) -> Response:
    """A 301 to ``path`` on the public base URL, keeping the query string (unless
    ``path`` carries the query it needs: ``keep_query=False``).

    The Location is built from the base URL alone: no request header changes it.
    """
    query = request.query_string
    if len(query) > MAX_QUERY:
        fail(400, f"the query string is longer than {MAX_QUERY} bytes")
    kept = f"?{quote(query, safe=QUERY_SAFE)}" if query and keep_query else ""
    location = url(path) + kept
    response = Response("", 301, mimetype="text/plain", headers={"Location": location})
    return secure(response)


# Answers -----------------------------------------------------------------------


class ExactResponse(Response):
    """A response whose headers go out as given.

    Werkzeug drops ``Last-Modified`` from a 304; the fast path keeps it, and both
    paths must send the same validators.
    """

    def get_wsgi_headers(self, environ: dict[str, Any]) -> WerkzeugHeaders:
        return WerkzeugHeaders(self.headers)


def send(representation: Representation, *, conditional: bool = True) -> Response | None:
    """Answer through :func:`respond`, exactly as the fast path would; ``None`` when
    a kept body turned out gone or damaged (never for a fresh rendering).

    Not ``conditional``: the request's validators are not asked, for an answer that
    will not be a 200 (RFC 9110 13.2.1: a 410 is never a 304).
    """
    answer = respond(
        representation,
        "GET",  # Werkzeug drops the body of a HEAD response itself
        request.headers.get("If-None-Match") if conditional else None,
        request.headers.get("If-Modified-Since") if conditional else None,
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


def cached(index: Snapshot, scope: str, key: Hashable, render: Callable[[], Rendered]) -> Response:
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
            index.version(scope),
            with_keys(render, scope),
            max_age=current.syndication.max_age,
            release=index.release_of(scope),
            shared_max_age=current.syndication.shared_max_age,
            request=line,
            fresh=fresh,
        )
        response = send(representation)
        if response is not None:
            return response
    raise AssertionError("a freshly rendered representation holds every body")
