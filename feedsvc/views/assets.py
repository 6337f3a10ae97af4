"""The site's own files: the built-in icons and the style sheet feeds name for browsers.

Served like the widget script: from the cache (validators, compression, 304s, the
fast path), under the static scope, dated by the file.
"""

from __future__ import annotations

from flask import Response

from ..responses import Rendered
from ..store import STATIC
from ..urls import FAVICON_PATH, FEED_STYLE_PATH, ICON_PATH, RSS_IMAGE_PATH
from .kit import Routes, cached, snapshot
from .policy import STATIC_DIR

blueprint = Routes("assets", __name__)

ASSETS = {
    "favicon.ico": "image/vnd.microsoft.icon",
    "icon.png": "image/png",
    "icon-144.png": "image/png",
    "feed.css": "text/css; charset=utf-8",
}
"""Each file served at the site root, with its media type."""


def serve_asset(name: str) -> Response:
    path = STATIC_DIR / name

    def render() -> Rendered:
        return Rendered(path.read_bytes(), ASSETS[name], path.stat().st_mtime)

    return cached(snapshot(), STATIC, (name,), render)


@blueprint.route(FAVICON_PATH)
def favicon() -> Response:
    return serve_asset("favicon.ico")


@blueprint.route(ICON_PATH)
def icon() -> Response:
    return serve_asset("icon.png")


@blueprint.route(RSS_IMAGE_PATH)
def rss_image() -> Response:
    return serve_asset("icon-144.png")


@blueprint.route(FEED_STYLE_PATH)
def feed_stylesheet() -> Response:
    return serve_asset("feed.css")
