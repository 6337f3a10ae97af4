"""Recording changes in the index: the SQL of the single writer.

:class:`StoreWriter` applies what reading some files gave (:class:`FileReading`)
and says which scopes changed; it moves their versions and then the generation
counter, so every worker drops exactly the cached responses of those scopes.
:class:`Part` and :class:`BulkLoad` are the first build's fast path: each reading
process inserts the rows of the files it read into a database of its own, and the
building process merges them with SQL, keeping the first claim of a slug in name
order, then sorts the tag rows once, makes the indexes and writes every scope's
figures.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, NamedTuple

from .articles import Article, Stamp, Tag, author_names, normalize_tag
from .store import (
    _COUNTER,
    DRAFT,
    GENERATION,
    INDEXES,
    OLD_SEARCH_TRIGGERS,
    PUBLISHED,
    SCHEDULED,
    SCHEMA,
    SCHEMA_VERSION,
    SEARCH_NOTHING,
    SEARCH_TABLE,
    SITE,
    ArticleRow,
    connect,
    decode_name,
    encode_name,
    to_micros,
)
from .urls import AUTHORS


@dataclass(frozen=True, slots=True)
class FileReading:
    """What reading one file gave: an article and its body, or why it is not one."""

    name: str
    """The file name in the articles folder."""
    stamp: Stamp | None
    """``None`` when the file is gone."""
    digest: bytes | None = None
    article: Article | None = None
    body: tuple[str, ...] = ()
    error: str | None = None


Reread = Callable[[str], FileReading]


def article_row(
    article: Article,
    body: Sequence[str],
    name: str,
    now: int,
    *,
    uid: str | None = None,
    digest: bytes | None = None,
    published: int | None = None,
    updated: int | None = None,
    site_author: str = "",
) -> ArticleRow:
    """The ``articles`` row of an article. ``published`` and ``updated`` override the
    file's own.

    The ``tags`` column holds the article's author scopes after its tags (see
    :func:`author_scopes`): the tag rows, counts, labels and releases of an author
    are made exactly as a tag's."""
    published = to_micros(article.published) if published is None else published
    updated = max(published, to_micros(article.updated) if updated is None else updated)
    state = DRAFT if article.draft else SCHEDULED if published > now else PUBLISHED
    tags = tags_json((*article.tags, *author_scopes(article.author, site_author)))
    return ArticleRow(
        slug=article.slug,
        path=encode_name(name),
        state=state,
        published=published,
        updated=updated,
        title=article.title,
        standfirst=article.standfirst,
        author=article.author,
        image=article.image,
        caption=article.caption,
        credit=article.credit,
        lang=article.lang,
        tags=tags,
        mtime_ns=article.stamp.mtime_ns,
        size=article.stamp.size,
        uid=uid or article.slug,
        body="\n".join(body),
        digest=digest,
    )


def author_scopes(line: str | None, site_author: str) -> list[Tag]:
    """The scope of each author an ``author:`` line names (the site author's when it names
    none), with the name as spelled: an author's key is normalised as a tag's, so two
    spellings that normalise alike are one author."""
    found: dict[str, Tag] = {}
    for name in author_names(line or "") or author_names(site_author):
        tag = normalize_tag(name)
        if tag is not None:
            found.setdefault(tag.key, Tag(AUTHORS.scope(tag.key), tag.label))
    return list(found.values())


def tags_json(tags: Iterable[Tag]) -> str:
    """The ``tags`` column: ``json.dumps([[key, label], ...], ensure_ascii=False)``, made
    from the string encoder json itself uses, without building the lists (it is the same
    text, which :func:`_same` compares)."""
    made = _TAG_JSON
    pieces = []
    for tag in tags:
        pair = (tag.key, tag.label)
        piece = made.get(pair)
        if piece is None:
            if len(made) >= TAG_JSON_KEPT:
                made.clear()
            piece = made[pair] = f"[{encode_basestring(tag.key)}, {encode_basestring(tag.label)}]"
        pieces.append(piece)
    return "[" + ", ".join(pieces) + "]"


TAG_JSON_KEPT = 50_000
"""The most tags' JSON kept by :func:`tags_json`: a site has thousands of tags, and
a first build writes each of them again for every article carrying it."""
_TAG_JSON: dict[tuple[str, str], str] = {}


_INSERT_ARTICLE = (
    f"INSERT INTO articles ({', '.join(ArticleRow._fields)}) "
    f"VALUES ({', '.join('?' * len(ArticleRow._fields))})"
)
_ARTICLE_FIELDS = ArticleRow._fields
_SELECT_ARTICLE = f"SELECT {', '.join(_ARTICLE_FIELDS)} FROM articles"
_FIRST_CLAIM = (
    " ON CONFLICT (slug) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _ARTICLE_FIELDS if c != "slug")
    + " WHERE excluded.path < articles.path"
)
"""Of two files claiming a slug, the one whose name sorts first is served, whatever
order they come in: names are compared as bytes, as the index orders them."""
_INSERT_FILE = (
    "INSERT INTO files (path, inode, size, mtime_ns, ctime_ns, digest, slug, error) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET inode = excluded.inode, "
    "size = excluded.size, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, "
    "digest = excluded.digest, slug = excluded.slug, error = excluded.error, shadowed = 0"
)


def _file_row(reading: FileReading) -> tuple[Any, ...]:
    stamp = reading.stamp
    assert stamp is not None
    slug = reading.article.slug if reading.article is not None else None
    return (
        encode_name(reading.name),
        stamp.inode,
        stamp.size,
        stamp.mtime_ns,
        stamp.ctime_ns,
        reading.digest,
        slug,
        reading.error,
    )


def _tag_rows(row: ArticleRow) -> list[tuple[str, int, str]]:
    return [(key, row.published, row.slug) for key, _ in json.loads(row.tags)]


class Counter:
    """The generation counter every worker polls: 8 bytes of generation, 8 of epoch."""

    def __init__(self, state_dir: str) -> None:
        path = os.path.join(state_dir, GENERATION)
        handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            if os.fstat(handle).st_size < _COUNTER.size:
                # Written, not truncated to size: a sparse page would be allocated at the
                # first publish, and on a full filesystem that write kills the process.
                os.pwrite(handle, bytes(_COUNTER.size), 0)
            self._map = mmap.mmap(handle, _COUNTER.size)
        finally:
            os.close(handle)

    def read(self) -> tuple[int, int]:
        generation, epoch = _COUNTER.unpack_from(self._map, 0)
        return generation, epoch

    def publish(self, generation: int, *, new_epoch: bool = False) -> None:
        _, epoch = self.read()
        _COUNTER.pack_into(self._map, 0, generation, epoch + 1 if new_epoch else epoch)


INDEX_PAGE_SIZE = 8192
"""Bytes a page of a new index: an article's row (a body is a few kilobytes) fits in one,
where SQLite's default 4,096 spills it over a chain of pages. At 100,000 articles a first
build took 19.6 s against 23.4 s, with the same CPU an edit (3.0 ms against 3.2 ms);
16 KB pages built in 18.7 s but an edit took 4.5 ms (bench/README.md)."""
PART_PAGE_SIZE = 65536
"""Bytes a page of a first build's part: written once, read once, then deleted."""


def create_database(
    path: str, meta: dict[str, Any], page_size: int = INDEX_PAGE_SIZE
) -> sqlite3.Connection:
    """A new, empty index, set up for a fast bulk load (no journal until it is complete)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    db = connect(path)
    db.execute(f"PRAGMA page_size = {page_size}")  # before the first table: fixed after
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -65536")
    db.executescript(SCHEMA)  # the indexes come after the load: BulkLoad.finish()
    db.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [("schema", SCHEMA_VERSION), ("generation", 1), *meta.items()],
    )
    return db


BUILD_PARTS = "index.sqlite.building-parts"
"""The folder of a first build's parts in the state directory, one per reading process."""


MAX_PARTS = 8
"""The most parts a build makes (so the most reading processes): SQLite attaches at most
ten databases to one connection, and the building process attaches every part at once."""

_PART_TAGS = (
    "INSERT INTO article_tags SELECT json_extract(t.value, '$[0]'), a.published, a.slug "
    f"FROM articles a, json_each(a.tags) t WHERE a.state = {PUBLISHED}"
)
"""The tag rows of the published articles of a database, from their tags column."""


class Part:
    """One reading process's share of a first build: the rows of the files it read, in a
    database of its own, so that rows are made and inserted on every core and the
    building process copies them in with SQL (:meth:`BulkLoad.merge`)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.db = create_database(path, {}, PART_PAGE_SIZE)

    def add(self, readings: Iterable[FileReading], now: int, site_author: str = "") -> int:
        """Insert the rows of some readings; return how many files they were."""
        files = []
        articles = []
        for reading in readings:
            if reading.stamp is None:
                continue  # gone since the folder was listed: not in the index
            files.append(_file_row(reading))
            if reading.article is not None:
                articles.append(
                    article_row(
                        reading.article,
                        reading.body,
                        reading.name,
                        now,
                        digest=reading.digest,
                        site_author=site_author,
                    )
                )
        db = self.db
        db.execute("BEGIN")
        db.executemany(_INSERT_FILE, files)
        db.executemany(_INSERT_ARTICLE + _FIRST_CLAIM, articles)
        db.execute("COMMIT")  # each batch whole: the building process may read it next
        return len(files)

    def close(self) -> None:
        self.db.close()


def sort_part(path: str) -> None:
    """Make a finished part's tag rows, in the index's order: parts are sorted on every
    core, and the building process only merges them (one pass, no sorting)."""
    db = connect(path)
    try:
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -65536")
        db.execute("BEGIN")
        db.execute(f"{_PART_TAGS} ORDER BY 1, 2 DESC, 3")
        db.execute("COMMIT")
    finally:
        db.close()


class BulkLoad:
    """The first build: the parts the reading processes made, merged into an empty database."""

    def __init__(self, db: sqlite3.Connection, now: int) -> None:
        self.db = db
        self.now = now
        self.contested = 0
        """How many slugs more than one file claims."""

    def merge(self, parts: Sequence[str]) -> None:
        """Copy in the sorted parts (see :class:`Part`, :func:`sort_part`), in any order.

        Of the files claiming a slug, the one whose name sorts first is served, whatever
        part it is in; the tag rows of a slug claimed in several parts are made again
        from the article served.
        """
        if len(parts) > MAX_PARTS:
            raise ValueError(f"{len(parts)} parts, more than {MAX_PARTS}")
        db = self.db
        names = [f"part{number}" for number in range(len(parts))]
        for name, part in zip(names, parts, strict=True):
            db.execute(f"ATTACH DATABASE ? AS {name}", (part,))
        try:
            db.execute("BEGIN")
            columns = ", ".join(_ARTICLE_FIELDS)
            for name in names:
                db.execute(f"INSERT INTO files SELECT * FROM {name}.files")
                # "WHERE true": an upsert after a SELECT needs it, to parse.
                db.execute(
                    f"INSERT INTO articles ({columns}) SELECT {columns} FROM {name}.articles "
                    f"WHERE true {_FIRST_CLAIM}"
                )
            for statement in filter(str.strip, INDEXES.split(";")):
                db.execute(statement)
            db.execute(
                "CREATE TEMP TABLE contested AS SELECT slug FROM files WHERE slug IS NOT NULL "
                "GROUP BY slug HAVING count(*) > 1"
            )
            contested = db.execute("SELECT count(*) FROM temp.contested").fetchone()[0]
            self.contested = contested
            only = " WHERE slug NOT IN (SELECT slug FROM temp.contested)" if contested else ""
            if names:
                # Each part is in order: SQLite merges them (MERGE (UNION ALL)), no sorter.
                merged = " UNION ALL ".join(
                    f"SELECT tag, published, slug FROM {name}.article_tags{only}" for name in names
                )
                db.execute(f"INSERT INTO article_tags {merged} ORDER BY 1, 2 DESC, 3")
            if contested:
                db.execute(
                    f"{_PART_TAGS} AND a.slug IN (SELECT slug FROM temp.contested) "
                    "ORDER BY 1, 2 DESC, 3"
                )
            db.execute("DROP TABLE temp.contested")
            db.execute("COMMIT")
        finally:
            for name in names:
                db.execute(f"DETACH DATABASE {name}")

    def finish(self, *, search: bool = True) -> None:
        """Mark the files not served, write every slug and every scope's figures; fill
        the search index too unless ``search`` is false (then it is filled later, in the
        background: :meth:`StoreWriter.search_step`)."""
        db = self.db
        db.execute("BEGIN")
        if self.contested:  # else every file with a slug serves it
            db.execute(
                "UPDATE files SET shadowed = 1 WHERE slug IS NOT NULL AND path != "
                "(SELECT path FROM articles a WHERE a.slug = files.slug)"
            )
        db.execute("INSERT INTO slugs (slug, uid) SELECT slug, uid FROM articles ORDER BY slug")
        self.number_for_search()
        if search:  # here, before the index goes to WAL: it is written once
            self.db.execute(
                "INSERT INTO search (rowid, title, standfirst, tags, body) "
                "SELECT seq, title, standfirst, tags, body FROM articles ORDER BY seq"
            )
            self.db.execute(f"INSERT INTO search (search, rank) VALUES ('hashsize', {1 << 20})")
            # One segment: else an edit's small segment, merged with the load's big ones
            # at the same level, makes one edit in a few take seconds.
            self.db.execute("INSERT INTO search (search) VALUES ('optimize')")
            self.db.execute(
                "DELETE FROM meta WHERE key IN ('search_upto', 'search_done', 'search_total')"
            )
        base = first_version()
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('build', ?)", (base,))
        db.execute(
            "INSERT INTO scopes (scope, count, newest, version, generation, changed) "
            "SELECT '', count(*), max(published), ?, 1, ? FROM articles WHERE state = 0",
            (base, self.now),
        )
        db.execute(
            "INSERT INTO scopes (scope, count, newest, version, generation, changed) "
            "SELECT tag, count(*), max(published), ?, 1, ? FROM article_tags GROUP BY tag",
            (base, self.now),
        )
        keys = [key for (key,) in db.execute("SELECT scope FROM scopes WHERE scope != ''")]
        db.executemany(
            "UPDATE scopes SET label = ? WHERE scope = ?", [(label_of(db, k), k) for k in keys]
        )
        StoreWriter.schedule(db)
        db.execute("COMMIT")

    def number_for_search(self) -> None:
        """Number the articles for the search index and make it, empty: its words are
        added after the first build, in the background, while the site is served
        (:meth:`StoreWriter.search_step`)."""
        db = self.db
        # In date order (ties by slug, the later first), each seq the larger of its date
        # and the one before's plus one: seq_i = i + max(published_j - j) for j <= i.
        db.execute(
            "WITH ordered AS (SELECT slug, published, "
            "row_number() OVER (ORDER BY published, slug DESC) AS i FROM articles), "
            "numbered AS (SELECT slug, i + max(published - i) OVER "
            "(ORDER BY i ROWS UNBOUNDED PRECEDING) AS seq FROM ordered) "
            "UPDATE articles SET seq = numbered.seq FROM numbered "
            "WHERE numbered.slug = articles.slug"
        )
        db.execute(SEARCH_TABLE)
        # Words gathered in memory 64 MB at a time while it is filled, not 1 MB: a third
        # less CPU, and fewer segments to merge (back to the default once it is full).
        db.execute(f"INSERT INTO search (search, rank) VALUES ('hashsize', {64 << 20})")
        total = db.execute("SELECT count(*) FROM articles").fetchone()[0]
        db.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            [("search_upto", SEARCH_NOTHING), ("search_done", 0), ("search_total", total)],
        )


SEARCH_STEP_ROWS = 2_000
"""Articles whose words one step of filling the search index adds: about a second."""
SEARCH_MERGE_PAGES = 2_000
"""Pages one step of merging the search index writes."""


def free_seq(db: sqlite3.Connection, published: int) -> int:
    """The smallest ``seq`` at least ``published`` that no article has (see
    :data:`feedsvc.store.SEARCH_TABLE`)."""
    candidate = published
    while True:
        taken = [
            seq
            for (seq,) in db.execute(
                "SELECT seq FROM articles WHERE seq >= ? ORDER BY seq LIMIT 64", (candidate,)
            )
        ]
        for seq in taken:
            if seq != candidate:
                return candidate
            candidate += 1
        if len(taken) < 64:
            return candidate


def first_version() -> int:
    """The version a scope starts at: the wall clock in microseconds (never a test's
    clock), so versions never repeat across rebuilds of the index, or when a scope
    comes back, and nothing kept for an older one (a representation on the shelf, a
    response held in memory) can be taken for the current one."""
    return time.time_ns() // 1000


def label_of(db: sqlite3.Connection, key: str) -> str:
    """A tag's label: its spelling in the oldest article carrying it (the end of the
    newest-first order), or "" when no published article carries it."""
    found = db.execute(
        "SELECT a.tags FROM article_tags t JOIN articles a ON a.slug = t.slug "
        "WHERE t.tag = ? ORDER BY t.published ASC, t.slug DESC LIMIT 1",
        (key,),
    ).fetchone()
    if found is None:
        return ""
    return next((label for k, label in json.loads(found[0]) if k == key), "")


class StoreWriter:
    """Applies changes to a complete index, one transaction each."""

    def __init__(self, path: str, counter: Counter, reread: Reread, site_author: str = "") -> None:
        self.site_author = site_author
        """Whose articles those without an ``author:`` line are (``FEEDSVC_AUTHOR``)."""
        self.db = connect(path, shared=True)  # the indexer's lock keeps one thread at a time
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.counter = counter
        self.reread = reread
        self.now = 0
        """The time of the change being recorded (microseconds)."""
        self.touched: frozenset[str] = frozenset()
        """The slugs the last change was about (for purging their pages)."""
        self.relabeled = False
        """Whether the last change relabelled a tag, which every page may show."""
        for trigger in OLD_SEARCH_TRIGGERS:  # an index made by an earlier feedsvc
            self.db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        self._unindexed: list[tuple[int, str, str, str, str]] = []
        """Words to take out of the search index at the end of this transaction: the
        ``seq`` and text of each article withdrawn."""
        self._to_index: dict[str, int] = {}
        """Articles written in this transaction (by slug, with their ``published``): their
        ``seq`` is given, and their words indexed, at its end."""
        self._claimed_before: dict[str, str] = {}
        """The slug each file of the change being recorded claimed before it (by name)."""

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[set[str]]:
        """A write transaction; the scopes added to the yielded set get new versions."""
        changed: set[str] = set()
        self._unindexed, self._to_index = [], {}
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield changed
            self._index_words()
            generation = self.meta("generation") + 1 if changed else 0
            if changed:
                self._bump(changed, generation)
            self.db.execute("COMMIT")
        except BaseException:
            # A failed statement may have ended the transaction (a full disk does):
            # rolling back again would raise and hide why it failed.
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        if changed:
            self.counter.publish(generation)

    def _index_words(self) -> None:
        """Bring the search index in step with this transaction's articles: withdrawn
        ones out, then new ones in, each in row order.

        FTS5 keeps pending words in memory only while rowids rise: each one written out
        of order (articles are settled by slug) ends a segment, and hundreds of tiny
        segments set off merges that rewrote the whole search index (a first batch of
        500 new files at 100,000 articles read 1.2 GB and wrote 800 MB, 6 s)."""
        db = self.db
        # While the search index is being filled, the articles past its cursor are left
        # to the filling: their words are not in yet, and will be read from their rows.
        upto = self.meta("search_upto")
        db.executemany(
            "INSERT INTO search (search, rowid, title, standfirst, tags, body) "
            "VALUES ('delete', ?, ?, ?, ?, ?)",
            sorted(row for row in self._unindexed if upto is None or row[0] <= upto),
        )
        for slug, published in sorted(self._to_index.items(), key=lambda item: item[::-1]):
            text = db.execute(
                "SELECT title, standfirst, tags, body FROM articles WHERE slug = ? AND seq IS NULL",
                (slug,),
            ).fetchone()
            if text is None:  # withdrawn again, or numbered already
                continue
            seq = free_seq(db, published)  # rising with ``published``: see free_seq
            db.execute("UPDATE articles SET seq = ? WHERE slug = ?", (seq, slug))
            if upto is not None and seq > upto:
                continue
            db.execute(
                "INSERT INTO search (rowid, title, standfirst, tags, body) VALUES (?, ?, ?, ?, ?)",
                (seq, *text),
            )
        self._unindexed, self._to_index = [], {}

    def search_step(self) -> bool:
        """One step of filling the search index after a first build, or of merging it
        into one segment once full (so that an edit's small segment never merges with
        big ones); whether any work is left. Each step is a transaction of about a
        second, so edits are recorded in between."""
        db = self.db
        upto = self.meta("search_upto")
        if upto is None and not self.meta("search_merging"):
            return False
        with self._transaction():
            if upto is not None:
                rows = db.execute(
                    "SELECT seq, title, standfirst, tags, body FROM articles WHERE seq > ? "
                    "ORDER BY seq LIMIT ?",
                    (upto, SEARCH_STEP_ROWS),
                ).fetchall()
                db.executemany(
                    "INSERT INTO search (rowid, title, standfirst, tags, body) "
                    "VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                self._set_meta("search_done", (self.meta("search_done") or 0) + len(rows))
                if len(rows) < SEARCH_STEP_ROWS:  # full: searches are answered from now on
                    db.execute("DELETE FROM meta WHERE key = 'search_upto'")
                    db.execute(f"INSERT INTO search (search, rank) VALUES ('hashsize', {1 << 20})")
                    self._set_meta("search_merging", 1)
                else:
                    self._set_meta("search_upto", rows[-1][0])
            else:
                # An incremental 'optimize': repeated until it changes (next to) nothing.
                before = db.total_changes
                db.execute(
                    "INSERT INTO search (search, rank) VALUES ('merge', ?)", (-SEARCH_MERGE_PAGES,)
                )
                if db.total_changes - before < 2:
                    db.execute("DELETE FROM meta WHERE key = 'search_merging'")
        return True

    def fill_search(self) -> None:
        """Fill the rest of the search index in one transaction, merged into one segment
        (``feedsvc index``, and tests: no one is served meanwhile)."""
        upto = self.meta("search_upto")
        if upto is None:
            return
        db = self.db
        with self._transaction():
            db.execute(
                "INSERT INTO search (rowid, title, standfirst, tags, body) "
                "SELECT seq, title, standfirst, tags, body FROM articles WHERE seq > ? "
                "ORDER BY seq",
                (upto,),
            )
            db.execute(f"INSERT INTO search (search, rank) VALUES ('hashsize', {1 << 20})")
            # One segment: else an edit's small segment, merged with the load's big ones
            # at the same level, makes one edit in a few take seconds.
            db.execute("INSERT INTO search (search) VALUES ('optimize')")
            db.execute(
                "DELETE FROM meta WHERE key IN ('search_upto', 'search_merging', 'search_done')"
            )

    def meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: Any) -> None:
        with self._transaction():
            self._set_meta(key, value)

    def _set_meta(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _bump(self, scopes: set[str], generation: int) -> None:
        """New versions, and the change time that Last-Modified shows: never backwards,
        and a second on at least, since HTTP dates have whole seconds (a client that
        sends only If-Modified-Since must see every change, at worst a second late)."""
        self._set_meta("generation", generation)
        now = self.now
        base = first_version()
        self.db.executemany(
            "INSERT INTO scopes (scope, version, generation, changed) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (scope) DO UPDATE SET version = version + 1, "
            "generation = excluded.generation, "
            "changed = max(excluded.changed, coalesce(changed, 0) + 1000000)",
            [(scope, base, generation, now) for scope in scopes],
        )

    def stamps(self, after: str | None, limit: int) -> list[tuple[str, Stamp]]:
        """Up to ``limit`` files' names and stamps, in name order, from past ``after``."""
        rows = self.db.execute(
            "SELECT path, mtime_ns, size, inode, ctime_ns FROM files WHERE path > ? "
            "ORDER BY path LIMIT ?",
            (b"" if after is None else encode_name(after), limit),
        )
        return [
            (decode_name(raw), Stamp(mtime_ns, size, inode, ctime_ns))
            for raw, mtime_ns, size, inode, ctime_ns in rows
        ]

    def file_count(self) -> int:
        """How many files the index knows (articles and skipped files)."""
        return int(self.db.execute("SELECT count(*) FROM files").fetchone()[0])

    def published(self) -> int:
        """How many articles are published: the site's count."""
        row = self.db.execute("SELECT count FROM scopes WHERE scope = ''").fetchone()
        return 0 if row is None else int(row[0])

    def stamp(self, name: str) -> Stamp | None:
        row = self.db.execute(
            "SELECT mtime_ns, size, inode, ctime_ns FROM files WHERE path = ?",
            (encode_name(name),),
        ).fetchone()
        return None if row is None else Stamp(*row)

    def apply(self, readings: Sequence[FileReading], now: int) -> set[str]:
        """Record what reading these files gave; return the scopes that changed."""
        self.now = now
        self.relabeled = False
        self._claimed_before = {}
        with self._transaction() as changed:
            slugs: set[str] = set()
            fresh: dict[str, FileReading] = {}
            for reading in readings:
                raw = encode_name(reading.name)
                old = self.db.execute("SELECT slug FROM files WHERE path = ?", (raw,)).fetchone()
                if old is not None and old[0] is not None:
                    slugs.add(old[0])
                    self._claimed_before[reading.name] = old[0]
                if reading.stamp is None:
                    self.db.execute("DELETE FROM files WHERE path = ?", (raw,))
                    continue
                self.db.execute(_INSERT_FILE, _file_row(reading))
                if reading.article is not None:
                    fresh[reading.name] = reading
                    slugs.add(reading.article.slug)
            # Withdrawals first, so that a renamed article's tombstone is there for its
            # new name to take up.
            claimed = {
                slug
                for slug in slugs
                if self.db.execute("SELECT 1 FROM files WHERE slug = ?", (slug,)).fetchone()
            }
            for slug in sorted(slugs - claimed) + sorted(claimed):
                changed |= self._settle(slug, fresh, now)
            self._figures(changed)
        self.touched = frozenset(slugs)
        return changed

    def _settle(self, slug: str, fresh: dict[str, FileReading], now: int) -> set[str]:
        """Serve the first claim of a slug (by file name); return the scopes that changed."""
        current = self._article("WHERE slug = ?", slug)
        claims = [
            decode_name(raw)
            for (raw,) in self.db.execute(
                "SELECT path FROM files WHERE slug = ? ORDER BY path", (slug,)
            )
        ]
        winner: FileReading | None = None
        for name in claims:
            reading = fresh.get(name)
            if reading is None and current is not None and decode_name(current.path) == name:
                self._shadow(slug, name)  # the one served is unchanged
                return set()
            if reading is None:
                reading = self.reread(name)  # a claim that was shadowed until now
                if reading.stamp is None:
                    self.db.execute("DELETE FROM files WHERE path = ?", (encode_name(name),))
                    continue
                self.db.execute(_INSERT_FILE, _file_row(reading))
            if reading.article is not None and reading.article.slug == slug:
                winner = reading
                break
        changed: set[str] = set()
        if winner is None or winner.article is None:
            if current is not None:
                changed |= self._withdraw(current)
                self._bury(current, now)
            return changed
        self._shadow(slug, winner.name)
        row = self._remembered(winner, current, now, changed)
        if current is not None and _same(current, row):
            self.db.execute(
                "UPDATE articles SET path = ?, mtime_ns = ?, size = ?, digest = ? WHERE slug = ?",
                (row.path, row.mtime_ns, row.size, row.digest, slug),
            )
            return changed
        if current is not None:
            changed |= self._withdraw(current)
        self.db.execute(_INSERT_ARTICLE, row)
        self._to_index[slug] = row.published  # its words, under a seq of its date, at the end
        self.db.execute(
            "INSERT INTO slugs (slug, uid) VALUES (?, ?) "
            "ON CONFLICT (slug) DO UPDATE SET uid = excluded.uid",
            (slug, row.uid),
        )
        return changed | self._publish(row)

    def _remembered(
        self, reading: FileReading, current: ArticleRow | None, now: int, changed: set[str]
    ) -> ArticleRow:
        """The row of a reading, with what the index remembers of the article.

        Its identity: the one served under this slug, else the one this very file
        served under another slug (a slug changed in front matter), else a deleted
        article with this slug (it came back) or with the same bytes (it was renamed).
        Its date, when the file gives none: the one first seen. Its ``updated``, when
        front matter gives none: the moment a change of its text was indexed.
        """
        article = reading.article
        assert article is not None
        raw = encode_name(reading.name)
        known: ArticleRow | Buried | None = current
        before = self._claimed_before.get(reading.name)
        if known is None and before is not None and before != article.slug:
            # Found by the slug the file claimed before: a lookup by path would read
            # every article (no index on it), once for each new file of a bulk arrival.
            moved = self._article("WHERE slug = ? AND path = ?", before, raw)
            if moved is not None:  # the slug moved: withdraw the old one, no tombstone
                changed |= self._withdraw(moved)
            known = moved
        if known is None:
            known = self._unbury(article.slug, raw, reading.digest)
        # A new article is what its file says; a known one keeps its identity, and the
        # dates the file does not give.
        uid = self._new_uid(article.slug) if known is None else known.uid
        published = updated = None
        if known is not None and not article.dated:
            published = known.published
        if known is not None and not article.updated_given:
            # Feeds carry whole seconds: the edit's second, never before the last.
            edited = now - now % 1_000_000
            same = known.digest == reading.digest
            updated = known.updated if same else max(edited, known.updated)
        row = article_row(
            article,
            reading.body,
            reading.name,
            now,
            uid=uid,
            digest=reading.digest,
            published=published,
            updated=updated,
            site_author=self.site_author,
        )
        if known is None:
            return row
        old_published = known.published
        if row.published != old_published:
            self.db.execute(
                "INSERT INTO date_changes VALUES (?, ?, ?, ?, ?, ?)",
                (uid, article.slug, raw, old_published, row.published, now),
            )
        return row

    def _new_uid(self, slug: str) -> str:
        """An identity for a new article: its slug, unless an article that moved away
        from that slug, or was deleted, still has it."""
        uid, n = slug, 1
        while self.db.execute(
            "SELECT 1 FROM articles WHERE uid = ? UNION ALL SELECT 1 FROM gone WHERE uid = ?",
            (uid, uid),
        ).fetchone():
            n += 1
            uid = f"{slug}-{n}"
        return uid

    def _article(self, where: str, *args: object) -> ArticleRow | None:
        """The one article row a condition (``WHERE ...``) selects, if any."""
        found = self.db.execute(f"{_SELECT_ARTICLE} {where}", args).fetchone()
        return None if found is None else ArticleRow._make(found)

    def _bury(self, row: ArticleRow, now: int) -> None:
        """Leave a tombstone: its page answers 410, and it can come back as itself."""
        self.db.execute(
            "INSERT OR REPLACE INTO gone (uid, slug, path, digest, published, updated, title, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (row.uid, row.slug, row.path, row.digest, row.published, row.updated, row.title, now),
        )

    def _unbury(self, slug: str, path: bytes, digest: bytes | None) -> Buried | None:
        """The deleted article this one is: the same slug (it came back), else the same
        file (its slug changed), else the same bytes (the file was renamed)."""
        columns = "SELECT uid, slug, digest, published, updated FROM gone"
        found = self.db.execute(f"{columns} WHERE slug = ?", (slug,)).fetchone()
        if found is None:
            found = self.db.execute(
                f"{columns} WHERE path = ? ORDER BY at DESC LIMIT 1", (path,)
            ).fetchone()
        if found is None and digest is not None:
            found = self.db.execute(
                f"{columns} WHERE digest = ? ORDER BY at DESC LIMIT 1", (digest,)
            ).fetchone()
        if found is None:
            return None
        buried = Buried._make(found)
        self.db.execute("DELETE FROM gone WHERE uid = ?", (buried.uid,))
        return buried

    def _shadow(self, slug: str, served: str) -> None:
        self.db.execute(
            "UPDATE files SET shadowed = (path != ?) WHERE slug = ?", (encode_name(served), slug)
        )

    def _scopes_of(self, row: ArticleRow) -> set[str]:
        return {SITE, *(key for key, _ in json.loads(row.tags))}

    def _withdraw(self, row: ArticleRow) -> set[str]:
        indexed = self.db.execute(
            "SELECT seq, title, standfirst, tags, body FROM articles WHERE slug = ?", (row.slug,)
        ).fetchone()
        if indexed is not None and indexed[0] is not None:
            self._unindexed.append(indexed)
        self.db.execute("DELETE FROM articles WHERE slug = ?", (row.slug,))
        if row.state == DRAFT:
            return set()
        if row.state == PUBLISHED:
            self.db.executemany(
                "DELETE FROM article_tags WHERE tag = ? AND published = ? AND slug = ?",
                _tag_rows(row),
            )
            self._count(self._scopes_of(row), -1)
        return self._scopes_of(row)

    def _publish(self, row: ArticleRow) -> set[str]:
        if row.state == DRAFT:
            return set()
        if row.state == PUBLISHED:
            self.db.executemany("INSERT INTO article_tags VALUES (?, ?, ?)", _tag_rows(row))
            self._count(self._scopes_of(row), +1)
        return self._scopes_of(row)

    def _count(self, scopes: Iterable[str], step: int) -> None:
        self.db.executemany(
            "INSERT INTO scopes (scope, count) VALUES (?, ?) "
            "ON CONFLICT (scope) DO UPDATE SET count = count + excluded.count",
            [(scope, step) for scope in scopes],
        )

    def _figures(self, changed: set[str]) -> None:
        """Newest date and label of each changed scope, and every scope's next release."""
        db = self.db
        for scope in list(changed):
            if scope == SITE:
                db.execute(
                    "UPDATE scopes SET newest = (SELECT published FROM articles WHERE state = 0 "
                    "ORDER BY published DESC LIMIT 1) WHERE scope = ''"
                )
                continue
            label = label_of(db, scope)
            old = db.execute("SELECT label FROM scopes WHERE scope = ?", (scope,)).fetchone()
            db.execute(
                "UPDATE scopes SET newest = (SELECT published FROM article_tags WHERE tag = ? "
                "ORDER BY published DESC, slug LIMIT 1), label = ? WHERE scope = ?",
                (scope, label, scope),
            )
            if label and old and old[0] and old[0] != label:
                # Feeds print every tag of their items by its label: any scope may show it.
                self.relabeled = True
                changed.update(s for (s,) in db.execute("SELECT scope FROM scopes"))
        if changed:
            self.schedule(db, changed)

    @staticmethod
    def schedule(db: sqlite3.Connection, scopes: set[str] | None = None) -> None:
        """Write each scope's next release: its earliest scheduled article's date; only
        for ``scopes`` when given (those a change touched: the rest cannot have moved)."""
        releases: dict[str, int] = {}
        for published, tags in db.execute(
            "SELECT published, tags FROM articles WHERE state = 1 ORDER BY published DESC"
        ):
            for scope in (SITE, *(key for key, _ in json.loads(tags))):
                if scopes is None or scope in scopes:
                    releases[scope] = published
        if scopes is None:
            db.execute("UPDATE scopes SET next_release = NULL WHERE next_release IS NOT NULL")
        else:
            db.executemany(
                "UPDATE scopes SET next_release = NULL "
                "WHERE scope = ? AND next_release IS NOT NULL",
                [(scope,) for scope in scopes],
            )
        db.executemany(
            "INSERT INTO scopes (scope, next_release) VALUES (?, ?) "
            "ON CONFLICT (scope) DO UPDATE SET next_release = excluded.next_release",
            list(releases.items()),
        )

    def next_release(self) -> int | None:
        row = self.db.execute("SELECT min(published) FROM articles WHERE state = 1").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def release_due(self, now: int) -> set[str]:
        """Publish the scheduled articles whose time has come."""
        self.now = now
        self.relabeled = False
        with self._transaction() as changed:
            due = [
                ArticleRow._make(row)
                for row in self.db.execute(
                    f"{_SELECT_ARTICLE} WHERE state = 1 AND published <= ?", (now,)
                )
            ]
            self.touched = frozenset(row.slug for row in due)
            for row in due:
                self.db.execute("UPDATE articles SET state = 0 WHERE slug = ?", (row.slug,))
                changed |= self._publish(row._replace(state=PUBLISHED))
            if due:
                self._figures(changed)
        return changed


_FILE_FIELDS = frozenset({"path", "mtime_ns", "size", "digest"})
_SERVED_FIELDS = tuple(name for name in ArticleRow._fields if name not in _FILE_FIELDS)


def _same(stored: ArticleRow, row: ArticleRow) -> bool:
    """Whether two article rows serve the same thing (the file, its stamp and digest aside)."""
    return all(getattr(stored, name) == getattr(row, name) for name in _SERVED_FIELDS)


class Buried(NamedTuple):
    """What a tombstone keeps of a deleted article, for when it comes back."""

    uid: str
    slug: str
    digest: bytes | None
    published: int
    updated: int
