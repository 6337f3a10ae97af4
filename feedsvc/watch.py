"""Follow an articles folder and feed its changes to the :class:`Indexer`.

File-system events (inotify, through watchdog) say which files changed. A file is
read when its writer closes it or when it is moved into place, never on a mere
write, so a save in progress is not served half-written; a file written without
a close event (a writer that keeps it open) is read once it has stopped changing
for :data:`QUIET` seconds. The folder itself is followed through a symlink swap or
a delete and re-create: its identity is checked every ``interval``. A full rescan
now and then catches anything the events missed, and is the only mechanism where
events are unavailable. The same thread publishes scheduled articles on time.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from .indexer import Indexer, is_article_file
from .store import DiskFull, IndexDamaged
from .writer import FileReading

log = logging.getLogger(__name__)

SETTLE = 0.02
"""Seconds to let a burst of events (a rename's two halves, say) arrive before acting."""
QUIET = 1.0
"""Seconds a written file must stay unchanged, with no close seen, before it is read."""

# Events that mean "read it now", and those that mean "being written: wait".
_READ_NOW = frozenset({"closed", "moved", "deleted", "attrib"})
_WRITING = frozenset({"modified"})


REMOVALS_QUIET = 0.3
"""Seconds a group of removals alone waits for the next: a folder emptied file by file
reaches the watcher in several groups."""
BATCH = 256
"""Files read and recorded in one transaction when many arrive at once (a migration, a
restore, a sync): about a second of the writer's time, so an edit made meanwhile waits
for one batch, not for the whole arrival."""

RETRY = 2.0
"""Seconds before a scan that failed (a full disk, say) is run again."""
RESCAN_SHARE = 100
HELD_SHARE = 10
"""While removals are held, a rescan waits this many times as long as the last took."""
"""A safety-net rescan waits at least this many times as long as the last one took."""


class Watcher(threading.Thread):
    """Feeds file-system events (or periodic scans) into an indexer."""

    def __init__(self, indexer: Indexer, interval: float, rescan: float) -> None:
        super().__init__(name="feedsvc-watcher", daemon=True)
        self.indexer = indexer
        self.interval = interval
        self.rescan = rescan
        self.changed: dict[str, None] = {}
        """Files to read, in the order their last event came (a dict as an ordered set)."""
        self.writing: dict[str, float] = {}  # path -> when a write was last seen
        self.changed_lock = threading.Lock()  # events arrive on watchdog's thread
        self.wakeup = threading.Event()
        self.events = False
        """Whether file-system events arrive; without them, scans every ``interval``."""
        self.backlog: list[list[str]] = []
        """Arrivals too big for one transaction, the newest last: read a batch at a time,
        the newest first, so that what came after a bulk is not held behind it."""
        self.lost = False
        """The kernel dropped file events (its queue overflowed): rescan at once."""
        self.removing: dict[str, float] = {}
        """Removed files waiting for their burst of removals to end: when each was seen."""
        self.searching = False
        """Whether the search index has work left (filled after a first build)."""
        self._arrival: tuple[float, int] | None = None
        """While a bulk arrival is read: when it began, and how many files are done."""
        self._observer: Any = None
        self._held: int | None = None  # an open handle on the folder being observed

    def note(self, *paths: str) -> None:
        """These files are ready to read."""
        with self.changed_lock:
            for path in paths:
                if path:
                    self.changed.pop(path, None)  # now the newest
                    self.changed[path] = None
                    self.writing.pop(path, None)
        self.wakeup.set()

    def note_writing(self, path: str) -> None:
        """This file is being written: wait for its close (a close seen before is stale)."""
        with self.changed_lock:
            self.writing[path] = time.monotonic()
            self.changed.pop(path, None)

    def hold(self, path: str, reading: FileReading) -> bool:
        """Whether to drop a reading and read the file again later.

        Dropped: a reading made while a write was seen since the last close (it may be
        a half; the next close reads it again), and a broken reading of a file written
        in the last :data:`QUIET` seconds (an editor truncating before it writes): it
        is read again once left alone, and withdrawn then if still broken.
        """
        with self.changed_lock:
            if path in self.writing:
                return True
        if reading.error is not None and _written_just_now(reading):
            self.note_writing(path)
            return True
        return False

    def hold_recent(self, path: str, reading: FileReading) -> bool:
        """For a periodic rescan: drop any reading of a file written in the last
        :data:`QUIET` seconds (a save may be under way); its events, or its quiet, read
        it again."""
        if self.hold(path, reading):
            return True
        if _written_just_now(reading):
            self.note_writing(path)
            return True
        return False

    def apply_events(self) -> None:
        """Read the files that file events named since the last look (during a rescan:
        an edit is not held back until it ends). A failure leaves them for later."""
        removed, paths = self.settled_removals(self.take())
        for batch in (removed, self.first_batch(paths)):
            if not batch:
                continue
            try:
                self.indexer.update(batch, skip=self.hold)
            except Exception:
                self.put_back(batch)
                raise

    def settled_removals(self, paths: list[str]) -> tuple[list[str], list[str]]:
        """Of the files events named, the removals to record now as one change, and the
        rest. A group of removals alone (files deleted or moved out: a folder being
        emptied) waits until none has come for :data:`REMOVALS_QUIET` seconds, so the
        whole burst is weighed against ``FEEDSVC_MAX_REMOVED_PERCENT``, not its first
        files alone; a removal that comes with arrivals (a rename's two halves) goes
        with them."""
        now = time.monotonic()
        folder = self.indexer.directory
        files = [  # the folder's own events (each removal modifies it) are no arrivals
            path
            for path in paths
            if os.path.dirname(path) == folder and is_article_file(os.path.basename(path))
        ]
        gone = [path for path in files if not os.path.lexists(path)]
        if not self.removing and len(gone) < len(files):
            return [], paths
        for path in gone:
            self.removing[path] = now
        rest = [path for path in paths if path not in self.removing]
        if not self.removing or now - max(self.removing.values()) < REMOVALS_QUIET:
            return [], rest
        removed, self.removing = list(self.removing), {}
        return removed, rest

    def put_back(self, paths: list[str]) -> None:
        """Files whose reading failed (a full disk, say): read again at the next look,
        before what came since."""
        with self.changed_lock:
            self.changed = {**dict.fromkeys(reversed(paths)), **self.changed}

    def first_batch(self, paths: list[str]) -> list[str]:
        """What to read now of an arrival (newest first): all of it when it is small, else
        one batch, the rest put in the backlog."""
        if len(paths) <= BATCH:
            return paths
        self.backlog.append(paths[BATCH:])
        return paths[:BATCH]

    def next_batch(self) -> list[str]:
        """One batch of the newest arrival left in the backlog."""
        if not self.backlog:
            return []
        newest = self.backlog[-1]
        batch, self.backlog[-1] = newest[:BATCH], newest[BATCH:]
        if not self.backlog[-1]:
            self.backlog.pop()
        return batch

    def say_progress(self, done: int) -> None:
        """While a bulk arrival is read, say in ``/healthz`` how much is left."""
        left = sum(len(arrival) for arrival in self.backlog)
        beginning = self._arrival is None
        if beginning:
            if not left:
                return
            self._arrival = (time.monotonic(), 0)
        assert self._arrival is not None
        started, so_far = self._arrival
        so_far += done
        self._arrival = None if not left else (started, so_far)
        self.indexer.say_updating(so_far, so_far + left, started, at_once=beginning)

    @property
    def pending(self) -> int:
        """Files named by events and not read yet."""
        with self.changed_lock:
            noted = len(self.changed) + len(self.writing)
        return noted + sum(len(arrival) for arrival in self.backlog)

    def take(self) -> list[str]:
        """The files to read now, the newest event first: those closed or moved, and those
        written then left alone. In a burst (thousands of files moved in), what came last
        is what someone just did."""
        now = time.monotonic()
        with self.changed_lock:
            quiet = [p for p, when in self.writing.items() if now - when >= QUIET]
            for path in quiet:
                del self.writing[path]
            also = set(quiet)
            paths = [*reversed(quiet), *(p for p in reversed(self.changed) if p not in also)]
            self.changed = {}
        return paths

    def observe(self) -> None:
        """Begin collecting file-system events; call before the first scan so none is missed."""
        try:
            from watchdog import events
            from watchdog.observers import Observer
        except ImportError:
            return
        make: Callable[[], Any] = Observer
        with contextlib.suppress(ImportError):  # else not Linux: watchdog's own choice
            from watchdog.observers.inotify import InotifyObserver

            # Full events: a file moved in from another folder is a move with no source,
            # read at once, where watchdog's plain events call it "created", which a
            # file being written also is (and which waits for its close).
            make = functools.partial(InotifyObserver, generate_full_events=True)
        # Never "opened" or "closed unwritten": each read of the folder (the first build's
        # own, a reconciliation's, a backup's) would wake this process once per file.
        wanted = [
            events.FileCreatedEvent,
            events.FileModifiedEvent,
            events.FileAttribEvent,
            events.FileClosedEvent,
            events.FileMovedEvent,
            events.FileDeletedEvent,
            events.DirCreatedEvent,
            events.DirModifiedEvent,
            events.DirMovedEvent,
            events.DirDeletedEvent,
        ]
        lost_event = getattr(events, "EventsLostEvent", None)  # watchdog 7.1 and later
        if lost_event is not None:
            wanted.append(lost_event)
        watcher = self

        class Handler(events.FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                if lost_event is not None and isinstance(event, lost_event):
                    log.warning("file events were lost (a burst of changes); rescanning")
                    watcher.lost = True
                    watcher.wakeup.set()
                    return
                kind = event.event_type + ("_dir" if event.is_directory else "")
                source = os.fsdecode(event.src_path)
                if kind in _WRITING or (kind == "created" and _empty(source)):
                    watcher.note_writing(source)  # being written: its close will follow
                elif kind in _READ_NOW or event.is_directory:
                    watcher.note(source, os.fsdecode(getattr(event, "dest_path", "") or ""))

        self._hold_the_folder()
        try:
            observer = make()
            observer.schedule(
                Handler(), self.indexer.directory, recursive=False, event_filter=wanted
            )
            observer.daemon = True
            observer.start()
        except OSError as exc:
            log.warning("file events unavailable (%s); scanning every %ss", exc, self.interval)
            self.events = False
            return
        self._observer = observer
        self.events = True

    def _hold_the_folder(self) -> None:
        """Keep the observed folder open: while held, its inode cannot be reused by a
        folder made in its place, so a swap or a re-creation always shows."""
        if self._held is not None:
            os.close(self._held)
        try:
            self._held = os.open(self.indexer.directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            self._held = None

    def _follow_the_folder(self) -> bool:
        """Whether the folder became another (a symlink swapped, deleted and re-created):
        then observe the new one. The caller rescans."""
        current = _identity(self.indexer.directory)
        if self._held is not None:
            held = os.fstat(self._held)
            if held.st_nlink > 0 and current == (held.st_dev, held.st_ino):
                return False
        elif current is None:
            return False  # still missing: the periodic scan keeps reporting it
        log.info("the articles folder %s changed identity; following it", self.indexer.directory)
        if self._observer is not None:
            self._observer.stop()
            self._observer = None
        self.observe()
        return True

    def run(self) -> None:
        last_scan = time.monotonic()
        scan_took = 0.0
        while True:
            # With file events the rescan is only a safety net: on a big folder it waits
            # long enough to cost at most 1/RESCAN_SHARE of a core (a million files take
            # seconds to stat, and this process serves requests too).
            period = max(self.rescan, scan_took * RESCAN_SHARE) if self.events else self.interval
            if self.indexer.removals_held:  # files gone for a moment: see soon if they are back
                period = min(period, max(RETRY, scan_took * HELD_SHARE))
            until_release = self.indexer.next_release - self.indexer.clock()
            busy = self.backlog or self.searching
            pending = (
                0.0
                if busy
                else REMOVALS_QUIET
                if self.removing
                else QUIET
                if self.writing
                else self.interval
            )
            self.wakeup.wait(timeout=max(0.0, min(self.interval, pending, until_release)))
            paths: list[str] = []
            scanning = False
            try:
                if self.wakeup.is_set():
                    time.sleep(SETTLE)
                    self.wakeup.clear()
                self.indexer.rebuild_if_damaged()  # a reader or a write met a damaged page
                # What just arrived first, then one batch of a bulk arrival.
                removed, arrived = self.settled_removals(self.take())
                if removed:
                    paths = removed  # put back if it fails
                    self.indexer.update(removed, skip=self.hold)  # one change, never split
                for paths in (self.first_batch(arrived), self.next_batch()):
                    if paths:
                        self.say_progress(0)  # said before the first batch is read
                        self.indexer.update(paths, skip=self.hold)
                        self.say_progress(len(paths))
                paths = []
                lost, self.lost = self.lost, False
                # A bulk arrival being read is not rescanned meanwhile: the scan would read
                # the same files in one long pass, in name order.
                due = not self.backlog and time.monotonic() - last_scan >= period
                if lost or self._follow_the_folder() or due:
                    scanning = True
                    started = time.monotonic()
                    self.indexer.scan(skip=self.hold_recent, between=self.apply_events)
                    last_scan = time.monotonic()
                    scan_took = last_scan - started
                self.indexer.release_due()
                # The search index of a first build is filled a step at a time, behind
                # everything else.
                self.searching = not self.backlog and self.indexer.search_step()
            except Exception as error:  # the watcher must outlive any one bad scan
                if not isinstance(error, (DiskFull, IndexDamaged)):  # said by the indexer
                    log.exception("article scan failed")
                # Nothing was recorded: the files are read again at the next wake-up
                # (within ``interval``), a failed scan run again soon.
                self.put_back(paths)
                if scanning:
                    last_scan = time.monotonic() - period + max(RETRY, scan_took)


def _written_just_now(reading: FileReading) -> bool:
    stamp = reading.stamp
    return stamp is not None and time.time() - stamp.mtime_ns / 1e9 < QUIET


def _empty(path: str) -> bool:
    """A file just created empty is being written. (One moved in whole comes as a move;
    one already written to when its creation is handled is read at its close.)"""
    try:
        return os.stat(path).st_size == 0
    except OSError:
        return False


def _identity(path: str) -> tuple[int, int] | None:
    """Device and inode of the folder a path leads to (through symlinks), or None."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino
