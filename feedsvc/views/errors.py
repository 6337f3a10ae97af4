"""App-wide answers: plain-text errors for every route, and CORS on every public response.

The factory registers these on the app itself, so no blueprint's errors depend on
another blueprint being registered.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from urllib.parse import quote

from flask import Response, request
from werkzeug.exceptions import HTTPException

from ..access import PATH_SAFE
from ..store import is_damage, report_damage
from .kit import moved, site
from .policy import NOT_CROSS_ORIGIN, NOT_CROSS_ORIGIN_PATHS, secure

log = logging.getLogger(__name__)


def allow_cross_origin(response: Response) -> Response:
    """Everything here is public and read-only: any page may read it, no credentials.

    Except what is for the operators (:data:`~feedsvc.views.kit.NOT_CROSS_ORIGIN`).
    """
    if request.endpoint in NOT_CROSS_ORIGIN or request.path in NOT_CROSS_ORIGIN_PATHS:
        return response  # a 405 there has no endpoint: its path says it
    response.headers.setdefault("Access-Control-Allow-Origin", "*")
    return cors_preflight(response) if request.method == "OPTIONS" else response


def answer_options(response: Response) -> Response:
    """``OPTIONS`` on a known path: 204 with ``Allow``, not an empty ``text/html`` 200."""
    if request.method == "OPTIONS" and response.status_code == 200 and not response.data:
        response.status_code = 204
        response.headers.pop("Content-Type", None)
        response.headers["Allow"] = ", ".join(ALLOWED_METHODS)
    return response


def cors_preflight(response: Response) -> Response:
    """What a browser's preflight asks before a cross-origin conditional GET."""
    response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "If-None-Match, If-Modified-Since"
    response.headers["Access-Control-Max-Age"] = "86400"
    return response


ALLOWED_METHODS = ("GET", "HEAD", "OPTIONS")
"""Every method the service answers; anything else (``PURGE`` meant for a cache, say) is a 405."""


def refuse_other_methods() -> Response | None:
    """A 405 for any method but GET, HEAD and OPTIONS, on every path, known or not.

    Registered before everything else, so that no route and no redirect answers it.
    """
    if request.method in ALLOWED_METHODS:
        return None
    allowed = ", ".join(ALLOWED_METHODS)
    response = Response(f"405 Method Not Allowed: only {allowed}\n", 405, mimetype="text/plain")
    response.headers["Allow"] = allowed
    return secure(response)


_SLASHES = re.compile("//+")


def merge_slashes() -> Response | None:
    """A 301 from a path with doubled slashes (``/tags//syria/``) to the path with single
    ones, on the base URL, as for any other spelling of a URL."""
    path = request.environ.get("PATH_INFO", "")
    if "//" not in path or request.method not in ("GET", "HEAD"):
        return None
    merged = _SLASHES.sub("/", path).encode("latin-1").decode("utf-8", "replace")
    return moved(quote(merged, safe=PATH_SAFE))


def plain_error(error: HTTPException) -> Response:
    """Errors are one short line of plain text, never an HTML page or a traceback."""
    if error.response is not None:
        return error.response  # type: ignore[return-value]
    code = error.code or 500
    message = f"{code} {error.name}"
    response = Response(f"{message}\n", code, mimetype="text/plain")
    for name, value in error.get_headers():
        # Keep Allow on a 405; never a Location, which the framework builds on the Host.
        if name.lower() not in ("content-type", "location"):
            response.headers[name] = value
    return secure(response)


RETRY_AFTER = 5
"""Seconds a client is asked to wait while the first build runs."""


def unavailable(why: str) -> Response:
    """A 503 saying ``why`` and when to come back."""
    response = Response(
        f"503 Service Unavailable: {why}; see /healthz\n", 503, mimetype="text/plain"
    )
    response.headers["Retry-After"] = str(RETRY_AFTER)
    response.headers["Cache-Control"] = "no-store"  # a moment's answer: no cache keeps it
    return secure(response)


def not_ready(error: Exception) -> Response:
    """Before the first build completes, never an empty feed a reader would take as
    "everything was deleted": a 503 that says when to come back. So too for a search
    while the full-text index is still being filled after it."""
    return unavailable(str(error) or "the index is being built")


def busy(error: Exception) -> Response:
    """A search or a combination while every slot of the costly budget is taken: refused
    at once, never queued, so kept feeds stay as quick as ever (never cached)."""
    return unavailable(str(error))


def too_deep(error: Exception) -> Response:
    """A search's or a combination's page past how far back they go: a plain 404."""
    response = Response(f"{error}\n", 404, mimetype="text/plain")
    return secure(response)


_damage_said = False


def damaged_index(error: sqlite3.DatabaseError) -> Response:
    """A read that met a damaged page of the index: a 503 that says when to come back
    (what is kept is still answered before this), and the writer told to rebuild."""
    if not is_damage(error):
        return internal_error(error)
    global _damage_said
    if not _damage_said:  # once per process: every request may meet it until rebuilt
        log.error("the index is damaged (%s): answering 503 until it is rebuilt", error)
        _damage_said = True
    report_damage(site().settings.state_dir, error)
    return unavailable("the index is being repaired")


def internal_error(error: Exception) -> Response:
    log.exception("unhandled error on %s", request.path)
    return secure(Response("500 Internal Server Error\n", 500, mimetype="text/plain"))
