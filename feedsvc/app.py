"""The application factory: settings, the article library, the cache and the routes."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any
from urllib.parse import urlsplit

from dateutil import tz
from flask import Flask

from .cache import FastPath, ResponseCache
from .index import Library

DEFAULTS: dict[str, Any] = {
    "ARTICLES_DIR": "articles",
    "BASE_URL": "http://127.0.0.1:8000",
    "SITE_TITLE": "feedsvc news",
    "SITE_DESCRIPTION": "The latest articles, as RSS, Atom and JSON Feed, site-wide and per tag.",
    "LANGUAGE": "en",
    "AUTHOR": "feedsvc newsroom",
    "FEED_ITEMS": 20,
    "MAX_ITEMS": 100,
    "HEADLINE_ITEMS": 10,
    "TIME_ZONE": "UTC",
    "ID_AUTHORITY": "",
    "FEED_MAX_AGE": 300,
    "PAGE_MAX_AGE": 60,
    "WATCH": True,
    "WATCH_INTERVAL": 1.0,
    "RESCAN_SECONDS": 30.0,
    "CACHE_ENTRIES": 8192,
    "CACHE_MEGABYTES": 256,
}
"""Every setting and its default; each is read from ``FEEDSVC_<NAME>`` too."""


# Whole-number settings and their least values.
_COUNTS = {
    "FEED_ITEMS": 1,
    "MAX_ITEMS": 1,
    "HEADLINE_ITEMS": 1,
    "FEED_MAX_AGE": 0,
    "PAGE_MAX_AGE": 0,
    "CACHE_ENTRIES": 1,
    "CACHE_MEGABYTES": 1,
}


class SettingsError(ValueError):
    """A setting that the service cannot start with."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The settings, checked and typed once at start-up."""

    articles_dir: str
    base_url: str
    site_title: str
    site_description: str
    language: str
    author: str
    feed_items: int
    max_items: int
    headline_items: int
    time_zone: tzinfo
    id_authority: str
    feed_max_age: int
    page_max_age: int
    cache_entries: int
    cache_megabytes: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        base_url = str(config["BASE_URL"]).rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"BASE_URL {base_url!r} is not an absolute http(s) URL")
        zone = tz.gettz(str(config["TIME_ZONE"]))
        if zone is None:
            raise SettingsError(f"TIME_ZONE {config['TIME_ZONE']!r} is not a known time zone")
        counts = {}
        for name, least in _COUNTS.items():
            value = config[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise SettingsError(f"{name} must be a whole number from {least}, not {value!r}")
            counts[name.lower()] = value
        for name in ("FEED_ITEMS", "HEADLINE_ITEMS"):
            if counts[name.lower()] > counts["max_items"]:
                raise SettingsError(f"{name} must not be more than MAX_ITEMS")
        authority = str(config["ID_AUTHORITY"]) or f"{parts.hostname},2026"
        if not re.fullmatch(r"[A-Za-z0-9.@-]+,\d{4}(-\d{2}(-\d{2})?)?", authority):
            raise SettingsError(
                f"ID_AUTHORITY {authority!r} is not a tag URI authority such as 'example.org,2026'"
            )
        return cls(
            articles_dir=str(config["ARTICLES_DIR"]),
            base_url=base_url,
            site_title=str(config["SITE_TITLE"]),
            site_description=str(config["SITE_DESCRIPTION"]),
            language=str(config["LANGUAGE"]),
            author=str(config["AUTHOR"]),
            time_zone=zone,
            id_authority=authority,
            **counts,
        )


@dataclass(frozen=True, slots=True)
class Site:
    """What the views need, kept in ``app.extensions["feedsvc"]``."""

    settings: Settings
    library: Library
    cache: ResponseCache


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create the service; ``test_config`` replaces the environment's settings."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        app.config.from_prefixed_env("FEEDSVC")
    else:
        app.config.update(test_config)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    settings = Settings.from_config(app.config)
    library = Library(settings.articles_dir, settings.time_zone)
    cache = ResponseCache(settings.cache_entries, settings.cache_megabytes << 20)
    app.extensions["feedsvc"] = Site(settings, library, cache)
    library.scan()
    if app.config["WATCH"]:
        library.watch(float(app.config["WATCH_INTERVAL"]), float(app.config["RESCAN_SECONDS"]))

    from . import embeds, pages, web

    app.register_blueprint(web.blueprint)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(embeds.blueprint)
    app.wsgi_app = FastPath(app.wsgi_app, library, cache)  # type: ignore[method-assign]
    return app
