"""Follow an articles directory and feed its changes into a :class:`Library`.

File-system events (inotify, through watchdog) name the files that changed; a full
rescan now and then catches anything the events missed, and is the only mechanism
where events are unavailable.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .index import Library

log = logging.getLogger(__name__)


class Watcher(threading.Thread):
    """Feeds file-system events (or periodic scans) into a Library."""

    def __init__(self, library: Library, interval: float, rescan: float) -> None:
        super().__init__(name="feedsvc-watcher", daemon=True)
        self.library = library
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

    def _observe(self) -> bool:
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            return False
        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: object) -> None:
                if getattr(event, "event_type", "") in ("opened", "closed_no_write"):
                    return  # reading a body opens the file: that changes nothing
                src = getattr(event, "src_path", "")
                dest = getattr(event, "dest_path", "")
                watcher.note(os.fsdecode(src), os.fsdecode(dest))

        try:
            observer = Observer()
            observer.schedule(Handler(), self.library.directory, recursive=False)
            observer.daemon = True
            observer.start()
        except OSError as exc:
            log.warning("file events unavailable (%s); scanning every %ss", exc, self.interval)
            return False
        return True

    def start(self) -> None:
        """Begin observing before returning, so no change made after this call is missed."""
        self.events = self._observe()
        super().start()

    def run(self) -> None:
        period = self.rescan if self.events else self.interval
        last_scan = time.monotonic()
        while True:
            self.wakeup.wait(timeout=min(period, self.interval * 5))
            try:
                if self.wakeup.is_set():
                    time.sleep(0.02)  # let a burst of events for one save arrive
                    self.wakeup.clear()
                    self.library.update(self.take())
                if time.monotonic() - last_scan >= period:
                    self.library.scan()
                    last_scan = time.monotonic()
            except Exception:  # the watcher must outlive any one bad scan
                log.exception("article scan failed")
