"""The ``feedsvc`` command: check articles, render a feed, serve the site.

Process-wide set-up belongs here, not in the library: ``feedsvc serve`` configures
logging in each worker (:func:`worker_app`).

Every command checks what it starts with before doing anything: a bad setting is one
line, ``feedsvc: <message>``, and exit status 2; an articles folder that cannot be
listed, an unusable state directory or a port already taken is one line and status 1.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import logging
import multiprocessing.util
import os
import resource
import socket
import sys
import tempfile
from typing import TYPE_CHECKING, NoReturn

import click

from .articles import normalize_tag
from .indexer import ALLOW_REMOVALS, Indexer, WriterLock, is_article_file, mark_unreconciled
from .settings import (
    PREFIX,
    Settings,
    SettingsError,
    articles_dir_problem,
    from_environment,
    state_dir_problem,
    unknown_settings,
)
from .silent import connection_limit
from .store import DATABASE, SITE, Progress, Store, StoreError, indexed_folder
from .urls import FEED_FORMATS, PREFERRED_FORMAT, feed_path
from .version import VERSION
from .workers import forget_the_dead, replace_hung_workers

if TYPE_CHECKING:
    from flask import Flask

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
BAD_SETTING = 2
"""The exit status for a setting the service cannot start with."""
CANNOT_START = 1
"""The exit status for anything else that stops a start: folders, the port."""


def worker_app() -> Flask:
    """The app as ``feedsvc serve`` runs it in each worker: logging to standard error,
    the access log to standard output, the index built or reconciled in the background
    while it answers. Each worker also closes connections that never send a byte,
    notes itself in the state directory (for its siblings to see if it dies), and stops
    if that directory is deleted or replaced (for granian to start one that rebuilds it).
    """
    from .access import Batched
    from .app import create_app
    from .silent import SilentConnections
    from .workers import beat, forget_this_worker, note_this_worker, watch_state_dir

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    app = create_app(background=True, access_log=(access_log := Batched(STDOUT)))
    # The access log goes straight to standard output in batches: no logging record per
    # request, no write per request (each would cost more than a cached answer does).
    settings = app.extensions["feedsvc"].settings
    SilentConnections(settings.request_head_seconds).start()
    note_this_worker(settings.state_dir)
    beat(settings.state_dir)
    watch_state_dir(settings.state_dir, access_log.flush)
    # A granian worker is a multiprocessing child, which ends with os._exit: atexit
    # never runs there, multiprocessing's own finalizers do (atexit covers the rest).
    for last in (access_log.flush, functools.partial(forget_this_worker, settings.state_dir)):
        multiprocessing.util.Finalize(None, last, exitpriority=10)
        atexit.register(last)
    return app


STDOUT = 1


@click.group()
@click.version_option(VERSION, prog_name="feedsvc")
def main() -> None:
    """Serve articles on disk as RSS, Atom and JSON feeds."""


def fail(message: str, status: int = CANNOT_START) -> NoReturn:
    """Stop with one line on standard error: no traceback, no usage text."""
    click.echo(f"feedsvc: {message}", err=True)
    sys.exit(status)


def load_settings(directory: str | None = None) -> Settings:
    """The settings from the environment, the articles folder maybe given on the line.

    Stops the command when a setting is bad or the articles folder cannot be listed.
    """
    given = from_environment(os.environ)
    for name, near in unknown_settings(os.environ):
        hint = f"; did you mean {near}?" if near else ""
        click.echo(f"feedsvc: {name} is not a setting and is ignored{hint}", err=True)
    if directory is not None:
        given["ARTICLES_DIR"] = directory
    try:
        settings = Settings.from_mapping(given)
    except SettingsError as exc:
        fail(str(exc), BAD_SETTING)
    if problem := articles_dir_problem(settings.articles_dir):
        fail(f"{problem} (give the folder on the command line, or set {PREFIX}ARTICLES_DIR)")
    return settings


def check_state_dir(settings: Settings) -> None:
    """Stop the command when the state directory cannot be made or written."""
    if problem := state_dir_problem(settings.state_dir):
        fail(problem)


def listening_url(host: str, port: int) -> str:
    """The base URL of the address ``serve`` listens on: this host's name when it listens
    on every address (``0.0.0.0``, ``::``), where no one address is the right link."""
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port``, found by binding it first.

    The same options as a server's listening socket (address reuse, so a port left
    in TIME_WAIT is free), and closed at once: granian binds it next.
    """
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:  # socket.gaierror too
        return f"cannot listen on {where}: {exc.strerror or exc}"
    return None


def show_progress(progress: Progress) -> None:
    """One line, redrawn in place on a terminal: files done, rate and time left."""
    if not sys.stderr.isatty() and progress.phase != "ready":
        return
    share = f"{100 * progress.done / progress.total:3.0f}%" if progress.total else ""
    eta = f"  ETA {progress.eta:.0f} s" if progress.eta is not None else ""
    line = (
        f"{progress.phase}: {progress.done:,}/{progress.total:,} files {share}"
        f"  {progress.rate:,.0f} files/s{eta}"
    )
    end = "\n" if progress.phase == "ready" else ""
    click.echo(f"\r{line:<78}", err=True, nl=False)
    if end:
        click.echo("", err=True)


def bring_up_to_date(settings: Settings, *, rebuild: bool = False) -> Store:
    """Build or reconcile the index as its writer, or read it while a service writes it."""
    check_state_dir(settings)
    lock = WriterLock(settings.state_dir)
    if not lock.acquire():
        if rebuild:
            raise click.ClickException(
                f"another process writes {settings.state_dir}; stop it before --rebuild"
            )
        click.echo("another process keeps the index current; reading it", err=True)
        return Store(settings.state_dir)
    indexer = Indexer.of(settings)
    indexer.lock = lock
    try:
        if not rebuild:  # a rebuild replaces whatever is there, unread
            indexer.open()
        indexer.catch_up(show_progress, rebuild=rebuild)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        indexer.close()
    return Store(settings.state_dir)


@main.command()
@click.argument("directory", default=lambda: os.environ.get("FEEDSVC_ARTICLES_DIR", "articles"))
def check(directory: str) -> None:
    """Parse every article in DIRECTORY; report each problem and exit 1 if any file was skipped."""
    settings = load_settings(directory)
    logging.getLogger("feedsvc").setLevel(logging.ERROR)  # each problem is printed below
    with contextlib.ExitStack() as stack:
        if not os.path.exists(os.path.join(settings.state_dir, DATABASE)):
            # No index of this folder yet: a check leaves none behind (it writes nothing).
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="feedsvc-check-"))
            settings = dataclasses.replace(settings, state_dir=scratch)
        store = bring_up_to_date(settings)
        with store.reading() as index:
            problems = index.problems()
            published, tags = index.count(SITE), index.tag_count()
            moved = index.date_changes()
    for path, reason in problems.items():
        click.echo(f"{path}: {reason}", err=True)
    for path, old, new in moved:  # readers saw it at one date, then at another
        click.echo(
            f"{path}: published date moved from {old:%Y-%m-%d %H:%M} to {new:%Y-%m-%d %H:%M}",
            err=True,
        )
    folder = settings.articles_dir
    names = [n for n in os.listdir(folder) if is_article_file(n)] if os.path.isdir(folder) else []
    click.echo(f"{len(names)} files, {len(problems)} skipped, {published} published, {tags} tags")
    sys.exit(1 if problems else 0)


@main.command()
@click.option("--rebuild", is_flag=True, help="Build the index anew from the folder.")
@click.argument("directory", default=lambda: os.environ.get("FEEDSVC_ARTICLES_DIR", "articles"))
def index(rebuild: bool, directory: str) -> None:
    """Build or bring up to date the index of DIRECTORY in the state directory."""
    settings = load_settings(directory)
    store = bring_up_to_date(settings, rebuild=rebuild)
    with store.reading() as index:
        click.echo(
            f"{index.count(SITE)} published, {index.tag_count()} tags, "
            f"{index.problem_count()} skipped; index in {settings.state_dir}"
        )


@main.command("allow-removals")
def allow_removals() -> None:
    """Let the writer withdraw the articles whose files were removed, when it holds them
    as too many at once (FEEDSVC_MAX_REMOVED_PERCENT): taken at its next scan."""
    settings = load_settings()
    check_state_dir(settings)
    mark = os.path.join(settings.state_dir, ALLOW_REMOVALS)
    with open(mark, "w", encoding="ascii") as handle:
        handle.write("allowed\n")
    click.echo(
        f"the removals held in {settings.state_dir} will be applied at the writer's next scan "
        "(within seconds while the service runs; else at its next start)"
    )


@main.command()
@click.option("--format", "fmt", type=click.Choice(FEED_FORMATS), default=PREFERRED_FORMAT)
@click.option("--tag", default=None, help="A tag key; the site feed when omitted.")
@click.argument("directory", default=lambda: os.environ.get("FEEDSVC_ARTICLES_DIR", "articles"))
def render(fmt: str, tag: str | None, directory: str) -> None:
    """Write a feed to standard output, byte for byte what the service serves."""
    from .app import create_app

    load_settings(directory)
    # Every other setting comes from the FEEDSVC_* variables, as for the service.
    try:
        app = create_app(
            {**from_environment(os.environ), "ARTICLES_DIR": directory, "WATCH": False}
        )
    except (SettingsError, StoreError) as exc:  # the state directory, say
        fail(str(exc))
    if tag is not None:
        # Any spelling of a tag ("São Paulo") names its canonical feed.
        normal = normalize_tag(tag)
        tag = normal.key if normal is not None else tag
    response = app.test_client().get(feed_path(tag or SITE, fmt))
    if response.status_code != 200:
        raise click.ClickException(response.get_data(as_text=True).strip())
    sys.stdout.buffer.write(response.get_data())


def more_files() -> int:
    """Raise this process's limit of open files to the most it may have (its workers
    inherit it); the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def shared_socket_server() -> type:
    """granian's process server, its workers accepting from one listening socket.

    On Linux granian gives each worker a socket of its own (``SO_REUSEPORT``), and the
    kernel hashes each new connection to one of them: a worker that stops answering
    (stopped, stuck, swapping) keeps being handed its share, which wait unanswered until
    it is replaced. With one socket, made once here as granian does elsewhere, a new
    connection waits for whichever worker accepts next: a hung worker loses only the
    connections it had already taken, and the queue outlives any worker.
    """
    import socket as sockets

    from granian._granian import ListenerSpec
    from granian.server import MPServer

    class SharedSocketServer(MPServer):
        def _init_shared_socket(self) -> None:
            shared = ListenerSpec(self.bind_addr, self.bind_port, self.backlog).build()
            self._shd = shared  # type: ignore[assignment]
            self._sfd = shared.get_fd()
            self._ssp = None
            self._sso = sockets.socket(fileno=self._sfd)
            self._sso.set_inheritable(True)

    return SharedSocketServer


STOP_SECONDS = 5
"""The longest a worker may take to stop once told to; then it is killed. What a kill
can cut short (a write to the index, a render) is made whole by the next start."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=int,
    help="Worker processes; each holds its own index, so memory grows with them.",
)
@click.option("--threads", default=1, show_default=True, type=int, help="Threads per worker.")
@click.argument("directory", required=False)
def serve(host: str, port: int, workers: int, threads: int, directory: str | None) -> None:
    """Serve DIRECTORY (by default FEEDSVC_ARTICLES_DIR, else articles) in the granian WSGI
    server, other settings from FEEDSVC_* variables.

    Settings, folders and the port are checked here, before any worker starts: a
    worker that fails to start would only leave a traceback. Without FEEDSVC_BASE_URL,
    links are made on the address served (said at start).
    """
    if directory is not None:  # the workers read their settings from the environment
        os.environ[f"{PREFIX}ARTICLES_DIR"] = directory
    derived = not os.environ.get(f"{PREFIX}BASE_URL")
    if derived:
        os.environ[f"{PREFIX}BASE_URL"] = listening_url(host, port)
    settings = load_settings()
    check_state_dir(settings)
    if problem := port_problem(host, port):
        fail(problem)
    folder = indexed_folder(settings.state_dir)
    if folder is not None and folder != settings.articles_dir:
        # Said here, whoever holds the writer's lock: a second service would otherwise
        # start as a reader and serve the other folder's articles.
        fail(
            f"{settings.state_dir} indexes {folder}, not {settings.articles_dir}: give each "
            "articles folder its own FEEDSVC_STATE_DIR"
        )
    mark_unreconciled(settings.state_dir)
    forget_the_dead(settings.state_dir)
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    if derived:  # said once everything else is known to be right: one line per failure
        click.echo(
            f"feedsvc: serving {settings.base_url}/; links in feeds and pages are made on it "
            f"(set {PREFIX}BASE_URL to the public address)",
            err=True,
        )
    files = more_files()
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    replace_hung_workers(settings.state_dir, settings.worker_timeout)

    server = shared_socket_server()(
        "feedsvc.cli:worker_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        # Connections a worker serves at once: as many as its files allow. granian's
        # default (1,024 shared by the workers) let a thousand idle connections hold
        # them all; idle ones are closed after the request-head timeout.
        backpressure=connection_limit(files),
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, round(settings.request_head_seconds * 1000))
        ),
        log_access=False,
        # Without it a worker that never ends its stop (a second signal while the first
        # is handled deadlocks granian's handler, say) holds the whole stop forever.
        workers_kill_timeout=STOP_SECONDS,
        # A worker that dies (an out-of-memory kill, say) is replaced; the others go on
        # answering. One that dies again within 5.5 s of its replacement stops the
        # service (granian's crash-loop guard): a supervisor then sees it.
        respawn_failed_workers=True,
    )
    try:
        server.serve()
    except (OSError, RuntimeError) as exc:  # granian's own bind failing: the port went since
        fail(str(exc).partition("\n")[0])
    except SystemExit as stop:
        if stop.code:  # granian stops only so after a crash loop: say why in our words
            click.echo(
                "feedsvc: a worker died again within 5.5 s of being replaced (see the lines "
                "above); the service stops for its supervisor to start it again",
                err=True,
            )
        raise


if __name__ == "__main__":
    main()
