"""The in-memory catalogue of published articles, and the library that keeps it current.

A :class:`Catalogue` is an immutable snapshot: readers take one and never see a
half-built index. The :class:`Library` owns the files: it re-reads only files whose
size or modification time changed, applies the difference to the last snapshot
and swaps in the new one. Parsing and sorting are proportional to the change; the
snapshot's lists and maps are copied, a pointer copy of about 2 ms at 100,000
articles, so that no reader's snapshot ever changes under it.

Every scope (the site, or one tag) carries a version number that moves only when
an article in that scope changes (or the label of a tag its items print), so a
response cache can tell a tag feed is still fresh while other tags are edited.
"""

from __future__ import annotations

import bisect
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo

from .articles import Article, ArticleError, Stamp, read_article, read_body, stamp_of

log = logging.getLogger(__name__)

SITE = ""
"""The scope key of the site-wide feed; tag keys are never empty."""
STATIC = "\x00static"
"""A scope no article is ever in (tag keys never hold NUL), for resources that never change."""


def is_article_file(name: str) -> bool:
    """True for ``*.txt`` files that are not hidden or editor droppings."""
    return name.endswith(".txt") and not name.startswith((".", "#", "~"))


def _order(article: Article) -> tuple[float, str]:
    # Lists are kept ascending by this key, which is newest first, then by slug.
    return (-article.published.timestamp(), article.slug)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """One consistent view of what is published."""

    articles: Sequence[Article] = ()
    by_slug: Mapping[str, Article] = field(default_factory=dict)
    by_tag: Mapping[str, Sequence[Article]] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    versions: Mapping[str, int] = field(default_factory=dict)
    releases: Mapping[str, float] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)
    next_release: float = float("inf")

    def in_scope(self, scope: str) -> Sequence[Article]:
        """Articles of a scope, newest first; ``SITE`` is every article."""
        if scope == SITE:
            return self.articles
        return self.by_tag.get(scope, ())

    def tags_by_count(self) -> list[tuple[str, Sequence[Article]]]:
        """Every tag key with its articles, the most used first, then by key."""
        return sorted(self.by_tag.items(), key=lambda kv: (-len(kv[1]), kv[0]))

    def version(self, scope: str) -> int:
        return self.versions.get(scope, 0)

    def release_of(self, scope: str) -> float:
        """When the next scheduled article of a scope goes live (a timestamp), or inf."""
        return self.releases.get(scope, float("inf"))


@dataclass(slots=True)
class _FileState:
    stamp: Stamp
    article: Article | None
    error: str | None


class Library:
    """Keeps a :class:`Catalogue` in step with an articles directory.

    ``update(paths)`` re-examines some files, ``scan()`` the whole directory;
    :class:`feedsvc.watch.Watcher` calls both as files change.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        default_tz: tzinfo = UTC,
        *,
        clock: Callable[[], float] = time.time,
        body_cache_size: int = 4096,
    ) -> None:
        self.directory = os.path.abspath(directory)
        self.default_tz = default_tz
        self._clock = clock
        self._files: dict[str, _FileState] = {}
        self._claims: dict[str, list[str]] = {}  # slug -> paths claiming it, sorted
        self._errors: dict[str, str] = {}  # path -> why it is not an article
        self._directory_problem: str | None = None
        self._contested: set[str] = set()  # slugs claimed by more than one file
        self._pending: dict[str, float] = {}  # slug -> scheduled release timestamp
        self._catalogue = Catalogue()
        self._lock = threading.RLock()
        self._bodies: OrderedDict[tuple[str, Stamp], tuple[str, ...]] = OrderedDict()
        self._bodies_lock = threading.Lock()  # not self._lock: a rescan must not stall renders
        self._body_cache_size = body_cache_size
        self._scanned = False
        self.last_update_cpu = 0.0
        """CPU seconds the last update took, for benchmarks and /healthz."""
        self.files_read = 0
        """How many times a file was parsed: unchanged files are never read twice."""

    def current(self) -> Catalogue:
        """The current snapshot, releasing scheduled articles that have come due."""
        catalogue = self._catalogue
        if not self._scanned:
            self.scan()
            catalogue = self._catalogue
        if self._clock() >= catalogue.next_release:
            with self._lock:
                due = [s for s, when in self._pending.items() if when <= self._clock()]
                self._rebuild(due)
            catalogue = self._catalogue
        return catalogue

    def scan(self) -> None:
        """Compare the whole directory with what was read, and apply the difference."""
        with self._lock:
            seen: list[str] = []
            problem = None
            try:
                with os.scandir(self.directory) as entries:
                    seen = [e.path for e in entries if is_article_file(e.name)]
            except OSError as exc:
                problem = f"cannot list the articles directory: {exc.strerror or exc}"
            gone = set(self._files) - set(seen)
            self._update(sorted(seen) + sorted(gone), problem)
            self._scanned = True

    def update(self, paths: Iterable[str]) -> None:
        """Re-examine the named files (new, changed, renamed away or deleted)."""
        wanted = sorted({os.path.abspath(p) for p in paths})
        wanted = [p for p in wanted if os.path.dirname(p) == self.directory]
        wanted = [p for p in wanted if is_article_file(os.path.basename(p))]
        if wanted:
            with self._lock:
                self._update(wanted, self._directory_problem)

    def _update(self, paths: list[str], directory_problem: str | None = None) -> None:
        started = time.process_time()
        touched: set[str] = set()
        for path in paths:
            touched.update(self._reread(path))
        if directory_problem != self._directory_problem:
            self._directory_problem = directory_problem
            touched.add("")  # rebuild the problem list
        if touched:
            self._rebuild(touched)
        self.last_update_cpu = time.process_time() - started

    def _reread(self, path: str) -> set[str]:
        """Bring one file's state up to date; return the slugs whose claims changed."""
        old = self._files.get(path)
        touched: set[str] = set()
        if old is not None:
            try:
                stamp: Stamp | None = stamp_of(os.stat(path))
            except OSError:
                stamp = None
            if stamp == old.stamp:
                return touched
            del self._files[path]
            if old.article is not None:
                touched.add(self._unclaim(old.article.slug, path))
            else:
                del self._errors[path]
                touched.add("")  # a problem went away: rebuild the problem list
            if stamp is None:
                return touched
        self.files_read += 1
        try:
            article, _ = read_article(path, self.default_tz)
        except Exception as exc:  # one bad file must never stop a scan
            if not isinstance(exc, ArticleError):
                log.exception("unexpected error reading %s", path)
                exc = ArticleError(path, f"unreadable: {exc!r}", stamp=_stamp_or_none(path))
            if exc.stamp is None:  # gone before it could be read: nothing to report
                return touched
            log.warning("skipped %s", exc)
            self._files[path] = _FileState(exc.stamp, None, exc.reason)
            self._errors[path] = exc.reason
            touched.add("")
            return touched
        self._files[path] = _FileState(article.stamp, article, None)
        claims = self._claims.setdefault(article.slug, [])
        bisect.insort(claims, path)
        if len(claims) > 1:
            self._contested.add(article.slug)
        touched.add(article.slug)
        return touched

    def _unclaim(self, slug: str, path: str) -> str:
        claims = self._claims[slug]
        claims.remove(path)
        if len(claims) < 2:
            self._contested.discard(slug)
        if not claims:
            del self._claims[slug]
        return slug

    def _winner(self, slug: str) -> Article | None:
        claims = self._claims.get(slug)
        return self._files[claims[0]].article if claims else None

    def _visible(self, slug: str, now: float) -> Article | None:
        """The article published under a slug now, noting it if it is scheduled."""
        winner = self._winner(slug)
        self._pending.pop(slug, None)
        if winner is None or winner.draft:
            return None
        when = winner.published.timestamp()
        if when > now:
            self._pending[slug] = when
            return None
        return winner

    def _rebuild(self, slugs: Iterable[str]) -> None:
        """Swap in a new catalogue that differs from the last in these slugs only."""
        slugs = {slug for slug in slugs if slug}
        if len(slugs) > 256:
            self._rebuild_all()
            return
        old = self._catalogue
        now = self._clock()
        articles = list(old.articles)
        by_slug = dict(old.by_slug)
        by_tag = dict(old.by_tag)
        copied: set[str] = set()
        changed_scopes: set[str] = set()

        def tag_list(key: str) -> list[Article]:
            if key not in copied:
                by_tag[key] = list(by_tag.get(key, ()))
                copied.add(key)
            return by_tag[key]  # type: ignore[return-value]

        for slug in slugs:
            visible = self._visible(slug, now)
            previous = old.by_slug.get(slug)
            if previous is visible:
                continue
            if previous is not None:
                _remove(articles, previous)
                if visible is None:  # replacing in place keeps the dict compact to copy
                    del by_slug[slug]
                for tag in previous.tags:
                    _remove(tag_list(tag.key), previous)
                    changed_scopes.add(tag.key)
            if visible is not None:
                bisect.insort(articles, visible, key=_order)
                by_slug[slug] = visible
                for tag in visible.tags:
                    bisect.insort(tag_list(tag.key), visible, key=_order)
                    changed_scopes.add(tag.key)
            changed_scopes.add(SITE)

        labels = dict(old.labels)
        for key in copied:
            if by_tag[key]:
                labels[key] = _label(key, by_tag[key])
                if labels[key] != old.labels.get(key, labels[key]):
                    # Feeds print every tag of their items by its label: each scope that
                    # holds an article of this tag shows the new spelling.
                    for article in by_tag[key]:
                        changed_scopes.update(tag.key for tag in article.tags)
            else:
                del by_tag[key]
                labels.pop(key, None)
        self._swap(articles, by_slug, by_tag, labels, changed_scopes)

    def _rebuild_all(self) -> None:
        """Build the catalogue from scratch: one sort beats thousands of insertions."""
        now = self._clock()
        self._pending.clear()
        articles = [a for slug in self._claims if (a := self._visible(slug, now)) is not None]
        articles.sort(key=_order)
        by_tag: dict[str, list[Article]] = {}
        for article in articles:
            for tag in article.tags:
                by_tag.setdefault(tag.key, []).append(article)
        labels = {key: _label(key, items) for key, items in by_tag.items()}
        scopes = {SITE, *by_tag, *self._catalogue.versions}
        by_slug = {a.slug: a for a in articles}
        self._swap(articles, by_slug, by_tag, labels, scopes)

    def _swap(
        self,
        articles: list[Article],
        by_slug: dict[str, Article],
        by_tag: Mapping[str, Sequence[Article]],
        labels: dict[str, str],
        changed_scopes: set[str],
    ) -> None:
        versions = dict(self._catalogue.versions)
        for scope in changed_scopes:
            versions[scope] = versions.get(scope, 0) + 1
        self._catalogue = Catalogue(
            articles=articles,
            by_slug=by_slug,
            by_tag=by_tag,
            labels=labels,
            versions=versions,
            releases=self._releases(),
            problems=self._problems(),
            next_release=min(self._pending.values(), default=float("inf")),
        )

    def _releases(self) -> dict[str, float]:
        releases: dict[str, float] = {}
        for slug, when in self._pending.items():
            article = self._winner(slug)
            assert article is not None
            for scope in (SITE, *(t.key for t in article.tags)):
                releases[scope] = min(when, releases.get(scope, when))
        return releases

    def _problems(self) -> dict[str, str]:
        problems = dict(self._errors)
        for slug in self._contested:
            claims = self._claims[slug]
            for path in claims[1:]:
                problems[path] = f"slug {slug!r} is already served from {claims[0]}"
        if self._directory_problem:
            problems[self.directory] = self._directory_problem
        return dict(sorted(problems.items()))

    def body(self, article: Article) -> tuple[str, ...] | None:
        """The body paragraphs of an article, read again from its file and cached.

        ``None`` when the file changed or vanished since it was indexed (the watcher
        re-indexes it a moment later) or cannot be read just now.
        """
        key = (article.path, article.stamp)
        body = self._bodies.get(key)
        if body is None:
            try:
                body = read_body(article, self.default_tz)
            except ArticleError as exc:
                log.warning("body unavailable: %s", exc)
                return None
            with self._bodies_lock:
                self._bodies[key] = body
                if len(self._bodies) > self._body_cache_size:
                    self._bodies.popitem(last=False)
        return body


def _stamp_or_none(path: str) -> Stamp | None:
    try:
        return stamp_of(os.stat(path))
    except OSError:
        return None


def _label(key: str, items: Sequence[Article]) -> str:
    """A tag's label is its spelling in the oldest article carrying it."""
    return next(tag.label for tag in items[-1].tags if tag.key == key)


def _remove(items: list[Article], article: Article) -> None:
    index = bisect.bisect_left(items, _order(article), key=_order)
    while items[index] is not article:
        index += 1
    del items[index]
