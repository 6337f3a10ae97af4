"""Rendered representations kept on disk, shared by every worker and surviving restarts.

One SQLite database, ``representations-<schema>.sqlite`` in the state directory, beside the
index: a row of validators per resource (its version, digest, dates) and a row per
content coding holding the bytes, each with its length and CRC-32, checked when read.
A conditional request for an unchanged resource is answered from the validators
alone; a damaged body is never served (the resource is rendered again).

Any worker may write (whoever renders first keeps it for the others); the database
is bounded by bytes, oldest first, and never takes the room the index needs (see
:mod:`feedsvc.room`): checked before each write, it gives room back, query variants
first, when the filesystem runs short. Query variants have a share of their own.
When it cannot be used (unwritable, full, corrupt) the service renders on demand and
says so in ``/healthz``, once in the log.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .responses import CODINGS, Representation
from .room import Room, is_disk_full, room
from .settings import Settings

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4
DATABASE = f"representations-{SCHEMA_VERSION}.sqlite"
"""Named by its schema: a shelf of another version is never opened (emptying one of
gigabytes would stall a start), only deleted."""
RETRY_SECONDS = 30.0
"""After a failure, how long the shelf stays unused before it is tried again."""
WRITE_WAIT_MS = 200
"""How long a render waits for another worker's write before giving up keeping it."""
VARIANT_SHARE = 4
"""Query variants (``?page``, ``?limit``, OPML ``?tags``: URLs anyone can make up) may
take at most 1/VARIANT_SHARE of the shelf, so they never push out a feed's own URL."""
GROWTH_FACTOR = 2
"""Disk a new body may take, per byte: its pages with their slack, and the WAL's copy."""
WAL_BYTES = 1 << 20
"""After a checkpoint the WAL is cut back to this, not to nothing: rows deleted to
give room back are written there without asking the filesystem for more."""
VACUUM_PAGES = 128
"""Free pages handed back to the filesystem per step (each step writes up to that
many pages to the WAL, then checkpoints)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS representations (
    key TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    version INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    last_modified REAL NOT NULL,
    release REAL,                  -- NULL: never changes by itself
    digest TEXT NOT NULL,          -- of the identity body: the ETag
    headers TEXT NOT NULL,         -- more headers it is sent with, as JSON pairs
    size INTEGER NOT NULL,         -- bytes of all its bodies
    stored REAL NOT NULL,
    pinned INTEGER NOT NULL        -- 1: a resource's own URL, made room for last
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS representations_by_age ON representations(pinned, stored);
CREATE TABLE IF NOT EXISTS bodies (
    key TEXT NOT NULL,
    coding TEXT NOT NULL,
    digest TEXT NOT NULL,          -- the representation it belongs to
    length INTEGER NOT NULL,
    crc INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (key, coding)
);
CREATE TABLE IF NOT EXISTS totals (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO totals VALUES ('bytes', 0), ('variants', 0);
"""


OLDEST = (
    "SELECT key, size, pinned FROM representations WHERE key != ? ORDER BY pinned, stored LIMIT 64"
)
"""The next representations to drop for room, query variants first."""
OLDEST_VARIANTS = (
    "SELECT key, size, pinned FROM representations WHERE key != ? AND pinned = 0 "
    "ORDER BY stored LIMIT 64"
)
"""The next query variants to drop for a variant's room. ``pinned = 0``, not ``NOT
pinned``: an equality walks the age index, where an expression sorted every row."""


class Shelf:
    """Representations by key, kept in the state directory.

    Safe to share between threads: each thread has its own connection.

    :param max_bytes: the bodies' budget; the oldest representations make room.
    :param edition: what else the bytes depend on (the code and the settings that
        render them): representations kept under another edition are never found,
        and age out.
    """

    def __init__(self, state_dir: str, max_bytes: int, edition: str = "") -> None:
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, DATABASE)
        self.max_bytes = max_bytes
        self.edition = edition
        self._local = threading.local()
        self._failed_at = -math.inf
        self.problem: str | None = None
        """Why representations are not being kept, while they are not."""
        self.kept = 0
        self.damaged = 0
        self.short_of_room: str | None = None
        """Why the shelf keeps less than its budget, while the filesystem is short."""
        self._giving_back_failed = False
        """Whether the last try to give room back failed: said once, not at each try."""

    # Reading --------------------------------------------------------------------------

    def _read(self, sql: str, *args: object) -> list[Any] | None:
        """The rows of a read; ``None`` when the shelf cannot be read (said once)."""
        connection = self._connection()
        if connection is None:
            return None
        try:
            return connection.execute(sql, args).fetchall()
        except sqlite3.Error as error:
            self._fail("read", error)
            return None

    def find(
        self, key: str, version: int, max_age: int, shared_max_age: int | None = None
    ) -> Representation | None:
        """The representation kept for ``key`` at ``version``, bodies loaded on demand."""
        connection = self._connection()
        if connection is None:
            return None
        try:
            row = connection.execute(
                "SELECT version, content_type, last_modified, release, digest, headers"
                " FROM representations WHERE key = ?",
                (self.edition + key,),
            ).fetchone()
        except sqlite3.Error as error:
            self._fail("read", error)
            return None
        if row is None or row[0] != version:
            return None
        _, content_type, last_modified, release, digest, headers = row
        return Representation(
            content_type,
            last_modified,
            max_age,
            digest,
            release=math.inf if release is None else release,
            headers=tuple((name, value) for name, value in json.loads(headers)),
            shared_max_age=shared_max_age,
            load=self.loader(key, digest),
        )

    def dated(self, key: str) -> tuple[str, float] | None:
        """The digest and the Last-Modified of what is kept for ``key``, at any version."""
        rows = self._read(
            "SELECT digest, last_modified FROM representations WHERE key = ?", self.edition + key
        )
        return (str(rows[0][0]), float(rows[0][1])) if rows else None

    def followed(self) -> list[str]:
        """The combinations of tags whose feeds' first pages are kept: the ones someone
        fetched lately, which a WebSub hub may follow (a hub fetches what it follows)."""
        prefix = self.edition + '["feed",'
        rows = self._read(
            "SELECT DISTINCT scope FROM representations WHERE (scope LIKE '%+%' OR "
            "scope LIKE '%,%') AND substr(key, 1, ?) = ? AND key LIKE '%,1,null]'",
            len(prefix),
            prefix,
        )
        return [scope for (scope,) in rows or []]

    def loader(self, key: str, digest: str) -> Callable[[str], bytes | None]:
        """A function that loads the bodies of one representation (see :meth:`body`).

        ``key`` is as :meth:`find` was given it."""
        key = self.edition + key

        def load(coding: str) -> bytes | None:
            return self.body(key, digest, coding)

        return load

    def body(self, key: str, digest: str, coding: str) -> bytes | None:
        """One coding's bytes, or ``None`` when absent, replaced since, or damaged.

        ``key`` is the stored key, edition included."""
        connection = self._connection()
        if connection is None:
            return None
        try:
            row = connection.execute(
                "SELECT digest, length, crc, body FROM bodies WHERE key = ? AND coding = ?",
                (key, coding),
            ).fetchone()
        except sqlite3.Error as error:
            self._fail("read", error)
            return None
        if row is None or row[0] != digest:
            return None
        _, length, crc, body = row
        if len(body) != length or zlib.crc32(body) != crc:
            self.damaged += 1
            log.warning("kept %s of %s is damaged; rendering it again", coding, key)
            return None
        return bytes(body)

    # Writing --------------------------------------------------------------------------

    def keep(
        self,
        key: str,
        scope: str,
        version: int,
        representation: Representation,
        pinned: bool = True,
    ) -> bool:
        """Keep a representation with every coding; ``False`` when it could not be kept.

        ``pinned``: a resource's own URL (not a query variant), which the oldest query
        variants make room for first: no flood of made-up variants can push out the
        feeds everyone polls.
        """
        key = self.edition + key
        bodies = {coding: representation.body(coding) for coding in CODINGS}
        connection = self._connection()
        if connection is None:
            return False
        size = sum(len(body) for body in bodies.values() if body is not None)
        now = room(self.state_dir)
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                if not self._make_room_for(connection, key, size, pinned, now):
                    connection.execute("ROLLBACK")
                    return False
                connection.execute(
                    "INSERT OR REPLACE INTO representations"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        scope,
                        version,
                        representation.content_type,
                        representation.last_modified,
                        None if representation.release == math.inf else representation.release,
                        representation.digest,
                        json.dumps(representation.headers),
                        size,
                        time.time(),
                        int(pinned),
                    ),
                )
                connection.executemany(
                    "INSERT OR REPLACE INTO bodies VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (key, coding, representation.digest, len(body), zlib.crc32(body), body)
                        for coding, body in bodies.items()
                        if body is not None
                    ],
                )
                connection.execute("COMMIT")
            except BaseException:
                # A failed statement may have ended the transaction already (a full
                # disk does): rolling back again would hide the real error.
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as error:
            if "locked" in str(error) or "busy" in str(error):
                return False  # another worker is writing: this one is rendered again later
            if is_disk_full(error):
                self._note_room(room(self.state_dir))
                if self.short_of_room is None:  # full, yet the filesystem has room: a limit
                    self._fail("write", error)
                else:
                    self.give_back()
                return False
            self._fail("write", error)
            return False
        except sqlite3.Error as error:
            self._fail("write", error)
            return False
        if now is not None and now.short:
            self._return_pages(connection)
        self._note_room(room(self.state_dir))
        self.kept += 1
        if self.problem is not None:
            log.warning("representations are kept in %s again", self.path)
            self.problem = None
        return True

    def _make_room_for(
        self, connection: sqlite3.Connection, key: str, size: int, pinned: bool, now: Room | None
    ) -> bool:
        """Within a write: drop what must go for ``size`` new bytes under ``key``, and
        account for them. Whether there is room (a query variant only takes the room
        of other variants; nothing takes the index's headroom)."""
        old = connection.execute(
            "SELECT size, pinned FROM representations WHERE key = ?", (key,)
        ).fetchone()
        old_size, old_variant = (old[0], not old[1]) if old else (0, False)
        total, variants = (
            value
            for (value,) in connection.execute(
                "SELECT value FROM totals WHERE name IN ('bytes', 'variants') ORDER BY name"
            )
        )
        excess = total - old_size + size - self.max_bytes
        capacity = self.max_bytes
        if now is not None:
            # Pages freed earlier are reused before the file grows.
            page_size, free_pages = (
                connection.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("page_size", "freelist_count")
            )
            # The WAL grows back to WAL_BYTES between checkpoints: that room is taken.
            spare = now.spare + page_size * free_pages - max(0, WAL_BYTES - self._wal_bytes())
            excess = max(excess, GROWTH_FACTOR * size - spare)
            capacity = min(capacity, total + spare)
        if not pinned:
            share = capacity // VARIANT_SHARE
            excess = max(excess, variants - (old_size if old_variant else 0) + size - share)
        if excess > 0 and self._make_room(connection, excess, key, pinned) < excess:
            return False
        connection.execute(
            "UPDATE totals SET value = value + ? WHERE name = 'bytes'", (size - old_size,)
        )
        connection.execute(
            "UPDATE totals SET value = value + ? WHERE name = 'variants'",
            ((0 if pinned else size) - (old_size if old_variant else 0),),
        )
        return True

    def _make_room(
        self, connection: sqlite3.Connection, excess: int, keeping: str, pinned: bool
    ) -> int:
        """Drop the oldest representations (never ``keeping``) until ``excess`` bytes are
        freed, query variants first; a query variant drops only other query variants.
        The bytes freed."""
        freed = variants = 0
        query = OLDEST if pinned else OLDEST_VARIANTS
        while freed < excess:
            oldest = connection.execute(query, (keeping,)).fetchall()
            if not oldest:
                break
            for key, size, was_pinned in oldest:
                connection.execute("DELETE FROM representations WHERE key = ?", (key,))
                connection.execute("DELETE FROM bodies WHERE key = ?", (key,))
                freed += size
                variants += 0 if was_pinned else size
                if freed >= excess:
                    break
        connection.execute("UPDATE totals SET value = value - ? WHERE name = 'bytes'", (freed,))
        connection.execute(
            "UPDATE totals SET value = value - ? WHERE name = 'variants'", (variants,)
        )
        return freed

    def give_back(self) -> bool:
        """Give the filesystem room back for the index: every query variant, then the
        oldest representations until the headroom is free again, and the freed pages
        returned to the filesystem. Whether anything was freed; never raises.

        Called when a write to the index found the disk full, and by :meth:`keep`."""
        connection = self._connection()
        if connection is None:
            return False
        try:
            # The deletes below go at the start of the WAL, within the bytes it already
            # has (WAL_BYTES once it has been that large): no room asked of a full disk.
            connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
            connection.execute("BEGIN IMMEDIATE")
            try:
                now = room(self.state_dir)
                (variants,) = connection.execute(
                    "SELECT value FROM totals WHERE name = 'variants'"
                ).fetchone()
                wanted = variants + (max(0, -now.spare) if now is not None else 0)
                freed = self._make_room(connection, max(wanted, 1), "", True)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            if not self._giving_back_failed:  # once when it starts, not once a second
                log.warning("cannot give room back from %s: %s", self.path, error)
                self._giving_back_failed = True
            return False
        if self._giving_back_failed:
            log.warning("room can be given back from %s again", self.path)
            self._giving_back_failed = False
        self._return_pages(connection)
        self._note_room(room(self.state_dir))
        return freed > 0

    def _wal_bytes(self) -> int:
        try:
            return os.stat(self.path + "-wal").st_size
        except OSError:
            return 0

    def _return_pages(self, connection: sqlite3.Connection) -> None:
        """Hand the shelf's free pages back to the filesystem, a few at a time so the
        WAL, which holds the pages moved, stays within what it already has."""
        try:
            while connection.execute("PRAGMA freelist_count").fetchone()[0] > 0:
                connection.execute(f"PRAGMA incremental_vacuum({VACUUM_PAGES})").fetchall()
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as error:
            log.warning("cannot return free pages of %s: %s", self.path, error)

    def _note_room(self, now: Room | None) -> None:
        """Say once when the filesystem runs short, and once when it has room again."""
        short = now is not None and now.short
        if short and self.short_of_room is None:
            assert now is not None
            self.short_of_room = now.describe()
            log.warning("%s: the shelf keeps less and gives room back", self.short_of_room)
        elif not short and self.short_of_room is not None:
            log.warning("the state directory has room again: the shelf keeps up to its budget")
            self.short_of_room = None

    # Connections and faults --------------------------------------------------------------

    def _forget_other_versions(self) -> None:
        """Delete shelves of other schema versions (only derived data), best effort."""
        folder = os.path.dirname(self.path)
        mine = os.path.basename(self.path)
        with contextlib.suppress(OSError):
            for name in os.listdir(folder):
                if name.startswith("representations") and not name.startswith(mine):
                    with contextlib.suppress(OSError):
                        os.remove(os.path.join(folder, name))

    def usable(self) -> bool:
        """Whether the shelf can be read now (one small query): ``/healthz`` asks, so a
        shelf that went bad says so before a request trips on it."""
        connection = self._connection()
        if connection is None:
            return False
        try:
            connection.execute("SELECT value FROM totals WHERE name = 'bytes'").fetchone()
        except sqlite3.Error as error:
            self._fail("read", error)
            return False
        return self.problem is None

    def _connection(self) -> sqlite3.Connection | None:
        """This thread's connection, or ``None`` while the shelf is out of use."""
        if time.monotonic() - self._failed_at < RETRY_SECONDS:
            return None
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            if not os.path.exists(self.path):
                self._forget_other_versions()
            try:
                connection = self._open()
            except sqlite3.DatabaseError as error:
                if "locked" in str(error):
                    return None  # another worker is creating it: use it next time
                if "not a database" not in str(error) and "malformed" not in str(error):
                    self._fail("open", error)
                    return None
                # Only derived data: a damaged shelf is replaced, not repaired.
                log.warning("%s is damaged (%s); starting it afresh", self.path, error)
                try:
                    for suffix in ("", "-wal", "-shm"):
                        if os.path.exists(self.path + suffix):
                            os.remove(self.path + suffix)
                    connection = self._open()
                except (OSError, sqlite3.Error) as again:
                    self._fail("open", again)
                    return None
            self._local.connection = connection
        return connection

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=WRITE_WAIT_MS / 1000, isolation_level=None)
        try:
            connection.execute(f"PRAGMA busy_timeout = {WRITE_WAIT_MS}")
            # Before any table: only then can freed pages be handed back later.
            connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute(f"PRAGMA journal_size_limit = {WAL_BYTES}")
            # Debian's SQLite zeroes every freed page, which writes each one to the WAL:
            # giving room back would need as much room again. What is kept is public.
            connection.execute("PRAGMA secure_delete = FAST")
            # A checkpoint once the WAL holds WAL_BYTES (SQLite's default waits for 4 MB).
            page_size = connection.execute("PRAGMA page_size").fetchone()[0]
            connection.execute(f"PRAGMA wal_autocheckpoint = {WAL_BYTES // page_size}")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.executescript(SCHEMA)
        except BaseException:
            connection.close()
            raise
        return connection

    def _fail(self, doing: str, error: Exception) -> None:
        """Stop using the shelf for a while; say so once per outage."""
        self._failed_at = time.monotonic()
        self._local.connection = None
        if self.problem is None:
            log.error(
                "cannot %s kept representations in %s (%s); rendering on demand until it can",
                doing,
                self.path,
                error,
            )
        self.problem = f"cannot {doing} {self.path}: {error}"


PACKAGE = Path(__file__).parent
"""The code a kept representation was rendered by."""


def edition(settings: Settings) -> str:
    """What rendered bytes depend on beyond the index: this code and these settings.

    A new release, or a new base URL, title or item count, makes every kept
    representation obsolete at once.
    """
    digest = hashlib.blake2b(repr(settings).encode(), digest_size=8)
    for path in sorted(PACKAGE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.read_bytes())
    return digest.hexdigest() + ":"
