"""The soak test's end: waiting for the index to settle, and comparing what is
served with the model and the files on disk.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bench.client import get
from feedsvc.articles import ArticleError, read_article

QUIET_SECONDS = 3.0
"""How long /healthz must say ``ready``, edits stopped, before the final comparison."""


RESCAN_SECONDS = 30.0
"""feedsvc's default full-rescan period: a mismatch is checked again after it."""


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
