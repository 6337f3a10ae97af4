"""The workers of one ``feedsvc serve``, as their state directory knows them.

granian replaces a worker that dies (killed by the kernel for memory, say), but the
others cannot see that it happened. So each worker notes itself in ``workers/`` of
the state directory (its process id, its start time and its parent's id) and takes its
note away when it stops; a note whose process is gone is a worker that died. While one
is missing, ``/healthz`` of its siblings says so; its replacement says once in the log
which worker it replaces, and takes the note away. A worker whose state directory is
deleted or replaced stops, for granian to replace it with one that rebuilds it.
"""

from __future__ import annotations

import contextlib
import logging
import os
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
