"""Closing connections that never say a word.

granian closes a connection whose request head does not arrive in time once the first
byte has come (and an idle keep-alive connection, waiting for its next head), but a
connection that sends nothing at all it keeps for as long as the client likes: a
thousand of them held every worker's connections. So each worker looks at its own
accepted connections every so often and shuts down those that have been open longer
than the request-head timeout without receiving a byte, as the kernel counts them
(``TCP_INFO``). Linux only; elsewhere nothing is closed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import socket
import struct
import threading
import time

log = logging.getLogger(__name__)

_TCP_INFO = getattr(socket, "TCP_INFO", None)
_INFO_BYTES = 136
"""``struct tcp_info`` up to ``tcpi_bytes_received`` (Linux 4.1 and later)."""
_STATE, _LAST_DATA_RECV, _BYTES_RECEIVED = 0, 52, 128
"""Offsets of ``tcpi_state``, ``tcpi_last_data_recv`` (ms) and ``tcpi_bytes_received``."""
_OPEN_STATES = (1, 8)
"""TCP_ESTABLISHED, and TCP_CLOSE_WAIT (the client has gone; its close is pending)."""


FILE_RESERVE = 512
"""Files a worker keeps for itself beyond its connections: the index, the shelf, logs."""


def open_files() -> int:
    """This process's limit of open files (``feedsvc serve`` raises it to the hard one)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def connection_limit(files: int | None = None) -> int:
    """How many connections a worker serves at once: as many as its open files allow,
    less what it keeps for itself; more wait in the kernel's listen queue."""
    files = open_files() if files is None else files
    return max(16, files - min(FILE_RESERVE, files // 4))


def silent_for(info: bytes) -> float | None:
    """Seconds a connection has been open without receiving a byte, from its
    ``TCP_INFO``; ``None`` when it has received some, or is not open."""
    if len(info) < _INFO_BYTES or info[_STATE] not in _OPEN_STATES:
        return None
    (received,) = struct.unpack_from("=Q", info, _BYTES_RECEIVED)
    if received:
        return None
    (milliseconds,) = struct.unpack_from("=I", info, _LAST_DATA_RECV)
    return float(milliseconds) / 1000  # from when it was made, for one never written to


def _sockets() -> list[int]:
    """This process's file descriptors that are sockets."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                found.append(int(name))
    return found


def _borrowed(fd: int) -> socket.socket | None:
    """A socket object over this process's descriptor ``fd``, without a descriptor of its
    own: a worker at its open-file limit has none to spare (a ``dup`` of each connection
    once left most of them unseen). Give it back with ``detach``, never ``close``."""
    try:
        return socket.socket(fileno=fd)
    except OSError:
        return None  # closed meanwhile, or no socket


def close_silent(timeout: float) -> tuple[int, int]:
    """Shut down every connection this process accepted that has received nothing for
    longer than ``timeout`` seconds; how many, and how many connections it holds. Its
    owner (granian) then sees the end and closes it."""
    if _TCP_INFO is None:
        return 0, 0
    listening: set[int] = set()
    accepted: list[int] = []
    for fd in _sockets():
        sock = _borrowed(fd)
        if sock is None:
            continue
        try:
            if sock.family in (socket.AF_INET, socket.AF_INET6) and (
                sock.type == socket.SOCK_STREAM
            ):
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                    listening.add(sock.getsockname()[1])
                else:
                    accepted.append(fd)
        except OSError:
            pass
        finally:
            sock.detach()
    closed = held = 0
    for fd in accepted:
        sock = _borrowed(fd)
        if sock is None:
            continue
        # Accepted: its local port is a listening one (an outgoing connection, a purge
        # say, has a port of its own).
        try:
            if sock.getsockname()[1] not in listening:
                continue
            held += 1
            silent = silent_for(sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _INFO_BYTES))
            if silent is not None and silent > timeout:
                sock.shutdown(socket.SHUT_RDWR)
                closed += 1
        except OSError:
            pass
        finally:
            sock.detach()
    return closed, held


class SilentConnections(threading.Thread):
    """Closes silent connections every ``timeout / 2`` seconds (from 0.5 to 2 s), and says
    once when this worker holds as many connections as it serves at once (new ones then
    wait in the listen queue, unanswered) and once when it no longer does."""

    def __init__(self, timeout: float) -> None:
        super().__init__(name="feedsvc-silent-connections", daemon=True)
        self.timeout = timeout
        self.limit = connection_limit()
        self.full = False

    def run(self) -> None:
        period = min(2.0, max(0.5, self.timeout / 2))
        while True:
            time.sleep(period)
            try:
                _, held = close_silent(self.timeout)
            except Exception:  # never let it end: it is all that closes these
                log.exception("closing silent connections failed")
                continue
            if held >= self.limit and not self.full:
                log.warning(
                    "this worker holds %d connections, the most it serves at once (its "
                    "open-file limit, %d, less what it keeps for itself); more wait in the "
                    "listen queue: raise the limit (LimitNOFILE) or add workers",
                    held,
                    open_files(),
                )
            elif held < 0.9 * self.limit and self.full:
                log.warning("this worker holds %d connections again, under its limit", held)
            self.full = held >= self.limit or (self.full and held >= 0.9 * self.limit)
