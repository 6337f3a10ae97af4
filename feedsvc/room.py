"""Room on the state directory's filesystem, and who may take it.

The index comes first: it is the only record of what is published, and an edit it
cannot record is an edit no reader sees. The shelf of rendered representations is
derived data, so it may only use what the filesystem holds beyond a *headroom* kept
for the index, and gives room back when the headroom is eaten (by its own growth,
or from outside: logs, another program, a backup).

The headroom is the largest of:

- twice the index with its WAL: a rebuild writes a new index beside the old one, and
  the WAL holds a copy of every page a big change writes;
- a tenth of the filesystem: what operators expect a disk to keep free, and a margin
  for whatever else writes there;
- :data:`MIN_HEADROOM`, for the index's first pages and a small filesystem.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from dataclasses import dataclass

HEADROOM_SHARE = 10
"""The headroom is at least 1/HEADROOM_SHARE of the filesystem."""
INDEX_FACTOR = 2
"""The headroom is at least this many times the index and its WAL."""
MIN_HEADROOM = 2 << 20
INDEX_FILES = ("index.sqlite", "index.sqlite-wal", "index.sqlite.building")
"""The index's files in the state directory (named in :mod:`feedsvc.store`, which
this module sits below)."""


@dataclass(frozen=True)
class Room:
    """The state filesystem at one moment."""

    free: int
    """Bytes this process may still write there."""
    headroom: int
    """Bytes kept free for the index."""

    @property
    def spare(self) -> int:
        """What the shelf may still take (negative: what it should give back)."""
        return self.free - self.headroom

    @property
    def short(self) -> bool:
        return self.free < self.headroom

    def describe(self) -> str:
        return (
            f"the state directory has {self.free / 1e6:.1f} MB free,"
            f" under the {self.headroom / 1e6:.1f} MB kept for the index"
        )


def room(state_dir: str) -> Room | None:
    """The room on ``state_dir``'s filesystem, or ``None`` when it cannot be asked.

    A few system calls: cheap enough to ask before every write to the shelf."""
    try:
        status = os.statvfs(state_dir)
    except OSError:
        return None
    index = 0
    for name in INDEX_FILES:
        with contextlib.suppress(OSError):
            index += os.stat(os.path.join(state_dir, name)).st_size
    size = status.f_blocks * status.f_frsize
    headroom = max(MIN_HEADROOM, size // HEADROOM_SHARE, INDEX_FACTOR * index)
    return Room(status.f_bavail * status.f_frsize, headroom)


def is_disk_full(error: BaseException) -> bool:
    """Whether an error says the disk (or a file's size limit) is full."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(error, sqlite3.Error):
        return getattr(error, "sqlite_errorname", "") == "SQLITE_FULL" or "full" in str(error)
    return False
