"""The soak test's samplers: feeds fetched and parsed for torn items, and the workers' memory."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import statistics
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from bench.client import get
from bench.processes import children, memory_kb
from bench.soak_edits import Loop

ATOM = "{http://www.w3.org/2005/Atom}"


MEMORY_EVERY = 10.0
"""Seconds between memory samples."""


GROWTH_LIMIT = 0.10
"""Memory is flat when it grew less than this from the reference point to the end."""


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
