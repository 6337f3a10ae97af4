"""Rendered representations kept on disk, shared by every worker and surviving restarts.

One SQLite database, ``representations-<schema>.sqlite`` in the state directory, beside the
index: a row of validators per resource (its version, digest, dates) and a row per
content coding holding the bytes, each with its length and CRC-32, checked when read.
A conditional request for an unchanged resource is answered from the validators
alone; a damaged body is never served (the resource is rendered again).

Any worker may write (whoever renders first keeps it for the others); the database
is bounded by bytes, oldest first. When it cannot be used (unwritable, full,
corrupt) the service renders on demand and says so in ``/healthz``, once in the log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable

from .responses import CODINGS, Representation

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
DATABASE = f"representations-{SCHEMA_VERSION}.sqlite"
"""Named by its schema: a shelf of another version is never opened (emptying one of
gigabytes would stall a start), only deleted."""
RETRY_SECONDS = 30.0
"""After a failure, how long the shelf stays unused before it is tried again."""
WRITE_WAIT_MS = 200
"""How long a render waits for another worker's write before giving up keeping it."""

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
INSERT OR IGNORE INTO totals VALUES ('bytes', 0);
"""


class Shelf:
    """Representations by key, kept in the state directory.

    Safe to share between threads: each thread has its own connection.

    :param max_bytes: the bodies' budget; the oldest representations make room.
    :param edition: what else the bytes depend on (the code and the settings that
        render them): representations kept under another edition are never found,
        and age out.
    """

    def __init__(self, state_dir: str, max_bytes: int, edition: str = "") -> None:
        self.path = os.path.join(state_dir, DATABASE)
        self.max_bytes = max_bytes
        self.edition = edition
        self._local = threading.local()
        self._failed_at = -math.inf
        self.problem: str | None = None
        """Why representations are not being kept, while they are not."""
        self.kept = 0
        self.damaged = 0

    # Reading --------------------------------------------------------------------------

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
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                old = connection.execute(
                    "SELECT size FROM representations WHERE key = ?", (key,)
                ).fetchone()
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
                grown = size - (old[0] if old else 0)
                total = connection.execute(
                    "UPDATE totals SET value = value + ? WHERE name = 'bytes' RETURNING value",
                    (grown,),
                ).fetchone()[0]
                if total > self.max_bytes and not self._make_room(
                    connection, total - self.max_bytes, key, pinned
                ):
                    connection.execute("ROLLBACK")
                    return False  # a query variant only takes the room of other ones
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as error:
            if "locked" in str(error) or "busy" in str(error):
                return False  # another worker is writing: this one is rendered again later
            self._fail("write", error)
            return False
        except sqlite3.Error as error:
            self._fail("write", error)
            return False
        self.kept += 1
        if self.problem is not None:
            log.warning("representations are kept in %s again", self.path)
            self.problem = None
        return True

    def _make_room(
        self, connection: sqlite3.Connection, excess: int, keeping: str, pinned: bool
    ) -> bool:
        """Drop the oldest representations (never ``keeping``) until ``excess`` bytes are
        freed, query variants first; a query variant drops only other query variants.
        Whether that made the room."""
        freed = 0
        query = "SELECT key, size FROM representations WHERE key != ?"
        query += (
            " ORDER BY pinned, stored LIMIT 64"
            if pinned
            else " AND NOT pinned ORDER BY stored LIMIT 64"
        )
        while freed < excess:
            oldest = connection.execute(query, (keeping,)).fetchall()
            if not oldest:
                break
            for key, size in oldest:
                connection.execute("DELETE FROM representations WHERE key = ?", (key,))
                connection.execute("DELETE FROM bodies WHERE key = ?", (key,))
                freed += size
                if freed >= excess:
                    break
        connection.execute("UPDATE totals SET value = value - ? WHERE name = 'bytes'", (freed,))
        return freed >= excess

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
            connection.execute("PRAGMA journal_mode = WAL")
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
