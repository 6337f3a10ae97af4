"""Connections no client should hold, against ``feedsvc serve`` alone: thousands idle or
dribbling never stop it answering, and each is closed after the request-head timeout."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.hostile import closed_by_server
from bench.processes import descendants, free_port, stop, wait_healthy
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


def test_a_worker_at_its_connection_limit_says_so_once_and_healthz_says_the_limit(
    write_article: WriteArticle, articles_dir: Path, tmp_path: Path
) -> None:
    """Started under a small open-file limit (600: 450 connections a worker), a client
    holding 460 idle connections fills it: the log says so once, then once more when
    they are gone; /healthz says the limit."""
    write_article("2026-01-01-a.txt", title="A", keywords="alpha")
    port = free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env.update(
        FEEDSVC_ARTICLES_DIR=str(articles_dir),
        FEEDSVC_STATE_DIR=str(tmp_path / "state"),
        FEEDSVC_REQUEST_HEAD_SECONDS="120",  # the held connections are not closed meanwhile
    )
    command = ["prlimit", "--nofile=600:600", sys.executable, "-m", "feedsvc.cli", "serve"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    held: list[socket.socket] = []
    try:
        wait_healthy(port, process)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/healthz")
        assert json.loads(connection.getresponse().read())["connections"] == {"per_worker": 450}
        connection.close()
        for _ in range(460):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        wait_until(lambda: "the most it serves at once" in log.read_text(), 60, "the warning")
        for sock in held:
            sock.close()
        held.clear()
        wait_until(lambda: "under its limit" in log.read_text(), 60, "the all-clear")
        assert log.read_text().count("the most it serves at once") == 1
    finally:
        for sock in held:
            sock.close()
        stop(process)
