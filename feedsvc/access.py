"""The access log: one line per request, in the combined log format or as JSON lines.

WSGI middleware outside everything else, so the fast path's cached answers are
logged like the rest. Lines go to the ``feedsvc.access`` logger at INFO; when
nothing listens at that level the middleware steps aside at the cost of one check.

A combined line is Apache's ``%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"``
followed by the response time in microseconds (Apache's ``%D``); times are UTC.
"""

from __future__ import annotations

import json
import logging
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


def target(environ: dict[str, Any]) -> str:
    """The request target as the client sent it, near enough: WSGI gives the path
    decoded (as Latin-1), so it is escaped again."""
    path = quote(environ.get("PATH_INFO", "").encode("latin-1", "replace"), safe=PATH_SAFE)
    query = environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


class _Clock:
    """The log's timestamp, formatted once a second."""

    def __init__(self) -> None:
        self.second = -1
        self.text = ""

    def combined(self, now: float) -> str:
        second = int(now)
        if second != self.second:
            t = time.gmtime(second)
            self.text = (
                f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
                f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
            )
            self.second = second
        return self.text


class AccessLog:
    """Log each request ``app`` answers, with its status, size and response time.

    The time runs from the call until the body is sent (for a body that is a list, as
    every answer here is, that is when ``app`` returns).
    """

    def __init__(self, app: WSGIApp, style: str = "combined") -> None:
        self.app = app
        self.style = style
        self.clock = _Clock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not log.isEnabledFor(logging.INFO):
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
            line = json.dumps(
                {
                    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "remote": environ.get("REMOTE_ADDR", ""),
                    "method": environ.get("REQUEST_METHOD", ""),
                    "target": target(environ),
                    "protocol": environ.get("SERVER_PROTOCOL", ""),
                    "status": code,
                    "bytes": size,
                    "referer": environ.get("HTTP_REFERER"),
                    "user_agent": environ.get("HTTP_USER_AGENT"),
                    "duration_ms": round(seconds * 1000, 3),
                },
                ensure_ascii=False,
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
        log.info(line)


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
