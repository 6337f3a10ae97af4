"""Bounded under attack: hostile requests against the real server.

Each test sends what an attacker would (tens of thousands of distinct long URLs,
forged Host headers, malformed arguments, odd ``Accept-Encoding`` values) and
checks the service stays bounded and correct: a worker's memory levels off, no
header changes where a redirect points, nothing answers 500, /healthz tells no
secrets, and every page and error carries its security headers.

Memory is read from the granian worker (the child of the ``feedsvc serve``
process) after N and after 2N requests, never against a wall clock.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.conftest import BUNDLED_ARTICLES, wait_until
from tests.system.conftest import LiveServer, serving, start_server, stop_server
from tests.unit.test_bounds import (
    MB,
    SECRET,
    broken_corpus,  # noqa: F401 (a fixture used here)
    long_name,
)

TAG = "syria"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The bundled articles on one server with a 1 MB response cache, shared by tests
    that only read (memory tests measure their own growth, not an absolute figure)."""
    folder = tmp_path_factory.mktemp("hostile") / "articles"
    shutil.copytree(BUNDLED_ARTICLES, folder)
    with serving(folder, CACHE_MEGABYTES="1") as running:
        yield running


# Helpers ------------------------------------------------------------------------------


def worker_pid(server: LiveServer) -> int:
    """The granian worker: the child of the ``feedsvc serve`` process that holds the most."""
    parent = server.process.pid
    children: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command may hold spaces and parentheses: fields follow the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            children.append(int(entry))
    assert children, "the server has no worker process"
    return max(children, key=rss)


def rss(pid: int) -> int:
    """Resident memory of a process, in bytes (VmRSS of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def drive(server: LiveServer, paths: Iterable[str], headers: dict[str, str] | None = None) -> int:
    """Send every request on one kept-alive connection (a new one when the server closes it);
    return how many answered below 500."""
    host = server.url.removeprefix("http://")
    connection = http.client.HTTPConnection(host, timeout=30)
    fine = 0
    try:
        for path in paths:
            for attempt in (1, 2):
                try:
                    connection.request("GET", path, headers=headers or {})
                    response = connection.getresponse()
                    response.read()
                    break
                except (http.client.HTTPException, ConnectionError):
                    connection.close()
                    connection = http.client.HTTPConnection(host, timeout=30)
                    if attempt == 2:
                        raise
            fine += response.status < 500
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
                connection = http.client.HTTPConnection(host, timeout=30)
    finally:
        connection.close()
    return fine


def growth(
    server: LiveServer, requests: Callable[[int, int], Iterable[str]], n: int, batches: int = 4
) -> list[int]:
    """Worker memory (bytes) after a warm-up of n requests, then after each n more.

    ``requests(start, stop)`` makes the paths numbered start to stop, each distinct.
    """
    pid = worker_pid(server)
    figures = []
    for batch in range(batches):
        assert drive(server, requests(batch * n, (batch + 1) * n)) == n
        figures.append(rss(pid))
    return figures


def report(name: str, figures: list[int]) -> str:
    shown = ", ".join(f"{f / MB:.1f}" for f in figures)
    return f"{name}: worker VmRSS after warm-up, N, 2N and 3N requests: {shown} MB"


# Rows 3 and 4: memory bounded by bytes ------------------------------------------------


Paths = Callable[[str, int, int], Iterable[str]]
"""Paths numbered ``start`` to ``stop``, each distinct, given the server's base URL."""

MEMORY_CASES: dict[str, tuple[Paths, int]] = {
    # 16 KB tag spellings, all unknown: every one is a 404.
    "unknown-tag-feeds": (
        lambda base, start, stop: (
            f"/tags/{long_name(i, 16_000)}/feed.rss" for i in range(start, stop)
        ),
        600,
    ),
    # Another spelling of a known tag, 16 KB long: every one is a 301.
    "long-spellings-of-a-known-tag": (
        lambda base, start, stop: (f"/tags/SYRIA{'!' * (16_000 + i)}/" for i in range(start, stop)),
        600,
    ),
    # oEmbed of a tag page URL on this site, with a 16 KB tag.
    "oembed-of-long-tags": (
        lambda base, start, stop: (
            f"/oembed?url={quote(base, safe='')}%2Ftags%2F{long_name(i, 16_000)}%2F"
            for i in range(start, stop)
        ),
        600,
    ),
    # 64 KB query strings of an argument the cache knows: fast-path alias candidates.
    "feed-with-long-query": (
        lambda base, start, stop: (
            f"/feed.rss?url={long_name(i, 64_000)}" for i in range(start, stop)
        ),
        400,
    ),
}


@pytest.mark.parametrize("case", list(MEMORY_CASES))
def test_distinct_long_urls_leave_worker_memory_level(tmp_path: Path, case: str) -> None:
    """Distinct long tag spellings and query strings, with a 1 MB response cache: the
    worker's memory does not follow the URLs it was sent.

    Each case has a server of its own: memory another case freed would hide growth."""
    folder = tmp_path / "articles"
    shutil.copytree(BUNDLED_ARTICLES, folder)
    with serving(folder, CACHE_MEGABYTES="1") as server:
        paths, n = MEMORY_CASES[case]
        figures = growth(server, lambda start, stop: paths(server.url, start, stop), n)
        batch = sum(len(path) for path in paths(server.url, 0, n))
    print(report(case, figures))
    # Over the last 2N requests, less than the URLs of N: a worker that kept what every
    # request sent would grow by twice that, steadily, where allocator noise comes and
    # goes (VmRSS also falls when freed arenas are returned: against the highest level
    # before, a rise back to where it was is no growth).
    assert figures[3] - max(figures[:2]) < batch, report(case, figures)
    # From the warm-up, more room: its N requests may not have filled the worker's page
    # caches yet (the shelf's SQLite connections take up to 2 MB each); the bound that
    # shows growth is the one above. Kept URLs would make this three times a batch.
    assert figures[3] - figures[0] < 2 * batch, report(case, figures)


# The alias table and the response cache -----------------------------------------------


# Row 13: malformed URLs are a 400 or 404, never a 500 ---------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "http://[",
        "http://[::1",
        "http://]/tags/syria/",
        "{base}:99999999/tags/syria/",
        "http://%zz/tags/syria/",
        "{base}/tags/%ff%fe/",
        "{base}/tags/%00/",
        "{base}/tags/\x00/",
        "\x00",
        "http://" + "a" * 60_000,
        "{base}/tags/" + "%" * 5_000 + "/",
        "{base}/tags/" + "S" * 60_000 + "/",
        "//127.0.0.1/tags/syria/",
        "javascript:alert(1)//127.0.0.1/tags/syria/",
    ],
)
def test_malformed_oembed_urls_are_a_short_400_or_404(server: LiveServer, address: str) -> None:
    before = len(server.log.read_bytes())
    address = address.replace("{base}", server.url)
    response = server.get("/oembed?url=" + quote(address, safe=":/[]%"))
    assert response.status in (400, 404), (address[:40], response.status)
    assert response.getheader("Content-Type") == "text/plain; charset=utf-8"
    assert len(response.body) <= 200
    logged = server.log.read_bytes()[before:]
    assert b"Traceback" not in logged and b"ERROR" not in logged, logged[-300:]


# Row 19: content coding by q-values, 406 when nothing is acceptable -------------------


CODING_CASES = [
    ("br;q=0.1, gzip;q=1.0", 200, "gzip"),
    ("gzip;q=0.5, br;q=0.9", 200, "br"),
    ("identity, gzip;q=0.5", 200, None),
    ("identity;q=0, *;q=0", 406, None),
    ("*;q=0", 406, None),
    ("identity;q=0", 406, None),
    ("identity;q=0, gzip;q=0.2", 200, "gzip"),
]


@pytest.mark.parametrize("fresh", [True, False], ids=["through-flask", "fast-path"])
@pytest.mark.parametrize("case", range(len(CODING_CASES)), ids=[c[0] for c in CODING_CASES])
def test_coding_by_q_values_on_both_paths(server: LiveServer, case: int, fresh: bool) -> None:
    """The first request for a URL goes through Flask; a repeat is a fast-path hit."""
    accept, status, coding = CODING_CASES[case]
    path = f"/tags/{TAG}/feed.json?limit={2 * case + (1 if fresh else 2)}"  # a URL of its own
    if not fresh:
        assert server.get(path).status == 200  # now cached, with its fast-path alias
    response = server.get(path, {"Accept-Encoding": accept})
    assert response.status == status
    assert response.getheader("Content-Encoding") == coding
    assert response.getheader("Vary") == "Accept-Encoding"
    if status == 406:
        assert response.getheader("Content-Type") == "text/plain; charset=utf-8"
        assert 0 < len(response.body) < 200
        head = server.get(path, {"Accept-Encoding": accept}, method="HEAD")
        assert head.status == 406 and head.body == b""


@pytest.mark.parametrize("case", range(len(CODING_CASES)), ids=[c[0] for c in CODING_CASES])
def test_pages_are_coded_by_the_same_q_values(server: LiveServer, case: int) -> None:
    """Pages come in br, gzip and identity, chosen exactly as for feeds."""
    accept, status, coding = CODING_CASES[case]
    response = server.get(f"/tags/{TAG}/", {"Accept-Encoding": accept})
    assert response.status == status
    assert response.getheader("Content-Encoding") == coding
    assert "Accept-Encoding" in response.getheader("Vary")


# Row 5: redirects on the base URL, never on the request's Host ------------------------


def raw_get(server: LiveServer, path: str, headers: dict[str, str] | None = None) -> Any:
    """A GET sending exactly ``headers``: no Host header unless one is given."""
    connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=10)
    connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


HOSTS = [
    pytest.param({"Host": "evil.com"}, id="evil-host"),
    pytest.param({}, id="no-host"),
    pytest.param({"Host": "evil.com", "X-Forwarded-Host": "evil.com"}, id="forwarded-host"),
    pytest.param({"Host": "evil.com:80", "X-Forwarded-Proto": "https"}, id="forwarded-proto"),
]


@pytest.mark.parametrize("headers", HOSTS)
@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/tags/syria", "/tags/syria/"),
        ("/tags", "/tags/"),
        ("/tags/Syria", None),  # a 301 on the base URL, in one hop or two
        ("/articles/syrian-forces-enter-palmyra/", "/articles/syrian-forces-enter-palmyra"),
        ("/tags/syria/feed.rss/", "/tags/syria/feed.rss"),
        ("//", "/"),
    ],
)
def test_canonical_redirects_are_on_the_base_url(
    server: LiveServer, headers: dict[str, str], path: str, location: str | None
) -> None:
    response = raw_get(server, path, headers)
    assert response.status == 301, (path, response.status, response.body[:100])
    found = response.getheader("Location")
    if location is not None:
        assert found == server.url + location
    assert found.startswith(server.url + "/")


@pytest.mark.parametrize("headers", HOSTS)
@pytest.mark.parametrize(
    "path",
    [
        "/tags//syria/",
        "/tags/%2F%2Fevil.com/",
        "//evil.com/",
        "//evil.com/tags/syria/",
        "/tags/syria//",
        "///evil.com/feed.rss",
        "/%2F%2Fevil.com",
        "/tags/%2e%2e/",
        "/\\evil.com/",
        "/tags/Syria/?next=//evil.com",
        "/feed",
        "/tags/syria/rss",
        "/embed/tags/Syria",
        "/tags/syria/headlines.json/",
    ],
)
def test_no_header_and_no_doubled_slash_moves_a_location_off_the_base_url(
    server: LiveServer, headers: dict[str, str], path: str
) -> None:
    response = raw_get(server, path, headers)
    assert response.status in (200, 301, 404), (path, response.status)
    found = response.getheader("Location")
    if found is not None:
        assert urlsplit(found).netloc == urlsplit(server.url).netloc, found
        assert found.startswith(server.url + "/") and not found.startswith(server.url + "//")
        assert found == raw_get(server, path, {"Host": "127.0.0.1"}).getheader("Location")


def test_redirects_keep_a_bounded_escaped_query(server: LiveServer) -> None:
    response = server.get("/tags/Syria/?q=%3Cb%3E&limit=5&x=a'b")
    assert response.status == 301
    assert response.getheader("Location") == f"{server.url}/tags/syria/?q=%3Cb%3E&limit=5&x=a'b"
    long = server.get("/tags/Syria/?q=" + "x" * 3_000)
    assert long.status == 400 and long.getheader("Location") is None
    assert len(long.body) < 200


# Row 16: security headers on every page and error -------------------------------------


PAGES = ["/", "/tags/", f"/tags/{TAG}/", "/articles/syrian-forces-enter-palmyra"]
ERRORS = [
    ("/tags/no-such-tag/", 404),
    ("/tags/no-such-tag/feed.rss", 404),
    ("/articles/no-such-slug", 404),
    ("/no/such/page", 404),
    ("/feed.rss?limit=0", 400),
    ("/feed.rss?page=999", 404),
    ("/oembed", 400),
    ("/oembed?url=x&format=xml", 501),
    ("/feeds.opml?tags=nope", 400),
]


def policy(header: str) -> dict[str, str]:
    found = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition(" ")
        found[name] = value
    return found


@pytest.mark.parametrize("path", PAGES)
def test_html_pages_carry_a_strict_policy(server: LiveServer, path: str) -> None:
    response = server.get(path)
    assert response.status == 200
    csp = policy(response.getheader("Content-Security-Policy") or "")
    assert csp.get("frame-ancestors") == "'none'"
    assert csp.get("default-src") == "'none'"
    assert csp.get("base-uri") == "'none'" and csp.get("object-src", "'none'") == "'none'"
    assert "unsafe-inline" not in str(csp) and "unsafe-eval" not in str(csp)
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("Referrer-Policy") == "same-origin"
    assert response.getheader("X-Frame-Options") == "DENY"
    body = response.body.decode()
    assert " on" + "focus=" not in body and " onclick=" not in body  # no inline handlers


def test_embed_page_stays_embeddable_with_its_own_policy(server: LiveServer) -> None:
    response = server.get(f"/embed/tags/{TAG}")
    csp = policy(response.getheader("Content-Security-Policy"))
    assert csp["frame-ancestors"] == "*" and csp["default-src"] == "'none'"
    assert "script-src" not in csp
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("Referrer-Policy") == "same-origin"
    assert response.getheader("X-Frame-Options") is None


@pytest.mark.parametrize(("path", "status"), ERRORS)
def test_errors_carry_the_security_headers(server: LiveServer, path: str, status: int) -> None:
    response = server.get(path)
    assert response.status == status
    assert response.getheader("Content-Type") == "text/plain; charset=utf-8"
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert policy(response.getheader("Content-Security-Policy") or "").get("frame-ancestors") == (
        "'none'"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/tags/{}/",
        "/tags/{}/feed.rss",
        "/tags/{}/headlines.json",
        "/embed/tags/{}",
        "/articles/{}",
        "/feeds.opml?tags={}",
    ],
)
def test_errors_echo_a_bounded_escaped_fragment(server: LiveServer, path: str) -> None:
    tag = "<script>" + long_name(1, 64_000)
    response = server.get(path.format(quote(tag)))
    assert response.status in (400, 404)
    text = response.body.decode()
    assert len(text) <= 200, len(text)
    assert "xxxxxxxxxx" in text  # a fragment is shown, to tell which argument was wrong
    assert response.getheader("X-Content-Type-Options") == "nosniff"


def test_errors_escape_control_characters(server: LiveServer) -> None:
    response = server.get("/tags/" + quote("a\x1b[31m\u202eb") + "/")
    assert response.status == 404
    assert response.body == b"no tag 'a\\x1b[31m\\u202eb'\n"


# Row 18: no framework static route ----------------------------------------------------


@pytest.mark.parametrize("path", ["/static/embed-frame.css", "/static/embed.js", "/static/"])
def test_no_static_folder_is_served(server: LiveServer, path: str) -> None:
    response = server.get(path)
    assert response.status == 404
    assert response.getheader("Cache-Control") is None


# Row 15: /healthz ---------------------------------------------------------------------


@pytest.mark.usefixtures("broken_corpus")
def test_health_tells_status_relative_paths_and_no_file_content(
    articles_dir: Path, live_server: Callable[..., LiveServer]
) -> None:
    """Skipped files make it "degraded"; each path is relative to the articles folder and
    no reason quotes the file; it is no cross-origin resource."""
    server = live_server()
    response = server.get("/healthz", {"Origin": "https://elsewhere.example"})
    text = response.body.decode()
    report = json.loads(text)
    assert response.status == 200
    assert report["status"] == "degraded"
    assert SECRET not in text and str(articles_dir) not in text
    assert report["skipped_count"] == 4
    assert report["skipped"] == [
        {"path": "colon.txt", "reason": "front matter line is not 'key: value'"},
        {"path": "dated.txt", "reason": "date: unparseable date"},
        {"path": "image.txt", "reason": "image is not an http(s) URL or a path from the site root"},
        {"path": "twin.txt", "reason": "slug is already served from good.txt"},
    ]
    assert not [name for name in response.headers if name.lower().startswith("access-control")]
    preflight = server.get("/healthz", {"Origin": "https://elsewhere.example"}, method="OPTIONS")
    assert preflight.getheader("Access-Control-Allow-Origin") is None


def test_health_is_degraded_while_the_articles_folder_is_missing(
    tmp_path: Path, articles_dir: Path
) -> None:
    """A folder missing at start stops the start (see test_startup); one that goes away
    while serving is a fault: the index is served as it was, and the health check says
    degraded, with the folder first among the problems, until it is back."""
    (articles_dir / "2026-01-01-kept.txt").write_text(
        "Kept\n\nStill served.\n\nnews\n\nThe body.\n"
    )
    server = start_server(articles_dir, tmp_path / "server.log")
    try:
        articles_dir.rename(tmp_path / "away")
        wait_until(lambda: "folder" in json.loads(server.get("/healthz").body), 30, "the fault")
        response = server.get("/healthz")
        report = json.loads(response.body)
        assert report["status"] == "degraded" and response.status == 200, report
        assert str(tmp_path) not in response.body.decode()
        [skipped] = report["skipped"]
        assert skipped["path"] == "." and "articles directory" in skipped["reason"], report
        assert b"Kept" in server.get("/feed.rss").body
        (tmp_path / "away").rename(articles_dir)
        wait_until(lambda: json.loads(server.get("/healthz").body)["status"] == "ok", 30, "back")
    finally:
        stop_server(server)


def test_health_is_ok_with_nothing_skipped(server: LiveServer) -> None:
    report = json.loads(server.get("/healthz").body)
    assert report["status"] == "ok" and report["skipped"] == [] and report["skipped_count"] == 0
    assert report["articles"] >= 10 and report["index"] == "ready"
