"""Load: driving wrk and reading its output, and the threads that edit and sample under it."""

from __future__ import annotations

import gzip
import os
import re
import resource
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.client import FEED_ITEMS, check_feed, get, retitled
from bench.processes import TICK, descendants, machine_busy_ticks, pinned, process_ticks

_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


@dataclass(frozen=True)
class Client:
    """Where wrk runs: its CPU and its number of connections."""

    cpu: int
    connections: int


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    requests: int
    bytes_per_response: float
    errors: int  # non-2xx/3xx responses plus socket errors
    foreign: float  # CPU used by other processes during the run, in % of one core


def parse_wrk(output: str, foreign: float) -> WrkResult:
    """Read wrk's summary; ``foreign`` is the other processes' CPU share during the run."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in [\d.]+\w+, ([\d.]+)([KMGT]?B) read", output)
    if rate is None or total is None:
        raise RuntimeError(f"cannot read wrk output:\n{output}")
    requests = int(total[1])
    read = float(total[2]) * _UNITS[total[3]]
    errors = 0
    if non := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        errors += int(non[1])
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sock:
        errors += sum(int(sock[i]) for i in range(1, 5))
    return WrkResult(float(rate[1]), requests, read / max(requests, 1), errors, foreign)


class ForeignCpu:
    """CPU seconds used by processes other than ``ours``, this process and its children."""

    def __init__(self, ours: list[int]) -> None:
        self.ours = ours
        self.machine, self.theirs = machine_busy_ticks(), process_ticks(ours)
        self.usage = [resource.getrusage(who) for who in _WHO]
        self.started = time.monotonic()

    def percent(self) -> float:
        """Since creation, in % of one core."""
        elapsed = time.monotonic() - self.started
        used = (machine_busy_ticks() - self.machine) / TICK
        ours = (process_ticks(self.ours) - self.theirs) / TICK
        for before, who in zip(self.usage, _WHO, strict=True):
            after = resource.getrusage(who)
            ours += after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        return max(0.0, used - ours) / elapsed * 100


_WHO = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)


def wrk(
    client: Client,
    port: int,
    path: str,
    seconds: float,
    headers: dict[str, str],
    server: subprocess.Popen[bytes] | None = None,
) -> WrkResult:
    """One wrk run; ``server`` (its process tree) is counted as ours when metering the CPU."""
    command = ["wrk", "-t1", f"-c{client.connections}", f"-d{seconds:g}s", "--timeout", "5s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://127.0.0.1:{port}{path}")
    meter = ForeignCpu([server.pid, *descendants(server.pid)] if server is not None else [])
    done = subprocess.run(
        pinned(client.cpu, command), capture_output=True, text=True, timeout=seconds + 60
    )
    foreign = meter.percent()
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout, foreign)


class EditLoop(threading.Thread):
    """Rewrites one article in a loop, in place and by rename in turn, keeping its tags."""

    def __init__(self, path: Path, pause: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.original = path.read_text()
        self.pause = pause
        self.stop = threading.Event()
        self.edits = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.edits += 1
            text = retitled(self.original, f" rev {self.edits}")
            text += f"\nRevision {self.edits} adds a paragraph.\n"
            if self.edits % 2:
                with self.path.open("w") as handle:  # in place: truncate, then write
                    handle.write(text)
            else:
                temp = self.path.with_name(f".{self.path.name}.tmp")
                temp.write_text(text)
                os.replace(temp, self.path)
            self.stop.wait(self.pause)
        self.path.write_text(self.original)


class Sampler(threading.Thread):
    """Fetches the feed (identity, gzip, conditional) and checks every body parses."""

    def __init__(self, port: int, path: str, pause: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.port, self.path, self.pause = port, path, pause
        self.stop = threading.Event()
        self.samples = 0
        self.errors: list[str] = []
        self.etags: set[str] = set()

    def run(self) -> None:
        etag = None
        while not self.stop.is_set():
            for headers in ({}, {"Accept-Encoding": "gzip"}, {"If-None-Match": etag or '"x"'}):
                try:
                    etag = self.sample(headers) or etag
                except Exception as exc:
                    self.errors.append(f"{headers}: {type(exc).__name__}: {exc}")
            self.stop.wait(self.pause)

    def sample(self, headers: dict[str, str]) -> str | None:
        """One request, checked; the ETag of a plain 200, to ask for it conditionally next."""
        reply = get(self.port, self.path, headers, timeout=10)
        self.samples += 1
        if reply.status == 304 and "If-None-Match" in headers:
            return None
        if reply.status != 200:
            raise ValueError(f"status {reply.status}")
        body = reply.body
        if reply.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        items = check_feed(body)
        if items != FEED_ITEMS:
            raise ValueError(f"{items} items")
        if headers:
            return None
        etag = reply.headers.get("etag")
        self.etags.add(etag or "")
        return etag
