"""The feedsvc benchmark: feedsvc against nginx serving the same bytes, on one machine.

``python -m bench.run`` (from the repository root) does, in one run:

1. generates a corpus (``bench.corpus``, deterministic seed) in a temporary folder;
2. starts ``feedsvc serve`` (granian, 1 worker, file watching on) pinned to CPU 0,
   takes the RSS feed of the most used tag, and writes its bytes (identity and
   gzip) into a docroot served by a real nginx (1 worker, ``gzip_static``, ETag),
   also pinned to CPU 0;
3. drives them alternately with ``wrk -t1 -c32`` pinned to CPU 1, several rounds,
   for warm 200s, conditional requests answered 304, and gzip; the median of the
   rounds is reported with the ratio to nginx;
4. runs one more feedsvc load run while an article of the benchmarked tag is
   edited in a loop, counting error responses and parsing a sample of bodies;
5. times the first render of uncached tag feeds against ``bench.baseline`` (a
   straightforward Flask + feedgen app rendering per request, same server);
6. generates a 100,000-article corpus and times a cold start (process start to
   the first 200 feed response) and the worker's resident memory, then times an
   edit until it is served over HTTP, and the re-index CPU time in-process.

``--quick`` is the smoke test run in CI: a few hundred articles, one-second runs,
a 2,000-article cold start. No figure is asserted anywhere; targets are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gzip
import http.client
import importlib.util
import io
import os
import pstats
import pwd
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.corpus import Corpus, generate
from feedsvc.articles import normalize_tag

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.35
FOREIGN_LIMIT = 10.0
"""A load run during which other processes used more than this % of a core is run again."""
FEED_ITEMS = 20


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes


class Processes:
    """Every process the benchmark starts, each in its own session, all stopped at exit."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        command: list[str],
        logfile: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        with logfile.open("ab") as out:
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
                cwd=cwd,
            )
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM the process group (the server and its workers), then SIGKILL."""
        if process in self.running:
            self.running.remove(process)
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Workers that outlived their parent still carry its process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for process in reversed(list(self.running)):
            self.stop(process)


def descendants(pid: int) -> list[int]:
    """Child processes, recursively (from /proc/*/stat)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        children = [p for p, parent in parents.items() if parent == current]
        found += children
        frontier += children
    return found


def memory_kb(pid: int, field_name: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# --------------------------------------------------------------------------- HTTP


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


def get(port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 30) -> Reply:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return Reply(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            body,
            time.perf_counter() - started,
        )
    finally:
        connection.close()


def wait_for(port: int, path: str, process: subprocess.Popen[bytes], limit: float = 120) -> Reply:
    """Poll until ``path`` answers 200; fail if the process dies or time runs out."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering")
        try:
            reply = get(port, path, timeout=limit)
            if reply.status == 200:
                return reply
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"no 200 from :{port}{path} within {limit}s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------- servers


@dataclass
class Setup:
    work: Path
    procs: Processes
    server_cpu: int
    client_cpu: int
    connections: int


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("FEEDSVC_", "BASELINE_"))}


def start_feedsvc(setup: Setup, articles: Path, name: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **clean_env(),
        "FEEDSVC_ARTICLES_DIR": str(articles),
        "FEEDSVC_BASE_URL": f"http://127.0.0.1:{port}",
        "FEEDSVC_WATCH": "true",
    }
    command = ["taskset", "-c", str(setup.server_cpu), sys.executable, "-m", "feedsvc.cli"]
    command += ["serve", "--host", "127.0.0.1", "--port", str(port)]
    process = setup.procs.start(command, setup.work / f"{name}.log", env=env, cwd=ROOT)
    return process, port


def start_baseline(setup: Setup, articles: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **clean_env(),
        "BASELINE_ARTICLES_DIR": str(articles),
        "BASELINE_BASE_URL": f"http://127.0.0.1:{port}",
        "PYTHONPATH": str(ROOT),
    }
    granian = [sys.executable, "-m", "granian"]
    command = ["taskset", "-c", str(setup.server_cpu), *granian, "--interface", "wsgi"]
    command += ["--factory", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--blocking-threads", "1", "--no-ws", "--log-level", "warning"]
    command += ["bench.baseline:create_app"]
    process = setup.procs.start(command, setup.work / "baseline.log", env=env, cwd=ROOT)
    return process, port


NGINX_CONF = """\
daemon off;
{user}
master_process on;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/nginx-tmp/body;
    proxy_temp_path {work}/nginx-tmp/proxy;
    fastcgi_temp_path {work}/nginx-tmp/fastcgi;
    uwsgi_temp_path {work}/nginx-tmp/uwsgi;
    scgi_temp_path {work}/nginx-tmp/scgi;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    types {{ application/rss+xml rss; }}
    default_type application/octet-stream;
    charset utf-8;
    charset_types application/rss+xml;
    gzip off;
    gzip_static on;
    gzip_vary on;
    etag on;
    server {{
        listen 127.0.0.1:{port};
        root {docroot};
        location / {{ }}
    }}
}}
"""


def start_nginx(setup: Setup, docroot: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    (setup.work / "nginx-tmp").mkdir(exist_ok=True)
    conf = setup.work / "nginx.conf"
    # As root nginx would run its worker as nobody, who cannot read the private temp dir.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    conf.write_text(NGINX_CONF.format(user=user, work=setup.work, port=port, docroot=docroot))
    command = ["taskset", "-c", str(setup.server_cpu), "nginx", "-p", str(setup.work)]
    command += ["-e", str(setup.work / "nginx-error.log"), "-c", str(conf)]
    process = setup.procs.start(command, setup.work / "nginx.log")
    return process, port


# --------------------------------------------------------------------------- wrk


def machine_busy_ticks() -> int:
    """User + nice + system clock ticks of all CPUs (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[1]) + int(fields[2]) + int(fields[3])


def process_ticks(pids: list[int]) -> int:
    """User + system clock ticks of these processes (all their threads)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


@dataclass
class WrkResult:
    requests_per_s: float
    requests: int
    bytes_per_response: float
    errors: int  # non-2xx/3xx responses plus socket errors
    foreign: float  # CPU used by other processes during the run, in % of one core
    output: str


_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
TICK = os.sysconf("SC_CLK_TCK")


def wrk(
    setup: Setup,
    port: int,
    path: str,
    seconds: float,
    headers: dict[str, str],
    server: subprocess.Popen[bytes] | None = None,
) -> WrkResult:
    """One wrk run; ``server`` (its process tree) is counted as ours when metering the CPU."""
    command = ["taskset", "-c", str(setup.client_cpu), "wrk", "-t1", f"-c{setup.connections}"]
    command += [f"-d{seconds:g}s", "--timeout", "5s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://127.0.0.1:{port}{path}")
    ours = [server.pid, *descendants(server.pid)] if server is not None else []
    machine, mine = machine_busy_ticks(), process_ticks(ours)
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    elapsed = time.monotonic() - started
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (machine_busy_ticks() - machine) / TICK
    ours_s = (process_ticks(ours) - mine) / TICK
    for before, after in ((self_before, self_after), (children_before, children_after)):
        ours_s += after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    foreign = max(0.0, used - ours_s) / elapsed * 100
    out = done.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in [\d.]+\w+, ([\d.]+)([KMGT]?B) read", out)
    if rate is None or total is None:
        raise RuntimeError(f"cannot read wrk output:\n{out}\n{done.stderr}")
    requests = int(total[1])
    read = float(total[2]) * _UNITS[total[3]]
    errors = 0
    if non := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        errors += int(non[1])
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(sock[i]) for i in range(1, 5))
    return WrkResult(float(rate[1]), requests, read / max(requests, 1), errors, foreign, out)


# --------------------------------------------------------------------------- checks


def check_feed(body: bytes) -> int:
    """Parse an RSS body; return its item count (raises on malformed XML)."""
    root = ET.fromstring(body)
    if root.tag != "rss":
        raise ValueError(f"root element is {root.tag!r}, not rss")
    return len(root.findall("./channel/item"))


def item_titles(body: bytes) -> list[str]:
    return [t.text or "" for t in ET.fromstring(body).findall("./channel/item/title")]


def item_slugs(body: bytes) -> list[str]:
    links = [e.text or "" for e in ET.fromstring(body).findall("./channel/item/link")]
    return [link.rsplit("/articles/", 1)[-1] for link in links]


@dataclass
class Scenario:
    name: str
    label: str
    headers: dict[str, dict[str, str]]  # server -> request headers
    rates: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0

    def median(self, server: str) -> float:
        return statistics.median(self.rates[server])


def prepare_scenarios(
    nginx_port: int, svc_port: int, path: str, docroot: Path, feed: Reply
) -> list[Scenario]:
    """Copy the feed into nginx's docroot and check both servers answer alike."""
    gz = get(svc_port, path, {"Accept-Encoding": "gzip"})
    if gz.headers.get("content-encoding") != "gzip":
        raise RuntimeError(f"feedsvc did not answer gzip: {gz.headers}")
    if gzip.decompress(gz.body) != feed.body:
        raise RuntimeError("feedsvc's gzip body differs from its identity body")
    target = docroot / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(feed.body)
    Path(f"{target}.gz").write_bytes(gz.body)

    plain = get(nginx_port, path)
    if plain.status != 200 or plain.body != feed.body:
        raise RuntimeError(f"nginx does not serve the feed bytes: {plain.status}")
    for server, reply in (("nginx", plain), ("feedsvc", feed)):
        if reply.headers.get("content-type") != "application/rss+xml; charset=utf-8":
            raise RuntimeError(f"{server} Content-Type {reply.headers.get('content-type')!r}")
    ngz = get(nginx_port, path, {"Accept-Encoding": "gzip"})
    if ngz.headers.get("content-encoding") != "gzip" or gzip.decompress(ngz.body) != feed.body:
        raise RuntimeError(f"nginx did not serve the pre-compressed feed: {ngz.headers}")
    etags = {"nginx": plain.headers["etag"], "feedsvc": feed.headers["etag"]}
    for server, port in (("nginx", nginx_port), ("feedsvc", svc_port)):
        reply = get(port, path, {"If-None-Match": etags[server]})
        if reply.status != 304:
            raise RuntimeError(f"{server} answered {reply.status} to If-None-Match")
    return [
        Scenario("warm", "1 warm 200", {"nginx": {}, "feedsvc": {}}),
        Scenario(
            "304",
            "2 conditional 304",
            {s: {"If-None-Match": etags[s]} for s in etags},
        ),
        Scenario("gzip", "3 gzip 200", {s: {"Accept-Encoding": "gzip"} for s in etags}),
    ]


# --------------------------------------------------------------------------- edit loop


class EditLoop(threading.Thread):
    """Rewrites one article in a loop, in place and by rename in turn, keeping its tags."""

    def __init__(self, path: Path, pause: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.original = path.read_text()
        self.title = next(
            b for b in self.original.split("\n\n") if b.strip() and not b.startswith("---")
        )
        self.pause = pause
        self.stop = threading.Event()
        self.edits = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.edits += 1
            text = self.original.replace(self.title, f"{self.title} rev {self.edits}", 1)
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
                    reply = get(self.port, self.path, headers, timeout=10)
                    self.samples += 1
                    if reply.status == 304 and "If-None-Match" in headers:
                        continue
                    if reply.status != 200:
                        raise ValueError(f"status {reply.status}")
                    body = reply.body
                    if reply.headers.get("content-encoding") == "gzip":
                        body = gzip.decompress(body)
                    items = check_feed(body)
                    if items != FEED_ITEMS:
                        raise ValueError(f"{items} items")
                    if not headers:
                        etag = reply.headers.get("etag")
                        self.etags.add(etag or "")
                except Exception as exc:
                    self.errors.append(f"{headers}: {type(exc).__name__}: {exc}")
            self.stop.wait(self.pause)


# --------------------------------------------------------------------------- phases


def phase_throughput(
    setup: Setup,
    corpus: Corpus,
    servers: dict[str, tuple[subprocess.Popen[bytes], int]],
    docroot: Path,
    duration: float,
    rounds: int,
    retries: int,
) -> dict[str, Any]:
    svc_port, nginx_port = servers["feedsvc"][1], servers["nginx"][1]
    label = corpus.popular()[0]
    key = normalize_tag(label).key  # type: ignore[union-attr]
    path = f"/tags/{quote(key, safe='')}/feed.rss"
    feed = get(svc_port, path)
    if feed.status != 200:
        raise RuntimeError(f"feedsvc answered {feed.status} for {path}")
    items = check_feed(feed.body)
    scenarios = prepare_scenarios(nginx_port, svc_port, path, docroot, feed)
    gz_size = len(Path(f"{docroot}{path}.gz").read_bytes())
    log(f"feed {path}: {items} items, {len(feed.body):,} B, gzip {gz_size:,} B")
    foreign: list[float] = []
    for scenario in scenarios:
        for round_number in range(rounds):
            order = ["nginx", "feedsvc"] if round_number % 2 == 0 else ["feedsvc", "nginx"]
            for server in order:
                process, port = servers[server]
                for attempt in range(retries + 1):
                    result = wrk(setup, port, path, duration, scenario.headers[server], process)
                    noisy = result.foreign > FOREIGN_LIMIT
                    log(
                        f"  {scenario.name:5} round {round_number + 1} {server:8} "
                        f"{result.requests_per_s:10,.0f} req/s  "
                        f"{result.bytes_per_response:8,.0f} B/resp  errors {result.errors}  "
                        f"other processes {result.foreign:4.0f}% of a core"
                        + ("  (noisy, again)" if noisy and attempt < retries else "")
                    )
                    if not noisy:
                        break
                scenario.rates.setdefault(server, []).append(result.requests_per_s)
                scenario.errors += result.errors
                foreign.append(result.foreign)
    # The bad case: the benchmarked feed's newest article edited in a loop under load.
    slug = item_slugs(feed.body)[0]
    article = Path(corpus.paths_by_slug[slug])
    editor, sampler = EditLoop(article), Sampler(svc_port, path)
    editor.start()
    sampler.start()
    try:
        loaded = wrk(setup, svc_port, path, max(duration, 2), {}, servers["feedsvc"][0])
    finally:
        editor.stop.set()
        sampler.stop.set()
        editor.join()
        sampler.join()
    # The file is back as it was: the feed must come back to the very same bytes.
    restored_at = time.monotonic()
    while get(svc_port, path).body != feed.body:
        if time.monotonic() - restored_at > 10:
            sampler.errors.append("feed did not return to its original bytes within 10 s")
            break
        time.sleep(0.01)
    log(
        f"  edit loop: {editor.edits} edits, {loaded.requests_per_s:,.0f} req/s, "
        f"{loaded.errors} error responses, {sampler.samples} bodies sampled "
        f"({len(sampler.etags)} versions), {len(sampler.errors)} bad"
    )
    for problem in sampler.errors[:5]:
        log(f"    {problem}")
    return {
        "path": path,
        "size": len(feed.body),
        "gz_size": gz_size,
        "scenarios": scenarios,
        "foreign": max(foreign),
        "edit": {
            "edits": editor.edits,
            "rate": loaded.requests_per_s,
            "requests": loaded.requests,
            "errors": loaded.errors,
            "samples": sampler.samples,
            "versions": len(sampler.etags),
            "bad": sampler.errors,
        },
    }


def phase_gunicorn(setup: Setup, corpus: Corpus, path: str, duration: float) -> float | None:
    """feedsvc under gunicorn (1 sync worker), warm 200s: why ``serve`` uses granian.

    Informational, and only when gunicorn is installed (it is not a dependency).
    """
    if importlib.util.find_spec("gunicorn") is None:
        return None
    port = free_port()
    env = {
        **clean_env(),
        "FEEDSVC_ARTICLES_DIR": str(corpus.directory),
        "FEEDSVC_BASE_URL": f"http://127.0.0.1:{port}",
        "FEEDSVC_WATCH": "true",
    }
    command = ["taskset", "-c", str(setup.server_cpu), sys.executable, "-m", "gunicorn"]
    command += ["--workers", "1", "--bind", f"127.0.0.1:{port}", "feedsvc.app:create_app()"]
    process = setup.procs.start(command, setup.work / "gunicorn.log", env=env, cwd=ROOT)
    try:
        wait_for(port, path, process)
        result = wrk(setup, port, path, duration, {}, process)
    finally:
        setup.procs.stop(process)
    log(f"feedsvc under gunicorn, 1 sync worker: {result.requests_per_s:,.0f} req/s")
    return result.requests_per_s


def phase_first_render(
    setup: Setup, corpus: Corpus, svc_port: int, count: int, duration: float
) -> dict[str, Any]:
    """First request of uncached tag feeds on feedsvc vs the per-request baseline."""
    tags = [t for t in corpus.popular()[1:] if corpus.tag_counts[t] >= FEED_ITEMS][:count]
    paths = [f"/tags/{quote(normalize_tag(t).key, safe='')}/feed.rss" for t in tags]  # type: ignore[union-attr]
    svc_ms, svc_cached_ms = [], []
    svc_bodies = {}
    for path in paths:
        reply = get(svc_port, path)
        if reply.status != 200:
            raise RuntimeError(f"feedsvc answered {reply.status} for {path}")
        svc_ms.append(reply.seconds * 1000)
        svc_bodies[path] = reply.body
        svc_cached_ms.append(get(svc_port, path).seconds * 1000)
    process, port = start_baseline(setup, corpus.directory)
    try:
        wait_for(port, paths[0], process)
        base_ms = []
        same_items = 0
        for path in paths:
            reply = get(port, path)
            if reply.status != 200:
                raise RuntimeError(f"baseline answered {reply.status} for {path}")
            base_ms.append(reply.seconds * 1000)
            same_items += item_titles(reply.body) == item_titles(svc_bodies[path])
        popular = f"/tags/{quote(normalize_tag(corpus.popular()[0]).key, safe='')}/feed.rss"  # type: ignore[union-attr]
        loaded = wrk(setup, port, popular, duration, {}, process)
    finally:
        setup.procs.stop(process)
    result = {
        "feeds": len(paths),
        "svc_ms": statistics.median(svc_ms),
        "svc_cached_ms": statistics.median(svc_cached_ms),
        "base_ms": statistics.median(base_ms),
        "same_items": same_items,
        "base_rate": loaded.requests_per_s,
        "base_errors": loaded.errors,
    }
    log(
        f"first render of {len(paths)} uncached feeds: feedsvc median {result['svc_ms']:.1f} ms "
        f"(then cached {result['svc_cached_ms']:.2f} ms), baseline {result['base_ms']:.1f} ms; "
        f"same items in {same_items}/{len(paths)}; "
        f"baseline under wrk {loaded.requests_per_s:,.0f} req/s"
    )
    return result


def phase_cold(setup: Setup, corpus: Corpus, trials: int) -> dict[str, Any]:
    """Cold start on a big corpus, memory, and edit-to-served time over HTTP."""
    label = corpus.popular()[0]
    key = normalize_tag(label).key  # type: ignore[union-attr]
    path = f"/tags/{quote(key, safe='')}/feed.rss"
    started = time.monotonic()
    process, port = start_feedsvc(setup, corpus.directory, "feedsvc-cold")
    try:
        port_open = None
        while port_open is None and process.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                port_open = time.monotonic() - started
            time.sleep(0.005)
        first = wait_for(port, path, process)
        cold = time.monotonic() - started
        check_feed(first.body)
        time.sleep(0.5)
        workers = descendants(process.pid)
        worker_rss = sum(memory_kb(p) for p in workers) / 1024
        main_rss = memory_kb(process.pid) / 1024
        log(
            f"cold start on {len(corpus.paths_by_slug):,} articles: port open after "
            f"{port_open or 0:.2f} s, first feed after {cold:.2f} s; "
            f"VmRSS worker {worker_rss:.0f} MB (pids {workers}), main {main_rss:.0f} MB"
        )
        # Edit the feed's newest article and poll the feed until the edit shows.
        slug = item_slugs(first.body)[0]
        article = Path(corpus.paths_by_slug[slug])
        original = article.read_text()
        title = item_titles(first.body)[0]
        delays = []
        try:
            for trial in range(trials):
                marker = f"{title} edited {trial} {time.time_ns()}"
                edited_at = time.monotonic()
                article.write_text(original.replace(title, marker, 1))
                while True:
                    reply = get(port, path)
                    if marker.encode() in reply.body:
                        break
                    if time.monotonic() - edited_at > 30:
                        raise RuntimeError("edit not served within 30 s")
                    time.sleep(0.005)
                delays.append(time.monotonic() - edited_at)
                time.sleep(0.2)
        finally:
            article.write_text(original)
        peak = sum(memory_kb(p, "VmHWM") for p in workers) / 1024
        worker_rss_after = sum(memory_kb(p) for p in workers) / 1024
        log(
            f"edit served after median {statistics.median(delays) * 1000:.0f} ms "
            f"(max {max(delays) * 1000:.0f} ms); worker VmRSS now {worker_rss_after:.0f} MB, "
            f"peak {peak:.0f} MB"
        )
    finally:
        setup.procs.stop(process)
    return {
        "articles": len(corpus.paths_by_slug),
        "cold_s": cold,
        "port_open_s": port_open or 0.0,
        "worker_mb": worker_rss,
        "worker_peak_mb": peak,
        "main_mb": main_rss,
        "edit_ms": statistics.median(delays) * 1000,
        "edit_max_ms": max(delays) * 1000,
    }


def profiled(what: str, call: Callable[[], object], top: int = 15) -> None:
    """Run ``call`` under cProfile and log its most expensive functions."""
    profile = cProfile.Profile()
    profile.runcall(call)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    log(f"profile of {what}, by own time:")
    log("\n".join(line for line in out.getvalue().splitlines() if line.strip()))


def reindex_cpu(corpus: Corpus, trials: int, profile: bool = False) -> dict[str, float]:
    """In process: scan the corpus with feedsvc's Library, then time single-file updates."""
    from feedsvc.index import Library

    library = Library(corpus.directory)
    wall, cpu = time.perf_counter(), time.process_time()
    library.scan()
    scan_wall, scan_cpu = time.perf_counter() - wall, time.process_time() - cpu
    if profile:
        profiled(
            f"a full scan of {len(corpus.paths_by_slug):,} articles", Library(corpus.directory).scan
        )
    path = Path(next(iter(corpus.files_by_tag[corpus.popular()[0]])))
    original = path.read_text()
    title = next(b for b in original.split("\n\n") if b.strip() and not b.startswith("---"))
    costs = []
    try:
        for trial in range(trials):
            path.write_text(original.replace(title, f"{title} re-index {trial}", 1))
            if profile and trial == trials - 1:
                profiled("a one-file update", lambda: library.update([str(path)]))
            else:
                library.update([str(path)])
                costs.append(library.last_update_cpu * 1000)
    finally:
        path.write_text(original)
    return {
        "articles": len(corpus.paths_by_slug),
        "scan_s": scan_wall,
        "scan_cpu_s": scan_cpu,
        "update_ms": statistics.median(costs),
        "update_max_ms": max(costs),
    }


# --------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "meets" if ok else "**below**"


def report(
    args: argparse.Namespace,
    tp: dict[str, Any],
    first: dict[str, Any],
    cold: dict[str, Any],
    re10: dict[str, Any],
    re100: dict[str, Any],
) -> str:
    lines = [
        f"feedsvc benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs; "
        f"{args.articles:,} articles, {args.tags:,} tags; feed {tp['path']} "
        f"({tp['size']:,} B, gzip {tp['gz_size']:,} B); wrk -t1 -c{args.connections} "
        f"-d{args.duration:g}s, median of {args.rounds} alternating round(s); other processes "
        f"used at most {tp['foreign']:.0f}% of a core during a kept run",
        "",
        "| # | test | nginx req/s | feedsvc req/s | ratio to nginx | target | result |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for scenario in tp["scenarios"]:
        nginx, svc = scenario.median("nginx"), scenario.median("feedsvc")
        ratio = svc / nginx
        number, _, name = scenario.label.partition(" ")
        lines.append(
            f"| {number} | {name} | {nginx:,.0f} | {svc:,.0f} | {ratio:.2f} | "
            f"≥ {TARGET_RATIO:.2f} | {verdict(ratio >= TARGET_RATIO)} |"
        )
    edit = tp["edit"]
    lines += [
        "",
        "| # | test | measured | target | result |",
        "|---|---|---:|---:|---|",
        f"| 4 | cold start, {cold['articles']:,} articles: process start to first feed 200 "
        f"(port open after {cold['port_open_s']:.2f} s) "
        f"| {cold['cold_s']:.2f} s | ≤ 5 s | {verdict(cold['cold_s'] <= 5)} |",
        f"| 4 | resident memory, granian worker (VmRSS after first feed / peak VmHWM; "
        f"main process {cold['main_mb']:.0f} MB more) "
        f"| {cold['worker_mb']:.0f} / {cold['worker_peak_mb']:.0f} MB | < 400 MB "
        f"| {verdict(cold['worker_peak_mb'] + cold['main_mb'] < 400)} |",
        f"| 5 | one file edited, {cold['articles']:,} articles: served over HTTP after "
        f"(median / max) | {cold['edit_ms']:.0f} / {cold['edit_max_ms']:.0f} ms | ≤ 2000 ms "
        f"| {verdict(cold['edit_max_ms'] <= 2000)} |",
        f"| 5 | re-index CPU per one-file edit, {re100['articles']:,} articles (median / max) "
        f"| {re100['update_ms']:.1f} / {re100['update_max_ms']:.1f} ms | ≤ 50 ms "
        f"| {verdict(re100['update_ms'] <= 50)} |",
        f"| 5 | (same at {re10['articles']:,} articles, for scaling) "
        f"| {re10['update_ms']:.1f} ms | | |",
        f"| 4 | (in-process full scan, {re100['articles']:,} articles: wall / CPU) "
        f"| {re100['scan_s']:.2f} / {re100['scan_cpu_s']:.2f} s | | |",
        f"| 6 | first render of an uncached 20-item tag feed, median of {first['feeds']}: "
        f"feedsvc vs baseline Flask+feedgen | {first['svc_ms']:.1f} vs {first['base_ms']:.1f} ms "
        f"| ≤ 1.00x | {verdict(first['svc_ms'] <= first['base_ms'])} "
        f"({first['svc_ms'] / first['base_ms']:.2f}x) |",
        f"| 6 | (same feed cached in feedsvc, one request; baseline under wrk) "
        f"| {first['svc_cached_ms']:.2f} ms; {first['base_rate']:,.0f} req/s | | |",
        *(
            [
                f"| 1 | (warm 200, feedsvc under gunicorn 1 sync worker instead of granian; "
                f"one run) | {first['gunicorn']:,.0f} req/s | | |"
            ]
            if first.get("gunicorn")
            else []
        ),
        f"| bad case | article of the benchmarked tag edited in a loop under wrk: "
        f"{edit['edits']} edits, {edit['requests']:,} requests ({edit['rate']:,.0f} req/s) "
        f"| {edit['errors']} error responses; {len(edit['bad'])} bad of {edit['samples']} "
        f"sampled bodies ({edit['versions']} versions) | 0 | "
        f"{verdict(edit['errors'] == 0 and not edit['bad'])} |",
    ]
    errors = sum(s.errors for s in tp["scenarios"])
    lines.append("")
    lines.append(f"wrk error responses in the throughput runs: {errors}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="feedsvc vs nginx benchmark")
    parser.add_argument("--articles", type=int)
    parser.add_argument("--tags", type=int)
    parser.add_argument("--duration", type=float, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, help="alternating rounds per test")
    parser.add_argument("--cold-articles", type=int, help="corpus size for tests 4 and 5")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--retries",
        type=int,
        help="times to repeat a load run during which other processes used "
        f"more than {FOREIGN_LIMIT:g}%% of a core",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="the CI smoke test: small and fast")
    parser.add_argument(
        "--profile", action="store_true", help="log cProfile tops of the scan and an update"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    defaults = (
        {
            "articles": 300,
            "tags": 100,
            "duration": 1.0,
            "rounds": 1,
            "cold_articles": 2000,
            "retries": 0,
        }
        if args.quick
        else {
            "articles": 10_000,
            "tags": 2_000,
            "duration": 10.0,
            "rounds": 3,
            "cold_articles": 100_000,
            "retries": 2,
        }
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for tool in ("nginx", "wrk", "taskset"):
        if shutil.which(tool) is None:
            log(f"{tool} is not installed")
            return 2

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = cpus[0], cpus[1] if len(cpus) > 1 else cpus[0]
    os.sched_setaffinity(0, {client_cpu})  # keep this process off the server's core
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="feedsvc-bench-"))
    procs = Processes()
    setup = Setup(work, procs, server_cpu, client_cpu, args.connections)
    try:
        log(f"work folder {work}; server on CPU {server_cpu}, wrk on CPU {client_cpu}")
        corpus = generate(work / "articles", args.articles, args.tags, args.seed)
        log(f"corpus: {args.articles:,} articles, {corpus.total_bytes / 1e6:.1f} MB")
        docroot = work / "docroot"
        svc, svc_port = start_feedsvc(setup, corpus.directory, "feedsvc")
        nginx, nginx_port = start_nginx(setup, docroot)
        wait_for(svc_port, "/healthz", svc)
        docroot.mkdir(exist_ok=True)
        (docroot / "ping").write_text("ok")
        wait_for(nginx_port, "/ping", nginx, limit=10)
        servers = {"feedsvc": (svc, svc_port), "nginx": (nginx, nginx_port)}
        tp = phase_throughput(
            setup, corpus, servers, docroot, args.duration, args.rounds, args.retries
        )
        first = phase_first_render(setup, corpus, svc_port, 5 if args.quick else 20, args.duration)
        procs.stop_all()
        first["gunicorn"] = phase_gunicorn(setup, corpus, tp["path"], args.duration)
        re10 = reindex_cpu(corpus, 5)
        shutil.rmtree(corpus.directory)
        big = generate(work / "big", args.cold_articles, args.tags, args.seed)
        log(f"corpus: {args.cold_articles:,} articles, {big.total_bytes / 1e6:.1f} MB")
        cold = phase_cold(setup, big, 3 if args.quick else 5)
        re100 = reindex_cpu(big, 6 if args.profile else 5, args.profile)
        print(report(args, tp, first, cold, re10, re100), flush=True)
    finally:
        procs.stop_all()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
