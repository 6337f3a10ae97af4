"""The access log of ``feedsvc serve``: on by default in the combined log format, JSON lines
or off by setting, one line per request, the fast path's cached answers included."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from bench.processes import descendants
from tests.conftest import WriteArticle, wait_until
from tests.system.conftest import LiveServer, stop_server
from tests.unit.test_access import COMBINED


def access_lines(server: LiveServer, count: int) -> list[str]:
    """The log's last ``count`` access lines, once it has them (a worker writes them)."""
    found: list[str] = []

    def enough() -> bool:
        nonlocal found
        text = server.log.read_text(errors="replace")
        found = [  # the start's health checks (waiting for it to be ready) left out
            line
            for line in text.splitlines()
            if (line.startswith("127.0.0.1 ") or line.startswith("{")) and "/healthz" not in line
        ]
        return len(found) >= count

    wait_until(enough, 10, f"{count} access lines")
    return found[-count:]


def test_serve_logs_every_request_in_combined_format(
    write_article: WriteArticle, live_server: Callable[..., LiveServer]
) -> None:
    write_article("one.txt", keywords="Syria")
    server = live_server()
    headers = {"User-Agent": 'Reader/1.0 "quoted"', "Referer": "http://example.org/x"}
    assert server.get("/tags/syria/feed.rss", headers).status == 200  # rendered
    assert server.get("/tags/syria/feed.rss", headers).status == 200  # from the fast path
    assert server.get("/nowhere", headers).status == 404
    lines = access_lines(server, 3)
    first, hit, missing = (COMBINED.match(line) for line in lines)
    assert first and hit and missing, lines
    assert first["request"] == hit["request"] == "GET /tags/syria/feed.rss HTTP/1.1"
    assert first["status"] == hit["status"] == "200"
    assert int(first["bytes"]) == int(hit["bytes"]) > 500
    assert first["referer"] == "http://example.org/x"
    assert first["agent"] == r"Reader/1.0 \x22quoted\x22"  # a field cannot be forged
    assert (missing["request"], missing["status"]) == ("GET /nowhere HTTP/1.1", "404")
    assert int(first["micros"]) > 0 and int(hit["micros"]) > 0


def test_json_lines_by_setting(
    write_article: WriteArticle, live_server: Callable[..., LiveServer]
) -> None:
    write_article("one.txt")
    server = live_server(ACCESS_LOG="json")
    assert server.get("/feed.json?limit=1", method="HEAD").status == 200
    [line] = access_lines(server, 1)
    entry = json.loads(line)
    assert entry["method"] == "HEAD" and entry["target"] == "/feed.json?limit=1"
    assert (entry["status"], entry["bytes"], entry["protocol"]) == (200, 0, "HTTP/1.1")
    assert entry["remote"] == "127.0.0.1" and entry["duration_ms"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["time"])
    assert entry["pid"] in descendants(server.process.pid)  # the worker, not the parent


def test_off_by_setting(
    write_article: WriteArticle, live_server: Callable[..., LiveServer]
) -> None:
    write_article("one.txt")
    server = live_server(ACCESS_LOG="off")
    for _ in range(3):
        assert server.get("/feed.rss").status == 200
    server.get("/healthz")
    assert "GET /feed.rss" not in server.log.read_text()


def test_the_last_lines_before_a_stop_are_written(
    write_article: WriteArticle, live_server: Callable[..., LiveServer]
) -> None:
    """A worker writes its batch of lines as it stops: none of the last requests'
    lines is lost (0, 14 and 0 of 50 were written in three tries before)."""
    write_article("one.txt")
    server = live_server()
    for n in range(50):
        assert server.get(f"/feed.rss?last={n}").status == 200
    stop_server(server)  # at once: the lines were not written yet
    text = server.log.read_text(errors="replace")
    assert all(f"/feed.rss?last={n} " in text for n in range(50)), text[-2000:]
