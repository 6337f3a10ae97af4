"""The persistent index: one SQLite database in the state directory, shared by every worker.

One process writes (see :mod:`feedsvc.indexer`); every worker reads. The database
holds each file's stamp and digest, each served article with its body, the tag
rows that make "the newest N of a tag" one index range, and per scope (the site,
or a tag) its count, label and version.

A reader learns of a change from a generation number the writer bumps after each
commit, kept in a small memory-mapped file: a request compares 8 bytes, and only
when they moved asks the database which scopes changed. Each request reads from
one :class:`Snapshot`, a read transaction, so what it resolved is what it renders.

Files of the state directory: ``index.sqlite`` (WAL mode) and its ``-wal``/``-shm``,
``index.sqlite.building`` during a first build (renamed into place when complete,
so a build killed half-way leaves nothing half-made) with its parts in
``index.sqlite.building-parts/`` (one database per reading process, cleared at the
start and the end of each build), ``generation``,
``progress.json`` and ``writer.lock``.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import itertools
import json
import mmap
import os
import sqlite3
import struct
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from .articles import Article, Stamp, Tag
from .combinations import is_combination, parse
from .search import is_search
from .search import parse as parse_search
from .urls import AUTHORS, TAGS, on_topic, shape_of
from .urls import SITE as SITE  # the site's scope, as the index names it

SCHEMA_VERSION = 4
STATIC = "\x00static"
"""A scope no article is ever in (tag keys never hold NUL), for resources that never change."""

DATABASE = "index.sqlite"
BUILDING = "index.sqlite.building"
GENERATION = "generation"
PROGRESS = "progress.json"

PUBLISHED, SCHEDULED, DRAFT = 0, 1, 2
"""An article's state: served now, served from its date, or never."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COUNTER = struct.Struct("<QQ")  # generation, epoch (bumped when the database is replaced)

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE files (
    path BLOB PRIMARY KEY,         -- the file name, as bytes
    inode INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    digest BLOB,
    slug TEXT,                     -- the slug it claims, when it is an article
    error TEXT,                    -- why it is not one
    shadowed INTEGER NOT NULL DEFAULT 0  -- another file serves its slug
);
CREATE TABLE articles (
    slug TEXT PRIMARY KEY,
    uid TEXT NOT NULL,             -- its identity: the slug it was first seen under
    digest BLOB,                   -- of the file it was read from
    path BLOB NOT NULL,
    state INTEGER NOT NULL,
    published INTEGER NOT NULL,    -- microseconds since 1970, UTC
    updated INTEGER NOT NULL,
    title TEXT NOT NULL, standfirst TEXT NOT NULL,
    author TEXT, image TEXT, caption TEXT, credit TEXT, lang TEXT,
    tags TEXT NOT NULL,            -- JSON [[key, label], ...] in the article's order, then
                                   -- its authors' [[@key, name], ...]
    body TEXT NOT NULL,            -- paragraphs, one a line
    mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL,
    seq INTEGER                    -- its row in the search index: see SEARCH_TABLE
);
CREATE TABLE article_tags (        -- one row per tag and author of each published article
    tag TEXT NOT NULL, published INTEGER NOT NULL, slug TEXT NOT NULL,
    PRIMARY KEY (tag, published DESC, slug)
) WITHOUT ROWID;
CREATE TABLE scopes (
    scope TEXT PRIMARY KEY,
    label TEXT NOT NULL DEFAULT '',
    count INTEGER NOT NULL DEFAULT 0,
    newest INTEGER,                -- published, of its newest article
    version INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0,
    changed INTEGER,               -- when its content last changed: Last-Modified
    next_release INTEGER           -- published, of its next scheduled article
) WITHOUT ROWID;
CREATE TABLE slugs (               -- every slug an article was served under
    slug TEXT PRIMARY KEY, uid TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE gone (                -- tombstones of deleted articles
    uid TEXT PRIMARY KEY, slug TEXT NOT NULL, path BLOB NOT NULL, digest BLOB,
    published INTEGER NOT NULL, updated INTEGER NOT NULL, title TEXT NOT NULL,
    at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE date_changes (        -- published dates that moved, for feedsvc check
    uid TEXT NOT NULL, slug TEXT NOT NULL, path BLOB NOT NULL,
    old INTEGER NOT NULL, new INTEGER NOT NULL, at INTEGER NOT NULL
);
"""
INDEXES = """
CREATE INDEX files_by_slug ON files(slug) WHERE slug IS NOT NULL;
CREATE INDEX files_with_problems ON files(path) WHERE error IS NOT NULL OR shadowed;
CREATE INDEX articles_newest ON articles(published DESC, slug) WHERE state = 0;
CREATE INDEX articles_scheduled ON articles(published) WHERE state = 1;
CREATE INDEX scopes_by_generation ON scopes(generation);
CREATE UNIQUE INDEX articles_by_uid ON articles(uid);
CREATE INDEX gone_by_digest ON gone(digest);
CREATE INDEX gone_by_slug ON gone(slug);
CREATE INDEX gone_by_path ON gone(path);
CREATE UNIQUE INDEX articles_by_seq ON articles(seq);
"""
"""Made after a first build's bulk load: sorting once beats growing them row by row."""

SEARCH_TABLE = """
CREATE VIRTUAL TABLE search USING fts5(
    title, standfirst, tags, body,
    content = '', columnsize = 0, tokenize = 'unicode61 remove_diacritics 2'
)"""
OLD_SEARCH_TRIGGERS = ("search_gone", "search_moved")
"""Triggers that kept the search index in step before the writer did it itself: dropped
when an index that has them is opened for writing."""
"""Full text of every article (title, standfirst, tags and authors, body) for search
feeds, made once a first build has loaded the articles.

Contentless (the text is in ``articles`` already): the writer deletes an article's
words with the values it was indexed with (:meth:`feedsvc.writer.StoreWriter.apply`, at
the end of each transaction, in row order). Its rowid is the article's ``seq``, which
sorts as its date does: at least its ``published``, the smallest such number free
(:func:`feedsvc.writer.free_seq`), so that the matches of a search are read newest
first and a page ends the read (:meth:`Snapshot.search`)."""


class ArticleRow(NamedTuple):
    """An ``articles`` row as the writer makes and reads it: :data:`ARTICLE_COLUMNS`, then
    its body and digest. Fields are named: no one counts columns."""

    slug: str
    path: bytes
    state: int
    published: int
    updated: int
    title: str
    standfirst: str
    author: str | None
    image: str | None
    caption: str | None
    credit: str | None
    lang: str | None
    tags: str
    mtime_ns: int
    size: int
    uid: str
    body: str = ""
    digest: bytes | None = None


ARTICLE_COLUMNS = ", ".join(ArticleRow._fields[:16])
"""What a listing reads of an article: everything but its body and digest."""


DAMAGED = "index-damaged"
"""In the state directory while a reader has met a damaged index page and the writer
has not yet rebuilt it: what the reader met."""


def is_damage(error: BaseException) -> bool:
    """Whether a database error says the file itself is damaged: its structure, or a
    text the writer stored as UTF-8 that no longer is."""
    text = str(error)
    return isinstance(error, sqlite3.DatabaseError) and (
        "malformed" in text
        or "not a database" in text
        or "corrupt" in text
        or "Could not decode to UTF-8" in text
    )


def report_damage(state_dir: str, error: BaseException) -> None:
    """Tell the writer that a read met a damaged page (it checks and rebuilds)."""
    path = os.path.join(state_dir, DAMAGED)
    if os.path.exists(path):
        return
    with contextlib.suppress(OSError):
        with open(path + ".new", "w", encoding="utf-8") as note:
            note.write(f"{error}\n")
        os.replace(path + ".new", path)


def damage_reported(state_dir: str) -> str | None:
    try:
        with open(os.path.join(state_dir, DAMAGED), encoding="utf-8") as note:
            return note.read().strip() or "damaged"
    except OSError:
        return None


def indexed_folder(state_dir: str) -> str | None:
    """The articles folder the index in ``state_dir`` was made of (read only); ``None``
    when there is none, or it cannot be read (the writer deals with a damaged one)."""
    path = os.path.join(state_dir, DATABASE)
    if not os.path.exists(path):
        return None
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=ro", uri=True, timeout=5)
        ) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'articles_dir'").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


class StoreError(Exception):
    """The state directory cannot be used; the message says what to do."""


class DiskFull(StoreError):
    """The state directory's filesystem has no room for a change to the index, even
    after the shelf gave back what it could; the change is recorded once it has."""


class IndexDamaged(StoreError):
    """A write met a damaged page of the index: nothing was recorded; the index is
    rebuilt from the folder, which records it."""


class OutdatedIndex(sqlite3.DatabaseError):
    """An index made by an older feedsvc: it is moved aside and built anew."""


class NotReady(Exception):
    """No index has been built yet: the first build is under way."""

    def __str__(self) -> str:
        return "the index is being built"


class SearchNotReady(NotReady):
    """The index is served, its full-text part is still being built (after a first build,
    in the background)."""

    def __str__(self) -> str:
        return "the search index is being built"


SEARCH_NOTHING = -(1 << 62)
"""``search_upto`` of a search index not yet begun: below every ``seq``."""


def encode_name(name: str) -> bytes:
    """File names are kept as bytes: a name need not be valid UTF-8."""
    return os.fsencode(name)


def decode_name(raw: bytes) -> str:
    return os.fsdecode(raw)


def to_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def later_page_dated(newest: datetime | None, changed: float) -> datetime | None:
    """The date of a feed's later page: when its scope last changed (``changed``, a
    timestamp; its Last-Modified), or its own newest item's if later.

    A later page shifts whenever anything newer changes (an addition, an edit, a
    deletion), so it dates from its scope's last change, read in one row: finding the
    latest update among every newer article read them all, seconds at a deep page of a
    big combination or search, a page anyone can ask for.
    """
    if not changed:
        return newest
    when = from_micros(round(changed * 1e6))
    return when if newest is None or when > newest else newest


def article_from_row(row: Sequence[Any]) -> Article:
    """An :class:`Article` from the columns of :data:`ARTICLE_COLUMNS`."""
    named = ArticleRow(*row)
    # The column holds plain keys only (no combination): the marker alone tells.
    scopes = [Tag(key, label) for key, label in json.loads(named.tags)]
    marker = AUTHORS.marker
    return Article(
        slug=named.slug,
        title=named.title,
        standfirst=named.standfirst,
        tags=tuple(tag for tag in scopes if not tag.key.startswith(marker)),
        authors=tuple(tag for tag in scopes if tag.key.startswith(marker)),
        published=from_micros(named.published),
        updated=from_micros(named.updated),
        path=decode_name(named.path),
        stamp=Stamp(named.mtime_ns, named.size),
        author=named.author,
        image=named.image,
        caption=named.caption,
        credit=named.credit,
        lang=named.lang,
        draft=named.state == DRAFT,
        uid=named.uid,
    )


COMBINED_VERSIONS = 16_384
"""The most combinations whose versions a reader remembers between changes."""

COMBINATION_ROWS = 50_000
"""The most articles of each tag a combination reads, newest first: a combination of
big tags that rarely meet ends there (a page then costs at most this many lookups)."""

DEEPEST = 1_000
"""How far back a search's or a combination's pages go (items): each page deeper costs
more than the one before, and readers poll the first."""
SEARCH_ROWS = 50_000
"""The most matches of a search read, newest first (a search of a common word on a big
site matches most articles; its first pages cost what they show)."""

_HAS_TAG = (
    "SELECT 1 FROM article_tags u WHERE u.tag IN ({}) "
    "AND u.published = t.published AND u.slug = t.slug"
)
"""Whether the article of row ``t`` carries one of some tags: primary-key lookups."""


def combined_version(versions: Iterable[int]) -> int:
    """A combination's version from its tags': it moves whenever one of theirs does."""
    digest = hashlib.blake2b(repr(tuple(versions)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1  # positive, as SQLite's integers are


def connect(path: str, *, shared: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode: transactions are begun explicitly.

    ``shared``: used from several threads, under the caller's lock.
    """
    connection = sqlite3.connect(
        path, timeout=30.0, isolation_level=None, check_same_thread=not shared
    )
    connection.execute("PRAGMA busy_timeout = 30000")
    return connection


@dataclass(frozen=True, slots=True)
class TagSummary:
    key: str
    label: str
    count: int
    newest: datetime


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a build or a reconciliation has come, as ``/healthz`` and the CLI show it."""

    phase: str  # "building", "reconciling", "updating" (a bulk arrival) or "ready"
    done: int = 0
    total: int = 0
    rate: float = 0.0  # files a second
    started: float = 0.0

    @property
    def eta(self) -> float | None:
        if self.rate <= 0 or self.total <= self.done:
            return None
        return (self.total - self.done) / self.rate


@dataclass(frozen=True, slots=True)
class FeedPage:
    """What one page of a scope's feed is made from, read by :meth:`Snapshot.feed_page`."""

    count: int | None
    """The scope's published articles, on every page; ``None`` for a combination."""
    label: str
    """The tag's label: :meth:`Snapshot.label`."""
    changed: float
    """When the scope's content last changed: :meth:`Snapshot.changed`."""
    authority: str
    articles: list[Article]
    """This page's, newest first; none for a page past the last."""
    bodies: dict[str, tuple[str, ...]]
    labels: dict[str, str]
    """The labels of every tag the page's articles carry."""
    updated: datetime | None
    """The first page's: the latest ``updated`` among its articles; a later page's: that,
    or when the scope last changed if later (see :func:`later_page_dated`)."""
    more: bool | None = None
    """Whether a later page has articles, where ``count`` is not known."""


class TooDeep(LookupError):
    """A page of a search or a combination deeper than :data:`DEEPEST` items."""

    def __str__(self) -> str:
        return f"searches and combinations of tags go back {DEEPEST:,} items"


class Snapshot:
    """One consistent view of the index: every query runs in one read transaction."""

    def __init__(self, connection: sqlite3.Connection, idle: list[sqlite3.Connection]) -> None:
        self._db = connection
        self._idle = idle
        self.spend: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext
        """Held while a search or a combination is read: a request's snapshot takes a
        slot of the service's budget of costly work (:mod:`feedsvc.budget`)."""
        self._db.execute("BEGIN")

    def close(self) -> None:
        """End the transaction and give the connection back to its thread; a connection
        whose transaction cannot end (a damaged page met meanwhile) is closed instead."""
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._db.close()
            raise
        self._idle.append(self._db)

    def _one(self, sql: str, *args: object) -> Any:
        row = self._db.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def version(self, scope: str) -> int:
        if is_search(scope):
            return self.version(SITE)  # any change may change what a search matches
        if is_combination(scope):
            return combined_version(self.version(tag) for tag in parse(scope).tags)
        return int(self._one("SELECT version FROM scopes WHERE scope = ?", scope) or 0)

    def release_of(self, scope: str) -> float:
        """When the next scheduled article of a scope goes live (a timestamp), or inf."""
        if is_search(scope):
            return self.release_of(SITE)
        if is_combination(scope):
            return min(self.release_of(tag) for tag in parse(scope).tags)
        when = self._one("SELECT next_release FROM scopes WHERE scope = ?", scope)
        return float("inf") if when is None else when / 1e6

    def changed(self, scope: str) -> float:
        """When a scope's content last changed (a timestamp): its Last-Modified. A
        combination's is its tags' latest, a search's the site's: they never move back."""
        if is_search(scope):
            return self.changed(SITE)
        if is_combination(scope):
            return max(self.changed(tag) for tag in parse(scope).tags)
        micros = self._one("SELECT changed FROM scopes WHERE scope = ?", scope)
        return 0.0 if micros is None else micros / 1e6

    def build(self) -> str:
        """What identifies this build of the index: a rebuild makes another."""
        return str(self._one("SELECT value FROM meta WHERE key = 'build'") or "")

    def authority(self) -> str:
        """The ``tag:`` authority of every id, fixed when the index was made."""
        return str(self._one("SELECT value FROM meta WHERE key = 'id_authority'") or "")

    def moved_to(self, slug: str) -> str | None:
        """The current slug of an article once served under ``slug``, if it is served."""
        found = self._one(
            "SELECT a.slug FROM slugs s JOIN articles a ON a.uid = s.uid "
            "WHERE s.slug = ? AND a.state = 0 AND a.slug != s.slug",
            slug,
        )
        return None if found is None else str(found)

    def gone(self, slug: str) -> str | None:
        """The title of a deleted article once served under ``slug``, if it is gone."""
        found = self._one(
            "SELECT g.title FROM slugs s JOIN gone g ON g.uid = s.uid WHERE s.slug = ?", slug
        )
        return None if found is None else str(found)

    def date_changes(self) -> list[tuple[str, datetime, datetime]]:
        """Articles whose published date moved: path, old date, new date."""
        directory = str(self._one("SELECT value FROM meta WHERE key = 'articles_dir'"))
        rows = self._db.execute("SELECT path, old, new FROM date_changes ORDER BY at, path")
        return [
            (os.path.join(directory, decode_name(p)), from_micros(o), from_micros(n))
            for p, o, n in rows
        ]

    def count(self, scope: str) -> int:
        return int(self._one("SELECT count FROM scopes WHERE scope = ?", scope) or 0)

    def has_tag(self, key: str) -> bool:
        return shape_of(key) is TAGS and self.count(key) > 0

    def has_author(self, scope: str) -> bool:
        """Whether an author's scope (``@<key>``) has published articles."""
        return AUTHORS.owns(scope) and self.count(scope) > 0

    def label(self, key: str) -> str:
        """A tag's or an author's label: its spelling in the oldest article carrying it.
        A combination's says what it is in its tags' labels ("climate or energy"), an
        author's on a topic whose articles they are ("Syria by Ana Lima"), a search's
        is its query."""
        if is_search(key):
            return parse_search(key).text
        if (topical := on_topic(key)) is not None:
            author, topic = topical
            return f"{self.label(topic)} by {self.label(author)}"
        if is_combination(key):
            combination = parse(key)
            labels = self.labels(combination.tags)
            return combination.title(lambda tag: labels.get(tag, tag))
        return str(self._one("SELECT label FROM scopes WHERE scope = ?", key) or key)

    def labels(self, keys: Iterable[str]) -> dict[str, str]:
        wanted = sorted(set(keys))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                self._db.execute(
                    f"SELECT scope, label FROM scopes WHERE scope IN ({marks})", chunk
                ).fetchall()
            )
        return found

    def newest(self, scope: str, limit: int, offset: int = 0) -> list[Article]:
        """A scope's published articles, newest first (then by slug), one page of them."""
        if is_combination(scope) or is_search(scope):
            return self._articles([slug for _, slug in self.matches(scope, limit, offset)])[0]
        return [article_from_row(row) for row in self._newest_rows(scope, limit, offset)]

    def _newest_rows(self, scope: str, limit: int, offset: int, more: str = "") -> sqlite3.Cursor:
        """The :data:`ARTICLE_COLUMNS` of one page of a tag's or the site's articles,
        then ``more`` columns of ``articles a``."""
        columns = ", ".join(f"a.{c.strip()}" for c in ARTICLE_COLUMNS.split(",")) + more
        # The page is found in an index alone, then its rows read: the rows skipped on
        # the way to a deep page are never read (a page anyone may ask for).
        if scope == SITE:
            return self._db.execute(
                f"SELECT {columns} FROM (SELECT slug FROM articles WHERE state = 0 "
                "ORDER BY published DESC, slug LIMIT ? OFFSET ?) p "
                "JOIN articles a ON a.slug = p.slug ORDER BY a.published DESC, a.slug",
                (limit, offset),
            )
        return self._db.execute(
            f"SELECT {columns} FROM (SELECT published, slug FROM article_tags WHERE tag = ? "
            "ORDER BY published DESC, slug LIMIT ? OFFSET ?) t "
            "JOIN articles a ON a.slug = t.slug ORDER BY t.published DESC, t.slug",
            (scope, limit, offset),
        )

    def feed_page(self, scope: str, per_page: int, page: int) -> FeedPage:
        """Everything one page of a scope's feed shows, in three queries (four for a
        later page): the scope with the authority, the page's articles with their
        bodies, and their tags' labels. A combination's count is not known (it would
        take every match), nor a search's: its page says whether there is a later one."""
        if is_combination(scope) or is_search(scope):
            return self._matched_page(scope, per_page, page)
        count, label, changed, authority = self._db.execute(
            "SELECT s.count, s.label, s.changed, m.value "
            "FROM (SELECT value FROM meta WHERE key = 'id_authority') m "
            "LEFT JOIN scopes s ON s.scope = ?",
            (scope,),
        ).fetchone() or (None, None, None, None)
        count = int(count or 0)
        articles: list[Article] = []
        bodies: dict[str, tuple[str, ...]] = {}
        labels: dict[str, str] = {}
        newest = None
        offset = (page - 1) * per_page
        when = 0.0 if changed is None else changed / 1e6
        if offset < max(count, 1):  # else past the last page: the caller says so
            articles, bodies, newest = self._newest_with_bodies(scope, per_page, offset)
            if page > 1:
                newest = later_page_dated(newest, when)
            labels = self.labels(tag.key for article in articles for tag in article.tags)
        return FeedPage(
            count=count,
            label=label or scope,
            changed=when,
            authority=authority or "",
            articles=articles,
            bodies=bodies,
            labels=labels,
            updated=newest,
        )

    def _matched_page(self, scope: str, per_page: int, page: int) -> FeedPage:
        offset = (page - 1) * per_page
        matched = self.matches(scope, per_page + 1, offset)  # one more: is there a next page?
        articles, bodies = self._articles([slug for _, slug in matched[:per_page]])
        newest = max((article.updated for article in articles), default=None)
        changed = self.changed(scope)
        if page > 1 and articles:
            newest = later_page_dated(newest, changed)
        return FeedPage(
            count=None,
            label=self.label(scope),
            changed=changed,
            authority=self.authority(),
            articles=articles,
            bodies=bodies,
            labels=self.labels(tag.key for article in articles for tag in article.tags),
            updated=newest,
            more=len(matched) > per_page,
        )

    def matches(self, scope: str, limit: int, offset: int = 0) -> list[tuple[int, str]]:
        """A combination's or a search's articles (published, slug), newest first.

        :raises TooDeep: for a page past :data:`DEEPEST` items.
        """
        if offset >= DEEPEST:
            raise TooDeep()
        with self.spend():
            if is_search(scope):
                return self.search(parse_search(scope).match(), min(limit, DEEPEST), offset)
            return self.matching(scope, min(limit, DEEPEST), offset)

    def matching(self, scope: str, limit: int, offset: int = 0) -> list[tuple[int, str]]:
        """A combination's articles (published, slug), newest first, one page of them.

        Each tag of the OR with the fewest articles is read in order from its own
        index range and the ranges merged; each row is checked against the other
        terms by primary-key lookups. What it costs grows with the rows read before
        the page is full, never with the whole index, and at most
        :data:`COMBINATION_ROWS` of each tag are read."""
        combination = parse(scope)
        counts = dict(
            self._db.execute(
                f"SELECT scope, count FROM scopes WHERE scope IN "
                f"({','.join('?' * len(combination.tags))})",
                combination.tags,
            ).fetchall()
        )
        driving = min(combination.groups, key=lambda group: sum(counts.get(t, 0) for t in group))
        tests: list[str] = []
        values: list[str] = []
        for group in combination.groups:
            if group is not driving:
                tests.append(f"AND EXISTS ({_HAS_TAG.format(','.join('?' * len(group)))})")
                values += group
        if combination.excluded:
            marks = ",".join("?" * len(combination.excluded))
            tests.append(f"AND NOT EXISTS ({_HAS_TAG.format(marks)})")
            values += combination.excluded
        if any(set(group) <= set(combination.excluded) for group in combination.groups):
            return []  # a term and its NOT: nothing can match
        # The newest COMBINATION_ROWS of each tag's range, filtered in order as read (a
        # subquery with a LIMIT streams): what a page costs has a ceiling.
        sql = (
            "SELECT t.published, t.slug FROM (SELECT published, slug FROM article_tags "
            "WHERE tag = ? ORDER BY published DESC, slug LIMIT ?) t WHERE 1 " + " ".join(tests)
        )
        ranges = [self._db.execute(sql, (tag, COMBINATION_ROWS, *values)) for tag in driving]
        merged = heapq.merge(*ranges, key=lambda row: (-row[0], row[1]))
        unique = (row for row, _ in itertools.groupby(merged))  # an article in two of the OR
        return list(itertools.islice(unique, offset, offset + limit))

    def search(self, match: str, limit: int, offset: int = 0) -> list[tuple[int, str]]:
        """The published articles an FTS5 query matches (published, slug), newest first,
        one page of them.

        Matches are read from the search index newest first (its rowid, ``seq``, sorts
        as the date does and is never below it), so a page ends the read: once a page
        is full, only the matches that may tie with its oldest are read on, and the
        page is sorted by date and slug, as every feed is. At most
        :data:`SEARCH_ROWS` matches are read.
        """
        if self._one("SELECT value FROM meta WHERE key = 'search_upto'") is not None:
            raise SearchNotReady()
        want = offset + limit
        found: list[tuple[int, str]] = []
        boundary: int | None = None
        rows = self._db.execute(
            "SELECT s.rowid, a.published, a.slug, a.state FROM search s "
            "CROSS JOIN articles a ON a.seq = s.rowid "
            "WHERE search MATCH ? ORDER BY s.rowid DESC LIMIT ?",
            (match, SEARCH_ROWS),
        )
        for seq, published, slug, state in rows:
            if boundary is not None and seq < boundary:
                break  # every later match is older than the page's oldest
            if state != PUBLISHED:
                continue
            found.append((published, slug))
            if boundary is None and len(found) >= want:
                boundary = sorted(found, key=lambda row: (-row[0], row[1]))[want - 1][0]
        found.sort(key=lambda row: (-row[0], row[1]))
        return found[offset:want]

    def _articles(self, slugs: Sequence[str]) -> tuple[list[Article], dict[str, tuple[str, ...]]]:
        """These articles, in this order, and their bodies."""
        found: dict[str, tuple[Article, tuple[str, ...]]] = {}
        for start in range(0, len(slugs), 500):
            chunk = slugs[start : start + 500]
            rows = self._db.execute(
                f"SELECT {ARTICLE_COLUMNS}, body FROM articles "
                f"WHERE slug IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for row in rows:
                article = article_from_row(row[:-1])
                found[article.slug] = (article, tuple(row[-1].split("\n")) if row[-1] else ())
        listed = [found[slug] for slug in slugs if slug in found]
        return [a for a, _ in listed], {a.slug: body for a, body in listed}

    def _newest_with_bodies(
        self, scope: str, limit: int, offset: int
    ) -> tuple[list[Article], dict[str, tuple[str, ...]], datetime | None]:
        """:meth:`newest` with each article's body and the latest ``updated`` among them."""
        rows = self._newest_rows(scope, limit, offset, ", a.body")
        articles: list[Article] = []
        bodies: dict[str, tuple[str, ...]] = {}
        for row in rows:
            article = article_from_row(row[:-1])
            articles.append(article)
            bodies[article.slug] = tuple(row[-1].split("\n")) if row[-1] else ()
        newest = max((a.updated for a in articles), default=None)
        return articles, bodies, newest

    def article(self, slug: str) -> Article | None:
        row = self._db.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE slug = ? AND state = 0", (slug,)
        ).fetchone()
        return None if row is None else article_from_row(row)

    def body(self, slug: str) -> tuple[str, ...]:
        text = self._one("SELECT body FROM articles WHERE slug = ?", slug)
        return tuple(text.split("\n")) if text else ()

    def bodies(self, slugs: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The bodies of many articles in one query (a feed page's, say), by slug."""
        found: dict[str, tuple[str, ...]] = {}
        for start in range(0, len(slugs), 500):  # well under SQLite's variable limit
            chunk = slugs[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for slug, text in self._db.execute(
                f"SELECT slug, body FROM articles WHERE slug IN ({marks})", chunk
            ):
                found[slug] = tuple(text.split("\n")) if text else ()
        return found

    def tags_by_count(self, limit: int = -1, offset: int = 0) -> list[TagSummary]:
        """Tags in use, the most used first, then by key: every one, or a page of them."""
        rows = self._db.execute(
            "SELECT scope, label, count, newest FROM scopes WHERE scope != '' AND count > 0 "
            "AND substr(scope, 1, 1) != ? ORDER BY count DESC, scope LIMIT ? OFFSET ?",
            (AUTHORS.marker, limit, offset),
        )
        return [TagSummary(k, label, n, from_micros(newest)) for k, label, n, newest in rows]

    def least_count(self, at_least: int, authors: bool = False) -> int | None:
        """The smallest article count of at least ``at_least`` that a tag (or an author)
        has: every minimum from one count to the next lists the same tags."""
        marker = AUTHORS.marker
        given: tuple[object, ...]
        if authors:
            where, given = "scope >= ? AND scope < ?", (marker, chr(ord(marker) + 1))
        else:
            where, given = "scope != '' AND substr(scope, 1, 1) != ?", (marker,)
        found = self._one(
            f"SELECT min(count) FROM scopes WHERE {where} AND count >= ?",
            *given,
            max(at_least, 1),
        )
        return None if found is None else int(found)

    def tag_count(self) -> int:
        return int(
            self._one(
                "SELECT count(*) FROM scopes WHERE scope != '' AND count > 0 "
                "AND substr(scope, 1, 1) != ?",
                AUTHORS.marker,
            )
        )

    def authors_by_date(self, limit: int = -1, offset: int = 0) -> list[TagSummary]:
        """Authors with published articles, the latest to publish first, then by key;
        each summary's key is the author's scope."""
        marker = AUTHORS.marker
        rows = self._db.execute(
            "SELECT scope, label, count, newest FROM scopes "
            "WHERE scope >= ? AND scope < ? AND count > 0 "
            "ORDER BY newest DESC, scope LIMIT ? OFFSET ?",
            (marker, chr(ord(marker) + 1), limit, offset),
        )
        return [TagSummary(k, label, n, from_micros(newest)) for k, label, n, newest in rows]

    def author_count(self) -> int:
        marker = AUTHORS.marker
        return int(
            self._one(
                "SELECT count(*) FROM scopes WHERE scope >= ? AND scope < ? AND count > 0",
                marker,
                chr(ord(marker) + 1),
            )
        )

    def problems(self, limit: int = -1) -> dict[str, str]:
        """Files skipped, by path, with the reason: every one, or the first ``limit``;
        a folder that cannot be listed comes first."""
        found: dict[str, str] = {}
        directory = str(self._one("SELECT value FROM meta WHERE key = 'articles_dir'"))
        rows = self._db.execute(
            "SELECT f.path, f.error, f.slug, a.path FROM files f "
            "LEFT JOIN articles a ON a.slug = f.slug AND f.shadowed "
            "WHERE f.error IS NOT NULL OR f.shadowed ORDER BY f.path LIMIT ?",
            (limit,),
        )
        for name, error, slug, served_from in rows:
            path = os.path.join(directory, decode_name(name))
            if error is None:
                error = f"slug {slug!r} is already served from "
                error += os.path.join(directory, decode_name(served_from))
            found[path] = error
        folder = self._one("SELECT value FROM meta WHERE key = 'directory_problem'")
        if folder:
            found[directory] = str(folder)
        listed = sorted(found.items())  # the folder sorts before the files in it
        return dict(listed if limit < 0 else listed[:limit])

    def search_progress(self) -> tuple[int, int] | None:
        """While the full-text index is built after a first build: articles done, of all."""
        if self._one("SELECT value FROM meta WHERE key = 'search_upto'") is None:
            return None
        done = self._one("SELECT value FROM meta WHERE key = 'search_done'")
        total = self._one("SELECT value FROM meta WHERE key = 'search_total'")
        return int(done or 0), int(total or 0)

    def removals_held(self) -> str | None:
        """Why the writer holds removals of files (too many at once), while it does."""
        held = self._one("SELECT value FROM meta WHERE key = 'removals_held'")
        return str(held) if held else None

    def problem_count(self) -> int:
        """How many files are skipped (and the folder, if it cannot be listed): counted
        in the index of problems, not read."""
        files = self._one("SELECT count(*) FROM files WHERE error IS NOT NULL OR shadowed")
        folder = self._one("SELECT value FROM meta WHERE key = 'directory_problem'")
        return int(files or 0) + (1 if folder else 0)


class Store:
    """The reading side of the state directory, one per process.

    Safe to share between threads: each thread gets its own connection.
    """

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, DATABASE)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._counter: mmap.mmap | None = None
        self._epoch = -1
        self._seen = -1
        self._versions: dict[str, int] = {}
        self._combined: dict[str, tuple[int, int]] = {}
        """Combinations' versions, each with the generation it was worked out at."""

    # The generation counter ---------------------------------------------------

    def _read_counter(self) -> tuple[int, int]:
        if self._counter is None:
            try:
                with open(os.path.join(self.state_dir, GENERATION), "rb") as handle:
                    self._counter = mmap.mmap(
                        handle.fileno(), _COUNTER.size, access=mmap.ACCESS_READ
                    )
            except (OSError, ValueError):
                return (0, 0)
        generation, epoch = _COUNTER.unpack_from(self._counter, 0)
        return generation, epoch

    def version(self, scope: str) -> int:
        """The current version of a scope, cheaply: this is asked on every cached hit."""
        generation, epoch = self._read_counter()
        if generation != self._seen or epoch != self._epoch:
            self._refresh(generation, epoch)
        if is_search(scope):
            return self._versions.get(SITE, 0)
        if is_combination(scope):
            seen = self._seen  # before the versions are read: a refresh meanwhile misses
            found = self._combined.get(scope)
            if found is not None and found[0] == seen:
                return found[1]
            if len(self._combined) >= COMBINED_VERSIONS:  # made-up scopes: bounded
                self._combined.clear()
            tags = parse(scope).tags
            version = combined_version(self._versions.get(tag, 0) for tag in tags)
            self._combined[scope] = (seen, version)
            return version
        return self._versions.get(scope, 0)

    def changes(self, seen: tuple[int, int]) -> tuple[tuple[int, int], list[str]]:
        """The scopes that changed since ``seen`` (a mark this returned, or ``(-1, -1)``
        for every scope), the most articles first, and the mark to pass next time."""
        generation, epoch = self._read_counter()
        if (generation, epoch) == seen:
            return seen, []
        if epoch != self._epoch:
            self._refresh(generation, epoch)  # the database was replaced: reconnect
        since = seen[0] if epoch == seen[1] else -1
        try:
            rows = (
                self._connection("changes")
                .execute(
                    "SELECT scope, generation FROM scopes WHERE generation > ? ORDER BY count DESC",
                    (since,),
                )
                .fetchall()
            )
        except (NotReady, sqlite3.Error):
            return seen, []
        newest = max([generation, *(changed for _, changed in rows)])
        return (newest, epoch), [scope for scope, _ in rows]

    def _refresh(self, generation: int, epoch: int) -> None:
        with self._lock:
            if epoch != self._epoch:
                self._reconnect()
                self._versions.clear()
                self._seen = -1
            try:
                # Its own connection: this thread may be inside a snapshot, which would
                # show the versions as they were when it began.
                rows = (
                    self._connection("counter")
                    .execute(
                        "SELECT scope, version, generation FROM scopes WHERE generation > ?",
                        (self._seen,),
                    )
                    .fetchall()
                )
            except (NotReady, sqlite3.Error):
                return
            for scope, version, changed in rows:
                self._versions[scope] = version
                generation = max(generation, changed)
            self._seen, self._epoch = generation, epoch

    # Connections ------------------------------------------------------------------

    def _reconnect(self) -> None:
        """Forget this thread's connection: the database was replaced by a new build."""
        self._local = threading.local()

    def _connection(self, purpose: str) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, purpose, None)
        if connection is None:
            if not os.path.exists(self.path):
                raise NotReady()
            connection = connect(self.path)
            connection.execute("PRAGMA query_only = 1")
            setattr(self._local, purpose, connection)
        return connection

    def ready(self) -> bool:
        return os.path.exists(self.path)

    def begin(self) -> Snapshot:
        """Open a read transaction over the whole index; close it when done.

        Each thread keeps its idle connections, so a snapshot costs no connect.

        :raises NotReady: before the first build has completed.
        """
        generation, epoch = self._read_counter()
        if epoch != self._epoch:
            self._refresh(generation, epoch)
        idle: list[sqlite3.Connection] | None = getattr(self._local, "idle", None)
        if idle is None:
            idle = self._local.idle = []
        if idle:
            return Snapshot(idle.pop(), idle)
        if not os.path.exists(self.path):
            raise NotReady()
        connection = connect(self.path)
        connection.execute("PRAGMA query_only = 1")
        return Snapshot(connection, idle)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Snapshot]:
        """:meth:`begin` as a context manager."""
        index = self.begin()
        try:
            yield index
        finally:
            index.close()

    def progress(self) -> Progress:
        """What the writer last said of its work (``ready`` when it said nothing)."""
        try:
            with open(os.path.join(self.state_dir, PROGRESS), encoding="utf-8") as handle:
                return Progress(**json.load(handle))
        except (OSError, ValueError, TypeError):
            return Progress("ready" if self.ready() else "building")
