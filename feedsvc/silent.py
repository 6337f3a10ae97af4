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


def close_silent(timeout: float) -> int:
    """Shut down every connection this process accepted that has received nothing for
    longer than ``timeout`` seconds; how many. Its owner (granian) then sees the end
    and closes it."""
    if _TCP_INFO is None:
        return 0
    listening: set[int] = set()
    accepted: list[socket.socket] = []
    try:
        for fd in _sockets():
            try:
                sock = socket.socket(fileno=os.dup(fd))
            except OSError:
                continue  # closed meanwhile
            if sock.family not in (socket.AF_INET, socket.AF_INET6) or (
                sock.type != socket.SOCK_STREAM
            ):
                sock.close()
            elif sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                listening.add(sock.getsockname()[1])
                sock.close()
            else:
                accepted.append(sock)
        closed = 0
        for sock in accepted:
            # Accepted: its local port is a listening one (an outgoing connection, a
            # purge say, has a port of its own).
            with contextlib.suppress(OSError):
                if sock.getsockname()[1] not in listening:
                    continue
                silent = silent_for(sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _INFO_BYTES))
                if silent is not None and silent > timeout:
                    sock.shutdown(socket.SHUT_RDWR)
                    closed += 1
        return closed
    finally:
        for sock in accepted:
            sock.close()


class SilentConnections(threading.Thread):
    """Closes silent connections every ``timeout / 2`` seconds (at least every 0.5 s)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(name="feedsvc-silent-connections", daemon=True)
        self.timeout = timeout

    def run(self) -> None:
        period = max(0.5, self.timeout / 2)
        while True:
            time.sleep(period)
            try:
                close_silent(self.timeout)
            except Exception:  # never let it end: it is all that closes these
                log.exception("closing silent connections failed")
