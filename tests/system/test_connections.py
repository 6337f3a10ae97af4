"""Connections no client should hold, against ``feedsvc serve`` alone: thousands idle or
dribbling never stop it answering, and each is closed after the request-head timeout."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable
from pathlib import Path

from bench.hostile import closed_by_server
from bench.processes import descendants
from tests.conftest import WriteArticle, wait_until
from tests.system.conftest import LiveServer

HELD = 2000


def answer(server: LiveServer, path: str) -> int:
    """A fresh client's GET; the timeout only bounds a failure (it hung for minutes)."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_thousands_of_idle_and_dribbling_connections_are_answered_around_and_closed(
    write_article: WriteArticle, live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    write_article("one.txt", title="One", keywords="alpha")
    server = live_server(REQUEST_HEAD_SECONDS="1", ACCESS_LOG="off")
    address = ("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
    held: list[socket.socket] = []
    try:
        for n in range(HELD):
            sock = socket.create_connection(address)
            if n % 4 == 1:
                sock.sendall(b"GET /feed.rss HT")  # a request line that never ends
            elif n % 4 == 2:  # a keep-alive connection, idle after its first answer
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            held.append(sock)  # the rest send nothing at all
        for path in ("/feed.rss", "/tags/alpha/feed.atom", "/healthz"):
            assert answer(server, path) == 200
        wait_until(lambda: all(closed_by_server(sock) for sock in held), 15, "all closed")
        assert answer(server, "/feed.json") == 200
    finally:
        for sock in held:
            sock.close()
    # Each worker may hold as many files as the system allows it.
    for pid in descendants(server.process.pid):
        limits = Path(f"/proc/{pid}/limits").read_text()
        [line] = [line for line in limits.splitlines() if line.startswith("Max open files")]
        soft, hard = line.split()[3:5]
        assert soft == hard, line
