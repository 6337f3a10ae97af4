"""Cacheable responses: validators, compression and conditional GET, without Flask.

A :class:`Representation` is one version of one resource (a feed page, say) with
its validators and its compressed variants, each compressed once and kept. The
:func:`respond` function answers a GET or HEAD for it, 200 or 304, and is the only
place those headers are written: the Flask views and the fast path in front of
them both call it, so a cached hit and a first render send identical headers.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime

import brotli

Headers = list[tuple[str, str]]

CORS_HEADERS: Headers = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "ETag, Last-Modified, Link"),
]

_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    # Quality 9 of 11: close to the best ratio at a fraction of the time, and each
    # version of a feed is compressed only once.
    "br": lambda body: bytes(brotli.compress(body, quality=9)),
    "gzip": lambda body: gzip.compress(body, compresslevel=6, mtime=0),
}
CODINGS = ("br", "gzip", "identity")
"""Every coding a representation is sent in, the preferred first."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """What a view rendered for a resource, before it becomes a :class:`Representation`."""

    body: bytes
    content_type: str
    last_modified: float
    """A Unix timestamp: when the content last changed."""
    headers: tuple[tuple[str, str], ...] = ()
    """More headers every answer carries (surrogate keys, WebSub links)."""


@dataclass(slots=True)
class _Variant:
    body: bytes
    etag: str
    headers: Headers


@dataclass(slots=True)
class Representation:
    """The bytes of one resource version, with validators and lazily compressed variants."""

    body: bytes
    content_type: str
    last_modified: float
    """A Unix timestamp; ``Last-Modified`` is this, to the second."""
    max_age: int
    release: float = math.inf
    """When it changes by itself (a scheduled article): no cache may keep it longer."""
    headers: tuple[tuple[str, str], ...] = ()
    """More headers every answer carries: surrogate keys and links, computed once."""
    shared_max_age: int | None = None
    """``s-maxage``: how long a purged shared cache may keep it; ``None`` sends none."""
    _variants: dict[str, _Variant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    digest: str = ""

    def __post_init__(self) -> None:
        self.digest = hashlib.blake2b(self.body, digest_size=12).hexdigest()
        self._variants["identity"] = self._variant("identity", self.body)

    def _variant(self, coding: str, body: bytes) -> _Variant:
        suffix = "" if coding == "identity" else f"-{coding}"
        etag = f'"{self.digest}{suffix}"'
        headers: Headers = [
            ("Content-Type", self.content_type),
            ("ETag", etag),
            ("Last-Modified", formatdate(self.last_modified, usegmt=True)),
            ("Vary", "Accept-Encoding"),
            ("X-Content-Type-Options", "nosniff"),
            *CORS_HEADERS,
            *self.headers,
        ]
        if coding != "identity":
            headers.append(("Content-Encoding", coding))
        return _Variant(body, etag, headers)

    def variant(self, coding: str) -> _Variant:
        """The body in a content coding, compressed the first time it is asked for."""
        found = self._variants.get(coding)
        if found is None:
            with self._lock:
                found = self._variants.get(coding)
                if found is None:
                    found = self._variant(coding, _COMPRESSORS[coding](self.body))
                    self._variants[coding] = found
        return found

    def cache_control(self, now: float) -> str:
        return cache_control(self.max_age, self.shared_max_age, self.release, now)


def cache_control(max_age: int, shared_max_age: int | None, release: float, now: float) -> str:
    """``Cache-Control`` of a public response, every lifetime clipped at ``release``."""
    shared = shared_max_age
    if release != math.inf:
        left = max(0, math.ceil(release - now))
        max_age = min(max_age, left)
        shared = None if shared is None else min(shared, left)
    return f"public, max-age={max_age}" + ("" if shared is None else f", s-maxage={shared}")


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
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(
        candidate.strip().removeprefix("W/") == opaque for candidate in if_none_match.split(",")
    )


def not_modified_since(if_modified_since: str, last_modified: float) -> bool:
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
) -> tuple[int, Headers, bytes]:
    """Answer a GET or HEAD: status, headers and body (empty for HEAD and 304).

    406 when ``Accept-Encoding`` excludes every coding the representation comes in.
    """
    coding = choose_coding(accept_encoding) if accept_encoding else "identity"
    if coding is None:
        return not_acceptable(method)
    variant = representation.variant(coding)
    headers = [*variant.headers, ("Cache-Control", representation.cache_control(now))]
    if if_none_match is not None:
        fresh = etag_matches(if_none_match, variant.etag)
    elif if_modified_since is not None:
        fresh = not_modified_since(if_modified_since, representation.last_modified)
    else:
        fresh = False
    if fresh:
        keep = {"ETag", "Last-Modified", "Vary", "Cache-Control"}
        return 304, [h for h in headers if h[0] in keep or h[0].startswith("Access-")], b""
    headers.append(("Content-Length", str(len(variant.body))))
    return 200, headers, b"" if method == "HEAD" else variant.body


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
