"""Never down under a hostile load: every fault an anonymous client or bad luck can cause,
all at once, while honest clients poll and articles are edited.

``python -m bench.hostile [--minutes 3] [--articles 5000] [--idle 3000] [--dribble 1000]``
(from the repository root) writes a realistic corpus (``bench.corpus``), starts the real
``feedsvc serve --workers 2`` on it, waits for the first build, then for ``--minutes``:

* **idle connections**: ``--idle`` connections held open that never send a byte, each
  one the server closes opened again at once;
* **dribbling connections**: ``--dribble`` connections that send a request line a byte a
  second and never finish it, opened again when closed;
* **honest pollers**: four threads send conditional GETs (``If-None-Match``) for random
  tag feeds, each on a new connection, and time every answer;
* **edits**: one article changed every ``--edit-pause`` seconds (``bench.soak``'s editor:
  in place, by rename, deleted, put back), keeping the model of what must be published;
* **a worker killed** (``SIGKILL``, as the kernel's out-of-memory killer does) a third of
  the way in: the one holding the writer's lock;
* **the index damaged** two thirds of the way in: junk over the middle third of
  ``index.sqlite``, as after a torn write.

Then it stops everything but the server, waits until ``/healthz`` has said for a few
seconds that the index has nothing left to do, and compares what is served with the
model and the files. The table goes to standard output (exit status 0 even when a figure
fails: it is a measurement), progress to standard error.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import resource
import select
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from bench.client import get, wait_for
from bench.corpus import generate
from bench.processes import Processes, clean_up, free_port
from bench.servers import ROOT, feedsvc_env
from bench.soak_edits import Editor, Loop
from bench.soak_state import compare, on_disk, wait_quiet

QUIET_SECONDS = 3.0
"""How long /healthz must say the index has nothing to do before the final comparison."""
WITHIN = 1.0
"""The answer time an honest client must get, in seconds."""


def log(message: str) -> None:
    print(f"[hostile {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def closed_by_server(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        return sock.recv(65536) == b""
    except OSError:
        return True


class Holder(Loop):
    """Keeps ``count`` connections open that send nothing (or a byte a second of a request
    line that never ends); opens again each one the server closes."""

    def __init__(self, port: int, count: int, dribble: bool) -> None:
        super().__init__("hostile-dribble" if dribble else "hostile-idle", 0.5)
        self.port = port
        self.count = count
        self.dribble = dribble
        self.held: list[socket.socket] = []
        self.opened = 0
        self.closed = 0
        """Connections the server closed."""
        self.refused = 0
        self.sent: dict[int, int] = {}
        """Bytes each dribbling connection sent, by its file descriptor."""
        self.line = b"GET /feed.rss?never=ending HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4096

    def step(self, number: int) -> None:
        kept = []
        for sock in self.held:
            if closed_by_server(sock):
                self.closed += 1
                self.sent.pop(sock.fileno(), None)
                sock.close()
                continue
            if self.dribble:
                sent = self.sent.get(sock.fileno(), 0)
                try:
                    sock.send(self.line[sent % len(self.line) : sent % len(self.line) + 1])
                except OSError:
                    self.closed += 1
                    sock.close()
                    continue
                self.sent[sock.fileno()] = sent + 1
            kept.append(sock)
        self.held = kept
        while len(self.held) < self.count and not self.stop.is_set():
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
            except OSError:
                self.refused += 1
                break
            sock.setblocking(False)
            self.held.append(sock)
            self.opened += 1

    def close_all(self) -> None:
        for sock in self.held:
            sock.close()
        self.held = []


@dataclass
class Polls:
    seconds: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    slowest: list[tuple[float, str]] = field(default_factory=list)


class Poller(Loop):
    """Conditional GETs of random tag feeds, each on a new connection, timed."""

    def __init__(self, port: int, tags: list[str], seed: int, threads: int) -> None:
        super().__init__("hostile-poller", 0.02, threads)
        self.port = port
        self.paths = [
            f"/tags/{quote(tag, safe='')}/feed.{fmt}"
            for tag in tags
            for fmt in ["rss", "atom", "json"]
        ]
        self.rng = random.Random(seed)
        self.etags: dict[str, str] = {}
        self.polls = Polls()

    def step(self, number: int) -> None:
        path = self.rng.choice(self.paths)
        headers = {"Accept-Encoding": "gzip"}
        if etag := self.etags.get(path):
            headers["If-None-Match"] = etag
        started = time.perf_counter()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            connection.close()
            status = str(response.status)
            if response.status == 200 and response.getheader("ETag"):
                self.etags[path] = response.getheader("ETag") or ""
        except OSError as error:
            status = type(error).__name__
        seconds = time.perf_counter() - started
        with self.lock:
            self.polls.seconds.append(seconds)
            self.polls.statuses[status] += 1
            if seconds > WITHIN:
                self.polls.slowest.append((seconds, f"{status} {path}"))


def writer_pid(state: Path) -> int | None:
    """The process holding the state directory's writer lock, from /proc/locks."""
    try:
        inode = (state / "writer.lock").stat().st_ino
    except OSError:
        return None
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].split(":")[-1] == str(inode):
            return int(fields[4])
    return None


def damage(database: Path, seed: int) -> None:
    """Junk over the middle third of the index: its header and meta stay whole."""
    size = database.stat().st_size
    rng = random.Random(seed)
    with database.open("r+b") as out:
        for offset in range(size // 3, 2 * size // 3, 4 * 8192):
            out.seek(offset)
            out.write(rng.randbytes(4096))


def timing(seconds: list[float]) -> str:
    """Median, 99th percentile and most, in milliseconds."""
    median = 1000 * statistics.median(seconds or [0.0])
    p99 = 1000 * percentile(seconds, 0.99)
    return f"{median:.1f} / {p99:.1f} / {1000 * max(seconds or [0.0]):.1f} ms"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def hostile(args: argparse.Namespace, work: Path, procs: Processes) -> str:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the attackers' sockets
    articles = work / "articles"
    log(f"writing {args.articles:,} realistic articles to {articles}")
    corpus = generate(articles, args.articles, max(20, args.articles // 10), seed=args.seed)
    port = free_port()
    state = work / "state"
    env = {
        **feedsvc_env(articles, port),
        "FEEDSVC_STATE_DIR": str(state),
        "FEEDSVC_REQUEST_HEAD_SECONDS": str(args.head_seconds),
        "FEEDSVC_ACCESS_LOG": "off",
    }
    command = [sys.executable, "-m", "feedsvc.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "2"]
    server_log = work / "feedsvc.log"
    process = procs.start(command, server_log, env=env, cwd=ROOT)
    wait_for(port, "/feed.rss", process, limit=600)
    wait_quiet(port, process, 1.0)
    log(f"feedsvc ready on port {port} (log {server_log})")

    tags = [t["key"] for t in json.loads(get(port, "/tags.json").body)["tags"]][:200]
    paths = {slug: Path(path) for slug, path in corpus.paths_by_slug.items()}
    idle = Holder(port, args.idle, dribble=False)
    dribble = Holder(port, args.dribble, dribble=True)
    poller = Poller(port, tags, args.seed, threads=4)
    editor = Editor(paths, args.edit_pause, args.seed)
    loops: list[Loop] = [idle, dribble, poller, editor]
    for loop in loops:
        loop.start()
    duration = args.minutes * 60
    started = time.monotonic()
    events: list[str] = []
    killed = damaged = False
    try:
        while (elapsed := time.monotonic() - started) < duration:
            if process.poll() is not None:
                raise RuntimeError(f"feedsvc exited with {process.returncode}")
            if not killed and elapsed >= duration / 3:
                victim = writer_pid(state)
                if victim is not None:
                    os.kill(victim, signal.SIGKILL)
                    events.append(f"{elapsed:5.1f} s: killed the writing worker ({victim})")
                    log(events[-1])
                killed = True
            if not damaged and elapsed >= 2 * duration / 3:
                damage(state / "index.sqlite", args.seed)
                events.append(f"{elapsed:5.1f} s: junk written over the middle of the index")
                log(events[-1])
                damaged = True
            time.sleep(0.5)
    finally:
        for loop in loops:
            loop.stop.set()
        for loop in loops:
            loop.join(timeout=30)
        idle.close_all()
        dribble.close_all()
    for loop in loops:
        if loop.crash is not None:
            raise RuntimeError(f"a load thread failed:\n{loop.crash}")
    alive = process.poll() is None
    log("load stopped; waiting for the index to settle")
    phase = wait_quiet(port, process, QUIET_SECONDS, limit=300)
    disk = on_disk(articles)
    model = set(editor.published)
    result = compare(port, model, disk)
    text = server_log.read_text(errors="replace")
    seconds = poller.polls.seconds
    within = sum(1 for s in seconds if s <= WITHIN)
    failures = sum(n for status, n in poller.polls.statuses.items() if not status.isdigit())
    failures += sum(
        n
        for status, n in poller.polls.statuses.items()
        if status.startswith("5") and status != "503"
    )
    rows = [
        ("minutes of hostile load", f"{args.minutes:g}"),
        ("articles", f"{args.articles:,}"),
        (
            "idle connections held (opened / closed by the server)",
            f"{args.idle:,} ({idle.opened:,} / {idle.closed:,})",
        ),
        (
            "dribbling connections held (opened / closed by the server)",
            f"{args.dribble:,} ({dribble.opened:,} / {dribble.closed:,})",
        ),
        ("connections refused to the attackers", f"{idle.refused + dribble.refused:,}"),
        ("honest requests", f"{len(seconds):,}"),
        (
            f"answered within {WITHIN:g} s",
            f"{within:,} ({100 * within / max(1, len(seconds)):.2f}%)",
        ),
        ("answer time median / p99 / max", timing(seconds)),
        (
            "statuses",
            ", ".join(f"{status}: {n:,}" for status, n in sorted(poller.polls.statuses.items())),
        ),
        ("failures (5xx but 503, connection errors)", f"{failures:,}"),
        (
            "edits (in place, rename, delete, re-add)",
            ", ".join(f"{editor.counts[k]}" for k in Editor.KINDS),
        ),
        (
            "articles lost / ghosts / stale titles",
            f"{len(result.lost)} / {len(result.ghosts)} / {len(result.titles)}",
        ),
        ("tag counts off", f"{len(result.tags)}"),
        ("service up at the end", "yes" if alive else "NO"),
        ("index at the end", str(phase)),
        ("worker replaced (log)", "yes" if "replaces it" in text else "no"),
        ("index rebuilt after the damage (log)", "yes" if "the index is rebuilt" in text else "no"),
        ("tracebacks in the log", f"{text.count('Traceback')}"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines += ["", *events]
    for seconds_taken, what in sorted(poller.polls.slowest, reverse=True)[:5]:
        lines.append(f"slow: {seconds_taken:.2f} s {what}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--idle", type=int, default=3000)
    parser.add_argument("--dribble", type=int, default=1000)
    parser.add_argument("--edit-pause", type=float, default=0.5)
    parser.add_argument("--head-seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=29)
    parser.add_argument("--quick", action="store_true", help="the smoke test: 20 s, small")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and log")
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes, args.articles, args.idle, args.dribble = 1 / 3, 300, 300, 100
        args.head_seconds = 2.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    procs = Processes()
    work = Path(tempfile.mkdtemp(prefix="feedsvc-hostile-"))
    try:
        print(hostile(args, work, procs))
    finally:
        clean_up(procs, work, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
