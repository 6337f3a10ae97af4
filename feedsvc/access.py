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

import functools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

from .settings import DEFAULTS

log = logging.getLogger("feedsvc.access")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Answer = tuple[str, list[tuple[str, str]], bytes]
"""A whole answer: the status line, the headers and the body."""
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


def target(path: str, query: str) -> str:
    """The request target as the client sent it, near enough: WSGI gives the path
    decoded (as Latin-1), so it is escaped again (most paths need nothing)."""
    if not _PLAIN_PATH.fullmatch(path):
        path = quote(path.encode("latin-1", "replace"), safe=PATH_SAFE)
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


LineFields = tuple[float, float, Any, Any, Any, Any, Any, str, int, Any, Any]
"""What a line is made from: when (epoch seconds), how long (seconds), then the client's
address, method, path, query, protocol, status line, body size, referer, user agent."""


class AccessLog:
    """Log each request ``app`` answers, with its status, size and response time.

    The time runs from the call until the body is sent (for a body that is a list, as
    every answer here is, that is when ``app`` returns). A request only gathers its
    :data:`LineFields`; a :class:`Batched` writer formats the lines later, many at a time,
    on its own thread.
    """

    def __init__(
        self,
        app: WSGIApp,
        style: str = DEFAULTS["ACCESS_LOG"],
        write: Callable[[str], None] | Batched | None = None,
        answer: Callable[[dict[str, Any]], Answer | None] | None = None,
    ) -> None:
        self.app = app
        self.answer = answer
        """What answers a request whole, when it can, before ``app`` is called: no
        ``start_response`` to wrap then (the fast path)."""
        self.format = self.json if style == "json" else self.combined
        self.always = write is not None
        """A writer was given: it always listens."""
        self.record: Callable[[LineFields], None]
        if isinstance(write, Batched):
            self.record = functools.partial(write.later, self.format)
        else:
            line = write or log_line
            self.record = lambda entry: line(self.format(entry))
        self.clock = _Clock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        listening = self.always or log.isEnabledFor(logging.INFO)
        started = time.perf_counter()
        if self.answer is not None and (answer := self.answer(environ)) is not None:
            line, headers, content = answer
            start_response(line, headers)
            if listening:
                self.write(environ, line, len(content), started)
            return [content]
        if not listening:
            return self.app(environ, start_response)
        status: list[str] = []

        def recording(name: str, headers: list[tuple[str, str]], *info: Any) -> Any:
            status.append(name)
            return start_response(name, headers, *info)

        body = self.app(environ, recording)
        if isinstance(body, list):
            self.write(environ, status[-1] if status else "500", sum(map(len, body)), started)
            return body
        return _Counted(
            body, lambda size: self.write(environ, status[-1] if status else "500", size, started)
        )

    def write(self, environ: dict[str, Any], status: str, size: int, started: float) -> None:
        get = environ.get
        self.record(
            (
                time.time(),
                time.perf_counter() - started,
                get("REMOTE_ADDR"),
                get("REQUEST_METHOD", ""),
                get("PATH_INFO", ""),
                get("QUERY_STRING", ""),
                get("SERVER_PROTOCOL", ""),
                status,
                size,
                get("HTTP_REFERER"),
                get("HTTP_USER_AGENT"),
            )
        )

    def combined(self, entry: LineFields) -> str:
        now, seconds, remote, method, path, query, protocol, status, size, referer, agent = entry
        request = f"{method} {target(path, query)} {protocol}"
        return (
            f"{remote or '-'} - - [{self.clock.combined(now)}] "
            f'"{escaped(request)}" {status[:3]} {size or "-"} '
            f'"{escaped(referer or "-")}" "{escaped(agent or "-")}" {round(seconds * 1e6)}'
        )

    def json(self, entry: LineFields) -> str:
        now, seconds, remote, method, path, query, protocol, status, size, referer, agent = entry
        return _to_json(
            {
                "time": self.clock.rfc3339(now),
                "remote": remote or "",
                "method": method,
                "target": target(path, query),
                "protocol": protocol,
                "status": int(status[:3]) if status[:3].isdigit() else status,
                "bytes": size,
                "referer": referer,
                "user_agent": agent,
                "duration_ms": round(seconds * 1000, 3),
                "pid": os.getpid(),  # which worker answered
            }
        )


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


WRITE_SLICE = 1 << 18
"""Characters of lines formatted before they are written, at most (about)."""


class Batched:
    """A line writer that keeps lines in memory and writes them to a file descriptor in
    batches, a few times a second, from a thread of its own.

    A request then costs a list append instead of a system call, which (in a granian
    worker) cost far more than the call itself: every write let the GIL go. An access
    log entry is kept as it was gathered and formatted here, a batch at a time: the
    same formatting costs several times more interleaved with the server's own work on
    each request than in a loop (``bench/README.md``). Lines are written within
    ``interval`` seconds, and at exit.
    """

    def __init__(self, fd: int = 1, interval: float = 0.2, most: int = 16 << 20) -> None:
        self.fd = fd
        self.interval = interval
        self.most = most
        """Characters waiting at most: when the output stalls (a pipe nobody reads),
        later lines are dropped and counted, not kept without bound."""
        self.lines: list[str | tuple[Callable[[LineFields], str], LineFields]] = []
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

    def later(self, format: Callable[[LineFields], str], entry: LineFields) -> None:
        """Keep ``entry``, to be written as ``format(entry)``."""
        # About the characters its line will have: the fields a client chooses, and
        # about 100 more for the rest.
        size = 100 + len(entry[4]) + len(entry[5]) + len(entry[9] or "") + len(entry[10] or "")
        if self.waiting + size > self.most:
            self.dropped += 1
            return
        self.waiting += size
        self.lines.append((format, entry))

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
            # Written a slice at a time, each entry let go once formatted: a batch of
            # long lines never sits in memory three times over (entries, text, bytes).
            lines.reverse()
            slice_: list[str] = []
            size = 0
            while lines:
                line = lines.pop()
                text = line if isinstance(line, str) else _formatted(*line)
                slice_.append(text)
                size += len(text)
                if size >= WRITE_SLICE or not lines:
                    self._write(slice_)
                    slice_ = []
                    size = 0

    def _write(self, lines: list[str]) -> None:
        data = ("\n".join(lines) + "\n").encode("utf-8", "replace")
        while data:  # a pipe may take only part of it
            data = data[os.write(self.fd, data) :]


def _formatted(format: Callable[[LineFields], str], entry: LineFields) -> str:
    try:
        return format(entry)
    except Exception as exc:  # one odd entry must not take the batch, or the thread, down
        return f"feedsvc: an access log entry could not be written: {exc!r}"
