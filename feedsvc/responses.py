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
PREFERENCE = ("br", "gzip")


@dataclass(frozen=True, slots=True)
class Rendered:
    """What a view rendered for a resource, before it becomes a :class:`Representation`."""

    body: bytes
    content_type: str
    last_modified: float
    """A Unix timestamp: when the content last changed."""


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
        max_age = self.max_age
        if self.release != math.inf:
            max_age = max(0, min(max_age, math.ceil(self.release - now)))
        return f"public, max-age={max_age}"


_coding_memo: dict[str, str] = {}


def choose_coding(accept_encoding: str) -> str:
    """Pick br, gzip or identity for an ``Accept-Encoding`` value (RFC 9110 12.5.3)."""
    chosen = _coding_memo.get(accept_encoding)
    if chosen is not None:
        return chosen
    weights: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        weight = 1.0
        params = params.strip().replace(" ", "")
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                weight = 0.0
        if name:
            weights[name.strip()] = weight
    chosen = "identity"
    for coding in PREFERENCE:
        if weights.get(coding, weights.get("*", 0.0)) > 0:
            chosen = coding
            break
    if len(_coding_memo) < 1024:  # clients send few distinct values; bound it anyway
        _coding_memo[accept_encoding] = chosen
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
    """Answer a GET or HEAD: status, headers and body (empty for HEAD and 304)."""
    coding = choose_coding(accept_encoding) if accept_encoding else "identity"
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
