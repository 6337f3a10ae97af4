"""The soak test's hostile requests: distinct huge tag names and query strings, bad
hosts and paths, malformed arguments, sent at a bounded rate.
"""

from __future__ import annotations

import http.client
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from bench.soak_edits import Loop


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


def send(
    port: int,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]] = (),
    timeout: float = 30,
) -> Answer:
    """One request on a fresh connection, with exactly these headers (``Host`` included
    only when given: a request without one is what some clients send)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        connection.close()


@dataclass(frozen=True)
class Hostile:
    """One hostile request and the answers that are fine for it."""

    kind: str
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    expected: frozenset[int]


def _distinct(rng: random.Random, number: int, length: int, letters: str) -> str:
    head = f"{number:08d}"
    return head + "".join(rng.choices(letters, k=length - len(head)))


class HostileClient(Loop):
    """Sends hostile requests, one kind after another, from ``threads`` threads each
    pausing ``pause`` seconds between requests: a bounded rate, whatever the latency."""

    def __init__(
        self, port: int, tags: Sequence[str], pause: float, seed: int, threads: int
    ) -> None:
        super().__init__("soak-hostile", pause, threads)
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.tags = list(tags)
        self.rng = random.Random(seed)
        self.sent: Counter[str] = Counter()
        self.errors: list[str] = []  # 5xx and connection errors
        self.unexpected: list[str] = []  # any other answer not among those expected
        # The costly kinds more often: thousands of distinct ones in a full run.
        self.makers: list[Callable[[int], Hostile]] = [
            self.long_tag,
            self.long_query,
            self.bad_host,
            self.long_tag,
            self.evil_path,
            self.bad_oembed,
            self.long_tag,
            self.long_query,
            self.not_acceptable,
            self.bad_argument,
            self.long_tag,
            self.tag_spelling,
            self.head,
            self.options,
        ]
        self.made: Counter[str] = Counter()

    def step(self, number: int) -> None:
        """The next request of the next kind; each kind numbers its own requests, which
        makes every long name and query distinct and walks through each kind's variants."""
        maker = self.makers[number % len(self.makers)]
        with self.lock:
            index = self.made[maker.__name__]
            self.made[maker.__name__] += 1
            request = maker(index)
            self.sent[request.kind] += 1
        self.check(request)

    def check(self, request: Hostile) -> None:
        what = f"{request.kind}: {request.method} {request.target[:80]}"
        try:
            answer = send(self.port, request.method, request.target, request.headers)
        except (OSError, http.client.HTTPException) as exc:
            self.errors.append(f"{what}: {type(exc).__name__}: {exc}")
            return
        if answer.status >= 500:
            self.errors.append(f"{what}: {answer.status} {answer.body[:200]!r}")
            return
        location = answer.headers.get("location")
        if location is not None and not location.startswith(self.base + "/"):
            self.unexpected.append(f"{what}: redirect to {location[:120]!r}")
        elif answer.status not in request.expected:
            self.unexpected.append(f"{what}: {answer.status} {answer.body[:120]!r}")
        elif request.method == "HEAD" and answer.body:
            self.unexpected.append(f"{what}: HEAD with a {len(answer.body)}-byte body")

    def host(self) -> tuple[str, str]:
        return ("Host", f"127.0.0.1:{self.port}")

    def tag(self, number: int) -> str:
        return quote(self.tags[number % len(self.tags)], safe="")

    def long_tag(self, number: int) -> Hostile:
        """A never-seen 16 KB tag name: no tag, a 404 whatever the route."""
        name = _distinct(self.rng, number, 16_384, "abcdefghijklmnopqrstuvwxyz")
        suffix = ("feed.rss", "", "feed.json", "headlines.json", "feed.atom")[number % 5]
        return Hostile("16 KB tag", "GET", f"/tags/{name}/{suffix}", (self.host(),), _404)

    def long_query(self, number: int) -> Hostile:
        """A never-seen 64,000-byte query string: ignored arguments, the usual answer."""
        query = "q" + _distinct(self.rng, number, 63_998, "abcdefghijklmnopqrstuvwxyz")
        query = query[:9] + "=" + query[10:]
        path = ("/feed.rss", f"/tags/{self.tag(number)}/feed.json", "/", "/headlines.json")[
            number % 4
        ]
        return Hostile("64 KB query", "GET", f"{path}?{query}", (self.host(),), _200)

    def bad_host(self, number: int) -> Hostile:
        """Hosts that must change no link: redirects stay on the base URL."""
        hosts = ["evil.com", "evil.com:443", "", "127.0.0.1:1", "x" * 1000, "[::1", "a b"]
        host = hosts[number % len(hosts)]
        path = ("/feed", "/feed.rss", f"/tags/{self.tag(number).upper()}/", "/tags")[number % 4]
        headers = (
            ("Host", host),
            ("X-Forwarded-Host", "evil.com"),
            ("X-Forwarded-Proto", "gopher"),
        )
        return Hostile("bad Host", "GET", path, headers, frozenset({200, 301, 400, 404}))

    def evil_path(self, number: int) -> Hostile:
        paths = ["//evil.com", "//evil.com/", "//evil.com/feed.rss", "///evil.com/tags/"]
        paths += ["/\\evil.com", "//evil.com/%2e%2e/feed.rss", "//tags/x//", "/%2F%2Fevil.com"]
        path = paths[number % len(paths)]
        return Hostile("//evil.com path", "GET", path, (self.host(),), frozenset({301, 400, 404}))

    def bad_oembed(self, number: int) -> Hostile:
        urls = ["http://[", "http://[::1", "http://%5B", "https://[x]:99999/tags/a/", ""]
        urls += ["http://127.0.0.1:" + "9" * 40 + "/tags/a/", "x" * 3000, "javascript:alert(1)"]
        value = quote(urls[number % len(urls)], safe=":/[]")
        target = f"/oembed?url={value}&maxwidth={('abc', '-1', '10', '')[number % 4]}"
        return Hostile("bad oEmbed", "GET", target, (self.host(),), _400_404)

    def not_acceptable(self, number: int) -> Hostile:
        paths = ["/feed.rss", f"/tags/{self.tag(number)}/feed.atom", "/", "/tags.json", "/tags/"]
        headers = (self.host(), ("Accept-Encoding", "identity;q=0, *;q=0"))
        return Hostile("no acceptable coding", "GET", paths[number % len(paths)], headers, _406)

    def bad_argument(self, number: int) -> Hostile:
        queries = ["limit=abc", "limit=0", "limit=101", "page=0", "page=-1", "limit=" + "9" * 5000]
        queries += ["page=999999", "limit=1e3", "page=%00", "limit=%EF%BC%95"]
        query = queries[number % len(queries)]
        paths = ["/feed.rss", f"/tags/{self.tag(number)}/feed.json", "/feed.atom"]
        if query.startswith("limit"):  # the headlines take a limit, not a page
            paths.append(f"/tags/{self.tag(number)}/headlines.json")
        path = paths[number % len(paths)]
        return Hostile("bad ?limit/?page", "GET", f"{path}?{query}", (self.host(),), _400_404)

    def tag_spelling(self, number: int) -> Hostile:
        """A never-seen 60-character spelling: kept by the normaliser's bounded memo."""
        name = _distinct(self.rng, number, 60, "ABCDEFGHIJKLMNOPQRSTUVWXYZ -.")
        return Hostile(
            "distinct tag spelling", "GET", f"/tags/{quote(name)}/", (self.host(),), _404
        )

    def head(self, number: int) -> Hostile:
        paths = ["/feed.rss", f"/tags/{self.tag(number)}/feed.json", "/", "/tags/", "/healthz"]
        return Hostile("HEAD", "HEAD", paths[number % len(paths)], (self.host(),), _200)

    def options(self, number: int) -> Hostile:
        headers = (
            self.host(),
            ("Origin", "https://partner.example"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "if-none-match"),
        )
        path = ("/feed.rss", f"/tags/{self.tag(number)}/headlines.json", "/tags.json")[number % 3]
        return Hostile("OPTIONS", "OPTIONS", path, headers, frozenset({200, 204}))


_200 = frozenset({200})


_404 = frozenset({404})


_406 = frozenset({406})


_400_404 = frozenset({400, 404})
