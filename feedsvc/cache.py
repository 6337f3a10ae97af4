"""The response cache and the fast path that serves it before Flask is entered.

Entries are tagged with the version of the scope (the site or one tag) they were
rendered from. An entry is served only while that version is current, so an edit
invalidates exactly the feeds of the tags it touches and no others, with no
explicit purge. The fast path answers cached hits straight from WSGI; anything
else (a miss, a stale entry, a redirect, an error) goes on to the Flask app, which
renders through :meth:`ResponseCache.fetch` and answers through the same
:func:`respond`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from .responses import Rendered, Representation, respond

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
STATUS_LINES = {200: "200 OK", 304: "304 Not Modified", 406: "406 Not Acceptable"}

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


class ResponseCache:
    """Rendered representations by logical key, and by raw request line for the fast path.

    Bounded by entry count and by bytes (each entry counted at twice its identity
    body, room for its compressed variants; an entry larger than the whole budget is
    served but not kept), so no sequence of requests can make it grow without limit.
    Raw request lines map to logical keys, within a byte budget of their own
    (:data:`ALIAS_SHARE`): an evicted entry leaves only a dangling alias, which sends
    its next request through Flask.
    """

    def __init__(self, max_entries: int = 8192, max_bytes: int = 256 << 20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.size = 0
        self.max_alias_bytes = max_bytes // ALIAS_SHARE
        self.alias_size = 0
        self._by_key: dict[Hashable, Entry] = {}
        self._by_request: dict[RequestLine, Hashable] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, version: int) -> Representation | None:
        entry = self._by_key.get(key)
        if entry is not None and entry.version == version:
            return entry.representation
        return None

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
    ) -> Representation:
        """The representation of ``key`` at ``version``: kept, or rendered now and kept."""
        representation = self.get(key, version)
        if representation is None:
            rendered = render()
            representation = Representation(
                rendered.body,
                rendered.content_type,
                # An `updated` date in the future must not make a future Last-Modified.
                min(rendered.last_modified, time.time()),
                max_age,
                release=release,
                headers=rendered.headers,
                shared_max_age=shared_max_age,
            )
        # Stored again on a hit too, so this request line gets its fast-path alias.
        self.put(key, Entry(scope, version, representation), request)
        return representation

    def put(self, key: Hashable, entry: Entry, request: RequestLine | None = None) -> None:
        """Store an entry; ``request`` lets the fast path find it when it is aliasable."""
        cost = _cost(entry)
        with self._lock:
            old = self._by_key.pop(key, None)
            if old is not None:
                self.size -= _cost(old)
            if cost > self.max_bytes:
                return  # it would push out everything else and still not fit
            while self._by_key and (
                len(self._by_key) >= self.max_entries or self.size + cost > self.max_bytes
            ):
                # Oldest first: dicts keep insertion order.
                self.size -= _cost(self._by_key.pop(next(iter(self._by_key))))
            self._by_key[key] = entry
            self.size += cost
            if request is not None and request.aliasable():
                self._alias(request, key)

    def _alias(self, request: RequestLine, key: Hashable) -> None:
        """Let the fast path find ``key`` by ``request``; the oldest aliases make room."""
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
        key = self._by_request.get((path, query))  # type: ignore[call-overload]
        return None if key is None else self._by_key.get(key)

    def __len__(self) -> int:
        return len(self._by_key)


def _cost(entry: Entry) -> int:
    return 2 * len(entry.representation.body)


class FastPath:
    """WSGI middleware that answers cached GET/HEAD hits without entering ``app``."""

    def __init__(self, app: WSGIApp, version: Callable[[str], int], cache: ResponseCache) -> None:
        self.app = app
        self.version = version
        """The current version of a scope: an entry of an older one is stale."""
        self.cache = cache

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method = environ["REQUEST_METHOD"]
        if method == "GET" or method == "HEAD":
            entry = self.cache.for_request(
                environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")
            )
            if entry is not None and entry.version == self.version(entry.scope):
                status, headers, body = respond(
                    entry.representation,
                    method,
                    environ.get("HTTP_IF_NONE_MATCH"),
                    environ.get("HTTP_IF_MODIFIED_SINCE"),
                    environ.get("HTTP_ACCEPT_ENCODING"),
                    time.time(),
                )
                start_response(STATUS_LINES[status], headers)
                return [body]
        return self.app(environ, start_response)
