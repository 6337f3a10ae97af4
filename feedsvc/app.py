"""The application factory: settings, the article library, its watcher, the cache, the routes.

Nothing imports this module but ``wsgi.py``, the package's lazy ``create_app`` and
the command line. Importing or creating the app changes nothing process-wide: no
logging set-up, no environment writes, no garbage-collector tuning (``feedsvc
serve`` does those, see :mod:`feedsvc.cli`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException

from .cache import FastPath, ResponseCache
from .index import Library
from .settings import Settings, from_environment
from .views import embeds, errors, feeds, pages
from .views.kit import Site
from .watch import Watcher


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    clock: Callable[[], float] | None = None,
) -> Flask:
    """Create the service.

    :param test_config: settings (names without the ``FEEDSVC_`` prefix) used instead
        of the environment's.
    :param clock: the time source for scheduled publishing, for tests.
    """
    given = from_environment(os.environ) if test_config is None else test_config
    settings = Settings.from_mapping(given)
    library = Library(settings.articles_dir, settings.time_zone, clock=clock or time.time)
    cache = ResponseCache(settings.cache_entries, settings.cache_megabytes << 20)
    if settings.watch:  # watching first: a change made during the scan is not missed
        Watcher(library, settings.watch_interval, settings.rescan_seconds).start()
    library.scan()

    app = Flask(__name__)
    app.extensions["feedsvc"] = Site(settings, library, cache)
    for blueprint in (feeds.blueprint, pages.blueprint, embeds.blueprint):
        app.register_blueprint(blueprint)
    app.register_error_handler(HTTPException, errors.plain_error)
    app.register_error_handler(Exception, errors.internal_error)
    app.after_request(errors.allow_cross_origin)
    app.wsgi_app = FastPath(app.wsgi_app, library, cache)  # type: ignore[method-assign]
    return app
