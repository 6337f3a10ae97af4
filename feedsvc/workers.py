"""The workers of one ``feedsvc serve``, as their state directory knows them.

granian replaces a worker that dies (killed by the kernel for memory, say), but the
others cannot see that it happened. So each worker notes itself in ``workers/`` of
the state directory (its process id, its start time and its parent's id) and takes its
note away when it stops; a note whose process is gone is a worker that died. While one
is missing, ``/healthz`` of its siblings says so; its replacement says once in the log
which worker it replaces, and takes the note away. A worker whose state directory is
deleted or replaced stops, for granian to replace it with one that rebuilds it.

A worker can also hang without dying (stopped, stuck in a system call, swapping, in a
long pause): the kernel keeps handing it connections that nobody answers. So each
worker touches its note every :data:`HEARTBEAT` seconds from a thread of its own, and
the service's main process kills a worker whose note has gone unchanged for longer than
``FEEDSVC_WORKER_TIMEOUT`` (:func:`replace_hung_workers`): granian then replaces it as it
does any worker that dies, and its writer role, if it had it, passes on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

FOLDER = "workers"


@dataclass(frozen=True)
class Note:
    pid: int
    started: str
    """The process's start time in clock ticks since boot (/proc/PID/stat): a process
    id used again by another process is not taken for the worker."""
    parent: int


def _started(pid: int) -> str | None:
    """When process ``pid`` started, while it runs (not once it is a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    return fields[19] if len(fields) > 19 and fields[0] not in ("Z", "X") else None


def _alive(note: Note) -> bool:
    return _started(note.pid) == note.started


def notes(state_dir: str) -> list[Note]:
    """Every worker noted in ``state_dir``, alive or not."""
    folder = os.path.join(state_dir, FOLDER)
    found = []
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(folder):
            with contextlib.suppress(OSError, ValueError):
                with open(os.path.join(folder, name), encoding="ascii") as note:
                    started, parent = note.read().split()
                found.append(Note(int(name), started, int(parent)))
    return found


def _forget(state_dir: str, pid: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(state_dir, FOLDER, str(pid)))


def note_this_worker(state_dir: str) -> None:
    """Note this process as a worker of its parent; say which dead sibling it replaces."""
    me = os.getpid()
    started = _started(me)
    if started is None:  # no /proc: nothing to tell apart
        return
    folder = os.path.join(state_dir, FOLDER)
    os.makedirs(folder, exist_ok=True)
    for dead in died(state_dir):
        log.warning("worker %d died; worker %d replaces it", dead.pid, me)
        _forget(state_dir, dead.pid)
    path = os.path.join(folder, str(me))
    with open(path + ".new", "w", encoding="ascii") as note:
        note.write(f"{started} {os.getppid()}\n")
    os.replace(path + ".new", path)


def forget_this_worker(state_dir: str) -> None:
    """At a worker's orderly exit: it did not die."""
    _forget(state_dir, os.getpid())


HEARTBEAT = 1.0
"""Seconds between a worker's touches of its note."""
REPLACED = "replaced-hung"
"""In ``workers/``: how many hung workers this service killed for replacement."""


def beat(state_dir: str) -> None:
    """Touch this worker's note every :data:`HEARTBEAT` seconds, from a thread: a note
    left untouched is a worker that stopped answering."""
    path = os.path.join(state_dir, FOLDER, str(os.getpid()))

    def run() -> None:
        while True:
            time.sleep(HEARTBEAT)
            with contextlib.suppress(OSError):  # the state directory being replaced
                os.utime(path)

    threading.Thread(target=run, name="feedsvc-heartbeat", daemon=True).start()


def _silent_for(state_dir: str, note: Note) -> float:
    """Seconds since the worker last touched its note (0 when it cannot be told)."""
    try:
        touched = os.stat(os.path.join(state_dir, FOLDER, str(note.pid))).st_mtime
    except OSError:
        return 0.0
    return max(0.0, time.time() - touched)


def hung(state_dir: str, timeout: float) -> list[Note]:
    """The living workers of this process's parent whose heartbeat stopped for longer
    than ``timeout`` seconds: not yet killed, or being."""
    parent = os.getppid()
    return [
        note
        for note in notes(state_dir)
        if note.parent == parent and _alive(note) and _silent_for(state_dir, note) > timeout
    ]


def replaced_hung(state_dir: str) -> int:
    """How many hung workers the running service killed for replacement."""
    try:
        with open(os.path.join(state_dir, FOLDER, REPLACED), encoding="ascii") as count:
            return int(count.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def replace_hung_workers(state_dir: str, timeout: float) -> None:
    """In the service's main process: kill (``SIGKILL``, which a stopped process obeys
    too) each of its workers whose heartbeat stopped for ``timeout`` seconds, said once
    in the log; granian starts a new one in its place."""
    me = os.getpid()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(state_dir, FOLDER, REPLACED))  # this service's count

    def run() -> None:
        killed = 0
        last = time.monotonic()
        while True:
            time.sleep(HEARTBEAT)
            now = time.monotonic()
            slept, last = now - last, now
            if slept > 2 * HEARTBEAT:
                # This thread was held up too (the machine suspended, or starved): the
                # workers get a beat to show they are alive before any is judged.
                continue
            for note in notes(state_dir):
                if note.parent != me or not _alive(note):
                    continue
                silent = _silent_for(state_dir, note)
                if silent <= timeout:
                    continue
                log.error(
                    "worker %d has not answered for %.0f s (stopped or stuck); killing it"
                    " for a new one to take its place",
                    note.pid,
                    silent,
                )
                with contextlib.suppress(ProcessLookupError):
                    os.kill(note.pid, signal.SIGKILL)
                killed += 1
                with contextlib.suppress(OSError):
                    path = os.path.join(state_dir, FOLDER, REPLACED)
                    with open(f"{path}.new", "w", encoding="ascii") as count:
                        count.write(f"{killed}\n")
                    os.replace(f"{path}.new", path)

    threading.Thread(target=run, name="feedsvc-hung-workers", daemon=True).start()


def died(state_dir: str) -> list[Note]:
    """The workers of this process's parent (its ``feedsvc serve``) that died and are
    not yet replaced."""
    parent = os.getppid()
    return [note for note in notes(state_dir) if note.parent == parent and not _alive(note)]


def forget_the_dead(state_dir: str) -> None:
    """At a service's start: notes of workers whose service has gone (a stop that killed
    them, a machine that went down) are no news."""
    for note in notes(state_dir):
        if not _alive(note) and _started(note.parent) is None:
            _forget(state_dir, note.pid)


STATE_LOST = 3
"""A worker's exit status when its state directory was deleted or replaced."""
STATE_CHECK_SECONDS = 2.0


def watch_state_dir(state_dir: str, before_exit: Callable[[], None]) -> None:
    """Stop this worker if the state directory is deleted or replaced while it runs.

    Its index and shelf are then files no one else sees: it would serve a frozen site,
    and its edits would reach no other worker. granian starts a new worker in its
    place, which makes the directory again and rebuilds the index in it.
    """

    def identity() -> tuple[int, int] | None:
        try:
            status = os.stat(state_dir)
        except OSError:
            return None
        return status.st_dev, status.st_ino

    first = identity()

    def run() -> None:
        while True:
            time.sleep(STATE_CHECK_SECONDS)
            if identity() != first:
                log.error(
                    "the state directory %s was deleted or replaced; this worker stops,"
                    " and the one that replaces it rebuilds the index there",
                    state_dir,
                )
                with contextlib.suppress(Exception):
                    before_exit()
                os._exit(STATE_LOST)

    if first is not None:
        threading.Thread(target=run, name="feedsvc-state-watch", daemon=True).start()
