"""The response cache and the fast path that serves it before Flask is entered.

Two tiers: a small hot one in this process's heap (least recently used, bounded
by the bytes of the bodies it holds, each counted once) in front of the
:class:`~feedsvc.shelf.Shelf`, which every worker shares and which survives
restarts. Entries are tagged with the version of the scope (the site or one tag)
they were rendered from and served only while that version is current, so an edit
invalidates exactly the feeds of the tags it touches, with no explicit purge.

The fast path answers from WSGI, before Flask: hits of the hot tier, and requests
for a feed's canonical URL that the shelf holds at the current version (a 304 from
the validators alone). Anything else (a miss, a stale entry, a redirect, an error)
goes on to the Flask app, which renders through :meth:`ResponseCache.fetch` and
answers through the same :func:`respond`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from .combinations import is_combination
from .responses import Rendered, Representation, respond
from .search import is_search
from .settings import DEFAULTS
from .shelf import Shelf

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
STATUS_LINES = {200: "200 OK", 304: "304 Not Modified", 406: "406 Not Acceptable"}
Answer = tuple[str, list[tuple[str, str]], bytes]
"""A whole answer: the status line, the headers and the body."""

QUERY_ARGUMENTS = frozenset(
    {"limit", "page", "url", "format", "maxwidth", "maxheight", "tags", "min"}
)
"""Every query argument some endpoint reads; any other is ignored."""
ALIAS_LONGEST = 1024
"""The longest request line (path and query, in characters) given a fast-path alias."""
ALIAS_SHARE = 16
"""Aliases may take a sixteenth of the cache's byte budget, on top of it."""
ALIAS_OVERHEAD = 300
"""Bytes of bookkeeping per alias: the dict slot, the RequestLine, two string headers."""
ENTRY_OVERHEAD = 1_000
"""Bytes of bookkeeping per entry: the key, the representation and its header lists."""


@dataclass(frozen=True, slots=True)
class Entry:
    scope: str
    version: int
    representation: Representation


class RequestLine(NamedTuple):
    """The raw path and query string of a request, as the fast path sees them.

    A tuple, so that the fast path looks one up with a plain ``(path, query)``: hashing
    it costs no more than the tuple's.
    """

    path: str
    query: str

    def aliasable(self) -> bool:
        """Only short requests without made-up arguments get a fast-path alias: unique
        junk query strings must not push the hot aliases out, nor long ones fill memory."""
        if len(self.path) + len(self.query) > ALIAS_LONGEST:
            return False
        names = {name for name, _ in parse_qsl(self.query, keep_blank_values=True)}
        return names <= QUERY_ARGUMENTS

    def cost(self) -> int:
        """Bytes an alias of this line takes: WSGI strings are Latin-1, a byte a character."""
        return len(self.path) + len(self.query) + ALIAS_OVERHEAD


def shelf_key(key: Hashable) -> str | None:
    """The shelf's name for a cache key (a tuple of strings and numbers), else ``None``."""
    try:
        return json.dumps(key, ensure_ascii=False, separators=(",", ":"))
    except TypeError:
        return None


class ResponseCache:
    """Representations by logical key, and by raw request line for the fast path.

    The hot tier: bounded by entry count and by the bytes of the bodies it holds
    (a body loaded later counts when it is loaded; an entry larger than the whole
    budget is served but not kept), the least recently used leaving first, so no
    sequence of requests can make it grow without limit. Behind it, ``shelf`` (when
    given) keeps every rendered version for all workers. Raw request lines map to
    logical keys, within a byte budget of their own (:data:`ALIAS_SHARE`): an
    evicted entry leaves only a dangling alias, which sends its next request on.
    """

    def __init__(
        self,
        max_entries: int = DEFAULTS["CACHE_ENTRIES"],
        max_bytes: int = DEFAULTS["CACHE_MEGABYTES"] << 20,
        shelf: Shelf | None = None,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.shelf = shelf
        self.size = 0
        self.max_alias_bytes = max_bytes // ALIAS_SHARE
        self.alias_size = 0
        self.renders = 0
        self._by_key: OrderedDict[Hashable, Entry] = OrderedDict()
        self._charged: dict[Hashable, int] = {}
        """What each entry was counted at: taken back exactly when it leaves."""
        self._by_request: OrderedDict[RequestLine, Hashable] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, version: int) -> Representation | None:
        entry = self._by_key.get(key)
        if entry is not None and entry.version == version:
            self._used(key)
            return entry.representation
        return None

    def _used(self, key: Hashable) -> None:
        try:  # noqa: SIM105 (contextlib.suppress costs a microsecond, on every hit)
            self._by_key.move_to_end(key)
        except KeyError:  # evicted meanwhile by another thread
            pass

    def fetch(
        self,
        key: Hashable,
        scope: str,
        version: int,
        render: Callable[[], Rendered],
        *,
        max_age: int,
        release: float,
        shared_max_age: int | None = None,
        request: RequestLine | None = None,
        fresh: bool = False,
    ) -> Representation:
        """The representation of ``key`` at ``version``: held, kept on the shelf, or
        rendered now (and kept). ``fresh`` renders it again whatever is kept, and holds
        every body in memory: for a kept body that turned out damaged or gone."""
        representation = None if fresh else self.get(key, version)
        named = shelf_key(key) if self.shelf is not None else None
        if representation is None and not fresh and named is not None:
            representation = self.shelf.find(  # type: ignore[union-attr]
                named, version, max_age, shared_max_age
            )
        if representation is None:
            representation = self.render(
                key, scope, version, render, max_age, release, shared_max_age
            )
            derived = is_combination(scope) or is_search(scope)
            if derived:  # dated by its own matches, not by its tags' or the site's
                representation = self._dated_as_before(key, named, representation)
            # Query variants, combinations of tags and searches are URLs anyone can make
            # up: they take room only from each other (the shelf's variants' share).
            pinned = (request is None or not request.query) and not derived
            if (
                fresh
                or named is None
                or not self.keep(named, scope, version, representation, pinned)
            ):
                pass  # held in memory with all its bodies
            else:
                # The bodies now live on the shelf: hold only those asked for.
                representation.load = self.shelf.loader(named, representation.digest)  # type: ignore[union-attr]
                representation.bodies = {}
        # Stored again on a hit too, so this request line gets its fast-path alias.
        self.put(key, Entry(scope, version, representation), request)
        return representation

    def _dated_as_before(
        self, key: Hashable, named: str | None, representation: Representation
    ) -> Representation:
        """A combination of tags rendered again with the bytes it had keeps the date it
        had: a change to one of its tags that left it as it was did not modify it. (Its
        Last-Modified is otherwise its tags' latest change, which never moves back.)"""
        entry = self._by_key.get(key)
        if entry is not None:
            before: tuple[str, float] | None = (
                entry.representation.digest,
                entry.representation.last_modified,
            )
        else:
            before = self.shelf.dated(named) if self.shelf and named else None
        if before is None or before[0] != representation.digest:
            return representation
        return replace(
            representation, last_modified=before[1], _prepared={}, _lock=threading.Lock()
        )

    def render(
        self,
        key: Hashable,
        scope: str,
        version: int,
        render: Callable[[], Rendered],
        max_age: int,
        release: float,
        shared_max_age: int | None = None,
    ) -> Representation:
        """Render a representation now, every coding compressed."""
        rendered = render()
        self.renders += 1
        return Representation.of(
            rendered.body,
            rendered.content_type,
            # An `updated` date in the future must not make a future Last-Modified.
            min(rendered.last_modified, time.time()),
            max_age,
            release=release,
            headers=rendered.headers,
            shared_max_age=shared_max_age,
        ).complete()

    def keep(
        self,
        named: str,
        scope: str,
        version: int,
        representation: Representation,
        pinned: bool = True,
    ) -> bool:
        """Put a rendered representation on the shelf; ``False`` when it could not be."""
        return self.shelf is not None and self.shelf.keep(
            named, scope, version, representation, pinned
        )

    def put(self, key: Hashable, entry: Entry, request: RequestLine | None = None) -> None:
        """Hold an entry; ``request`` lets the fast path find it when it is aliasable."""
        representation = entry.representation
        with self._lock:
            old = self._by_key.pop(key, None)
            if old is not None:
                self.size -= self._charged.pop(key)
                if old.representation is not representation:
                    old.representation.on_grow = None
            cost = representation.held() + ENTRY_OVERHEAD
            if cost > self.max_bytes:
                return  # it would push out everything else and still not fit
            self._by_key[key] = entry
            self._charged[key] = cost
            self.size += cost
            representation.on_grow = lambda grown: self._grew(key, representation)
            self._evict()
            if request is not None and request.aliasable():
                self._alias(request, key)

    def _grew(self, key: Hashable, representation: Representation) -> None:
        """A held representation loaded a body: count it, and make room.

        Counted again from what it holds, not by what it says it added: a body loaded
        while it was being put is then never counted twice, nor missed.
        """
        with self._lock:
            entry = self._by_key.get(key)
            if entry is None or entry.representation is not representation:
                return
            cost = representation.held() + ENTRY_OVERHEAD
            self.size += cost - self._charged[key]
            self._charged[key] = cost
            self._evict()

    def _evict(self) -> None:
        """Drop the least recently used entries until both bounds hold (under the lock)."""
        while self._by_key and (len(self._by_key) > self.max_entries or self.size > self.max_bytes):
            key, entry = self._by_key.popitem(last=False)
            entry.representation.on_grow = None
            self.size -= self._charged.pop(key)

    def _alias(self, request: RequestLine, key: Hashable) -> None:
        """Let the fast path find ``key`` by ``request``; the least recently used aliases
        make room (a flood of made-up request lines cannot push out the polled ones)."""
        if request in self._by_request:
            del self._by_request[request]
            self.alias_size -= request.cost()
        cost = request.cost()
        while self._by_request and (
            len(self._by_request) >= self.max_entries
            or self.alias_size + cost > self.max_alias_bytes
        ):
            oldest = next(iter(self._by_request))
            del self._by_request[oldest]
            self.alias_size -= oldest.cost()
        if cost <= self.max_alias_bytes:
            self._by_request[request] = key
            self.alias_size += cost

    def for_request(self, path: str, query: str) -> Entry | None:
        line = (path, query)
        key = self._by_request.get(line)  # type: ignore[call-overload]
        if key is None:
            return None
        try:  # noqa: SIM105 (as in _used)
            self._by_request.move_to_end(line)  # type: ignore[arg-type]
        except KeyError:
            pass
        entry = self._by_key.get(key)
        if entry is not None:
            self._used(key)
        return entry

    def __len__(self) -> int:
        return len(self._by_key)


@dataclass(frozen=True, slots=True)
class Located:
    """What the fast path needs to find a URL's representation on the shelf."""

    key: tuple[object, ...]
    scope: str
    max_age: int
    shared_max_age: int | None = None


class FastPath:
    """WSGI middleware that answers held and kept representations without entering ``app``.

    :param locate: the shelf key of a request line the fast path may look up on the
        shelf (a feed's canonical URL), or ``None``.
    """

    def __init__(
        self,
        app: WSGIApp,
        version: Callable[[str], int],
        cache: ResponseCache,
        locate: Callable[[str, str], Located | None] | None = None,
    ) -> None:
        self.app = app
        self.version = version
        """The current version of a scope: an entry of an older one is stale."""
        self.cache = cache
        self.locate = locate

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        answer = self.answer(environ)
        if answer is None:
            return self.app(environ, start_response)
        status, headers, body = answer
        start_response(status, headers)
        return [body]

    def answer(self, environ: dict[str, Any]) -> Answer | None:
        """The answer to a request from what is held or kept, else ``None``."""
        method = environ["REQUEST_METHOD"]
        if method != "GET" and method != "HEAD":
            return None
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        try:
            entry = self.cache.for_request(path, query)
            if entry is None or entry.version != self.version(entry.scope):
                entry = self.from_shelf(path, query)
                if entry is None:
                    return None
        except sqlite3.DatabaseError:  # a damaged index: the app answers it (a 503)
            return None
        answer = respond(
            entry.representation,
            method,
            environ.get("HTTP_IF_NONE_MATCH"),
            environ.get("HTTP_IF_MODIFIED_SINCE"),
            environ.get("HTTP_ACCEPT_ENCODING"),
            time.time(),
            environ.get("HTTP_SEC_FETCH_DEST"),
        )
        if answer is None:  # a kept body is gone: Flask renders it again
            return None
        status, headers, body = answer
        return STATUS_LINES[status], headers, body

    def from_shelf(self, path: str, query: str) -> Entry | None:
        """The current representation of a request line from the shelf, now held."""
        shelf = self.cache.shelf
        if shelf is None or self.locate is None:
            return None
        located = self.locate(path, query)
        if located is None:
            return None
        named = shelf_key(located.key)
        if named is None:
            return None
        version = self.version(located.scope)
        representation = shelf.find(named, version, located.max_age, located.shared_max_age)
        if representation is None:
            return None
        entry = Entry(located.scope, version, representation)
        self.cache.put(located.key, entry, RequestLine(path, query))
        return entry
