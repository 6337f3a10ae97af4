"""Telling shared caches and WebSub hubs of each change, in the background.

The indexer announces every change it records (:class:`~feedsvc.indexer.Change`);
the :class:`Notifier` turns it into surrogate keys to purge and feed topics to
publish, and hands them to one :class:`Sender` thread per cache and per hub. A
sender merges whatever arrives while it is busy or waiting into its next request,
so a burst of edits becomes a handful of requests; a failed request is retried,
with backoff, with everything that arrived meanwhile. Announcing only adds to a
set under a lock: a cache or a hub that is down or slow never holds up indexing
or a request. Each failure is logged once per outage, and the state of every
sender is written to ``notify.json`` in the state directory, for ``/healthz`` in
whichever worker answers it.

Purges go out before publishes: a hub fetches the topic when told, and through a
cache not yet purged it would fetch the old feed. A publish waits for the purges
of the change (at most :data:`HOLD_PUBLISH` seconds, then goes out anyway).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import sqlite3
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .combinations import parse
from .indexer import Change, Indexer
from .settings import Settings
from .shelf import Shelf
from .store import SITE, NotReady, Store
from .surrogate import EVERYTHING, SEARCH, article_key, scope_key, topics_of

log = logging.getLogger(__name__)

STATUS_FILE = "notify.json"
BATCH_WINDOW = 0.05
"""Seconds a sender lets a burst of changes gather before it sends."""
TIMEOUT = 5.0
"""Seconds one request may take."""
FIRST_RETRY = 0.5
LAST_RETRY = 60.0
"""Seconds before the first retry, doubling on each failure up to the last."""
HOLD_PUBLISH = 10.0
"""The most seconds a publish waits for the purges sent before it."""
PURGE_HEADER_BYTES = 4000
"""The longest ``xkey-purge`` header one purge sends (Varnish refuses request headers
past 8 KB by default); more keys go in more purges."""
TOPICS_PER_PUBLISH = 200
"""The most topics one publish request lists."""
USER_AGENT = "feedsvc"

Deliver = Callable[[str, Sequence[str]], None]


class DeliveryError(Exception):
    """A cache or a hub did not take a request; the message says how."""


def _send(request: urllib.request.Request) -> None:
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            response.read()
    except urllib.error.HTTPError as error:
        with error:
            raise DeliveryError(f"answered {error.code} {error.reason}") from None
    except (OSError, ValueError) as error:  # refused, unreachable, timed out, a bad reply
        raise DeliveryError(str(getattr(error, "reason", error)) or type(error).__name__) from None


def purge(url: str, keys: Sequence[str]) -> None:
    """Purge ``keys`` from the cache at ``url``: ``PURGE`` with an ``xkey-purge`` header,
    as many as the header's size calls for."""
    chunk: list[str] = []
    size = 0
    for key in keys:
        if chunk and size + len(key) + 1 > PURGE_HEADER_BYTES:
            _purge_once(url, chunk)
            chunk, size = [], 0
        chunk.append(key)
        size += len(key) + 1
    if chunk:
        _purge_once(url, chunk)


def _purge_once(url: str, keys: Sequence[str]) -> None:
    headers = {"xkey-purge": " ".join(keys), "User-Agent": USER_AGENT}
    _send(urllib.request.Request(url, method="PURGE", headers=headers))


def publish(hub: str, topics: Sequence[str]) -> None:
    """Tell a WebSub hub the topics changed: ``hub.mode=publish``, each topic given as
    ``hub.topic`` and as ``hub.url`` (hubs read one or the other)."""
    for start in range(0, len(topics), TOPICS_PER_PUBLISH):
        fields = [("hub.mode", "publish")]
        for topic in topics[start : start + TOPICS_PER_PUBLISH]:
            fields += [("hub.topic", topic), ("hub.url", topic)]
        body = urllib.parse.urlencode(fields).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": USER_AGENT,
        }
        _send(urllib.request.Request(hub, data=body, method="POST", headers=headers))


def backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` failures in a row: doubling, capped, jittered."""
    delay = min(LAST_RETRY, FIRST_RETRY * 2.0 ** min(failures - 1, 20))
    return delay * random.uniform(0.75, 1.0)


class Sender(threading.Thread):
    """Delivers what is added to one cache or hub, batched, retried with backoff."""

    def __init__(
        self,
        kind: str,
        url: str,
        deliver: Deliver,
        changed: Callable[[], None],
        ready: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(name=f"feedsvc-{kind}", daemon=True)
        self.kind = kind
        self.url = url
        self.deliver = deliver
        self.changed = changed
        """Called when the status changed (for the status file)."""
        self.ready = ready
        """Whether to send now (a hub waits for the caches to be purged first)."""
        self._wakeup = threading.Condition()
        self._pending: set[str] = set()
        self._since = 0.0  # when the oldest pending item arrived
        self._in_flight = 0
        self._retry_at = 0.0
        self._stopped = False
        self.failures = 0
        self.error: str | None = None
        self.failing_since: float | None = None
        self.sent = 0
        """Requests that succeeded."""

    def add(self, items: Iterable[str]) -> None:
        """Send these too, soon; returns at once."""
        with self._wakeup:
            was_idle = not self._pending and not self._in_flight
            if not self._pending:
                self._since = time.monotonic()
            self._pending.update(items)
            self._wakeup.notify()
        if was_idle:
            self.changed()

    def idle(self) -> bool:
        """Nothing waits to be sent and nothing is being sent."""
        with self._wakeup:
            return not self._pending and not self._in_flight

    def stop(self) -> None:
        with self._wakeup:
            self._stopped = True
            self._wakeup.notify()

    def status(self) -> dict[str, Any]:
        with self._wakeup:
            return {
                "url": self.url,
                "ok": self.failures == 0,
                "pending": len(self._pending) + self._in_flight,
                "sent": self.sent,
                "failures": self.failures,
                "error": self.error,
                "failing_since": self.failing_since,
            }

    def _wait(self) -> float | None:
        """Seconds until this sender may have something to do (``None``: until woken)."""
        if not self._pending:
            return None
        now = time.monotonic()
        if now < self._retry_at:
            return self._retry_at - now
        if self.ready is not None and now - self._since < HOLD_PUBLISH and not self.ready():
            return BATCH_WINDOW
        return 0.0

    def run(self) -> None:
        while True:
            with self._wakeup:
                while not self._stopped and (wait := self._wait()) != 0.0:
                    self._wakeup.wait(wait)
                if self._stopped:
                    return
            time.sleep(BATCH_WINDOW)  # let the rest of a burst arrive
            with self._wakeup:
                items, self._pending = self._pending, set()
                self._in_flight = len(items)
            chosen = [EVERYTHING] if EVERYTHING in items else sorted(items)
            try:
                self.deliver(self.url, chosen)
            except Exception as error:
                self._failed(items, error)
            else:
                self._delivered()
            self.changed()

    def _failed(self, items: set[str], error: Exception) -> None:
        with self._wakeup:
            self._pending |= items
            self._in_flight = 0
            self.failures += 1
            self.error = str(error) if isinstance(error, DeliveryError) else repr(error)
            self._retry_at = time.monotonic() + backoff(self.failures)
            first = self.failing_since is None
            if first:
                self.failing_since = time.time()
        if first:  # once per outage; the recovery is logged too
            log.warning("%s to %s failed (%s); retrying with backoff", self.kind, self.url, error)

    def _delivered(self) -> None:
        with self._wakeup:
            self._in_flight = 0
            self.sent += 1
            failures, self.failures = self.failures, 0
            self.error = self.failing_since = None
            self._retry_at = 0.0
        if failures:
            log.warning("%s to %s works again after %d failures", self.kind, self.url, failures)


class Notifier:
    """Purges the caches and publishes to the hubs of :class:`Settings` on each change."""

    def __init__(self, settings: Settings, followed: Callable[[], Iterable[str]] = tuple) -> None:
        self.base_url = settings.base_url
        self.followed = followed
        """The combinations of tags a hub may follow: each is a topic of its tags' changes."""
        self.state_dir = settings.state_dir
        self._status_lock = threading.Lock()
        self.purgers = [Sender("purge", url, purge, self._save) for url in settings.purge_urls]
        self.hubs = [
            Sender("websub", url, publish, self._save, ready=self.purged)
            for url in settings.websub_hubs
        ]

    @property
    def senders(self) -> list[Sender]:
        return [*self.purgers, *self.hubs]

    def start(self) -> None:
        self._save()
        for sender in self.senders:
            sender.start()

    def stop(self) -> None:
        for sender in self.senders:
            sender.stop()

    def purged(self) -> bool:
        """No purge waits to be sent (publishes wait for this)."""
        return all(purger.idle() for purger in self.purgers)

    def changed(self, change: Change) -> None:
        """Queue the purges and publishes of a change; returns at once."""
        if change.everything:
            keys: Iterable[str] = (EVERYTHING,)
        else:
            keys = {scope_key(s) for s in change.scopes} | {article_key(s) for s in change.slugs}
            if SITE in change.scopes:
                keys.add(SEARCH)  # what any search matches may have changed
        for purger in self.purgers:  # first, so that hubs see them pending
            purger.add(keys)
        scopes = set(change.scopes)
        if self.hubs and scopes:
            scopes |= {
                followed
                for followed in self.followed()
                if not scopes.isdisjoint(parse(followed).tags)
            }
        topics = topics_of(self.base_url, scopes)
        if topics:
            for hub in self.hubs:
                hub.add(topics)

    def _save(self) -> None:
        """Write every sender's status where ``/healthz`` reads it."""
        report = {
            "purge": [p.status() for p in self.purgers],
            "websub": [h.status() for h in self.hubs],
        }
        target = os.path.join(self.state_dir, STATUS_FILE)
        with self._status_lock, contextlib.suppress(OSError):
            temporary = f"{target}.{threading.get_ident()}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(report, handle)
            os.replace(temporary, target)


def read_status(state_dir: str) -> dict[str, list[dict[str, Any]]] | None:
    """What the notifier of this state directory last wrote, or ``None``."""
    try:
        with open(os.path.join(state_dir, STATUS_FILE), encoding="utf-8") as handle:
            found = json.load(handle)
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def failing(status: dict[str, list[dict[str, Any]]] | None) -> bool:
    """Whether a cache or a hub is failing, by a status :func:`read_status` gave."""
    if not status:
        return False
    return any(not entry.get("ok", True) for entries in status.values() for entry in entries)


NOTIFIED = "notified-edition"
"""The edition and index build the caches were last told of, in the state directory."""


def start_notifier(
    settings: Settings, indexer: Indexer, store: Store, serving: str
) -> Notifier | None:
    """Purge the caches and publish to the hubs of the settings on each change, if any.

    A start under a new edition (code, settings) or over an index rebuilt while the
    service was down (``feedsvc index --rebuild``) changes every page: everything is
    purged then, as after a first build.
    """
    if not settings.purge_urls and not settings.websub_hubs:
        with contextlib.suppress(FileNotFoundError):  # what an earlier run configured
            os.unlink(os.path.join(settings.state_dir, STATUS_FILE))
        return None
    # What workers keep tells which combinations of tags someone follows.
    notifier = Notifier(settings, Shelf(settings.state_dir, 0, serving).followed)
    marker = os.path.join(settings.state_dir, NOTIFIED)

    def told() -> str | None:
        """The edition and build the caches are to know now (``None``: no index yet)."""
        try:
            with store.reading() as index:
                return f"{serving} {index.build()}"
        except (NotReady, sqlite3.Error):
            return None

    def changed(change: Change) -> None:
        notifier.changed(change)
        current = told() if change.everything else None
        if current is not None:
            with contextlib.suppress(OSError), open(marker, "w", encoding="utf-8") as handle:
                handle.write(current)

    indexer.listeners.append(changed)
    notifier.start()
    current = told()
    if current is None:
        return notifier  # the first build tells everything when it is done
    try:
        with open(marker, encoding="utf-8") as handle:
            last = handle.read()
    except OSError:
        last = ""
    if last != current:
        changed(Change(frozenset(), everything=True))
    return notifier
