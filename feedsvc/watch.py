"""Follow an articles folder and feed its changes to the :class:`Indexer`.

File-system events (inotify, through watchdog) name the files that changed; a full
rescan now and then catches anything the events missed, and is the only mechanism
where events are unavailable. The same thread publishes scheduled articles when
their time comes.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from .indexer import Indexer

log = logging.getLogger(__name__)

SETTLE = 0.02
"""Seconds to let a burst of events for one save arrive before reading."""


class Watcher(threading.Thread):
    """Feeds file-system events (or periodic scans) into an indexer."""

    def __init__(self, indexer: Indexer, interval: float, rescan: float) -> None:
        super().__init__(name="feedsvc-watcher", daemon=True)
        self.indexer = indexer
        self.interval = interval
        self.rescan = rescan
        self.changed: set[str] = set()
        self.changed_lock = threading.Lock()  # events arrive on watchdog's thread
        self.wakeup = threading.Event()
        self.events = False
        """Whether file-system events arrive; without them, scans every ``interval``."""

    def note(self, *paths: str) -> None:
        with self.changed_lock:
            self.changed.update(p for p in paths if p)
        self.wakeup.set()

    def take(self) -> set[str]:
        with self.changed_lock:
            paths, self.changed = self.changed, set()
        return paths

    def observe(self) -> None:
        """Begin collecting file-system events; call before the first scan so none is missed."""
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            return
        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: object) -> None:
                if getattr(event, "event_type", "") in ("opened", "closed_no_write"):
                    return  # reading a file opens it: that changes nothing
                src = getattr(event, "src_path", "")
                dest = getattr(event, "dest_path", "")
                watcher.note(os.fsdecode(src), os.fsdecode(dest))

        try:
            observer = Observer()
            observer.schedule(Handler(), self.indexer.directory, recursive=False)
            observer.daemon = True
            observer.start()
        except OSError as exc:
            log.warning("file events unavailable (%s); scanning every %ss", exc, self.interval)
            return
        self.events = True

    def run(self) -> None:
        period = self.rescan if self.events else self.interval
        last_scan = time.monotonic()
        while True:
            until_release = self.indexer.next_release - self.indexer.clock()
            self.wakeup.wait(timeout=max(0.0, min(period, self.interval * 5, until_release)))
            try:
                if self.wakeup.is_set():
                    time.sleep(SETTLE)
                    self.wakeup.clear()
                    self.indexer.update(self.take())
                if time.monotonic() - last_scan >= period:
                    self.indexer.scan()
                    last_scan = time.monotonic()
                self.indexer.release_due()
            except Exception:  # the watcher must outlive any one bad scan
                log.exception("article scan failed")
