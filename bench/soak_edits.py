"""The soak test's edits: loops on threads of their own, and the editor that
changes articles in place, by rename, by deletion and back, keeping the model of what
must be published.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.client import retitled


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
