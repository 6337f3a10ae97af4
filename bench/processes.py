"""Starting, pinning and stopping processes; what /proc says about their memory and CPU.

Shared by the benchmarks and the system tests: a free port, waiting for a server's
``/healthz``, and stopping a process with everything it started.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
"""Clock ticks per second, the unit of the CPU times in /proc."""


class Processes:
    """Every process the benchmark starts, each in its own session, all stopped at exit."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        command: Sequence[str],
        logfile: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        with logfile.open("ab") as out:
            process = subprocess.Popen(
                list(command),
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
        if process in self.running:
            self.running.remove(process)
        stop(process)

    def stop_all(self) -> None:
        for process in reversed(list(self.running)):
            self.stop(process)


def clean_up(procs: Processes, work: Path, keep: bool) -> None:
    """Stop every process a benchmark started, then remove its work folder unless kept."""
    procs.stop_all()
    if keep:
        print(f"kept {work}", file=sys.stderr, flush=True)
    else:
        shutil.rmtree(work, ignore_errors=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process, then SIGKILL its whole group (its workers); reap it.

    Only the leader is told to stop: it stops its own workers, and a granian worker
    that gets a second SIGTERM (one from the group, one from its parent) can deadlock
    in its signal handler.
    """
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    # Workers that outlived their parent still carry its process group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def health(port: int, timeout: float = 2) -> dict[str, object]:
    """What ``/healthz`` on 127.0.0.1:``port`` says (a 503 "failing" has its report too);
    empty while nothing answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/healthz")
        report = json.loads(connection.getresponse().read())
    except (OSError, ValueError, http.client.HTTPException):
        return {}
    finally:
        connection.close()
    return report if isinstance(report, dict) else {}


def wait_healthy(
    port: int, process: subprocess.Popen[bytes], *, ready: bool = True, limit: float = 30
) -> dict[str, object]:
    """Poll ``/healthz`` until the index is ``ready`` (or, not ``ready``, until it answers
    at all); its last report. Fails if the process exits or time runs out."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        report = health(port)
        # Ready: the index built, and its search index filled (after it, in the background).
        if (report.get("index") == "ready" and "search" not in report) or (report and not ready):
            return report
        time.sleep(0.05)
    raise RuntimeError(f"the server on port {port} was not ready within {limit} s")


def pinned(cpu: int, command: Sequence[str]) -> list[str]:
    """``command`` run by taskset on one CPU."""
    return ["taskset", "-c", str(cpu), *command]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def parents() -> dict[int, int]:
    """Every process's parent, by process id (from /proc/*/stat)."""
    found: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            found[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid``."""
    return sorted(child for child, parent in parents().items() if parent == pid)


def descendants(pid: int) -> list[int]:
    """Child processes, recursively."""
    parent_of = parents()
    found: list[int] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        below = [p for p, parent in parent_of.items() if parent == current]
        found += below
        frontier += below
    return found


def memory_kb(pid: int, field_name: str = "VmRSS") -> int:
    """A memory figure of /proc/PID/status in kB (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_mb(pids: Sequence[int], field_name: str = "VmRSS") -> float:
    """The sum of one /proc/PID/status memory figure over processes, in MB."""
    return sum(memory_kb(pid, field_name) for pid in pids) / 1024


def machine_busy_ticks() -> int:
    """User + nice + system clock ticks of all CPUs (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[1]) + int(fields[2]) + int(fields[3])


def process_ticks(pids: Sequence[int]) -> int:
    """User + system clock ticks of these processes (all their threads)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total
