"""Varnish in front of feedsvc: the shipped VCL with its deployment lines filled in, and
a minimal caching VCL to measure it against, run by a real ``varnishd``.

Used by the benchmark (``python -m bench.varnish``) and by the tests of the shipped
configuration. ``varnishd`` runs in the foreground (``-F``) in a work folder of its
own (``-n``), so no system service is touched and stopping the process stops it.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_VCL = ROOT / "deploy" / "varnish" / "feedsvc.vcl"
_DEPLOYMENT = re.compile(r"# BEGIN deployment\n.*?# END deployment\n", re.S)

MINIMAL_VCL = """\
vcl 4.1;
# The least a cache does: every answer kept for an hour, the plain variant only.
backend origin {{ .host = "127.0.0.1"; .port = "{port}"; }}
sub vcl_recv {{ unset req.http.Accept-Encoding; }}
sub vcl_backend_fetch {{ unset bereq.http.Accept-Encoding; }}
sub vcl_backend_response {{ set beresp.ttl = 1h; }}
"""


def deployment(origins: Sequence[int], purgers: Sequence[str], interval: float = 2.0) -> str:
    """The deployment lines of the shipped VCL: these origins (loopback ports), probed
    every ``interval`` seconds, and these addresses allowed to purge."""
    lines = [
        "# BEGIN deployment",
        "probe feedsvc_health {",
        '    .url = "/healthz";',
        f"    .interval = {interval:g}s;",
        f"    .timeout = {max(interval, 1.0):g}s;",
        "    .window = 3;",
        "    .threshold = 2;",
        "}",
    ]
    for number, port in enumerate(origins, 1):
        lines.append(
            f'backend origin{number} {{ .host = "127.0.0.1"; .port = "{port}"; '
            ".probe = feedsvc_health; }"
        )
    lines += ["sub vcl_init {", "    new origins = directors.round_robin();"]
    lines += [f"    origins.add_backend(origin{n});" for n in range(1, len(origins) + 1)]
    lines += ["}", "acl purgers {", *(f'    "{address}";' for address in purgers), "}"]
    return "\n".join([*lines, "# END deployment", ""])


def shipped_vcl(origins: Sequence[int], purgers: Sequence[str], interval: float = 2.0) -> str:
    """The shipped VCL, its deployment lines (and nothing else) replaced."""
    text = SHIPPED_VCL.read_text()
    if not _DEPLOYMENT.search(text):
        raise ValueError(f"{SHIPPED_VCL} has no deployment section")
    return _DEPLOYMENT.sub(lambda _: deployment(origins, purgers, interval), text, count=1)


@dataclass
class Varnish:
    """A running ``varnishd``."""

    process: subprocess.Popen[bytes]
    port: int
    work: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def varnishd_command(work: Path, vcl: str, port: int, megabytes: int = 64) -> list[str]:
    """The ``varnishd`` command line for ``vcl`` on 127.0.0.1:``port``, in ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    vcl_path = work / "feedsvc.vcl"
    vcl_path.write_text(vcl)
    command = ["varnishd", "-F", "-n", str(work / "varnishd")]
    # No jail: varnishd stays the user who started it, who can read the work folder.
    command += ["-j", "none", "-a", f"127.0.0.1:{port}", "-f", str(vcl_path), "-T", "none"]
    command += ["-s", f"malloc,{megabytes}m", "-p", "vsl_space=1m"]
    return command


def wait_answering(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until varnishd answers on ``port``; fail if it exits or takes 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"varnishd exited: {log.read_text()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("OPTIONS", "/varnish-ready")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"varnishd did not answer: {log.read_text()}")


def start_varnish(work: Path, vcl: str, port: int) -> Varnish:
    """Start ``varnishd`` on 127.0.0.1:``port`` with ``vcl``; returns once it answers."""
    command = varnishd_command(work, vcl, port)
    log_path = work / "varnishd.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    varnish = Varnish(process, port, work)
    try:
        wait_answering(port, process, log_path)
    except RuntimeError:
        stop_varnish(varnish)
        raise
    return varnish


def counters(work: Path) -> dict[str, int]:
    """varnishd's hit and miss counters (``varnishstat``), by name."""
    done = subprocess.run(
        [
            "varnishstat",
            "-n",
            str(work / "varnishd"),
            "-1",
            "-f",
            "MAIN.cache_hit",
            "-f",
            "MAIN.cache_miss",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    found = {}
    for line in done.stdout.splitlines():
        name, value, *_ = line.split()
        found[name] = int(value)
    return found


def stop_varnish(varnish: Varnish) -> None:
    """Stop varnishd (its manager and its child) and reap it."""
    if varnish.process.poll() is None:
        varnish.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            varnish.process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(varnish.process.pid, signal.SIGKILL)
    varnish.process.wait()
