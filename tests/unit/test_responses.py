"""Conditional GET, HEAD and content coding in feedsvc.responses, without a server."""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable
from email.utils import formatdate

import brotli
import pytest

from feedsvc.responses import Representation, choose_coding, etag_matches, respond

BODY = b'{"items": []}\n' * 40
LAST_MODIFIED = 1_767_225_600.75  # 2026-01-01T00:00:00.75Z: Last-Modified drops the fraction
NOW = 1_770_000_000.0
KEPT_BY_304 = {
    "ETag",
    "Last-Modified",
    "Vary",
    "Cache-Control",
    "Access-Control-Allow-Origin",
    "Access-Control-Expose-Headers",
}


def representation(release: float = math.inf) -> Representation:
    return Representation.of(
        BODY, "application/feed+json; charset=utf-8", LAST_MODIFIED, 300, release=release
    )


def get(
    rep: Representation,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
    accept_encoding: str | None = None,
    method: str = "GET",
) -> tuple[int, dict[str, str], bytes]:
    status, headers, body = respond(
        rep, method, if_none_match, if_modified_since, accept_encoding, NOW
    )
    names = [name for name, _ in headers]
    assert len(names) == len(set(names)), names  # no header is sent twice
    return status, dict(headers), body


# respond(): If-None-Match


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("{etag}", 304, id="exact"),
        pytest.param('"nope", {etag}', 304, id="list"),
        pytest.param('"nope",{etag},"other"', 304, id="list-no-spaces"),
        pytest.param("W/{etag}", 304, id="weak"),
        pytest.param("*", 304, id="star"),
        pytest.param('"nope"', 200, id="mismatch"),
        pytest.param('"nope", "other"', 200, id="list-mismatch"),
        pytest.param("{bare}", 200, id="unquoted"),
        pytest.param("", 200, id="empty"),
    ],
)
def test_if_none_match(value: str, expected: int) -> None:
    rep = representation()
    etag = get(rep)[1]["ETag"]
    header = value.format(etag=etag, bare=etag.strip('"'))
    status, _, body = get(rep, if_none_match=header)
    assert status == expected
    assert (body == b"") == (expected == 304)


def test_if_none_match_compares_the_etag_of_the_coding_sent() -> None:
    rep = representation()
    identity = get(rep)[1]["ETag"]
    zipped = get(rep, accept_encoding="gzip")[1]["ETag"]
    assert zipped != identity
    assert get(rep, if_none_match=zipped, accept_encoding="gzip")[0] == 304
    assert get(rep, if_none_match=identity, accept_encoding="gzip")[0] == 200
    assert get(rep, if_none_match=zipped)[0] == 200


# respond(): If-Modified-Since


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(formatdate(LAST_MODIFIED - 1, usegmt=True), 200, id="before"),
        pytest.param(formatdate(int(LAST_MODIFIED), usegmt=True), 304, id="equal"),
        pytest.param(formatdate(LAST_MODIFIED + 1, usegmt=True), 304, id="after"),
        # RFC 9110: a value that is not one valid HTTP-date is ignored.
        pytest.param("Thu, 01 Jan 2026 00:00:00 +0000", 200, id="numeric-zone"),
        pytest.param(
            "Thu, 01 Jan 2026 00:00:00 GMT, Fri, 02 Jan 2026 00:00:00 GMT", 200, id="two-dates"
        ),
        pytest.param("Thursday, 01-Jan-26 00:00:00 GMT", 304, id="rfc-850"),
        pytest.param("Thu Jan  1 00:00:00 2026", 304, id="asctime"),
        pytest.param("Wed, 31 Dec 2025 23:59:59 GMT", 200, id="a-second-before"),
        pytest.param("garbage", 200, id="invalid"),
        pytest.param("", 200, id="empty"),
        pytest.param("Thu, 99 Jan 2026 00:00:00 GMT", 200, id="impossible-day"),
    ],
)
def test_if_modified_since(value: str, expected: int) -> None:
    status, headers, _ = get(representation(), if_modified_since=value)
    assert status == expected
    assert headers["Last-Modified"] == "Thu, 01 Jan 2026 00:00:00 GMT"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(('"stale"', "{last_modified}"), 200, id="etag-mismatch-wins"),
        pytest.param(("{etag}", "{before}"), 304, id="etag-match-wins"),
        pytest.param(("{etag}", "garbage"), 304, id="etag-match-invalid-date"),
    ],
)
def test_if_none_match_wins_over_if_modified_since(value: tuple[str, str], expected: int) -> None:
    rep = representation()
    first = get(rep)[1]
    fill = {
        "etag": first["ETag"],
        "last_modified": first["Last-Modified"],
        "before": formatdate(LAST_MODIFIED - 3600, usegmt=True),
    }
    if_none_match, if_modified_since = (part.format(**fill) for part in value)
    assert get(rep, if_none_match, if_modified_since)[0] == expected


# respond(): HEAD, 304 headers, Cache-Control


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, bytes), ("gzip", gzip.decompress), ("br", brotli.decompress)],
)
def test_head_has_no_body_and_the_length_of_the_get(
    value: str | None, expected: Callable[[bytes], bytes]
) -> None:
    rep = representation()
    got = get(rep, accept_encoding=value)
    head = get(rep, accept_encoding=value, method="HEAD")
    assert head[0] == got[0] == 200
    assert head[2] == b""
    assert head[1] == got[1]  # every header, Content-Length included
    assert int(head[1]["Content-Length"]) == len(got[2]) > 0
    assert head[1].get("Content-Encoding") == value
    assert expected(got[2]) == BODY


@pytest.mark.parametrize("coding", [None, "gzip", "br"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_304_keeps_the_validators_and_drops_the_body_headers(
    coding: str | None, method: str
) -> None:
    rep = representation()
    full = get(rep, accept_encoding=coding)[1]
    status, headers, body = get(
        rep, if_none_match=full["ETag"], accept_encoding=coding, method=method
    )
    assert (status, body) == (304, b"")
    assert set(headers) == KEPT_BY_304  # no Content-Length, Content-Type or Content-Encoding
    assert "Content-Length" not in headers
    assert headers == {name: full[name] for name in KEPT_BY_304}
    assert "Content-Length" in full and "Content-Type" in full


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(math.inf, "public, max-age=300", id="nothing-scheduled"),
        pytest.param(NOW + 1000, "public, max-age=300", id="release-after-max-age"),
        pytest.param(NOW + 42, "public, max-age=42", id="release-sooner"),
        pytest.param(NOW + 41.2, "public, max-age=42", id="rounded-up"),
        pytest.param(NOW, "public, max-age=0", id="release-now"),
        pytest.param(NOW - 5, "public, max-age=0", id="release-passed"),
    ],
)
def test_cache_control_never_outlives_a_scheduled_release(value: float, expected: str) -> None:
    rep = representation(release=value)
    assert get(rep)[1]["Cache-Control"] == expected
    etag = get(rep)[1]["ETag"]
    assert get(rep, if_none_match=etag)[1]["Cache-Control"] == expected


# etag_matches()

OPAQUE = "5d41402abc4b2a76"
ETAG = f'"{OPAQUE}"'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (ETAG, True),
        (f"W/{ETAG}", True),
        (f'"other", {ETAG}', True),
        (f'"other",{ETAG}', True),
        (f'  {ETAG}  ,  "other"  ', True),
        (f'"other", W/{ETAG}', True),
        ("*", True),
        (" * ", True),
        ('"other"', False),
        ('"other", "more"', False),
        (OPAQUE, False),  # unquoted
        (ETAG.upper(), False),  # opaque tags compare case-sensitively
        (f'"{OPAQUE}-gzip"', False),  # another coding's tag
        (f'"{OPAQUE[:-1]}"', False),  # a prefix
        ("", False),
        ('"other", *', False),  # "*" stands only on its own
    ],
)
def test_etag_matches(value: str, expected: bool) -> None:
    assert etag_matches(value, ETAG) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(ETAG, True), (f"W/{ETAG}", True), ('W/"other"', False), ("*", True)],
)
def test_etag_matches_a_weak_etag_weakly(value: str, expected: bool) -> None:
    assert etag_matches(value, f"W/{ETAG}") is expected


# choose_coding()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gzip, deflate, br", "br"),
        ("br", "br"),
        ("gzip", "gzip"),
        ("deflate", "identity"),
        ("identity", "identity"),
        ("", "identity"),
        ("*", "br"),
        ("*;q=0", None),  # identity is excluded too: a 406
        ("*;q=0, gzip", "gzip"),
        ("br;q=0", "identity"),
        ("br;q=0, gzip", "gzip"),
        ("br;q=0, *", "gzip"),
        ("gzip;q=0", "identity"),
        ("gzip;q=0, br", "br"),
        ("gzip;q=0, *", "br"),
        ("br;q=0, gzip;q=0", "identity"),
        ("br;q=0, gzip;q=0, *", "identity"),
        ("identity, gzip;q=0.5", "identity"),  # identity's q=1 beats gzip's 0.5
        ("GZIP", "gzip"),
        ("Gzip, BR", "br"),
        ("BR;Q=0, GZIP", "gzip"),
        (" gzip ; q=0.5 ,  br ; q = 0 ", "gzip"),
        ("gzip;q=1.0", "gzip"),
        ("gzip;q=0.001", "gzip"),
        ("gzip;q=0.000", "identity"),
        ("gzip;level=1", "gzip"),  # a parameter other than q leaves the weight at 1
        ("gzip;q=abc", "identity"),  # a bad q value counts as q=0
        ("br;q=, gzip", "gzip"),
        ("br;q=-1, gzip", "gzip"),
        (",, gzip ,", "gzip"),
        # q-values decide (RFC 9110 12.5.3), ties go to br, then gzip, then identity.
        ("br;q=0.1, gzip;q=1.0", "gzip"),
        ("gzip;q=0.5, br;q=0.9", "br"),
        ("gzip, br;q=0.999", "gzip"),
        ("br;q=0.5, gzip;q=0.5", "br"),
        ("gzip;q=0.5, br;q=0.5", "br"),
        ("gzip;q=0.5, identity;q=0.5", "gzip"),
        ("gzip;q=0.5, identity;q=0.8", "identity"),
        ("identity;q=0.2, *;q=0.1", "identity"),
        ("*;q=0.5, gzip", "gzip"),
        ("*;q=0.5, identity", "identity"),
        ("*;q=0.5, br;q=0.4", "gzip"),
        ("gzip;q=0.001", "gzip"),  # below any listed coding, identity's implicit weight
        # identity is acceptable unless excluded by name or by "*;q=0" without an entry.
        ("identity;q=0", None),
        ("identity;q=0, *;q=0", None),
        ("*;q=0, identity;q=0", None),
        ("*;q=0, identity", "identity"),
        ("*;q=0, identity;q=0.1", "identity"),
        ("identity;q=0, gzip;q=0.2", "gzip"),
        ("identity;q=0, *", "br"),
        ("br;q=0, gzip;q=0, identity;q=0", None),
        ("identity;q=abc", None),  # a bad q value counts as q=0
        ("gzip;q=2", "identity"),
        ("gzip;q=1.5", "identity"),
        ("gzip;q=1.000", "gzip"),
        ("gzip;q=0.0001", "identity"),  # four decimals: no q-value
        ("gzip;q=nan, br;q=inf", "identity"),
        ("gzip; q=0.5; level=1", "gzip"),
        ("x-gzip", "gzip"),  # RFC 9110 8.4.1.3: x-gzip is gzip
        ("gzip;q=0, gzip", "identity"),  # the first entry for a coding counts
        ("compress, deflate;q=0.5", "identity"),
        ("*;q=0, compress", None),
    ],
)
def test_choose_coding(value: str, expected: str | None) -> None:
    assert choose_coding(value) == expected


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("value", ["identity;q=0", "*;q=0", "identity;q=0, *;q=0"])
def test_nothing_acceptable_is_a_short_plain_text_406(method: str, value: str) -> None:
    rep = representation()
    status, headers, body = get(rep, accept_encoding=value, method=method)
    assert status == 406
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Vary"] == "Accept-Encoding"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "ETag" not in headers and "Content-Encoding" not in headers
    full = get(rep, accept_encoding=value)[2]
    assert int(headers["Content-Length"]) == len(full) and 0 < len(full) < 100
    assert body == (b"" if method == "HEAD" else full)
    # Conditional headers do not turn it into a 304: no representation was selected.
    etag = get(rep)[1]["ETag"]
    assert get(rep, if_none_match=etag, accept_encoding=value)[0] == 406


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("gzip", "gzip"), ("br;q=0, gzip;q=0", None), ("*", "br")],
)
def test_respond_sends_the_chosen_coding(value: str | None, expected: str | None) -> None:
    assert get(representation(), accept_encoding=value)[1].get("Content-Encoding") == expected
