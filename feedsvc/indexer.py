"""The single writer: builds the index, reconciles it with the folder, records each change.

Exactly one process holds the state directory's writer lock and runs an
:class:`Indexer`; every other worker only reads the store. With no index yet, the
first build reads every file on every core (a process pool) into a fresh
database that is renamed into place when complete. With an index, the indexer
reconciles: it stats every file, re-reads only those whose stamp (inode, size,
modification and change times) moved, and records the difference. Reading a file
never holds a lock that a request waits on.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import gc
import json
import logging
import multiprocessing
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any, TypeVar

from .articles import (
    MAX_ARTICLE_BYTES,
    MAX_AUTHORS,
    MAX_KEYWORDS,
    ArticleError,
    Limits,
    Stamp,
    content_hash,
    parse_text,
    read_file,
    stamp_of,
)
from .room import is_disk_full, room
from .settings import Settings
from .store import (
    BUILDING,
    DAMAGED,
    DATABASE,
    PROGRESS,
    SCHEMA_VERSION,
    DiskFull,
    IndexDamaged,
    OutdatedIndex,
    Progress,
    StoreError,
    damage_reported,
    from_micros,
    is_damage,
    report_damage,
)
from .writer import (
    BUILD_PARTS,
    MAX_PARTS,
    BulkLoad,
    Counter,
    FileReading,
    Part,
    StoreWriter,
    create_database,
    sort_part,
)

log = logging.getLogger(__name__)

LOCK = "writer.lock"
CHUNK = 500  # files a pool task reads
POOL_THRESHOLD = 2000  # fewer files than this are read in-process
PROGRESS_EVERY = 0.5  # seconds between progress reports
LOG_EVERY = 5.0  # seconds between progress lines in a server's log
RECONCILE_SLICE = 20_000  # index entries compared with the folder at a time
REMOVAL_WINDOW = 60.0
"""Seconds over which removals add up for ``FEEDSVC_MAX_REMOVED_PERCENT``: a folder emptied
file by file is many small removals."""
REMOVAL_FLOOR = 10
"""So many files may always be removed at once: a small site's editor deletes freely."""
ALLOW_REMOVALS = "allow-removals"
"""A mark in the state directory: the held removals are meant (``feedsvc allow-removals``)."""

ProgressCallback = Callable[[Progress], None]
Mapper = Callable[..., Iterator[Any]]
"""``map``, or a pool's ``imap``."""


@dataclass(frozen=True, slots=True)
class Change:
    """What one recorded change touched, for whoever tells caches and hubs of it."""

    scopes: frozenset[str]
    """The scopes whose content changed (the site, tags)."""
    slugs: frozenset[str] = frozenset()
    """The articles it was about, whose pages changed."""
    everything: bool = False
    """Every page may have changed (a tag relabelled, a whole rebuild)."""


ChangeListener = Callable[[Change], None]
"""Told of each change, on the indexing thread: it must return at once."""


def is_article_file(name: str) -> bool:
    """True for ``*.txt`` files that are not hidden or editor droppings."""
    return name.endswith(".txt") and not name.startswith((".", "#", "~"))


DEFAULT_LIMITS = Limits()


def read_reading(
    directory: str,
    name: str,
    default_tz: tzinfo,
    max_bytes: int = MAX_ARTICLE_BYTES,
    limits: Limits = DEFAULT_LIMITS,
) -> FileReading:
    """Read and parse one file of the folder; never raises."""
    path = os.path.join(directory, name)
    return _parsed(name, path, _fetched(path, max_bytes), default_tz, limits)


Fetched = tuple[bytes, Stamp] | ArticleError
"""A file's bytes and stamp, or why they could not be read."""


def _fetched(path: str, max_bytes: int) -> Fetched:
    try:
        return read_file(path, max_bytes)
    except ArticleError as exc:
        return exc


def _parsed(
    name: str, path: str, fetched: Fetched, default_tz: tzinfo, limits: Limits
) -> FileReading:
    if isinstance(fetched, ArticleError):
        return FileReading(name, fetched.stamp, error=fetched.reason)
    data, stamp = fetched
    digest = content_hash(data)
    try:
        article, body = parse_text(
            path,
            data,
            stamp,
            default_tz,
            max_keywords=limits.keywords,
            max_authors=limits.authors,
        )
    except ArticleError as exc:
        return FileReading(name, stamp, digest, error=exc.reason)
    except Exception as exc:  # one bad file must never stop a build
        log.exception("unexpected error reading %s", path)
        return FileReading(name, stamp, digest, error=f"unreadable: {exc!r}")
    return FileReading(name, stamp, digest, article, body)


Task = tuple[str, list[str], tzinfo, int, Limits, int, str]
"""Files to read: folder, names, time zone, size cap, limits, now (microseconds), the site
author."""


# The reading processes run with the garbage collector off (Pool(initializer=...)):
# they make only short-lived, acyclic objects, and collecting them cost 15-25% of a
# build's CPU (bench/README.md). This process's collector is left as it is.


READ_AHEAD = 16
"""Files a batch that a reading process reads on another thread while it parses those
read before: on a folder not yet in the page cache, the disk's waits then overlap the
parsing (bench/README.md: 43 s for 100,000 such files became 27-28 s)."""
READERS = 2
"""Batches read at once, each on its own thread: two keep the disk busier than one. At
most ``(READERS + 1) * READ_AHEAD`` files are read and not yet parsed, 48 MB at the size
cap."""


def _read_chunk(task: Task) -> list[FileReading]:
    """Read some files (module level, so pool processes can import it)."""
    return [reading for batch in _read_batches(task) for reading in batch]


def _read_batches(task: Task) -> Iterator[list[FileReading]]:
    """The readings of some files, :data:`READ_AHEAD` at a time, in order."""
    directory, names, default_tz, max_bytes, limits, _, _ = task
    paths = [os.path.join(directory, name) for name in names]

    def fetch(start: int) -> list[Fetched]:
        return [_fetched(path, max_bytes) for path in paths[start : start + READ_AHEAD]]

    starts = range(0, len(paths), READ_AHEAD)
    with ThreadPoolExecutor(READERS, thread_name_prefix="feedsvc-read-ahead") as ahead:

        def later(start: int) -> Future[list[Fetched]]:
            try:
                return ahead.submit(fetch, start)
            except RuntimeError:  # the interpreter is exiting: no new threads, read it here
                now: Future[list[Fetched]] = Future()
                now.set_result(fetch(start))
                return now

        coming = collections.deque(later(start) for start in starts[:READERS])
        for number, start in enumerate(starts):
            batch = coming.popleft().result()
            if number + READERS < len(starts):
                coming.append(later(starts[number + READERS]))
            yield [
                _parsed(names[start + offset], paths[start + offset], fetched, default_tz, limits)
                for offset, fetched in enumerate(batch)
            ]


_reading = threading.local()
"""``part``: this thread's share of a first build while it reads one (the main thread of
a reading process, or the building thread when it reads the files itself)."""


def _open_part(folder: str) -> None:
    _reading.part = Part(os.path.join(folder, f"part-{os.getpid()}.sqlite"))


def _start_reading(folder: str) -> None:
    """Set up a reading process of a first build (``Pool(initializer=...)``)."""
    gc.disable()
    _open_part(folder)


def _close_part() -> None:
    part = getattr(_reading, "part", None)
    if part is not None:
        part.close()
        _reading.part = None


def _load_chunk(task: Task) -> tuple[str, int]:
    """Read some files into this process's part; return the part and how many files."""
    part: Part | None = getattr(_reading, "part", None)
    assert part is not None, "a reading process without its part"
    files = 0
    held: list[FileReading] = []
    size = 0
    for batch in _read_batches(task):
        held += batch
        size += sum(reading.stamp.size for reading in batch if reading.stamp is not None)
        if size >= ADD_BYTES:  # a chunk of files at the size cap: hundreds of megabytes
            files += part.add(held, task[5], task[6])
            held, size = [], 0
    return part.path, files + part.add(held, task[5], task[6])


ADD_BYTES = 16 << 20
"""The most bytes of files whose readings a reading process holds before inserting them
into its part: a whole chunk of ordinary files at once (an insert every 16 files made the
reading of a first build 15% slower), bounded when the files are large."""


class WriterLock:
    """An exclusive lock on the state directory: held by the one process that indexes."""

    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, LOCK)
        self._handle: int | None = None

    def acquire(self) -> bool:
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            os.close(self._handle)  # closing drops the lock
            self._handle = None


_claimed: dict[str, Indexer] = {}
Recorded = TypeVar("Recorded")

_claimed_lock = threading.Lock()


def claim(state_dir: str, make: Callable[[], Indexer]) -> tuple[Indexer | None, bool]:
    """The indexer of a state directory if this process may write it, and whether it is new.

    One process writes: the first to take the directory's lock. Within that process
    every app made for the directory shares its one indexer (``None`` elsewhere).
    """
    with _claimed_lock:
        found = _claimed.get(state_dir)
        if found is not None:
            return found, False
        lock = WriterLock(state_dir)
        if not lock.acquire():
            return None, False
        indexer = make()
        indexer.lock = lock
        _claimed[state_dir] = indexer
        return indexer, True


class Indexer:
    """Keeps the store in step with the articles folder; the only writer."""

    def __init__(
        self,
        directory: str,
        state_dir: str,
        default_tz: tzinfo = UTC,
        *,
        clock: Callable[[], float] = time.time,
        max_bytes: int = MAX_ARTICLE_BYTES,
        max_keywords: int = MAX_KEYWORDS,
        max_authors: int = MAX_AUTHORS,
        workers: int | None = None,
        id_authority: str = "",
        id_authority_given: bool = False,
        site_author: str = "",
        max_removed_percent: int = 100,
    ) -> None:
        self.directory = os.path.abspath(directory)
        self.state_dir = state_dir
        self.default_tz = default_tz
        self.clock = clock
        self.max_bytes = max_bytes
        self.limits = Limits(max_keywords, max_authors)
        self.workers = workers or os.cpu_count() or 1
        self.id_authority = id_authority
        self.id_authority_given = id_authority_given
        self.site_author = site_author
        """Whose articles those without an ``author:`` line are: the index is built
        again when it changes."""
        os.makedirs(state_dir, exist_ok=True)
        self.counter = Counter(state_dir)
        self.lock: WriterLock | None = None
        """The writer lock, held as long as this indexer lives."""
        self._writer: StoreWriter | None = None
        self._lock = threading.RLock()
        self._next_release = float("inf")
        self._reported = 0.0
        self.progress = Progress("building")
        self.files_read = 0
        """How many times a file was read: unchanged files are never read twice."""
        self.last_update_cpu = 0.0
        """CPU seconds the last update took, for benchmarks and /healthz."""
        self.listeners: list[ChangeListener] = []
        """Told of every change recorded from now on (edits, releases, rebuilds)."""
        self.make_room: Callable[[], bool] | None = None
        """Asked for room when the disk is full (the shelf gives some back): whether
        it freed any, so the write is worth trying again."""
        self.disk_problem: str | None = None
        """Why changes are not being recorded, while the disk is full."""
        self.search_in_background = False
        """Whether the search index is filled after a first build by whoever calls
        :meth:`search_step` (the watcher), or at once, before :meth:`catch_up` returns."""
        self.bulk_pending = 0
        """Files of a bulk arrival not yet recorded (the watcher's backlog)."""
        self._said_search_ready = False
        self.max_removed_percent = max_removed_percent
        self._removed: collections.deque[tuple[float, int]] = collections.deque()
        """Files removed from the index lately: when, and how many."""
        self.removals_held: str | None = None
        """Why removals are held (too many at once), while they are."""

    @classmethod
    def of(cls, settings: Settings, clock: Callable[[], float] = time.time) -> Indexer:
        """The indexer the settings describe: the one way the service and the CLI make it."""
        return cls(
            settings.articles_dir,
            settings.state_dir,
            settings.time_zone,
            clock=clock,
            max_bytes=settings.max_article_bytes,
            max_keywords=settings.max_keywords,
            max_authors=settings.max_authors,
            workers=settings.index_workers or None,
            id_authority=settings.id_authority,
            id_authority_given=settings.id_authority_given,
            site_author=settings.author,
            max_removed_percent=settings.max_removed_percent,
        )

    # Opening -----------------------------------------------------------------------

    @property
    def writer(self) -> StoreWriter:
        if self._writer is None:
            raise StoreError("the index is not open")
        return self._writer

    def open(self) -> None:
        """Open the existing index, checking it is ours and readable; quick.

        A damaged database is moved aside (and rebuilt by :meth:`catch_up`).

        :raises StoreError: for an index of another folder or of a newer feedsvc.
        """
        path = os.path.join(self.state_dir, DATABASE)
        if not os.path.exists(path):
            return
        try:
            self._open_existing(path)
        except OutdatedIndex as exc:  # nothing in it is worth keeping
            log.warning("the index %s was %s; rebuilding", path, exc)
            self.close()
            for name in (path, f"{path}-wal", f"{path}-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
        except sqlite3.DatabaseError as exc:  # damaged
            damaged = f"{path}.damaged-{int(time.time())}"
            log.warning(
                "the index %s is unusable (%s); moved to %s, rebuilding", path, exc, damaged
            )
            self.close()
            os.replace(path, damaged)

    def catch_up(self, report: ProgressCallback | None = None, *, rebuild: bool = False) -> None:
        """Build the index when there is none (or ``rebuild``), else reconcile it; then
        fill its search index unless that is left to the background."""
        if rebuild or self._writer is None:
            self._build(report)
        else:
            # Said at once: on a big folder, statting every file takes a while (about
            # 45 s for a million), and what the last run said ("ready") is not so yet.
            self._report(Progress("reconciling", 0, 0, 0.0, time.time()), report, force=True)
            self._reconcile(report)
        if not self.search_in_background:
            self.finish_search()

    def search_step(self) -> bool:
        """One step of filling (or merging) the search index; whether work is left."""
        with self._lock:
            if self._writer is None:
                return False
            more = self._record(self.writer.search_step)
        if not more:
            return False
        full = self.writer.meta("search_upto") is None
        if full and not self._said_search_ready:
            log.info("the search index is ready; searches are answered")
            self._said_search_ready = True
        return True

    def finish_search(self) -> None:
        """Fill the search index at once, as a first build did before it was put off
        (one ordered load and one merge: less work than steps, which are for a served
        site), and finish any merge under way."""
        with self._lock:
            if self._writer is None:
                return
            self._record(self.writer.fill_search)
        while self.search_step():
            pass

    def _open_existing(self, path: str) -> None:
        writer = StoreWriter(path, self.counter, self._reread, self.site_author)
        try:
            schema = writer.meta("schema")
            if schema is not None and int(schema) < SCHEMA_VERSION:
                raise OutdatedIndex(f"made by an older feedsvc (schema {schema})")
            if schema is None or int(schema) > SCHEMA_VERSION:
                raise StoreError(
                    f"{path} was made by a newer feedsvc (schema {schema}); "
                    "run 'feedsvc index --rebuild' to replace it"
                )
            kept = writer.meta("id_authority")
            if self.id_authority_given and kept != self.id_authority:
                raise StoreError(
                    f"FEEDSVC_ID_AUTHORITY is {self.id_authority!r} but the index's ids were "
                    f"made with {kept!r}: changing it would publish every article again as "
                    "new. Unset it, or rebuild with 'feedsvc index --rebuild' to change ids"
                )
            if writer.meta("site_author") != self.site_author:
                raise OutdatedIndex(
                    "made for another FEEDSVC_AUTHOR, whose feed holds the articles "
                    "without an author"
                )
            folder = writer.meta("articles_dir")
            if folder != self.directory:
                raise StoreError(
                    f"{self.state_dir} indexes {folder}, not {self.directory}: give each "
                    "articles folder its own FEEDSVC_STATE_DIR"
                )
        except BaseException:
            writer.close()
            raise
        self._writer = writer
        self._next_release = self._release_time()

    def rebuild_if_damaged(self) -> bool:
        """Rebuild the index from the folder when a read or a write met a damaged page
        (``index-damaged`` in the state directory); whether it did.

        The damaged index serves what it still can meanwhile (a query that meets the
        damage answers 503); it is kept beside the new one for a look, then replaced
        in one rename, as a first build's index is.
        """
        reason = damage_reported(self.state_dir)
        if reason is None:
            return False
        with self._lock:
            path = os.path.join(self.state_dir, DATABASE)
            kept = f"{path}.damaged-{int(time.time())}"
            log.error("the index %s is damaged (%s); kept as %s, rebuilding", path, reason, kept)
            with contextlib.suppress(OSError):
                os.link(path, kept)
            self._build(ProgressLog())
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.state_dir, DAMAGED))
        log.warning("the index is rebuilt")
        return True

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    # The first build -----------------------------------------------------------------

    def _build(self, report: ProgressCallback | None) -> None:
        self.close()
        started = time.monotonic()
        names, problem = self._list()
        building = os.path.join(self.state_dir, BUILDING)
        parts_folder = os.path.join(self.state_dir, BUILD_PARTS)
        shutil.rmtree(parts_folder, ignore_errors=True)  # a build killed half-way
        os.makedirs(parts_folder)
        meta = {
            "articles_dir": self.directory,
            "created": self.clock(),
            "directory_problem": problem,
            "id_authority": self.id_authority,
            "site_author": self.site_author,
        }
        db = create_database(building, meta)
        bulk = BulkLoad(db, to_micros_now(self.clock))
        self._report(Progress("building", 0, len(names), 0.0, time.time()), report, force=True)
        done = 0
        parts = set()
        with self._mapper(len(names), parts_folder) as each:
            for part, count in each(_load_chunk, self._tasks(names)):
                parts.add(part)
                done += count
                self._report(self._progress("building", done, len(names), started), report)
            read = time.monotonic()
            # Every file read, the index not yet made: said at once, since on a big
            # folder merging takes a while and the last report may be half a second old.
            self._report(self._progress("building", done, len(names), started), report, force=True)
            for _ in each(sort_part, sorted(parts)):
                pass
        sorted_ = time.monotonic()
        bulk.merge(sorted(parts))
        merged = time.monotonic()
        bulk.finish(search=not self.search_in_background)
        finished = time.monotonic()
        db.execute("PRAGMA journal_mode = WAL")
        db.close()
        shutil.rmtree(parts_folder, ignore_errors=True)
        path = os.path.join(self.state_dir, DATABASE)
        for leftover in (f"{path}-wal", f"{path}-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        os.replace(building, path)
        self._open_existing(path)
        self.counter.publish(self.writer.meta("generation"), new_epoch=True)
        self._announce(Change(frozenset(), everything=True))
        self.files_read += len(names)
        self._report(self._progress("ready", done, len(names), started), report, force=True)
        log.info(
            "indexed %d files in %.1f s (reading %.1f s, sorting %.1f s, merging %.1f s, "
            "finishing %.1f s)",
            len(names),
            time.monotonic() - started,
            read - started,
            sorted_ - read,
            merged - sorted_,
            finished - merged,
        )

    def _tasks(self, names: Sequence[str]) -> list[Task]:
        """The files in batches, in name order."""
        now = to_micros_now(self.clock)
        return [
            (
                self.directory,
                list(names[start : start + CHUNK]),
                self.default_tz,
                self.max_bytes,
                self.limits,
                now,
                self.site_author,
            )
            for start in range(0, len(names), CHUNK)
        ]

    @contextlib.contextmanager
    def _mapper(self, files: int, parts_folder: str | None = None) -> Iterator[Mapper]:
        """An ordered ``map`` for work on ``files`` files: on every core when many.

        With ``parts_folder`` (a first build), each process that reads has a :class:`Part`
        there for :func:`_load_chunk` to fill.
        """
        if files < POOL_THRESHOLD or self.workers < 2:
            if parts_folder is not None:
                _open_part(parts_folder)
            try:
                yield map
            finally:
                _close_part()
            return
        # Fresh interpreters: this process may have threads, which fork does not copy.
        context = multiprocessing.get_context("forkserver")
        if parts_folder is None:
            pool = context.Pool(self.workers, initializer=gc.disable)
        else:
            pool = context.Pool(min(self.workers, MAX_PARTS), _start_reading, (parts_folder,))
        with pool:
            yield pool.imap

    def _read_all(self, names: Sequence[str]) -> Iterator[list[FileReading]]:
        """The readings of the files, in name order, in batches."""
        with self._mapper(len(names)) as each:
            yield from each(_read_chunk, self._tasks(names))

    # Reconciling ------------------------------------------------------------------

    def _list(self) -> tuple[list[str], str | None]:
        """The article file names of the folder, sorted, and why it cannot be listed."""
        try:
            with os.scandir(self.directory) as entries:
                # In the index's order: by the bytes of the name.
                found = [e.name for e in entries if is_article_file(e.name)]
                return sorted(found, key=os.fsencode), None
        except OSError as exc:
            return [], f"cannot list the articles directory: {exc.strerror or exc}"

    def scan(
        self,
        skip: Callable[[str, FileReading], bool] | None = None,
        between: Callable[[], None] | None = None,
    ) -> None:
        """Reconcile the whole folder with the index; ``skip`` as for :meth:`update`.

        ``between`` is called after each slice of the folder is compared with the index
        (:data:`RECONCILE_SLICE` files), while no reading of the scan is pending: the
        watcher applies the edits that came meanwhile, so a rescan of a big folder (a
        million files take tens of seconds to stat) never holds an edit back."""
        self._reconcile(None, skip, between)

    def _reconcile(
        self,
        report: ProgressCallback | None,
        skip: Callable[[str, FileReading], bool] | None = None,
        between: Callable[[], None] | None = None,
    ) -> None:
        started = time.monotonic()
        names, problem = self._list()
        with self._lock:
            before = self.writer.meta("directory_problem")
            if before != problem:
                self._record(lambda: self.writer.set_meta("directory_problem", problem))
        if problem is not None:
            # A folder moved away, unmounted or locked: a fault, not "everything deleted".
            # The index keeps serving what it has; the folder is read again when it is back.
            if before != problem:
                log.error("%s; serving the index as it is until it is back", problem)
            self._report(self._progress("ready", 0, 0, started), report, force=True)
            return
        if before is not None:
            log.warning("the articles folder %s can be listed again", self.directory)
        changed, gone = self._differences(names, between)
        total = len(changed) + len(gone)
        self._report(Progress("reconciling", 0, total, 0.0, time.time()), report, force=bool(total))
        done = 0
        # Gone when compared, and still: a file made since the folder was listed, that
        # an edit applied during the scan put in the index, is no file gone.
        gone = [name for name in gone if _stamp(os.path.join(self.directory, name)) is None]
        if gone and self._may_remove(len(gone)):
            self._apply([FileReading(name, None) for name in gone])
            done += len(gone)
        elif not gone:
            self._hold_removals(None)
        for readings in self._read_all(changed):
            self.files_read += len(readings)
            if skip is not None:
                readings = [
                    r for r in readings if not skip(os.path.join(self.directory, r.name), r)
                ]
            self._apply(readings)
            done += len(readings)
            self._report(self._progress("reconciling", done, total, started), report)
            if between is not None:  # a bulk of new files is many such batches
                between()
        self._report(self._progress("ready", done, total, started), report, force=True)

    def _differences(
        self, names: list[str], between: Callable[[], None] | None = None
    ) -> tuple[list[str], list[str]]:
        """Files whose stamp moved or that are new, and files gone: a merge of two sorted
        lists, the folder's and the index's, read a slice at a time to keep memory flat;
        ``between`` called after each slice."""
        changed: list[str] = []
        gone: list[str] = []
        position = 0
        after: str | None = None
        while True:
            with self._lock:
                known = self.writer.stamps(after, RECONCILE_SLICE)
            for name, stamp in known:
                raw = os.fsencode(name)
                while position < len(names) and os.fsencode(names[position]) < raw:
                    changed.append(names[position])  # not in the index: new
                    position += 1
                if position < len(names) and names[position] == name:
                    if _stamp(os.path.join(self.directory, name)) != stamp:
                        changed.append(name)
                    position += 1
                else:
                    gone.append(name)
            if len(known) < RECONCILE_SLICE:
                break
            after = known[-1][0]
            if between is not None:
                between()
        changed.extend(names[position:])
        return changed, gone

    def update(
        self, paths: Iterable[str], skip: Callable[[str, FileReading], bool] | None = None
    ) -> None:
        """Re-examine the named files (new, changed, renamed away or deleted).

        ``skip(path, reading)``, asked after reading, drops a reading to make later.
        """
        names = set()
        for path in paths:
            path = os.path.abspath(path)
            if os.path.dirname(path) == self.directory and is_article_file(os.path.basename(path)):
                names.add(os.path.basename(path))
        readings = []
        removed = []
        for name in sorted(names):
            path = os.path.join(self.directory, name)
            stamp = _stamp(path)
            with self._lock:
                known = self.writer.stamp(name)
            if stamp is not None and stamp == known:
                continue
            if stamp is None:
                if known is not None:
                    removed.append(FileReading(name, None))
                continue
            self.files_read += 1
            reading = read_reading(
                self.directory, name, self.default_tz, self.max_bytes, self.limits
            )
            if skip is None or not skip(path, reading):
                readings.append(reading)
        # Files gone with their folder are no files deleted: the next scan finds the folder
        # missing (a fault), or back.
        if removed and os.path.isdir(self.directory) and self._may_remove(len(removed)):
            readings += removed
        if readings:
            self._apply(readings)

    def _apply(self, readings: Sequence[FileReading]) -> None:
        started = time.process_time()
        for reading in readings:
            if reading.error is not None and reading.stamp is not None:
                log.warning(
                    "skipped %s: %s", os.path.join(self.directory, reading.name), reading.error
                )
        with self._lock:
            changed = self._record(lambda: self.writer.apply(readings, to_micros_now(self.clock)))
            self._next_release = self._release_time()
            self._announce_writer(changed)
        self.last_update_cpu = time.process_time() - started

    def _record(self, write: Callable[[], Recorded]) -> Recorded:
        """One write to the index (a transaction: all of it or nothing). On a full disk
        the shelf is asked for room and the write tried once more.

        :raises DiskFull: when there is still no room; said once in the log, not once
            per attempt, and the caller tries again later.
        :raises IndexDamaged: when the write met a damaged page: the watcher rebuilds.
        """
        try:
            try:
                recorded = write()
            except (sqlite3.DatabaseError, OSError) as error:
                if is_damage(error):  # rebuilt from the folder, which records this too
                    report_damage(self.state_dir, error)
                    raise IndexDamaged(str(error)) from error
                if not is_disk_full(error) or self.make_room is None or not self.make_room():
                    raise
                recorded = write()
        except (sqlite3.OperationalError, OSError) as error:
            if not is_disk_full(error):
                raise
            if self.disk_problem is None:
                now = room(self.state_dir)
                self.disk_problem = f"cannot record changes: {error}" + (
                    f" ({now.describe()})" if now is not None else ""
                )
                log.error("%s; trying again until there is room", self.disk_problem)
            raise DiskFull(self.disk_problem) from error
        if self.disk_problem is not None:
            log.warning("changes are recorded in the index again")
            self.disk_problem = None
        return recorded

    def _reread(self, name: str) -> FileReading:
        self.files_read += 1
        return read_reading(self.directory, name, self.default_tz, self.max_bytes, self.limits)

    # Removals ----------------------------------------------------------------------------

    def _may_remove(self, files: int) -> bool:
        """Whether removing ``files`` files from the index now is an edit, not a fault.

        More than ``max_removed_percent`` of the published articles removed within
        :data:`REMOVAL_WINDOW` (the folder emptied for a moment, a share unmounted, a
        sync tool's window) is held, and said, until a scan finds the files back or the
        operator allows it (:data:`ALLOW_REMOVALS` in the state directory)."""
        now = time.monotonic()
        while self._removed and now - self._removed[0][0] > REMOVAL_WINDOW:
            self._removed.popleft()
        recent = sum(count for _, count in self._removed)
        with self._lock:
            published = self.writer.published() + recent
        removing = files + recent
        allowed = removing <= REMOVAL_FLOOR
        if not allowed:
            # Weighed against the folder as it is now, too: a folder emptied file by file
            # reaches the watcher in several groups, and the first must not pass alone.
            with self._lock:
                known = self.writer.file_count()
            missing = max(removing, known - self._count_files())
            allowed = missing * 100 <= max(published, known) * self.max_removed_percent
            removing = missing
        if not allowed and self._removals_allowed_by_operator():
            log.warning("removing %d files, as the operator allowed", files)
            allowed = True
        if allowed:
            self._removed.append((now, files))
            self._hold_removals(None)
            return True
        self._hold_removals(
            f"{removing:,} of {published:,} published articles would be withdrawn within "
            f"{REMOVAL_WINDOW:.0f} s (more than FEEDSVC_MAX_REMOVED_PERCENT, "
            f"{self.max_removed_percent}%): held, and the site served as it was; if meant, "
            "run 'feedsvc allow-removals'"
        )
        return False

    def _count_files(self) -> int:
        """How many article files the folder holds now (none when it cannot be listed)."""
        try:
            with os.scandir(self.directory) as entries:
                return sum(1 for entry in entries if is_article_file(entry.name))
        except OSError:
            return 0

    def _removals_allowed_by_operator(self) -> bool:
        """``feedsvc allow-removals`` leaves a mark for the writer: taken once."""
        try:
            os.unlink(os.path.join(self.state_dir, ALLOW_REMOVALS))
        except FileNotFoundError:
            return False
        return True

    def _hold_removals(self, reason: str | None) -> None:
        """Say (once, and in the index for every worker's ``/healthz``) that removals are
        held, or that they no longer are."""
        if reason == self.removals_held:
            return
        if reason is not None and self.removals_held is None:
            log.error("%s", reason)
        elif reason is None:
            log.warning("removals are no longer held: the files are back, or were allowed")
        self.removals_held = reason
        with self._lock:
            self._record(lambda: self.writer.set_meta("removals_held", reason))

    # Scheduled articles ------------------------------------------------------------------

    def _release_time(self) -> float:
        micros = self.writer.next_release()
        return float("inf") if micros is None else from_micros(micros).timestamp()

    @property
    def next_release(self) -> float:
        """When the next scheduled article goes live (a timestamp), or inf."""
        return self._next_release

    def release_due(self) -> None:
        """Publish the scheduled articles whose time has come (cheap when none has)."""
        if self.clock() < self._next_release:
            return
        with self._lock:
            changed = self._record(lambda: self.writer.release_due(to_micros_now(self.clock)))
            self._next_release = self._release_time()
            self._announce_writer(changed)

    # Telling of changes ------------------------------------------------------------------

    def _announce_writer(self, changed: set[str]) -> None:
        if changed:
            writer = self.writer
            self._announce(Change(frozenset(changed), writer.touched, writer.relabeled))

    def _announce(self, change: Change) -> None:
        for listener in self.listeners:
            try:
                listener(change)
            except Exception:  # a listener's fault must never stop indexing
                log.exception("a change listener failed")

    # Progress ------------------------------------------------------------------------------

    def say_updating(self, done: int, total: int, started: float, *, at_once: bool) -> None:
        """Tell every worker how far the reading of a bulk arrival has come (``updating``),
        and ``ready`` once it is done; ``started`` is a monotonic time."""
        phase = "updating" if done < total else "ready"
        self.bulk_pending = total - done
        progress = self._progress(phase, done, total, started)
        self._report(progress, None, force=at_once or phase == "ready")

    def _progress(self, phase: str, done: int, total: int, started: float) -> Progress:
        elapsed = time.monotonic() - started
        rate = done / elapsed if elapsed > 0 else 0.0
        return Progress(phase, done, total, round(rate, 1), time.time() - elapsed)

    def _report(
        self, progress: Progress, report: ProgressCallback | None, *, force: bool = False
    ) -> None:
        """Tell the callback, and every worker through ``progress.json``, now and then."""
        self.progress = progress
        if not force and time.time() - self._reported < PROGRESS_EVERY:
            return
        self._reported = time.time()
        if report is not None:
            report(progress)
        write_progress(self.state_dir, progress)


def write_progress(state_dir: str, progress: Progress) -> None:
    """Tell every worker (``progress.json``) where the index stands; never raises."""
    target = os.path.join(state_dir, PROGRESS)
    with contextlib.suppress(OSError):
        with open(f"{target}.tmp", "w", encoding="utf-8") as handle:
            json.dump(
                {k: getattr(progress, k) for k in ("phase", "done", "total", "rate", "started")},
                handle,
            )
        os.replace(f"{target}.tmp", target)


def mark_unreconciled(state_dir: str) -> None:
    """Before a service's workers start: an index left by an earlier run is not known to
    match the folder until it is reconciled, so ``progress.json`` must stop saying that
    run's last word ("ready"), which a worker could answer before the new writer says
    otherwise. Left alone while another process indexes this state directory: its word
    stands."""
    if not os.path.exists(os.path.join(state_dir, DATABASE)):
        return
    lock = WriterLock(state_dir)
    if lock.acquire():
        try:
            write_progress(state_dir, Progress("reconciling", 0, 0, 0.0, time.time()))
        finally:
            lock.release()


class ProgressLog:
    """Progress for a server's log: a line every few seconds, and one at the end."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if progress.phase != "ready" and now - self.last < LOG_EVERY:
            return
        self.last = now
        log_line(progress)


def log_line(progress: Progress) -> None:
    if progress.phase == "reconciling" and not progress.total:
        # Said before the folder is listed: how many files differ is not known yet.
        log.info("reconciling: comparing each file's stamp with the index")
        return
    eta = f", about {progress.eta:.0f} s left" if progress.eta is not None else ""
    log.info(
        "%s: %d of %d files, %.0f files/s%s",
        progress.phase,
        progress.done,
        progress.total,
        progress.rate,
        eta,
    )


def to_micros_now(clock: Callable[[], float]) -> int:
    return int(clock() * 1_000_000)


def _stamp(path: str) -> Stamp | None:
    try:
        return stamp_of(os.stat(path))
    except OSError:
        return None
