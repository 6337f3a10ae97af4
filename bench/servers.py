"""The servers under test: feedsvc, nginx, the baseline app and gunicorn, each on the server CPU."""

from __future__ import annotations

import importlib.util
import os
import pwd
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.load import Client
from bench.processes import Processes, free_port, pinned

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setup:
    """Where a run works: its folder, its processes, the server's CPU and the load client."""

    work: Path
    procs: Processes
    server_cpu: int
    client: Client


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    port: int


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("FEEDSVC_", "BASELINE_"))}


def feedsvc_env(articles: Path, port: int) -> dict[str, str]:
    return {
        **clean_env(),
        "FEEDSVC_ARTICLES_DIR": str(articles),
        "FEEDSVC_BASE_URL": f"http://127.0.0.1:{port}",
        "FEEDSVC_WATCH": "true",
    }


def start_feedsvc(
    setup: Setup,
    articles: Path,
    name: str,
    serve_args: Sequence[str] = (),
    settings: Mapping[str, str] | None = None,
) -> Server:
    """``feedsvc serve`` (granian, 1 worker) with extra ``serve_args`` and ``FEEDSVC_``
    ``settings``; logs to ``name``.log."""
    port = free_port()
    command = [sys.executable, "-m", "feedsvc.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), *serve_args]
    process = setup.procs.start(
        pinned(setup.server_cpu, command),
        setup.work / f"{name}.log",
        env={
            **feedsvc_env(articles, port),
            **{f"FEEDSVC_{key}": value for key, value in (settings or {}).items()},
        },
        cwd=ROOT,
    )
    return Server(process, port)


def start_baseline(setup: Setup, articles: Path) -> Server:
    """``bench.baseline`` under the same granian settings as ``feedsvc serve``."""
    port = free_port()
    env = {
        **clean_env(),
        "BASELINE_ARTICLES_DIR": str(articles),
        "BASELINE_BASE_URL": f"http://127.0.0.1:{port}",
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "granian", "--interface", "wsgi", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--blocking-threads", "1", "--no-ws", "--log-level", "warning"]
    command += ["bench.baseline:create_app"]
    process = setup.procs.start(
        pinned(setup.server_cpu, command), setup.work / "baseline.log", env=env, cwd=ROOT
    )
    return Server(process, port)


def start_gunicorn(setup: Setup, articles: Path) -> Server | None:
    """feedsvc under gunicorn (1 sync worker); None when gunicorn is not installed."""
    if importlib.util.find_spec("gunicorn") is None:
        return None
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--workers", "1"]
    command += ["--bind", f"127.0.0.1:{port}", "feedsvc.app:create_app()"]
    process = setup.procs.start(
        pinned(setup.server_cpu, command),
        setup.work / "gunicorn.log",
        env=feedsvc_env(articles, port),
        cwd=ROOT,
    )
    return Server(process, port)


NGINX_CONF = """\
daemon off;
{user}
master_process on;
worker_processes {workers};
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
        listen 127.0.0.1:{port}{reuseport};
        root {docroot};
        location / {{ }}
    }}
}}
"""


def start_nginx(setup: Setup, docroot: Path, workers: int = 1, cpus: str | None = None) -> Server:
    """nginx serving ``docroot`` (and its ``.gz`` files for gzip requests): one worker on
    the server's CPU, or ``workers`` on ``cpus`` (with ``reuseport``: each worker its own
    listening socket, and the kernel spreads connections evenly between them)."""
    port = free_port()
    (setup.work / "nginx-tmp").mkdir(exist_ok=True)
    conf = setup.work / "nginx.conf"
    # As root nginx would run its worker as nobody, who cannot read the private temp dir.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    conf.write_text(
        NGINX_CONF.format(
            user=user,
            work=setup.work,
            port=port,
            docroot=docroot,
            workers=workers,
            reuseport=" reuseport" if workers > 1 else "",
        )
    )
    command = ["nginx", "-p", str(setup.work), "-e", str(setup.work / "nginx-error.log")]
    command += ["-c", str(conf)]
    if cpus is None:
        command = pinned(setup.server_cpu, command)
    else:
        command = ["taskset", "-c", cpus, *command]
    process = setup.procs.start(command, setup.work / "nginx.log")
    return Server(process, port)
