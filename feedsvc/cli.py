"""The ``feedsvc`` command: check articles, render a feed, serve the site.

Process-wide set-up belongs here, not in the library: ``feedsvc serve`` configures
logging and tunes the garbage collector in each worker (:func:`worker_app`).
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from typing import TYPE_CHECKING
from urllib.parse import quote

import click
from dateutil import tz

from .articles import normalize_tag
from .index import Library, is_article_file
from .settings import from_environment

if TYPE_CHECKING:
    from flask import Flask

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def worker_app() -> Flask:
    """The app as ``feedsvc serve`` runs it in each worker process.

    The start-up scan runs with the collector off and its objects are frozen after:
    they live as long as the process, and collecting while they grow only re-walks
    them (``bench/README.md`` has the measured effect).
    """
    gc.disable()
    try:
        return worker_app_plain_gc()
    finally:
        gc.enable()
        gc.freeze()


def worker_app_plain_gc() -> Flask:
    """The app as ``feedsvc serve --no-freeze-gc`` runs it: logging to standard error."""
    from .app import create_app

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    return create_app()


@click.group()
def main() -> None:
    """Serve articles on disk as RSS, Atom and JSON feeds."""


@main.command()
@click.argument("directory", default=lambda: os.environ.get("FEEDSVC_ARTICLES_DIR", "articles"))
def check(directory: str) -> None:
    """Parse every article in DIRECTORY; report each problem and exit 1 if any file was skipped."""
    zone_name = os.environ.get("FEEDSVC_TIME_ZONE", "UTC")
    zone = tz.gettz(zone_name)
    if zone is None:
        raise click.ClickException(f"FEEDSVC_TIME_ZONE {zone_name!r} is not a known time zone")
    logging.getLogger("feedsvc").setLevel(logging.ERROR)  # each problem is printed below
    library = Library(directory, zone)
    library.scan()
    catalogue = library.current()
    for path, reason in catalogue.problems.items():
        click.echo(f"{path}: {reason}", err=True)
    names = (
        [n for n in os.listdir(directory) if is_article_file(n)] if os.path.isdir(directory) else []
    )
    click.echo(
        f"{len(names)} files, {len(catalogue.problems)} skipped, "
        f"{len(catalogue.articles)} published, {len(catalogue.by_tag)} tags"
    )
    sys.exit(1 if catalogue.problems else 0)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["rss", "atom", "json"]), default="atom")
@click.option("--tag", default=None, help="A tag key; the site feed when omitted.")
@click.argument("directory", default=lambda: os.environ.get("FEEDSVC_ARTICLES_DIR", "articles"))
def render(fmt: str, tag: str | None, directory: str) -> None:
    """Write a feed to standard output, byte for byte what the service serves."""
    from .app import create_app

    # Every other setting comes from the FEEDSVC_* variables, as for the service.
    app = create_app({**from_environment(os.environ), "ARTICLES_DIR": directory, "WATCH": False})
    if tag is not None:
        # Any spelling of a tag ("São Paulo") names its canonical feed.
        normal = normalize_tag(tag)
        tag = normal.key if normal is not None else tag
    path = f"/tags/{quote(tag, safe='')}/feed.{fmt}" if tag else f"/feed.{fmt}"
    response = app.test_client().get(path)
    if response.status_code != 200:
        raise click.ClickException(response.get_data(as_text=True).strip())
    sys.stdout.buffer.write(response.get_data())


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
@click.option(
    "--freeze-gc/--no-freeze-gc",
    default=True,
    show_default=True,
    help="Scan with the garbage collector off, then freeze what the scan built.",
)
def serve(host: str, port: int, workers: int, threads: int, freeze_gc: bool) -> None:
    """Run the service in the granian WSGI server (settings from FEEDSVC_* variables)."""
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        "feedsvc.cli:worker_app" if freeze_gc else "feedsvc.cli:worker_app_plain_gc",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main()
