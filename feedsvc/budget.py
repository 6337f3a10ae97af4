"""A budget of costly work, shared by the workers of one service.

Searches and combinations of tags are URLs anyone can make up by the million, and what
is kept (the shelf, each worker's cache) cannot answer one never asked before: each is
a read of the index that costs far more than a kept feed. A few clients asking distinct
ones at once would keep every worker busy, and honest pollers would wait behind them.
So such reads take a slot of this budget first, ``FEEDSVC_COSTLY_AT_ONCE`` slots for the
whole service (files in ``costly/`` of the state directory, each held with ``flock``
while its read runs, released by the kernel if the worker dies); one that finds every
slot taken is refused at once (:class:`Busy`, a ``503`` with ``Retry-After``), never
queued. Kept feeds, 304s and everything else never ask for a slot.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

FOLDER = "costly"


class Busy(Exception):
    """Every slot of the budget is taken: the request is refused, to be made again."""

    def __str__(self) -> str:
        return "too many searches and combinations are being answered at once"


class Budget:
    """``slots`` costly reads at once across the processes sharing ``state_dir``."""

    def __init__(self, state_dir: str, slots: int) -> None:
        self.folder = os.path.join(state_dir, FOLDER)
        self.slots = slots

    @contextlib.contextmanager
    def spend(self) -> Iterator[None]:
        """Hold a slot while the block runs.

        :raises Busy: when every slot is taken.
        """
        os.makedirs(self.folder, exist_ok=True)
        for slot in range(self.slots):
            handle = os.open(
                os.path.join(self.folder, str(slot)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644
            )
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(handle)
                continue
            try:
                yield
            finally:
                os.close(handle)  # closing drops the lock
            return
        raise Busy()
