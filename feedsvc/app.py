"""The application factory: settings, the store, its indexer and watcher, the cache, the routes.

Nothing imports this module but ``wsgi.py``, the package's lazy ``create_app`` and
the command line. Importing or creating the app changes nothing process-wide: no
logging set-up, no environment writes, no garbage-collector tuning (``feedsvc
serve`` does those, see :mod:`feedsvc.cli`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException

from .access import AccessLog
from .budget import Budget, Busy
from .cache import FastPath, ResponseCache
from .indexer import Indexer, ProgressLog, claim
from .notify import start_notifier
from .prerender import Prerenderer
from .settings import (
    Settings,
    SettingsError,
    articles_dir_problem,
    from_environment,
    state_dir_problem,
)
from .shelf import Shelf, edition
from .store import NotReady, Store, StoreError, TooDeep
from .syndication import Syndication
from .urls import Urls
from .views import assets, embeds, errors, feeds, pages
from .views.kit import Site, end_snapshot
from .watch import Watcher

log = logging.getLogger(__name__)


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    clock: Callable[[], float] | None = None,
    background: bool = False,
    access_log: Callable[[str], None] | None = None,
) -> Flask:
    """Create the service.

    :param test_config: settings (names without the ``FEEDSVC_`` prefix) used instead
        of the environment's.
    :param clock: the time source for scheduled publishing, for tests.
    :param background: build or reconcile the index in a thread and answer at once
        (``feedsvc serve``); by default the factory returns once the index is current.
    :param access_log: where access lines go (one string each, no newline); by default
        the ``feedsvc.access`` logger at INFO. ``FEEDSVC_ACCESS_LOG=off`` turns both off.
    :raises SettingsError: for a bad setting, or an articles folder that cannot be listed.
    :raises StoreError: when the state directory cannot be used.
    """
    given = from_environment(os.environ) if test_config is None else test_config
    settings = Settings.from_mapping(given)
    if problem := articles_dir_problem(settings.articles_dir):
        raise SettingsError(problem)
    if problem := state_dir_problem(settings.state_dir):
        raise StoreError(problem)
    store = Store(settings.state_dir)
    serving = edition(settings)  # reads every file of the package: once per start
    indexer = start_indexer(settings, clock or time.time, background, serving)
    shelf = Shelf(settings.state_dir, settings.shelf_megabytes << 20, serving)
    cache = ResponseCache(
        settings.cache_entries,
        settings.cache_megabytes << 20,
        shelf if settings.shelf_megabytes else None,
    )
    if indexer is not None and cache.shelf is not None:
        indexer.make_room = cache.shelf.give_back  # the index comes before the shelf

    app = Flask(__name__, static_folder=None)
    urls = Urls.of(settings)
    syndication = Syndication(settings, urls)
    prerenderer = None
    if indexer is not None and background and cache.shelf is not None:
        prerenderer = Prerenderer(store, cache, syndication, lambda: indexer.bulk_pending > 0)
    app.extensions["feedsvc"] = Site(
        settings,
        store,
        indexer,
        cache,
        urls,
        syndication,
        prerenderer.pending if prerenderer else None,
        Budget(settings.state_dir, settings.costly_at_once),
    )
    for blueprint in (feeds.blueprint, pages.blueprint, embeds.blueprint, assets.blueprint):
        app.register_blueprint(blueprint)
    app.register_error_handler(NotReady, errors.not_ready)
    app.register_error_handler(Busy, errors.busy)
    app.register_error_handler(TooDeep, errors.too_deep)
    app.register_error_handler(HTTPException, errors.plain_error)
    app.register_error_handler(sqlite3.DatabaseError, errors.damaged_index)
    app.register_error_handler(Exception, errors.internal_error)
    app.before_request(errors.refuse_other_methods)
    app.before_request(errors.merge_slashes)
    app.after_request(errors.allow_cross_origin)
    app.after_request(errors.answer_options)
    app.teardown_request(end_snapshot)

    def version(scope: str) -> int:
        writing = app.extensions["feedsvc"].indexer  # this process may take over later
        if writing is not None:
            writing.release_due()
        return store.version(scope)

    fast_path = FastPath(app.wsgi_app, version, cache, feeds.feed_locator(settings))
    app.wsgi_app = fast_path  # type: ignore[method-assign]
    if settings.access_log != "off":  # outermost: the fast path's answers are logged too
        app.wsgi_app = AccessLog(  # type: ignore[method-assign]
            fast_path.app, settings.access_log, access_log, answer=fast_path.answer
        )
    if prerenderer is not None:
        prerenderer.start()
    if indexer is None and settings.watch:
        stand_by(app, clock or time.time, background, serving)
    return app


STANDBY_SECONDS = 2.0
"""How often a reading process tries the writer's lock."""


def stand_by(app: Flask, clock: Callable[[], float], background: bool, serving: str) -> None:
    """Take the writer's role when the process that holds it stops (another service on
    the same state directory, or a sibling worker that died): try its lock every
    :data:`STANDBY_SECONDS` in a thread, and once it is ours, index from then on."""

    def run() -> None:
        current: Site = app.extensions["feedsvc"]
        while True:
            time.sleep(STANDBY_SECONDS)
            try:
                indexer = start_indexer(current.settings, clock, background, serving, quiet=True)
            except Exception:  # tried again: the role must be taken some time
                log.exception("taking the writer's role failed")
                continue
            if indexer is not None:
                break
        log.warning(
            "the process that indexed %s stopped; this process indexes now",
            current.settings.articles_dir,
        )
        if current.cache.shelf is not None:
            indexer.make_room = current.cache.shelf.give_back
        app.extensions["feedsvc"] = dataclasses.replace(current, indexer=indexer)

    threading.Thread(target=run, name="feedsvc-standby", daemon=True).start()


def start_indexer(
    settings: Settings,
    clock: Callable[[], float],
    background: bool,
    serving: str,
    *,
    quiet: bool = False,
) -> Indexer | None:
    """Become the writer if no other process is; build or reconcile; follow the folder.

    ``serving``: the :func:`edition` this process renders, for the caches it purges.
    """
    indexer, new = claim(
        settings.state_dir,
        lambda: Indexer.of(settings, clock),
    )
    if indexer is None:
        if not quiet:
            log.info("another process indexes %s; this one reads the index", settings.articles_dir)
        return None
    indexer.clock = clock
    indexer.search_in_background = background
    if not new:  # another app of this process made it: bring it up to date, as at a start
        indexer.catch_up()
        return indexer
    indexer.open()
    start_notifier(settings, indexer, Store(settings.state_dir), serving)
    watcher = Watcher(indexer, settings.watch_interval, settings.rescan_seconds)
    if settings.watch:  # watching first: a change made during the scan is not missed
        watcher.observe()

    def run() -> None:
        try:
            indexer.catch_up(ProgressLog())
        except Exception:
            log.exception("indexing %s failed", settings.articles_dir)
            raise
        if settings.watch:
            watcher.start()  # it fills the search index between its other work
        elif background:
            indexer.finish_search()

    if background:
        threading.Thread(target=run, name="feedsvc-indexer", daemon=True).start()
    else:
        run()
    return indexer
