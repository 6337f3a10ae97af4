"""Re-render on change, not on request: the first page of each changed scope's feeds.

The process that writes the index runs one :class:`Prerenderer` thread. It follows
the index's generation number; when scopes change it renders the first page of
their feeds in every format and keeps them on the shelf, where every worker finds
them (the fast path answers them, 304s included, without rendering). A burst of
edits to one scope is rendered once: a scope waits until it has been quiet for
:data:`QUIET` seconds, but never more than :data:`LONGEST` after it first changed.

On start every scope is checked once, the most articles first (a backlog behind
any edit): a representation kept at the current version is not rendered again,
so a restart over an unchanged folder renders nothing.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable

from .cache import ResponseCache, shelf_key
from .feeds import FORMATS, Format
from .responses import Representation
from .store import SITE, NotReady, Snapshot, Store, is_damage, report_damage
from .surrogate import with_keys
from .syndication import Syndication, feed_key

log = logging.getLogger(__name__)

QUIET = 0.1
"""Seconds a changed scope waits for its next change before it is rendered."""
LONGEST = 0.5
"""The most seconds a changed scope waits, however often it changes."""
POLL = 0.05
"""Seconds between looks at the generation number when there is nothing to do."""


class Prerenderer:
    """Keeps the first pages of every scope's feeds rendered at their current version."""

    def __init__(
        self,
        store: Store,
        cache: ResponseCache,
        syndication: Syndication,
        hold: Callable[[], bool] = lambda: False,
    ) -> None:
        self.store = store
        self.hold = hold
        """Whether to render nothing for now: while a bulk arrival is being recorded, each
        batch changes most scopes again, and rendering them between batches would take
        the writer's time (one interpreter) for feeds that are stale a second later;
        requests still get every feed, rendered when asked."""
        self.cache = cache
        self.syndication = syndication
        self.state_dir = syndication.settings.state_dir
        self.changed: dict[str, tuple[float, float]] = {}
        """Scopes changed since they were rendered: when first and last seen changing."""
        self.backlog: list[str] = []
        """Scopes to check at start (or after a rebuild), behind any change."""
        self.rendered: Counter[str] = Counter()
        """Feeds rendered, by scope (every format counts one)."""
        self._mark = (-1, -1)
        self._first = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feedsvc-prerender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def pending(self) -> int:
        """Scopes waiting to be rendered (or checked)."""
        return len(self.changed) + len(self.backlog)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.step(time.monotonic()):
                    self._stop.wait(POLL)
            except Exception:
                log.exception("rendering changed feeds failed; trying again")
                self._stop.wait(1.0)

    def step(self, now: float) -> bool:
        """Look for changes, then render one due scope; whether there was one."""
        self.look(now)
        if self.hold():
            return False
        due = [
            scope
            for scope, (first, last) in self.changed.items()
            if now - last >= QUIET or now - first >= LONGEST
        ]
        if due:
            scope = min(due, key=lambda s: self.changed[s][0])
            del self.changed[scope]
        elif self.backlog:
            scope = self.backlog.pop()
        else:
            return False
        self.render(scope)
        return True

    def look(self, now: float) -> None:
        """Note the scopes that changed since the last look."""
        mark, scopes = self.store.changes(self._mark)
        if mark[1] != self._mark[1]:
            self._first = True  # the first build, or a rebuild: every scope is new
        self._mark = mark
        if self._first and scopes:
            self._first = False
            self.backlog = scopes[::-1]  # popped from the end: the most articles first
            return
        for scope in scopes:
            first, _ = self.changed.get(scope, (now, now))
            self.changed[scope] = (first, now)

    def render(self, scope: str) -> None:
        """Render and keep the first page of ``scope``'s feeds unless kept at its version."""
        try:
            index = self.store.begin()
        except NotReady:
            return
        try:
            if scope != SITE and not (index.has_tag(scope) or index.has_author(scope)):
                return  # gone since it changed
            version = index.version(scope)
            for fmt in FORMATS.values():
                key = feed_key(scope, fmt.name)
                named = shelf_key(key)
                shelf = self.cache.shelf
                if shelf is None or named is None:
                    return
                if shelf.find(named, version, self.syndication.max_age) is not None:
                    continue
                self.cache.keep(named, scope, version, self.representation(index, scope, fmt))
                self.rendered[scope] += 1
        except sqlite3.DatabaseError as error:
            if not is_damage(error):
                raise
            # Said by the views and the indexer: the writer rebuilds, then every
            # scope is rendered again as after a first build.
            report_damage(self.state_dir, error)
        finally:
            with contextlib.suppress(sqlite3.Error):  # a transaction a damaged page ended
                index.close()

    def representation(
        self, index: Snapshot, scope: str, fmt: Format, page: int = 1
    ) -> Representation:
        """A page of a scope's feed as the feed view renders it: the same call, the same
        surrogate keys, the same lifetimes, so the same bytes and headers."""
        made = self.syndication
        return self.cache.render(
            feed_key(scope, fmt.name, page),
            scope,
            index.version(scope),
            with_keys(lambda: made.feed(index, scope, fmt, page), scope),
            made.max_age,
            index.release_of(scope),
            made.shared_max_age,
        )
