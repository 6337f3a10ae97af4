"""Connections that never send a byte are found from the kernel's TCP_INFO and shut
down, and nothing else is: not a connection that spoke, not an outgoing one."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest

from feedsvc.silent import close_silent, silent_for


def tcp_info(state: int, received: int, last_receive_ms: int) -> bytes:
    info = bytearray(232)
    info[0] = state
    struct.pack_into("=I", info, 52, last_receive_ms)
    struct.pack_into("=Q", info, 128, received)
    return bytes(info)


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (tcp_info(1, 0, 2500), 2.5),  # established, nothing received for 2.5 s
        (tcp_info(8, 0, 700), 0.7),  # the client has closed its side
        (tcp_info(1, 17, 60_000), None),  # it sent a request once: granian's to time out
        (tcp_info(7, 0, 60_000), None),  # closed
        (tcp_info(1, 0, 2500)[:120], None),  # a kernel without tcpi_bytes_received
    ],
)
def test_silence_is_read_from_tcp_info(info: bytes, expected: float | None) -> None:
    assert silent_for(info) == expected


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


def connect(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    return client, accepted


def test_only_accepted_connections_that_never_spoke_are_shut_down(
    listener: socket.socket,
) -> None:
    silent_client, silent = connect(listener)
    speaking_client, speaking = connect(listener)
    speaking_client.sendall(b"GET / HTTP/1.1\r\n")
    speaking.recv(100)
    time.sleep(0.05)  # both older than the timeout below
    try:
        assert close_silent(0.01) == (1, 2)  # one shut down, of the two accepted
        silent_client.settimeout(5)
        assert silent_client.recv(1) == b""  # the server's side is gone
        speaking_client.setblocking(False)
        with pytest.raises(BlockingIOError):  # still open: nothing to read, no end
            speaking_client.recv(1)
        assert close_silent(3600)[0] == 0  # nothing silent for an hour
    finally:
        for sock in (silent_client, silent, speaking_client, speaking):
            sock.close()
