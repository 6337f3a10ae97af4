"""Cacheable responses: validators, compression and conditional GET, without Flask.

A :class:`Representation` is one version of one resource (a feed page, say) with
its validators and its compressed variants, each compressed once and kept. The
:func:`respond` function answers a GET or HEAD for it, 200 or 304, and is the only
place those headers are written: the Flask views and the fast path in front of
them both call it, so a cached hit and a first render send identical headers, and
the HTML pages, rendered for each request, are answered by it too.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from typing import NamedTuple

import brotli

Headers = list[tuple[str, str]]
"""Response headers in order, as WSGI takes them: the one meaning of the name here."""

CORS_HEADERS: Headers = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "ETag, Last-Modified, Link"),
]

_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    # Chosen by measurement (bench/compression.py, docs/http.md, "Kept representations"): on a 60 KB
    # feed brotli 5 is as small as 9 to the kilobyte at a sixteenth of the time, and
    # gzip 6 is as small as 9 for less; every version is compressed once, when rendered.
    "br": lambda body: bytes(brotli.compress(body, quality=BROTLI_QUALITY)),
    "gzip": lambda body: gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0),
}
BROTLI_QUALITY = 5
GZIP_LEVEL = 6
CODINGS = ("br", "gzip", "identity")
"""Every coding a representation is sent in, the preferred first."""
BROWSABLE = frozenset({"application/rss+xml", "application/atom+xml"})
"""Media types a browser tab shows as plain text (Chromium does) but renders, with the
style sheet the document names, when labelled :data:`DOCUMENT_TYPE`."""
DOCUMENT_TYPE = "application/xml; charset=utf-8"
DOCUMENT_POLICY = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'"
"""A feed shown in a tab loads nothing but our style sheet and its icon."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """What a view rendered for a resource, before it becomes a :class:`Representation`."""

    body: bytes
    content_type: str
    last_modified: float
    """A Unix timestamp: when the content last changed."""
    headers: tuple[tuple[str, str], ...] = ()
    """More headers every answer carries (surrogate keys, WebSub links)."""


def digest_of(body: bytes) -> str:
    """The opaque part of a representation's ETag: a hash of its identity bytes."""
    return hashlib.blake2b(body, digest_size=12).hexdigest()


@dataclass(slots=True)
class Representation:
    """One version of a resource: its validators, and its bodies in each coding.

    The validators are all a conditional request needs: a 304 reads no body. Bodies
    are held in :attr:`bodies` or fetched by :attr:`load` (from the shelf) the first
    time a coding is asked for; ``on_grow`` tells the holder how many bytes that added.
    """

    content_type: str
    last_modified: float
    """A Unix timestamp; ``Last-Modified`` is this, to the second."""
    max_age: int
    digest: str
    """Of the identity body; each coding's ETag is made from it."""
    release: float = math.inf
    """When it changes by itself (a scheduled article): no cache may keep it longer."""
    headers: tuple[tuple[str, str], ...] = ()
    """More headers every answer carries: surrogate keys and links, computed once."""
    shared_max_age: int | None = None
    """``s-maxage``: how long a purged shared cache may keep it; ``None`` sends none."""
    dated: bool = True
    """Whether it has a ``Last-Modified``: a page, made from more than one scope, has
    none, and ``If-Modified-Since`` is then ignored."""
    bodies: dict[str, bytes] = field(default_factory=dict)
    load: Callable[[str], bytes | None] | None = None
    on_grow: Callable[[int], None] | None = None
    _prepared: dict[str, Prepared] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(
        cls,
        body: bytes,
        content_type: str,
        last_modified: float,
        max_age: int,
        *,
        release: float = math.inf,
        headers: tuple[tuple[str, str], ...] = (),
        shared_max_age: int | None = None,
        dated: bool = True,
    ) -> Representation:
        """A representation of freshly rendered bytes, held in memory."""
        return cls(
            content_type,
            last_modified,
            max_age,
            digest_of(body),
            release=release,
            headers=headers,
            shared_max_age=shared_max_age,
            dated=dated,
            bodies={"identity": body},
        )

    def etag(self, coding: str) -> str:
        return self.prepared(coding).etag

    @property
    def browsable(self) -> bool:
        """A feed a browser tab gets as :data:`DOCUMENT_TYPE`: the same bytes, another label."""
        return self.content_type.partition(";")[0] in BROWSABLE

    def prepared(self, coding: str) -> Prepared:
        """The ETag and headers of ``coding``, made once: every cached hit asks."""
        found = self._prepared.get(coding)
        if found is None:
            etag = f'"{self.digest}"' if coding == "identity" else f'"{self.digest}-{coding}"'
            # Sec-Fetch-Dest picks the label of a browsable feed: caches must key on it.
            vary = "Accept-Encoding, Sec-Fetch-Dest" if self.browsable else "Accept-Encoding"
            headers = [("Content-Type", self.content_type), ("ETag", etag)]
            if self.dated:
                headers.append(("Last-Modified", formatdate(self.last_modified, usegmt=True)))
            headers += [("Vary", vary), ("X-Content-Type-Options", "nosniff"), *CORS_HEADERS]
            headers += self.headers
            if coding != "identity":
                headers.append(("Content-Encoding", coding))
            found = self._prepared[coding] = _prepare(etag, headers)
        return found

    def document(self, coding: str) -> Prepared:
        """``coding`` labelled for a browser tab: its own ETag (a cache must never answer
        a reader with it), :data:`DOCUMENT_TYPE` and a policy; the same body."""
        key = f"{coding}/document"
        found = self._prepared.get(key)
        if found is None:
            plain = self.prepared(coding)
            etag = plain.etag[:-1] + '-document"'
            renamed = {"Content-Type": DOCUMENT_TYPE, "ETag": etag}
            headers = [(name, renamed.get(name, value)) for name, value in plain.headers]
            headers.append(("Content-Security-Policy", DOCUMENT_POLICY))
            found = self._prepared[key] = _prepare(etag, headers)
        return found

    def body(self, coding: str) -> bytes | None:
        """The body in ``coding``: held, loaded, or compressed from the identity body;
        ``None`` when it cannot be had (a kept body that is gone or damaged)."""
        found = self.bodies.get(coding)
        if found is not None:
            return found
        with self._lock:
            found = self.bodies.get(coding)
            if found is None:
                if self.load is not None:
                    found = self.load(coding)
                if found is None and coding != "identity" and "identity" in self.bodies:
                    found = _COMPRESSORS[coding](self.bodies["identity"])
                if found is None:
                    return None
                self.bodies[coding] = found
                if self.on_grow is not None:
                    self.on_grow(len(found))
        return found

    def complete(self) -> Representation:
        """Compress every coding now (once per version), before the bodies are kept."""
        for coding in CODINGS:
            self.body(coding)
        return self

    def held(self) -> int:
        """Bytes of the bodies held in memory."""
        # list() copies the values in one step: another thread may be adding a body.
        return sum(map(len, list(self.bodies.values())))

    def cache_control(self, now: float) -> tuple[str, str]:
        """The Cache-Control header at ``now``: no lifetime past a scheduled release."""
        if self.release == math.inf:
            return _cache_control(self.max_age, self.shared_max_age)
        return (
            "Cache-Control",
            cache_control(self.max_age, self.shared_max_age, self.release, now),
        )


@functools.lru_cache(maxsize=1024)
def _cache_control(max_age: int, shared_max_age: int | None) -> tuple[str, str]:
    return ("Cache-Control", cache_control(max_age, shared_max_age, math.inf, 0.0))


def cache_control(max_age: int, shared_max_age: int | None, release: float, now: float) -> str:
    """``Cache-Control`` of a public response, every lifetime clipped at ``release``."""
    shared = shared_max_age
    if release != math.inf:
        left = max(0, math.ceil(release - now))
        max_age = min(max_age, left)
        shared = None if shared is None else min(shared, left)
    return f"public, max-age={max_age}" + ("" if shared is None else f", s-maxage={shared}")


def _prepare(etag: str, headers: Headers) -> Prepared:
    return Prepared(etag, headers, [h for h in headers if h[0] in _KEPT_IN_304])


class Prepared(NamedTuple):
    """What every response in one coding repeats."""

    etag: str
    headers: Headers
    """Of a 200, but for Cache-Control and Content-Length."""
    not_modified: Headers
    """Of a 304, but for Cache-Control."""


CODING_MEMO_ENTRIES = 1024
CODING_MEMO_LONGEST = 200
"""Only ``Accept-Encoding`` values this short are memoised, at most 1,024 of them
(about 300 KB): clients send few distinct values, but a request may send any."""
_coding_memo: dict[str, tuple[float, ...]] = {}
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")
_IMPLICIT = 0.0001
"""The weight of identity when the field neither names it nor has ``*``: acceptable,
but below any coding the client listed (the least q-value it can write is 0.001)."""


def coding_weights(accept_encoding: str) -> tuple[float, ...]:
    """The weight an ``Accept-Encoding`` value gives each of :data:`CODINGS`; 0 is
    "not acceptable" (RFC 9110 12.5.3).

    ``*`` stands for every coding the value does not name; identity is acceptable
    unless ``identity;q=0``, or ``*;q=0`` with no entry for identity, excludes it.
    """
    found = _coding_memo.get(accept_encoding)
    if found is not None:
        return found
    weights: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        name, *params = part.split(";")
        name = name.strip()
        if not name:
            continue
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                # A q-value that is not one (q=abc, q=-1, q=2) counts as q=0.
                value = value.strip()
                weight = float(value) if _QVALUE.fullmatch(value) else 0.0
        name = "gzip" if name == "x-gzip" else name  # RFC 9110 8.4.1.3: the same coding
        weights.setdefault(name, weight)  # the first entry for a coding counts
    star = weights.get("*")
    found = tuple(_weight(weights.get(coding, star), coding) for coding in CODINGS)
    if len(accept_encoding) <= CODING_MEMO_LONGEST and len(_coding_memo) < CODING_MEMO_ENTRIES:
        _coding_memo[accept_encoding] = found
    return found


_chosen_memo: dict[str, str | None] = {}
"""The coding chosen for each memoised ``Accept-Encoding``: no more keys than ``_coding_memo``."""


def _weight(given: float | None, coding: str) -> float:
    """A coding's weight: as given (by name or by ``*``), else identity's implicit one."""
    if given is not None:
        return given
    return _IMPLICIT if coding == "identity" else 0.0


def choose_coding(accept_encoding: str, available: tuple[str, ...] = CODINGS) -> str | None:
    """The coding of ``available`` to send for an ``Accept-Encoding`` value, or ``None``
    when none of them is acceptable.

    The highest q-value wins, ties going to br, then gzip, then identity. An empty
    value asks for identity.
    """
    if available is CODINGS and accept_encoding in _chosen_memo:  # every cached hit asks
        return _chosen_memo[accept_encoding]
    chosen: str | None = None
    best = 0.0
    for coding, weight in zip(CODINGS, coding_weights(accept_encoding), strict=True):
        if coding in available and weight > best:  # a tie keeps the preferred coding
            chosen, best = coding, weight
    if available is CODINGS and accept_encoding in _coding_memo:  # bounded as that memo
        _chosen_memo[accept_encoding] = chosen
    return chosen


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison of an ``If-None-Match`` list against one ETag (RFC 9110 13.1.2)."""
    if if_none_match == etag:  # what a poller sends back: no parsing
        return True
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(
        candidate.strip().removeprefix("W/") == opaque for candidate in if_none_match.split(",")
    )


_DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_HTTP_DATE = re.compile(
    rf"{_DAY}, \d\d {_MONTH} \d{{4}} \d\d:\d\d:\d\d GMT"  # IMF-fixdate
    rf"|(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \d\d-{_MONTH}-\d\d"
    r" \d\d:\d\d:\d\d GMT"  # RFC 850
    rf"|{_DAY} {_MONTH} [ \d]\d \d\d:\d\d:\d\d \d{{4}}"  # asctime
)
"""RFC 9110's HTTP-date, in its three forms: anything else (two dates joined by a comma,
a date with a zone) is not one, and the field is then ignored."""


def not_modified_since(if_modified_since: str, last_modified: float) -> bool:
    if not _HTTP_DATE.fullmatch(if_modified_since.strip(" \t")):
        return False  # RFC 9110: not one valid HTTP-date, the field is ignored
    try:
        since = parsedate_to_datetime(if_modified_since).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return False  # an invalid date is ignored, as RFC 9110 says
    return int(last_modified) <= since


def respond(
    representation: Representation,
    method: str,
    if_none_match: str | None,
    if_modified_since: str | None,
    accept_encoding: str | None,
    now: float,
    fetch_dest: str | None = None,
) -> tuple[int, Headers, bytes] | None:
    """Answer a GET or HEAD: status, headers and body (empty for HEAD and 304).

    ``None`` when the body to send cannot be had (see :meth:`Representation.body`):
    the caller renders it again. 406 when ``Accept-Encoding`` excludes every coding
    the representation comes in. A browsable feed opened in a browser tab
    (``Sec-Fetch-Dest: document``, which no feed reader sends) gets its
    :meth:`~Representation.document` label.
    """
    coding = choose_coding(accept_encoding) if accept_encoding else "identity"
    if coding is None:
        return not_acceptable(method)
    if fetch_dest == "document" and representation.browsable:
        prepared = representation.document(coding)
    else:
        prepared = representation.prepared(coding)
    if if_none_match is not None:
        fresh = etag_matches(if_none_match, prepared.etag)
    elif if_modified_since is not None and representation.dated:
        fresh = not_modified_since(if_modified_since, representation.last_modified)
    else:
        fresh = False
    if fresh:
        return 304, [*prepared.not_modified, representation.cache_control(now)], b""
    body = representation.bodies.get(coding) or representation.body(coding)
    if body is None:
        return None
    headers = [*prepared.headers, representation.cache_control(now)]
    headers.append(("Content-Length", str(len(body))))
    return 200, headers, b"" if method == "HEAD" else body


_KEPT_IN_304 = frozenset({"ETag", "Last-Modified", "Vary", *(name for name, _ in CORS_HEADERS)})
"""What a 304 repeats of its 200 (RFC 9110 15.4.5), with the CORS headers a browser needs."""


NOT_ACCEPTABLE = b"406 Not Acceptable: Accept-Encoding excludes br, gzip and identity\n"


def not_acceptable(method: str) -> tuple[int, Headers, bytes]:
    """The answer when no content coding is acceptable: a short plain-text 406."""
    headers: Headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Vary", "Accept-Encoding"),
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
        *CORS_HEADERS,
        ("Content-Length", str(len(NOT_ACCEPTABLE))),
    ]
    return 406, headers, b"" if method == "HEAD" else NOT_ACCEPTABLE
