"""The access log: one line per request, in the combined log format or as JSON lines.

WSGI middleware outside everything else, so the fast path's cached answers are
logged like the rest. Lines go to a writer given by whoever runs the app (``feedsvc
serve`` writes them straight to standard output: the ``logging`` machinery would
cost several times what a cached answer does), else to the ``feedsvc.access``
logger at INFO; when nothing listens there the middleware steps aside at the cost
of one check.

A combined line is Apache's ``%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"``
followed by the response time in microseconds (Apache's ``%D``); times are UTC.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

log = logging.getLogger("feedsvc.access")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
"""English month names, whatever the process locale says (``%b`` follows it)."""
PATH_SAFE = "/!$&'()*+,;=:@~-._"
_UNSAFE = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x22, 0x5C, *range(0x7F, 0x100))}
"""Control characters, quotes and backslashes in a field: written as ``\\xhh``, as
Apache does, so a client cannot forge a line or a field."""


def escaped(text: str) -> str:
    return (
        text.translate(_UNSAFE) if not text.isprintable() or '"' in text or "\\" in text else text
    )


_PLAIN_PATH = re.compile(r"[A-Za-z0-9/!$&'()*+,;=:@~._-]*")


def target(environ: dict[str, Any]) -> str:
    """The request target as the client sent it, near enough: WSGI gives the path
    decoded (as Latin-1), so it is escaped again (most paths need nothing)."""
    path = environ.get("PATH_INFO", "")
    if not _PLAIN_PATH.fullmatch(path):
        path = quote(path.encode("latin-1", "replace"), safe=PATH_SAFE)
    query = environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


class _Clock:
    """The log's timestamps, formatted once a second."""

    def __init__(self) -> None:
        self.second = -1
        self.text = ""
        self.iso = ""

    def combined(self, now: float) -> str:
        self._tick(now)
        return self.text

    def rfc3339(self, now: float) -> str:
        self._tick(now)
        return self.iso

    def _tick(self, now: float) -> None:
        second = int(now)
        if second != self.second:
            t = time.gmtime(second)
            self.text = (
                f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
                f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
            )
            self.iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", t)
            self.second = second


_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def log_line(line: str) -> None:
    """The default writer: the ``feedsvc.access`` logger."""
    log.info(line)


class AccessLog:
    """Log each request ``app`` answers, with its status, size and response time.

    The time runs from the call until the body is sent (for a body that is a list, as
    every answer here is, that is when ``app`` returns).
    """

    def __init__(
        self, app: WSGIApp, style: str = "combined", write: Callable[[str], None] | None = None
    ) -> None:
        self.app = app
        self.style = style
        self.write_line = write or log_line
        self.always = write is not None
        """A writer was given: it always listens."""
        self.clock = _Clock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not self.always and not log.isEnabledFor(logging.INFO):
            return self.app(environ, start_response)
        started = time.perf_counter()
        status: list[str] = []

        def recording(name: str, headers: list[tuple[str, str]], *info: Any) -> Any:
            status[:] = [name]
            return start_response(name, headers, *info)

        body = self.app(environ, recording)
        if isinstance(body, list):
            size = sum(map(len, body))
            self.write(environ, status, size, time.perf_counter() - started)
            return body
        return _Counted(
            body, lambda size: self.write(environ, status, size, time.perf_counter() - started)
        )

    def write(self, environ: dict[str, Any], status: list[str], size: int, seconds: float) -> None:
        code = int(status[0][:3]) if status else 500
        if self.style == "json":
            line = _to_json(
                {
                    "time": self.clock.rfc3339(time.time()),
                    "remote": environ.get("REMOTE_ADDR", ""),
                    "method": environ.get("REQUEST_METHOD", ""),
                    "target": target(environ),
                    "protocol": environ.get("SERVER_PROTOCOL", ""),
                    "status": code,
                    "bytes": size,
                    "referer": environ.get("HTTP_REFERER"),
                    "user_agent": environ.get("HTTP_USER_AGENT"),
                    "duration_ms": round(seconds * 1000, 3),
                }
            )
        else:
            request = (
                f"{environ.get('REQUEST_METHOD', '')} {target(environ)} "
                f"{environ.get('SERVER_PROTOCOL', '')}"
            )
            line = (
                f"{environ.get('REMOTE_ADDR') or '-'} - - [{self.clock.combined(time.time())}] "
                f'"{escaped(request)}" {code} {size or "-"} '
                f'"{escaped(environ.get("HTTP_REFERER", "-"))}" '
                f'"{escaped(environ.get("HTTP_USER_AGENT", "-"))}" {round(seconds * 1e6)}'
            )
        self.write_line(line)


class _Counted:
    """A streamed body that counts its bytes and reports them when the server closes it."""

    def __init__(self, body: Iterable[bytes], done: Callable[[int], None]) -> None:
        self.body = body
        self.done = done
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.size += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.done(self.size)


class Batched:
    """A line writer that keeps lines in memory and writes them to a file descriptor in
    batches, a few times a second, from a thread of its own.

    A request then costs a list append instead of a system call, which (in a granian
    worker) cost far more than the call itself: every write let the GIL go. Lines are
    written within ``interval`` seconds, and at exit.
    """

    def __init__(self, fd: int = 1, interval: float = 0.2, most: int = 16 << 20) -> None:
        self.fd = fd
        self.interval = interval
        self.most = most
        """Characters waiting at most: when the output stalls (a pipe nobody reads),
        later lines are dropped and counted, not kept without bound."""
        self.lines: list[str] = []
        self.waiting = 0
        self.dropped = 0
        self._lock = threading.Lock()  # one flush at a time: lines stay in order
        threading.Thread(target=self._run, name="feedsvc-access-log", daemon=True).start()

    def __call__(self, line: str) -> None:
        # No lock on the request's path: the append is atomic, the counts near enough.
        if self.waiting + len(line) > self.most:
            self.dropped += 1
            return
        self.waiting += len(line)
        self.lines.append(line)

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self.lines = self.lines, []
            self.waiting = 0
            if self.dropped:
                lines.append(f"feedsvc: {self.dropped} access log lines dropped: output stalled")
                self.dropped = 0
            if not lines:
                return
            data = ("\n".join(lines) + "\n").encode("utf-8", "replace")
            while data:  # a pipe may take only part of it
                data = data[os.write(self.fd, data) :]
