"""Soak test: feedsvc at full load for minutes, with live edits and hostile requests.

``python -m bench.soak [--minutes 10] [--articles 2000] [--workers 1]`` (from the
repository root) writes a realistic corpus (``bench.corpus``) to a temporary folder,
starts the real ``feedsvc serve`` on it with its own state directory, waits for the
first index build, then for ``--minutes``:

* **load**: ``wrk`` in slices (``--slice`` seconds) over a mix of URLs written into a
  Lua script: the site feed and many tag feeds in the three formats, paged and not,
  the home page, ``/tags/``, tag pages, article pages, headlines JSON, ``tags.json``,
  OPML, with assorted ``Accept-Encoding`` and conditional requests (``If-None-Match``
  and ``If-Modified-Since`` with validators fetched just before each slice); the script
  counts the status of every response;
* **edits**: a thread changes one article every ``--edit-pause`` seconds, in place
  (open, truncate, write half, pause 20-80 ms, write the rest), by atomic rename (write
  ``NAME.txt.tmp``, ``os.replace`` it over the article), by deleting it, or by putting
  a deleted article back; it keeps the model of what must be published at the end;
* **hostile requests**: 8 threads send, at a bounded rate, distinct 16 KB tag names,
  distinct 64,000-byte query strings, bad ``Host`` headers, ``//evil.com`` paths,
  malformed oEmbed URLs, unacceptable ``Accept-Encoding``, bad ``?limit=``/``?page=``,
  ``HEAD`` and ``OPTIONS``; any 5xx or connection error is an error, any other answer
  not among those expected (or a redirect off the base URL) is counted apart;
* **bodies**: two threads fetch feeds, each every ``--sample-pause`` seconds (identity
  and gzip), and parse every body (``xml.etree`` for RSS and Atom, ``json`` for JSON Feed),
  counting items whose title and body come from different saves (a half-written file);
* **memory**: a thread reads the ``VmRSS`` of the server's workers every 10 s.

Then it stops the edits, waits until ``/healthz`` has said for a few seconds that the
index has nothing left to do, and compares what is served (the site's JSON Feed, paged,
and ``tags.json``) with the model and the files on disk. The table goes to standard
output (exit status 0 even when a figure fails: it is a measurement), progress and
details to standard error.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from bench.client import get, retitled, wait_for
from bench.corpus import generate
from bench.load import parse_wrk
from bench.processes import Processes, children, clean_up, free_port, memory_kb
from bench.servers import ROOT, feedsvc_env
from feedsvc.articles import ArticleError, read_article

ATOM = "{http://www.w3.org/2005/Atom}"
MEMORY_EVERY = 10.0
"""Seconds between memory samples."""
GROWTH_LIMIT = 0.10
"""Memory is flat when it grew less than this from the reference point to the end."""
QUIET_SECONDS = 3.0
"""How long /healthz must say ``ready``, edits stopped, before the final comparison."""
RESCAN_SECONDS = 30.0
"""feedsvc's default full-rescan period: a mismatch is checked again after it."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Loop:
    """``step(number)`` in ``threads`` threads until stopped, each pausing ``pause`` seconds
    between steps; the first exception is kept in ``crash`` and stops that thread."""

    def __init__(self, name: str, pause: float, threads: int = 1) -> None:
        self.pause = pause
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.crash: str | None = None
        self.started = time.monotonic()
        """When the threads started."""
        self._next = 0
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True)
            for i in range(threads)
        ]

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                with self.lock:
                    number = self._next
                    self._next += 1
                self.step(number)
                self.stop.wait(self.pause)
        except Exception:
            self.crash = traceback.format_exc()

    def step(self, number: int) -> None:
        raise NotImplementedError


# Edits --------------------------------------------------------------------------------


@dataclass
class Published:
    """An article of the model: its file and the text it was last given."""

    path: Path
    original: str
    text: str


class Editor(Loop):
    """Changes one article every ``pause`` seconds and keeps the model of what is published.

    Every rewrite gives the article's title a fixed-width revision mark, so an article's
    file keeps the same size from one revision to the next: only its times (and, after a
    rename, its inode) tell the index it changed.
    """

    KINDS = ("in place", "rename", "delete", "re-add")

    def __init__(self, paths: dict[str, Path], pause: float, seed: int) -> None:
        super().__init__("soak-editor", pause)
        self.rng = random.Random(seed)
        self.published: dict[str, Published] = {}
        for slug, path in paths.items():
            text = path.read_text(encoding="utf-8")
            self.published[slug] = Published(path, text, text)
        self.deleted: dict[str, Published] = {}
        self.max_deleted = max(1, len(paths) // 20)
        self.counts: Counter[str] = Counter()
        self.revision = 0
        self.history: dict[str, list[str]] = {}
        """Per slug, what was done to it and when (seconds since the start of the load)."""

    def next_text(self, article: Published) -> str:
        self.revision += 1
        mark = f" (rev {self.revision:07d})"
        return retitled(article.original, mark) + f"\nRevision{mark} adds a paragraph.\n"

    def note(self, kind: str, slug: str) -> None:
        self.counts[kind] += 1
        moment = time.monotonic() - self.started
        self.history.setdefault(slug, []).append(f"{moment:.3f} s {kind} rev {self.revision}")

    def step(self, number: int) -> None:
        rng = self.rng
        if self.deleted and (len(self.deleted) >= self.max_deleted or rng.random() < 0.15):
            slug = rng.choice(sorted(self.deleted))
            article = self.deleted.pop(slug)
            article.text = self.next_text(article)
            if self.counts["re-add"] % 2:
                write_by_rename(article.path, article.text)
            else:
                article.path.write_text(article.text, encoding="utf-8")
            self.published[slug] = article
            self.note("re-add", slug)
            return
        slug = rng.choice(sorted(self.published))
        article = self.published[slug]
        choice = rng.random()
        if choice < 0.42:
            article.text = self.next_text(article)
            write_in_place(article.path, article.text, rng.uniform(0.02, 0.08))
            self.note("in place", slug)
        elif choice < 0.84:
            article.text = self.next_text(article)
            write_by_rename(article.path, article.text)
            self.note("rename", slug)
        else:
            article.path.unlink()
            self.deleted[slug] = self.published.pop(slug)
            self.note("delete", slug)


def write_in_place(path: Path, text: str, pause: float) -> None:
    """Truncate the file and write it in two halves with a pause between: a slow save."""
    data = text.encode()
    half = len(data) // 2
    with path.open("r+b", buffering=0) as handle:
        handle.truncate(0)
        handle.write(data[:half])
        time.sleep(pause)
        handle.write(data[half:])


def write_by_rename(path: Path, text: str) -> None:
    """An atomic save: the new text in ``NAME.txt.tmp``, renamed over the article."""
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


# Requests -----------------------------------------------------------------------------


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


# Sampled bodies ------------------------------------------------------------------------


REVISION = re.compile(r"\(rev (\d{7})\)")
"""The revision mark the editor puts in a title (and in the paragraph it adds)."""


def torn(title: str, text: str) -> bool:
    """Whether an item's title is from one save and its body from another: the title has
    the mark of a revision whose paragraph, at the end of the file, is not in the text.
    That is a half-written file served (the title is in the first half of the file)."""
    mark = REVISION.search(title)
    return mark is not None and f"Revision (rev {mark[1]}) adds a paragraph." not in text


def check_body(fmt: str, body: bytes) -> list[tuple[str, str]]:
    """Parse a feed body; return its items' titles and whole text (raises when it is
    malformed)."""
    if fmt == "json":
        document = json.loads(body)
        if not isinstance(document, dict) or not str(document.get("version", "")).startswith(
            "https://jsonfeed.org/version/"
        ):
            raise ValueError("not a JSON Feed")
        items = document.get("items")
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and i.get("id") and "title" in i for i in items
        ):
            raise ValueError("items are not a list of items with id and title")
        return [(str(i["title"]), str(i.get("content_html", ""))) for i in items]
    root = ET.fromstring(body)
    if fmt == "rss":
        if root.tag != "rss" or root.find("channel") is None:
            raise ValueError(f"root element is {root.tag!r}, not rss")
        items_found = root.findall("./channel/item")
        if any(i.findtext("guid") is None for i in items_found):
            raise ValueError("an item without guid")
        return [(i.findtext("title") or "", ET.tostring(i, "unicode")) for i in items_found]
    if root.tag != f"{ATOM}feed":
        raise ValueError(f"root element is {root.tag!r}, not an Atom feed")
    entries = root.findall(f"{ATOM}entry")
    if any(e.findtext(f"{ATOM}id") is None for e in entries):
        raise ValueError("an entry without id")
    return [(e.findtext(f"{ATOM}title") or "", ET.tostring(e, "unicode")) for e in entries]


class FeedSampler(Loop):
    """Fetches feeds in turn, identity and gzip, and parses every body."""

    def __init__(
        self, port: int, tags: Sequence[str], pause: float, keep: Path, threads: int
    ) -> None:
        super().__init__("soak-sampler", pause, threads)
        self.port = port
        self.keep = keep
        scopes = ["/", *(f"/tags/{quote(tag, safe='')}/" for tag in tags)]
        self.paths = [(f"{scope}feed.{fmt}", fmt) for scope in scopes for fmt in FORMATS]
        self.paths.append(("/feed.json?limit=100&page=2", "json"))
        self.paths.append(("/feed.atom?page=3", "atom"))
        self.samples = 0
        self.malformed: list[str] = []
        self.torn: list[str] = []
        """Items whose title and body come from different saves of the file."""
        self.errors: list[str] = []
        self.not_found = 0

    def step(self, number: int) -> None:
        path, fmt = self.paths[number // 2 % len(self.paths)]
        self.sample(path, fmt, "gzip" if number % 2 else None)

    def sample(self, path: str, fmt: str, coding: str | None) -> None:
        try:
            reply = get(self.port, path, {"Accept-Encoding": coding or "identity"}, timeout=30)
        except (OSError, http.client.HTTPException) as exc:
            self.errors.append(f"{path}: {type(exc).__name__}: {exc}")
            return
        if reply.status >= 500:
            self.errors.append(f"{path}: {reply.status} {reply.body[:200]!r}")
            return
        if reply.status == 404:  # a tag whose articles are all deleted just now
            self.not_found += 1
            return
        with self.lock:
            self.samples += 1
        body = reply.body
        try:
            if reply.status != 200:
                raise ValueError(f"status {reply.status}")
            encoding = reply.headers.get("content-encoding")
            if encoding != coding:
                raise ValueError(f"Content-Encoding {encoding!r} for Accept-Encoding {coding!r}")
            if encoding == "gzip":
                body = gzip.decompress(body)
            items = check_body(fmt, body)
        except Exception as exc:
            with self.lock:
                number = len(self.malformed)
                self.malformed.append(
                    f"{path} ({coding or 'identity'}): {type(exc).__name__}: {exc}"
                )
            if number < 5:
                (self.keep / f"malformed-{number}.{fmt}").write_bytes(reply.body)
            return
        for title, text in items:
            if torn(title, text):
                with self.lock:
                    self.torn.append(f"{path} ({coding or 'identity'}): {title!r}")


FORMATS = ("rss", "atom", "json")


# Memory -----------------------------------------------------------------------------


class MemorySampler(Loop):
    """The ``VmRSS`` of each of the server's workers every ``every`` seconds."""

    def __init__(self, server: int, every: float = MEMORY_EVERY) -> None:
        super().__init__("soak-memory", every)
        self.server = server
        self.series: list[tuple[float, dict[int, int]]] = []
        self.workers_seen: set[int] = set()

    def step(self, number: int) -> None:
        self.sample()

    def sample(self) -> None:
        rss = {pid: memory_kb(pid) for pid in children(self.server)}
        rss = {pid: kb for pid, kb in rss.items() if kb > 0}
        with self.lock:
            self.workers_seen.update(rss)
            self.series.append((time.monotonic() - self.started, rss))

    def totals(self) -> list[tuple[float, float]]:
        """(seconds, MB of all workers) per sample."""
        with self.lock:
            return [(t, sum(rss.values()) / 1024) for t, rss in self.series]


@dataclass(frozen=True)
class Memory:
    start: float
    end: float
    peak: float
    reference: float
    reference_at: float
    growth: float
    per_minute: list[tuple[int, int, float, float, float]]  # minute, samples, min, median, max
    workers_seen: int


def memory_figures(sampler: MemorySampler, duration: float) -> Memory:
    series = sampler.totals()
    if not series:
        raise RuntimeError("no memory sample")
    # From the end of minute 2, or from the middle of a run shorter than 4 minutes.
    reference_at = 120.0 if duration >= 240 else duration / 2
    reference_t, reference = max(
        ((t, mb) for t, mb in series if t <= reference_at + 1), default=series[0]
    )
    end = series[-1][1]
    per_minute = []
    for minute in range(int(max(t for t, _ in series) // 60) + 1):
        values = [mb for t, mb in series if minute * 60 <= t < (minute + 1) * 60]
        if values:
            row = (minute + 1, len(values), min(values), statistics.median(values), max(values))
            per_minute.append(row)
    return Memory(
        series[0][1],
        end,
        max(mb for _, mb in series),
        reference,
        reference_t,
        (end - reference) / reference if reference else 0.0,
        per_minute,
        len(sampler.workers_seen),
    )


# Load -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One request of the wrk mix; ``validators`` asks for a conditional request."""

    path: str
    coding: str | None = None
    validators: str | None = None  # "etag" or "date"


def lua_string(text: str) -> str:
    """A Lua string literal (decimal escapes for anything but printable ASCII)."""
    out = []
    for char in text:
        if 32 <= ord(char) < 127 and char not in '"\\':
            out.append(char)
        else:
            out.extend(f"\\{byte:03d}" for byte in char.encode())
    return '"' + "".join(out) + '"'


LUA = """\
-- Generated by bench.soak: cycles through the requests, counts every status.
local requests = {
%s
}
local formatted = {}
local position = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  for i, r in ipairs(requests) do
    formatted[i] = wrk.format("GET", r[1], r[2])
  end
  position = (id or 0) * 997 %% #formatted
  statuses = {}
end

function request()
  position = position %% #formatted + 1
  return formatted[position]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("status %%d %%d\\n", status, count))
    end
  end
end
"""


def mix(tags: Sequence[str], slugs: Sequence[str], rng: random.Random) -> list[Target]:
    """The URLs of the load: feeds, pages, headlines, in every format, some conditional."""
    codings = [None, "gzip", "br", "gzip, deflate, br", "identity"]
    feeds: list[str] = []
    pages = ["/", "/tags/", "/headlines.json", "/tags.json", "/feeds.opml"]
    for fmt in FORMATS:
        feeds += [f"/feed.{fmt}", f"/feed.{fmt}?page=2", f"/feed.{fmt}?limit=50"]
    for number, tag in enumerate(tags):
        scope = f"/tags/{quote(tag, safe='')}/"
        feeds += [f"{scope}feed.{fmt}" for fmt in FORMATS]
        pages.append(f"{scope}headlines.json")
        if number % 8 == 0:
            pages.append(scope)  # rendered per request: the costliest page
    pages += [f"/articles/{quote(slug, safe='')}" for slug in slugs]
    targets = [Target(path, rng.choice(codings)) for path in feeds + pages]
    for path in feeds[::3]:
        targets.append(Target(path, rng.choice(codings), rng.choice(("etag", "date"))))
    rng.shuffle(targets)
    return targets


def lua_script(port: int, targets: Sequence[Target], errors: list[str]) -> str:
    """The wrk script, with validators fetched now (8 at a time) for the conditional
    requests; a 5xx or a connection error while fetching them goes to ``errors``."""

    def headers_of(target: Target) -> dict[str, str]:
        headers: dict[str, str] = {}
        if target.coding is not None:
            headers["Accept-Encoding"] = target.coding
        if target.validators is None:
            return headers
        try:
            reply = get(port, target.path, headers, timeout=30)
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{target.path}: {type(exc).__name__}: {exc}")
            return headers
        if reply.status >= 500:
            errors.append(f"{target.path}: {reply.status} {reply.body[:200]!r}")
        if target.validators == "etag" and "etag" in reply.headers:
            headers["If-None-Match"] = reply.headers["etag"]
        elif "last-modified" in reply.headers:
            headers["If-Modified-Since"] = reply.headers["last-modified"]
        return headers

    lines = []
    with ThreadPoolExecutor(8) as pool:
        for target, headers in zip(targets, pool.map(headers_of, targets), strict=True):
            table = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items())
            lines.append(f"  {{{lua_string(target.path)}, {{{table}}}}},")
    return LUA % "\n".join(lines)


@dataclass
class LoadTotals:
    slices: int = 0
    seconds: float = 0.0
    requests: int = 0
    socket_errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    validator_errors: list[str] = field(default_factory=list)
    """5xx answers and connection errors while fetching validators between slices."""


def run_slice(script: Path, port: int, seconds: int, connections: int, totals: LoadTotals) -> None:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", str(script), f"http://127.0.0.1:{port}/"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
    result = parse_wrk(done.stdout, 0.0)
    totals.slices += 1
    totals.seconds += seconds
    totals.requests += result.requests
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", done.stdout
    )
    socket_errors = sum(int(sock[i]) for i in range(1, 5)) if sock else 0
    totals.socket_errors += socket_errors
    statuses = Counter[int]()
    for status, count in re.findall(r"^status (\d+) (\d+)$", done.stdout, re.M):
        statuses[int(status)] += int(count)
    totals.statuses.update(statuses)
    log(
        f"slice {totals.slices}: {result.requests:,} requests ({result.requests_per_s:,.0f}/s), "
        f"statuses {dict(sorted(statuses.items()))}, socket errors {socket_errors}"
    )


# The end ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    """What ``/healthz`` said of the index: its phase, and how far it came."""

    name: str
    done: int
    total: int

    def __str__(self) -> str:
        return f"{self.name} ({self.done} of {self.total})"


def wait_quiet(
    port: int, process: subprocess.Popen[bytes], quiet: float, limit: float = 120
) -> Phase:
    """Until ``/healthz`` has said for ``quiet`` seconds in a row that the index has nothing
    left to do; returns what it said last.

    That is ``ready``, or another phase than ``building`` whose progress is complete
    (``done`` equal to ``total``): a feedsvc that drops its "ready" report after a full
    rescan that found no change (when it comes within the 0.5 s throttle of the
    "reconciling" one, as it did until the indexer forced it) says ``reconciling (0 of 0)``
    until the next change, so ``ready`` may never come. The caller reports a phase other
    than ``ready``.
    """
    deadline = time.monotonic() + limit
    since: float | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"feedsvc exited with {process.returncode}")
        health = json.loads(get(port, "/healthz", timeout=30).body)
        progress = health.get("progress") or {}
        phase = Phase(str(health.get("index")), progress.get("done", 0), progress.get("total", 0))
        idle = phase.name == "ready" or (phase.name != "building" and phase.done >= phase.total)
        now = time.monotonic()
        since = (since or now) if idle else None
        if since is not None and now - since >= quiet:
            return phase
        time.sleep(0.2)
    raise RuntimeError(f"/healthz did not say the index was idle for {quiet} s within {limit} s")


@dataclass
class Served:
    titles: dict[str, str]
    contents: dict[str, str]
    duplicates: list[str]
    tag_counts: dict[str, int]
    health: dict[str, object]


def served(port: int) -> Served:
    """Every article the site's JSON Feed lists (paged), the tags' counts and /healthz."""
    titles: dict[str, str] = {}
    contents: dict[str, str] = {}
    duplicates = []
    page = 1
    while True:
        reply = get(port, f"/feed.json?limit=100&page={page}", timeout=60)
        if reply.status == 404 and page > 1:
            break
        if reply.status != 200:
            raise RuntimeError(f"/feed.json page {page}: {reply.status}")
        document = json.loads(reply.body)
        for item in document["items"]:
            slug = unquote(urlsplit(item["url"]).path.rsplit("/articles/", 1)[1])
            if slug in titles:
                duplicates.append(slug)
            titles[slug] = item["title"]
            contents[slug] = item.get("content_html", "")
        if "next_url" not in document:
            break
        page += 1
    tags = json.loads(get(port, "/tags.json", timeout=60).body)["tags"]
    health = json.loads(get(port, "/healthz", timeout=60).body)
    return Served(titles, contents, duplicates, {t["key"]: t["count"] for t in tags}, health)


@dataclass
class OnDisk:
    titles: dict[str, str]
    last_paragraphs: dict[str, str]
    """The paragraph an edit added at the end of the file, by slug, for edited articles."""
    tag_counts: Counter[str]
    unreadable: list[str]


def on_disk(folder: Path) -> OnDisk:
    """What the files say, read with feedsvc's own parser."""
    titles: dict[str, str] = {}
    last: dict[str, str] = {}
    counts: Counter[str] = Counter()
    unreadable = []
    for path in sorted(folder.glob("*.txt")):
        try:
            article, body = read_article(path, with_body=True)
        except ArticleError as exc:
            unreadable.append(f"{path.name}: {exc}")
            continue
        titles[article.slug] = article.title
        if body and body[-1].startswith("Revision (rev "):
            last[article.slug] = body[-1]
        counts.update(tag.key for tag in article.tags)
    return OnDisk(titles, last, counts, unreadable)


@dataclass
class Comparison:
    lost: list[str]
    ghosts: list[str]
    titles: list[str]
    tags: list[str]
    duplicates: list[str]
    articles_in_health: object
    skipped_in_health: object


def compare(port: int, model: set[str], disk: OnDisk) -> Comparison:
    found = served(port)
    lost = sorted(model - found.titles.keys())
    ghosts = sorted(found.titles.keys() - model)
    titles = []
    for slug in sorted(model & found.titles.keys()):
        if found.titles[slug] != disk.titles.get(slug):
            titles.append(f"{slug}: served {found.titles[slug]!r}, file {disk.titles.get(slug)!r}")
        elif (
            slug in disk.last_paragraphs and disk.last_paragraphs[slug] not in found.contents[slug]
        ):
            titles.append(f"{slug}: the body served lacks {disk.last_paragraphs[slug]!r}")
    tags = [
        f"{key}: served {found.tag_counts.get(key, 0)}, files {disk.tag_counts.get(key, 0)}"
        for key in sorted(found.tag_counts.keys() | disk.tag_counts.keys())
        if found.tag_counts.get(key, 0) != disk.tag_counts.get(key, 0)
    ]
    return Comparison(
        lost,
        ghosts,
        titles,
        tags,
        found.duplicates,
        found.health.get("articles"),
        found.health.get("skipped_count"),
    )


# The report -------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def server_log_figures(path: Path) -> tuple[int, int]:
    """Errors (tracebacks, ERROR lines) and warnings about skipped files in the server log."""
    text = path.read_text(errors="replace")
    errors = len(re.findall(r"^Traceback|\bERROR\b|\[ERROR\]", text, re.M))
    skipped = len(re.findall(r"WARNING feedsvc\.indexer: skipped", text))
    return errors, skipped


@dataclass
class Outcome:
    minutes: float
    articles: int
    workers: int
    load: LoadTotals
    editor: Editor
    hostile: HostileClient
    sampler: FeedSampler
    memory: Memory
    first: Comparison
    healed: Comparison | None
    log_errors: int
    log_skipped: int
    phase: Phase


def report(o: Outcome) -> str:
    edits = ", ".join(f"{kind} {o.editor.counts[kind]:,}" for kind in Editor.KINDS)
    statuses = ", ".join(f"{s}: {n:,}" for s, n in sorted(o.load.statuses.items()))
    server_errors = sum(n for s, n in o.load.statuses.items() if s >= 500)
    others = len(o.hostile.errors) + len(o.sampler.errors) + len(o.load.validator_errors)
    errors = server_errors + o.load.socket_errors + others
    hostile = sum(o.hostile.sent.values())
    kinds = ", ".join(f"{k} {n:,}" for k, n in o.hostile.sent.items())
    m = o.memory
    c = o.first
    rate = o.load.requests / o.load.seconds if o.load.seconds else 0.0
    rows = [
        (
            f"requests (wrk, {o.load.slices} slices, {o.load.seconds:.0f} s)",
            f"{o.load.requests:,} ({rate:,.0f}/s)",
            "",
            "",
        ),
        ("wrk answers by status", statuses, "", ""),
        (
            "error responses (5xx and connection errors)",
            f"{errors} (wrk {server_errors} + {o.load.socket_errors}, others {others})",
            "0",
            verdict(errors == 0),
        ),
        (
            f"malformed bodies (of {o.sampler.samples:,} feeds parsed)",
            str(len(o.sampler.malformed)),
            "0",
            verdict(not o.sampler.malformed),
        ),
        (
            "sampled items whose title and body are from different saves (a torn file)",
            str(len(o.sampler.torn)),
            "0",
            verdict(not o.sampler.torn),
        ),
        (f"edits made ({sum(o.editor.counts.values()):,})", edits, "", ""),
        (f"hostile requests sent ({hostile:,})", kinds, "", ""),
        (
            "hostile requests answered otherwise than expected",
            str(len(o.hostile.unexpected)),
            "0",
            verdict(not o.hostile.unexpected),
        ),
        (
            "lost articles (in the model, not served)",
            str(len(c.lost)),
            "0",
            verdict(not c.lost),
        ),
        (
            "ghost articles (served, not in the model)",
            str(len(c.ghosts) + len(c.duplicates)),
            "0",
            verdict(not c.ghosts and not c.duplicates),
        ),
        (
            "served articles differing from the file (title, or an edit's last paragraph)",
            str(len(c.titles)),
            "0",
            verdict(not c.titles),
        ),
        (
            "tag counts differing from the files (tags.json)",
            str(len(c.tags)),
            "0",
            verdict(not c.tags),
        ),
        *_recheck(o.healed),
        (
            f"/healthz index once the edits stopped ({QUIET_SECONDS:.0f} s with nothing to do)",
            str(o.phase),
            "ready",
            verdict(o.phase.name == "ready"),
        ),
        (
            "skipped files at the end (/healthz skipped_count)",
            str(c.skipped_in_health),
            "0",
            verdict(c.skipped_in_health == 0),
        ),
        (
            "errors in the server log",
            str(o.log_errors),
            "0",
            verdict(o.log_errors == 0),
        ),
        (
            "worker processes seen (a restart adds one)",
            str(m.workers_seen),
            str(o.workers),
            verdict(m.workers_seen == o.workers),
        ),
        (
            "half-written files read and withdrawn meanwhile (log warnings)",
            str(o.log_skipped),
            "",
            "",
        ),
        (
            "memory, workers' VmRSS: start / end / max",
            f"{m.start:.0f} / {m.end:.0f} / {m.peak:.0f} MB",
            "",
            "",
        ),
        (
            f"memory growth from {m.reference_at:.0f} s ({m.reference:.0f} MB) to the end",
            f"{100 * m.growth:+.1f}%",
            f"< {100 * GROWTH_LIMIT:.0f}%",
            verdict(m.growth < GROWTH_LIMIT),
        ),
    ]
    out = [
        f"feedsvc soak, {time.strftime('%Y-%m-%d')}: {o.minutes:g} min, {o.articles:,} articles, "
        f"{o.workers} worker(s)",
        "",
        "| figure | measured | expected | result |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
        "",
        "| minute | memory samples | min MB | median MB | max MB |",
        "|---:|---:|---:|---:|---:|",
        *(f"| {n} | {k} | {lo:.0f} | {mid:.0f} | {hi:.0f} |" for n, k, lo, mid, hi in m.per_minute),
    ]
    return "\n".join(out)


def _recheck(again: Comparison | None) -> list[tuple[str, str, str, str]]:
    """The row of the second comparison, made only when the first found a difference."""
    if again is None:
        return []
    figures = (len(again.lost), len(again.ghosts), len(again.titles), len(again.tags))
    return [
        (
            f"(the same {RESCAN_SECONDS + 2:.0f} s later, after a full rescan: "
            "lost / ghosts / titles / tag counts)",
            " / ".join(map(str, figures)),
            "",
            "",
        )
    ]


def details(o: Outcome) -> None:
    """What went wrong, to standard error."""
    for title, lines in (
        ("error responses, hostile", o.hostile.errors),
        ("error responses, sampler", o.sampler.errors),
        ("error responses, fetching validators", o.load.validator_errors),
        ("malformed bodies", o.sampler.malformed),
        ("torn items", o.sampler.torn),
        ("hostile requests answered otherwise than expected", o.hostile.unexpected),
        ("served articles differing from the file", o.first.titles),
        ("tag counts differing", o.first.tags),
        ("duplicated items in the site feed", o.first.duplicates),
    ):
        if lines:
            log(f"{title} ({len(lines)}):")
            for line in lines[:20]:
                log(f"  {line}")
    for title, slugs in (("lost", o.first.lost), ("ghost", o.first.ghosts)):
        for slug in slugs[:20]:
            log(f"{title} article {slug}: " + "; ".join(o.editor.history.get(slug, [])[-8:]))


# Running it --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the load")
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--tags", type=int, help="tag labels of the corpus (articles / 4)")
    parser.add_argument("--workers", type=int, default=1, help="feedsvc serve --workers")
    parser.add_argument("--slice", type=float, default=30.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--edit-pause", type=float, default=0.05)
    parser.add_argument("--hostile-pause", type=float, default=0.4, help="per hostile thread")
    parser.add_argument("--sample-pause", type=float, default=0.2, help="per sampler thread")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        log("bench.soak needs wrk on the PATH")
        return 2
    work = Path(tempfile.mkdtemp(prefix="feedsvc-soak-"))
    procs = Processes()
    try:
        print(soak(args, work, procs), flush=True)
    finally:
        clean_up(procs, work, args.keep)
    return 0


def soak(args: argparse.Namespace, work: Path, procs: Processes) -> str:
    articles = work / "articles"
    tags = args.tags or max(20, args.articles // 4)
    log(f"writing {args.articles:,} realistic articles to {articles}")
    corpus = generate(articles, args.articles, tags, seed=args.seed)
    port = free_port()
    env = {**feedsvc_env(articles, port), "FEEDSVC_STATE_DIR": str(work / "state")}
    command = [sys.executable, "-m", "feedsvc.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(args.workers)]
    server_log = work / "feedsvc.log"
    process = procs.start(command, server_log, env=env, cwd=ROOT)
    wait_for(port, "/feed.rss", process, limit=600)
    wait_quiet(port, process, 1.0)
    log(f"feedsvc ready on port {port} (log {server_log})")

    rng = random.Random(args.seed)
    listed = [t["key"] for t in json.loads(get(port, "/tags.json").body)["tags"]]
    chosen_tags = listed[:40] + listed[40 :: max(1, len(listed) // 120)]
    slugs = rng.sample(sorted(corpus.paths_by_slug), min(80, len(corpus.paths_by_slug)))
    targets = mix(chosen_tags, slugs, rng)
    log(f"load mix: {len(targets)} requests over {len(chosen_tags)} tags and {len(slugs)} articles")

    paths = {slug: Path(path) for slug, path in corpus.paths_by_slug.items()}
    duration = args.minutes * 60
    memory = MemorySampler(process.pid)
    editor = Editor(paths, args.edit_pause, args.seed)
    hostile = HostileClient(port, listed[:50], args.hostile_pause, args.seed, threads=8)
    sampler = FeedSampler(port, listed[:12], args.sample_pause, work, threads=2)
    threads: list[Loop] = [memory, editor, hostile, sampler]
    load = LoadTotals()
    script = work / "mix.lua"
    text = lua_script(port, targets, load.validator_errors)
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + duration
    try:
        # The next slice's script is made while this one runs: no pause in the load.
        with ThreadPoolExecutor(1) as preparing:
            while (seconds := round(min(args.slice, deadline - time.monotonic()))) >= 1:
                script.write_text(text)
                upcoming = None
                if deadline - time.monotonic() - seconds >= 1:
                    upcoming = preparing.submit(lua_script, port, targets, load.validator_errors)
                run_slice(script, port, seconds, args.connections, load)
                if process.poll() is not None:
                    raise RuntimeError(f"feedsvc exited with {process.returncode}")
                if upcoming is None:
                    break
                text = upcoming.result()
    finally:
        for thread in threads:
            thread.stop.set()
        for thread in threads:
            thread.join(timeout=60)
    memory.sample()
    for name, crash in (
        ("editor", editor.crash),
        ("hostile", hostile.crash),
        ("sampler", sampler.crash),
        ("memory", memory.crash),
    ):
        if crash is not None:
            raise RuntimeError(f"the {name} thread failed:\n{crash}")

    log("edits stopped; waiting for the index to settle")
    phase = wait_quiet(port, process, QUIET_SECONDS)
    disk = on_disk(articles)
    model = set(editor.published)
    differ = [
        a.path.name for a in editor.published.values() if a.path.read_bytes() != a.text.encode()
    ]
    if disk.unreadable or set(disk.titles) != model or differ:
        raise RuntimeError(
            f"the soak's own model is off: {disk.unreadable[:5]}, "
            f"{sorted(set(disk.titles) ^ model)[:10]}, {differ[:5]}"
        )
    first = compare(port, model, disk)
    healed = None
    if first.lost or first.ghosts or first.titles or first.tags:
        log(f"mismatch; checking again after a full rescan ({RESCAN_SECONDS + 2:.0f} s)")
        time.sleep(RESCAN_SECONDS + 2)
        healed = compare(port, model, disk)
    log_errors, log_skipped = server_log_figures(server_log)
    outcome = Outcome(
        args.minutes,
        args.articles,
        args.workers,
        load,
        editor,
        hostile,
        sampler,
        memory_figures(memory, duration),
        first,
        healed,
        log_errors,
        log_skipped,
        phase,
    )
    details(outcome)
    return report(outcome)


if __name__ == "__main__":
    sys.exit(main())
