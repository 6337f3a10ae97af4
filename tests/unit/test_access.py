"""The access log middleware, in this process: the combined log format and JSON lines,
response times, control characters, batched writing, and the fast path's answers."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from feedsvc.access import AccessLog, Batched

# host ident user [time] "request" status bytes "referer" "user agent" microseconds
COMBINED = re.compile(
    r"^(?P<host>\S+) - - \[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000)\] "
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+|-) '
    r'"(?P<referer>[^"]*)" "(?P<agent>[^"]*)" (?P<micros>\d+)$'
)


def wsgi_app(body: Any) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("201 Created", [("Content-Type", "text/plain")])
        return body

    return app


def call(app: Callable[..., Any], **environ: str) -> bytes:
    base = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_PROTOCOL": "HTTP/1.1"}
    result = app({**base, **environ}, lambda status, headers, *info: None)
    try:
        return b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()


def test_a_streamed_body_is_logged_when_closed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "feedsvc.access")
    logged = AccessLog(wsgi_app(iter([b"ab", b"cde"])))
    assert call(logged, PATH_INFO="/a b/\u00c3\u00a9", QUERY_STRING="q=1") == b"abcde"
    [record] = caplog.records
    match = COMBINED.match(record.getMessage())
    assert match, record.getMessage()
    # The path as sent: WSGI's Latin-1 decoding undone, then escaped again.
    assert match["request"] == "GET /a%20b/%C3%A9?q=1 HTTP/1.1"
    assert (match["status"], match["bytes"], match["host"]) == ("201", "5", "-")


def test_control_characters_cannot_break_a_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "feedsvc.access")
    call(AccessLog(wsgi_app([b""])), HTTP_USER_AGENT="a\nb\x1b", QUERY_STRING='x="\\')
    line = caplog.records[0].getMessage()
    assert "\n" not in line and "\x1b" not in line
    match = COMBINED.match(line)
    assert match and match["agent"] == r"a\x0ab\x1b" and match["bytes"] == "-"
    assert match["request"] == r"GET /?x=\x22\x5c HTTP/1.1"


def test_nothing_is_formatted_when_nobody_listens(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "feedsvc.access")
    body = [b"x"]
    assert (
        AccessLog(wsgi_app(body))({"REQUEST_METHOD": "GET"}, lambda *a: None) is body
    )  # passed through untouched
    assert not caplog.records


def test_the_time_is_in_english_whatever_the_locale() -> None:
    from feedsvc.access import MONTHS, _Clock

    stamp = _Clock().combined(1_780_000_000.5)
    assert stamp == "28/May/2026:20:26:40 +0000" and stamp[3:6] in MONTHS


def test_batched_lines_are_written_whole_and_in_order(tmp_path: Path) -> None:
    """``feedsvc serve``'s writer: lines kept in memory, then written in one go."""
    path = tmp_path / "access.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        writer = Batched(fd, interval=60)  # flushed by hand below, not by its thread
        for number in range(1000):
            writer(f"line {number} é")
        assert path.read_bytes() == b""
        writer.flush()
        writer.flush()  # nothing more to write
    finally:
        os.close(fd)
    assert path.read_text().splitlines() == [f"line {n} é" for n in range(1000)]


def test_a_stalled_output_drops_lines_instead_of_growing() -> None:
    """Lines wait in memory only up to a bound: a pipe nobody reads cannot fill it."""
    read_end, write_end = os.pipe()
    try:
        writer = Batched(write_end, interval=60, most=10_000)
        for number in range(5_000):  # about 50,000 characters
            writer(f"line {number:05d}")
        assert sum(map(len, writer.lines)) <= 10_000
        assert writer.dropped == 5_000 - len(writer.lines)
        writer.flush()
        written = os.read(read_end, 1 << 20).decode().splitlines()
    finally:
        os.close(read_end)
        os.close(write_end)
    assert written[0] == "line 00000" and written[-1].startswith("feedsvc: ")
    assert f"{5_000 - len(written) + 1} access log lines dropped" in written[-1]


def test_what_the_fast_path_answers_is_logged_without_calling_the_app() -> None:
    lines: list[str] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        raise AssertionError("answered before the app")

    def answer(environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes] | None:
        if environ["PATH_INFO"] == "/held":
            return "304 Not Modified", [("ETag", '"x"')], b""
        return None

    logged = AccessLog(app, write=lines.append, answer=answer)
    started: list[str] = []
    body = logged(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/held", "SERVER_PROTOCOL": "HTTP/1.1"},
        lambda status, headers, *info: started.append(status),
    )
    assert body == [b""] and started == ["304 Not Modified"]
    match = COMBINED.match(lines[0])
    assert match and (match["request"], match["status"], match["bytes"]) == (
        "GET /held HTTP/1.1",
        "304",
        "-",
    )
    with pytest.raises(AssertionError, match="answered before the app"):
        call(logged, PATH_INFO="/other")  # not answered: on to the app


def test_batched_entries_are_formatted_when_written(tmp_path: Path) -> None:
    """A request only keeps what its line is made of; the writer formats it later."""
    path = tmp_path / "access.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        writer = Batched(fd, interval=60)
        logged = AccessLog(wsgi_app([b"abc"]), "json", writer)
        call(logged, PATH_INFO="/x", QUERY_STRING="a=1", HTTP_USER_AGENT='"ua"')
        writer("a plain line")
        assert not isinstance(writer.lines[0], str) and writer.lines[1] == "a plain line"
        writer.flush()
    finally:
        os.close(fd)
    first, second = path.read_text().splitlines()
    entry = json.loads(first)
    assert (entry["target"], entry["status"], entry["bytes"]) == ("/x?a=1", 201, 3)
    assert entry["user_agent"] == '"ua"' and second == "a plain line"


def test_an_entry_that_cannot_be_formatted_does_not_stop_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)

    def broken(entry: Any) -> str:
        raise ValueError("odd")

    try:
        writer = Batched(fd, interval=60)
        writer("before")
        writer.later(broken, (0.0, 0.0, None, "GET", "/", "", "HTTP/1.1", "200 OK", 0, None, None))
        writer("after")
        writer.flush()
    finally:
        os.close(fd)
    before, odd, after = path.read_text().splitlines()
    assert (before, after) == ("before", "after")
    assert "could not be written" in odd and "odd" in odd


def test_a_batch_of_long_lines_is_written_whole_a_slice_at_a_time(tmp_path: Path) -> None:
    """Lines past the writer's slice size go out in several writes, none lost or doubled."""
    from feedsvc.access import WRITE_SLICE

    path = tmp_path / "access.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    lines = [f"{number:04d}" + "q" * (WRITE_SLICE // 3) for number in range(10)]
    try:
        writer = Batched(fd, interval=60)
        for line in lines:
            writer(line)
        writer.flush()
    finally:
        os.close(fd)
    assert path.read_text().splitlines() == lines
