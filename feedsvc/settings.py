"""The service's settings: defaults, the environment, and the checks made at start-up.

Plain data, no Flask: the factory, the command line and the benchmark all build a
:class:`Settings` the same way, and nothing else reads the environment.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any
from urllib.parse import urlsplit

from dateutil import tz

PREFIX = "FEEDSVC_"

DEFAULTS: dict[str, Any] = {
    "ARTICLES_DIR": "articles",
    "STATE_DIR": "",
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
    "MAX_ARTICLE_BYTES": 1 << 20,
    "INDEX_WORKERS": 0,
    "HEALTH_DETAILS": False,
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
    "MAX_ARTICLE_BYTES": 1,
    "INDEX_WORKERS": 0,
}


class SettingsError(ValueError):
    """A setting that the service cannot start with."""


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``FEEDSVC_*`` variables, each read as JSON when it parses (``20``, ``false``)."""
    found: dict[str, Any] = {}
    for name, text in environ.items():
        if name.startswith(PREFIX):
            try:
                found[name.removeprefix(PREFIX)] = json.loads(text)
            except ValueError:
                found[name.removeprefix(PREFIX)] = text
    return found


@dataclass(frozen=True, slots=True)
class Settings:
    """The settings, checked and typed once at start-up."""

    articles_dir: str
    state_dir: str
    """Where the index lives; by default ``.feedsvc-state/<folder name>`` beside the folder."""
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
    watch: bool
    watch_interval: float
    rescan_seconds: float
    max_article_bytes: int
    index_workers: int
    """Processes that read files in a first build; 0: one per core."""
    health_details: bool = False
    """Show /healthz's skipped files and reasons to every client, not only local ones."""

    @classmethod
    def from_mapping(cls, given: Mapping[str, Any]) -> Settings:
        """Check ``given`` (names without the prefix) over :data:`DEFAULTS`."""
        config = {**DEFAULTS, **given}
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
        if not isinstance(config["HEALTH_DETAILS"], bool):
            raise SettingsError(
                f"HEALTH_DETAILS must be true or false, not {config['HEALTH_DETAILS']!r}"
            )
        articles_dir = os.path.abspath(str(config["ARTICLES_DIR"]))
        state_dir = str(config["STATE_DIR"]) or os.path.join(
            os.path.dirname(articles_dir), ".feedsvc-state", os.path.basename(articles_dir)
        )
        return cls(
            articles_dir=articles_dir,
            state_dir=os.path.abspath(state_dir),
            base_url=base_url,
            site_title=str(config["SITE_TITLE"]),
            site_description=str(config["SITE_DESCRIPTION"]),
            language=str(config["LANGUAGE"]),
            author=str(config["AUTHOR"]),
            time_zone=zone,
            id_authority=authority,
            watch=bool(config["WATCH"]),
            watch_interval=float(config["WATCH_INTERVAL"]),
            rescan_seconds=float(config["RESCAN_SECONDS"]),
            health_details=config["HEALTH_DETAILS"],
            **counts,
        )
