"""The service's settings: defaults, the environment, and the checks made at start-up.

Plain data, no Flask: the factory, the command line and the benchmark all build a
:class:`Settings` the same way, and nothing else reads the environment.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any
from urllib.parse import urlsplit

from dateutil import tz

PREFIX = "FEEDSVC_"


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: read from ``FEEDSVC_<name>``, checked by its kind."""

    name: str
    default: Any
    kind: str
    """``text`` (taken as written, never read as JSON: "2026" stays a title), ``count``
    (a whole number from ``least`` to ``most``), ``seconds`` (a number from ``least`` to a
    day), ``flag`` (true or false) or ``urls`` (http(s) URLs)."""
    meaning: str
    """What it does, as the docs' settings table says it (Markdown, links from ``docs/``)."""
    least: float = 0
    most: float | None = None
    shown: str = ""
    """The docs' words for a default the value alone does not tell (an empty one, say)."""
    choices: tuple[str, ...] = ()
    """The only values a text setting takes, when it has a few."""


TABLE: tuple[Setting, ...] = (
    Setting("ARTICLES_DIR", "articles", "text", "the folder of article files"),
    Setting(
        "STATE_DIR",
        "",
        "text",
        "where the index lives (see [The index](#the-index)); safe to delete",
        shown="`.feedsvc-state/<folder name>` beside the articles folder",
    ),
    Setting(
        "BASE_URL",
        "http://127.0.0.1:8000",
        "text",
        "the public base URL; every link in feeds and pages is built on it (set it once behind "
        "a proxy); unset, `feedsvc serve` uses the address it listens on (`--host`, `--port`)",
    ),
    Setting("SITE_TITLE", "feedsvc news", "text", "site and feed title"),
    Setting(
        "SITE_DESCRIPTION",
        "The latest articles, as RSS, Atom and JSON Feed, site-wide and per tag.",
        "text",
        "site feed description",
    ),
    Setting(
        "LANGUAGE",
        "en",
        "text",
        "language of the site and its feeds: a language tag such as `en` or `pt-BR`",
    ),
    Setting(
        "AUTHOR",
        "feedsvc newsroom",
        "text",
        "feed author, for articles that name none (they make this author's feed; changing it "
        "builds the index again at the next start)",
    ),
    Setting("FEED_ITEMS", 20, "count", "items per feed page", 1),
    Setting("MAX_ITEMS", 100, "count", "the largest `?limit=` accepted", 1),
    Setting("HEADLINE_ITEMS", 10, "count", "items in the headlines JSON for embeds", 1),
    Setting("TIME_ZONE", "UTC", "text", "zone of dates written without one"),
    Setting(
        "ID_AUTHORITY",
        "",
        "text",
        "the authority of `tag:` ids (`example.org,2026`), taken once when the index is made "
        "and kept; setting a different one against an existing index is refused (it would "
        "publish every article again as new)",
        shown="host of the base URL + `,` + the year",
    ),
    Setting("FEED_MAX_AGE", 300, "count", "`Cache-Control` max-age of feeds, seconds"),
    Setting("PAGE_MAX_AGE", 60, "count", "`Cache-Control` max-age of HTML pages, seconds"),
    Setting("WATCH", True, "flag", "follow the articles folder for changes"),
    # Greater than 0: 0 would make the watcher spin.
    Setting(
        "WATCH_INTERVAL",
        1.0,
        "seconds",
        "seconds between change checks when file events are unavailable",
        0.01,
    ),
    Setting(
        "RESCAN_SECONDS",
        30.0,
        "seconds",
        "seconds between full rescans that catch missed file events",
        0.01,
    ),
    Setting(
        "WORKER_TIMEOUT",
        5.0,
        "seconds",
        "under `feedsvc serve`, how long a worker may go without its heartbeat (stopped, stuck, "
        "swapping) before it is killed and replaced (see [Serving](#serving))",
        2.0,
    ),
    Setting(
        "REQUEST_HEAD_SECONDS",
        10.0,
        "seconds",
        "under `feedsvc serve`, how long a connection may go without a complete request head "
        "before it is closed: a new connection that sends nothing, one that dribbles its head, "
        "a keep-alive connection idle after its last answer (see [Serving](#serving))",
        0.5,
    ),
    Setting("CACHE_ENTRIES", 8192, "count", "rendered responses kept in memory, at most", 1),
    Setting(
        "CACHE_MEGABYTES",
        256,
        "count",
        "memory those responses may take, at most (per worker); their fast-path aliases take up"
        " to a sixteenth more (see [Memory under hostile "
        "requests](http.md#memory-under-hostile-requests))",
        1,
    ),
    Setting(
        "SHELF_MEGABYTES",
        4096,
        "count",
        "disk the rendered representations kept in the state directory may take (see [Kept "
        "representations](http.md#kept-representations)); `0` keeps none and renders on demand",
    ),
    Setting(
        "MAX_REMOVED_PERCENT",
        50,
        "count",
        "the most of the published articles that files removed within a minute may withdraw;"
        " more is taken for a fault (a folder moved away or emptied for a moment), the removals"
        " are held and the site served as it was (see [A folder that vanishes](#a-folder-that-"
        "vanishes)); `100` never holds them",
        1,
        100,
    ),
    Setting(
        "MAX_ARTICLE_BYTES",
        1 << 20,
        "count",
        "the largest article file read; a larger one is skipped and reported",
        1,
    ),
    Setting(
        "MAX_KEYWORDS",
        100,
        "count",
        "the most tags an article carries; it keeps its first ones and the rest are logged (see"
        " [Limits](articles.md#limits))",
        1,
        1_000,
    ),
    Setting(
        "MAX_AUTHORS",
        20,
        "count",
        "the most authors an article's `author:` line names; it keeps its first ones and the"
        " rest are logged, as is a name longer than a tag may be (see [Limits](articles.md#"
        "limits))",
        1,
        1_000,
    ),
    Setting(
        "COSTLY_AT_ONCE",
        1,
        "count",
        "searches and combinations of tags read from the index at once, across the workers;"
        " one more is a `503` with `Retry-After`, so the other workers stay free for kept feeds"
        " (see [Costly requests](http.md#costly-requests))",
        1,
        1_000,
    ),
    # Each tag of a combination is one more index lookup for every article it reads.
    Setting(
        "MAX_COMBINED_TAGS",
        4,
        "count",
        "the most tags a combination of tags names (see [Combinations of "
        "tags](http.md#combinations-of-tags)); more is a `400`",
        2,
        16,
    ),
    # At most a million: no text node of a feed then comes near the 10 MB that libxml2
    # refuses without XML_PARSE_HUGE, even with every character escaped.
    Setting(
        "ITEM_CONTENT_BYTES",
        100_000,
        "count",
        "the most bytes of HTML content a feed item carries; a longer article is carried as its"
        " standfirst and a link",
        1_000,
        1_000_000,
    ),
    Setting(
        "INDEX_WORKERS",
        0,
        "count",
        "processes that read files during a first build; `0` is one per core (a first build "
        "uses at most 8)",
    ),
    Setting(
        "HEALTH_DETAILS",
        False,
        "flag",
        "show `/healthz`'s list of skipped files and reasons to every client, not only to local"
        " ones (see [Health](http.md#health))",
    ),
    Setting(
        "ICON_URL",
        "",
        "text",
        "the site's square icon, absolute or from the site root: Atom `icon`, JSON Feed `icon` "
        "and `favicon`, the pages' icon and their preview picture when they have none (see "
        "[Icons](http.md#icons))",
        shown="the built-in `/icon.png`",
    ),
    Setting(
        "LOGO_URL",
        "",
        "text",
        "the site's logo, absolute or from the site root: Atom `logo` and the RSS `image` (Atom"
        " suggests twice as wide as tall; RSS allows at most 144 pixels wide and 400 high)",
        shown="the icon",
    ),
    Setting(
        "PAGE_ITEMS",
        30,
        "count",
        "headlines per page on the home and tag pages; `?page=N` shows the older ones",
        1,
        1_000,
    ),
    Setting(
        "ACCESS_LOG",
        "combined",
        "text",
        "the access log of `feedsvc serve`: the combined log format with the response time, "
        "JSON lines, or none (see [Access log](#access-log))",
        choices=("combined", "json", "off"),
    ),
    Setting(
        "PURGE_URLS",
        "",
        "urls",
        "caches to purge on each change, http(s) URLs separated by spaces or commas "
        "(`http://10.0.0.5:6081/`); each gets `PURGE` with an `xkey-purge` header (see [Shared "
        "caches and WebSub](#shared-caches-and-websub))",
        shown="empty",
    ),
    Setting(
        "SHARED_MAX_AGE",
        86_400,
        "count",
        "`s-maxage` of cacheable answers, seconds: how long a purged shared cache keeps them; "
        "sent only with `FEEDSVC_PURGE_URLS`",
    ),
    Setting(
        "WEBSUB_HUBS",
        "",
        "urls",
        "WebSub hubs every feed advertises and that are told of each change, http(s) URLs "
        "separated by spaces or commas",
        shown="empty",
    ),
)
"""Every setting, its default, its check and its meaning: the one place each is written.
The environment, :class:`Settings` and the docs' table (:func:`reference`) follow."""

SETTINGS = {setting.name: setting for setting in TABLE}
DEFAULTS: dict[str, Any] = {setting.name: setting.default for setting in TABLE}
"""Every setting and its default; each is read from ``FEEDSVC_<NAME>`` too."""
_MOST_SECONDS = 86_400.0
_TEXTS = tuple(setting.name for setting in TABLE if setting.kind == "text")
# Any C0 or C1 control character, a lone surrogate or a noncharacter XML forbids: in a
# title or an author it would make every feed and the OPML ill-formed.
_FORBIDDEN_IN_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")


REFERENCE_HEADING = "| variable | default | values | meaning |\n|---|---|---|---|\n"
_LONGEST_SHOWN = 30
"""A longer default text is shown cut at a word, with an ellipsis."""


def reference() -> str:
    """The docs' table of settings (``docs/operations.md``), made from :data:`TABLE`:
    ``scripts/settings_reference.py`` writes it there, and the docs test checks it is."""
    return REFERENCE_HEADING + "".join(
        f"| `{PREFIX}{setting.name}` | {_default_shown(setting)} | {_values(setting)} "
        f"| {setting.meaning} |\n"
        for setting in TABLE
    )


def _default_shown(setting: Setting) -> str:
    if setting.shown:
        return setting.shown
    value = setting.default
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if len(text) > _LONGEST_SHOWN:
        text = text[:_LONGEST_SHOWN].rsplit(" ", 1)[0] + " …"
    return f"`{text}`"


def _values(setting: Setting) -> str:
    """What a setting of its kind and bounds takes, as the checks below hold it to."""
    if setting.kind == "count":
        if setting.most is not None:
            return f"{setting.least:,.0f} to {setting.most:,.0f}"
        return f"{setting.least:,.0f} or more"
    if setting.kind == "seconds":
        return f"{setting.least:g} to {_MOST_SECONDS:,.0f} s"
    if setting.choices:
        *most, last = (f"`{choice}`" for choice in setting.choices)
        return f"{', '.join(most)} or {last}"
    return {"flag": "`true` or `false`", "urls": "http(s) URLs"}.get(setting.kind, "text")


class SettingsError(ValueError):
    """A setting that the service cannot start with; the message names it."""


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``FEEDSVC_*`` variables: text settings as written, the others read as JSON
    when it parses (``20``, ``false``)."""
    found: dict[str, Any] = {}
    for name, text in environ.items():
        if name.startswith(PREFIX):
            key = name.removeprefix(PREFIX)
            try:
                found[key] = text if key in _TEXTS else json.loads(text)
            except ValueError:
                found[key] = text
    return found


def unknown_settings(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """Each ``FEEDSVC_*`` variable that names no setting (a misspelling is otherwise
    silently ignored), with the setting whose name is nearest, if one is near."""
    found = []
    for name in sorted(environ):
        key = name.removeprefix(PREFIX)
        if name.startswith(PREFIX) and key not in SETTINGS:
            near = difflib.get_close_matches(key, list(SETTINGS), n=1, cutoff=0.6)
            found.append((name, PREFIX + near[0] if near else None))
    return found


def _shown(value: object, most: int = 60) -> str:
    """A value as a message quotes it, on one line and cut short."""
    shown = repr(value)
    return shown if len(shown) <= most else f"{shown[: most - 5]}...{shown[-2:]}"


def _text(config: Mapping[str, Any], name: str) -> str:
    value = config[name]
    if isinstance(value, (dict, list)) or value is None:
        raise SettingsError(f"{PREFIX}{name} must be text, not {_shown(value)}")
    text = str(value)
    if found := _FORBIDDEN_IN_TEXT.search(text):
        raise SettingsError(
            f"{PREFIX}{name} holds the control character U+{ord(found[0]):04X} "
            f"at position {found.start() + 1}: {_shown(text)}"
        )
    return text


def _count(config: Mapping[str, Any], name: str) -> int:
    value = config[name]
    least, most = int(SETTINGS[name].least), SETTINGS[name].most
    most = None if most is None else int(most)
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < least
        or (most is not None and value > most)
    ):
        span = f"from {least:,}" if most is None else f"from {least:,} to {most:,}"
        raise SettingsError(f"{PREFIX}{name} must be a whole number {span}, not {_shown(value)}")
    return value


def _seconds(config: Mapping[str, Any], name: str) -> float:
    value = config[name]
    least = SETTINGS[name].least
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not least <= value <= _MOST_SECONDS
    ):
        raise SettingsError(
            f"{PREFIX}{name} must be a number of seconds from {least} to {_MOST_SECONDS:,.0f}, "
            f"not {_shown(value)}"
        )
    return float(value)


def _flag(config: Mapping[str, Any], name: str) -> bool:
    value = config[name]
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("true", "yes", "on", "1"):
        return True
    if word in ("false", "no", "off", "0"):
        return False
    raise SettingsError(f"{PREFIX}{name} must be true or false, not {_shown(value)}")


def _urls(config: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """A list of http(s) URLs: given as a list, or as text separated by spaces or commas."""
    value = config[name]
    if isinstance(value, str):
        given: list[object] = list(value.replace(",", " ").split())
    elif isinstance(value, (list, tuple)):
        given = list(value)
    else:
        raise SettingsError(f"{PREFIX}{name} must be http(s) URLs, not {_shown(value)}")
    urls = []
    for item in given:
        text = item.strip() if isinstance(item, str) else item
        if not isinstance(text, str) or _FORBIDDEN_IN_TEXT.search(text) or " " in text:
            raise SettingsError(f"{PREFIX}{name} holds {_shown(item)}, which is not an http(s) URL")
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 (a port that is not a number raises here)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"{PREFIX}{name} holds {_shown(item)}, which is not an http(s) URL")
        if text not in urls:
            urls.append(text)
    return tuple(urls)


def _zone(name: str) -> tzinfo | None:
    if not name:
        return None  # gettz("") would be the machine's zone, whatever it is
    try:
        return tz.gettz(name)
    except (ValueError, OSError):  # a name too long for a file name, say
        return None


def _image_url(text: str) -> bool:
    """Empty, a path from the site root, or an absolute http(s) URL: what feeds may carry."""
    if not text:
        return True
    if text.startswith("/") and not text.startswith("//"):
        return not any(c.isspace() for c in text)
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in text


def state_dir_problem(path: str) -> str | None:
    """Why the state directory cannot be used, or ``None``; makes it when it is missing."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        return f"cannot create the state directory {path}: {exc.strerror or exc}"
    if not os.access(path, os.W_OK):
        return f"the state directory {path} is not writable"
    return None


def articles_dir_problem(path: str) -> str | None:
    """Why the articles folder cannot be served, or ``None``: checked once at start-up.

    A folder that goes missing later is reported by the index instead, and served
    again when it is back.
    """
    try:
        with os.scandir(path) as entries:
            next(entries, None)
    except OSError as exc:
        return f"cannot list the articles directory {path}: {exc.strerror or exc}"
    return None


@dataclass(frozen=True, slots=True)
class Settings:
    """The settings, checked and typed once at start-up: one field per setting of
    :data:`TABLE` (its name in lower case, its meaning there), and what is derived."""

    articles_dir: str
    state_dir: str
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
    id_authority_given: bool
    """Whether FEEDSVC_ID_AUTHORITY was set: an index of another authority is then refused."""
    feed_max_age: int
    page_max_age: int
    cache_entries: int
    cache_megabytes: int
    shelf_megabytes: int
    watch: bool
    watch_interval: float
    rescan_seconds: float
    max_removed_percent: int
    max_article_bytes: int
    max_keywords: int
    max_authors: int
    item_content_bytes: int
    index_workers: int
    health_details: bool
    icon_url: str
    logo_url: str
    page_items: int
    access_log: str
    request_head_seconds: float
    worker_timeout: float
    shared_max_age: int
    purge_urls: tuple[str, ...]
    websub_hubs: tuple[str, ...]
    max_combined_tags: int
    costly_at_once: int

    @classmethod
    def from_mapping(cls, given: Mapping[str, Any]) -> Settings:
        """Check ``given`` (names without the prefix) over :data:`DEFAULTS`."""
        config = {**DEFAULTS, **given}
        texts = {name: _text(config, name) for name in _TEXTS}
        base_url = texts["BASE_URL"].rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(
                f"{PREFIX}BASE_URL {_shown(base_url)} is not an absolute http(s) URL"
            )
        zone = _zone(texts["TIME_ZONE"])
        if zone is None:
            raise SettingsError(
                f"{PREFIX}TIME_ZONE {_shown(texts['TIME_ZONE'])} is not a known time zone"
            )
        if not _LANGUAGE.fullmatch(texts["LANGUAGE"]):
            raise SettingsError(
                f"{PREFIX}LANGUAGE {_shown(texts['LANGUAGE'])} is not a language tag such as 'en' "
                "or 'pt-BR'"
            )
        read: dict[str, Callable[[Mapping[str, Any], str], Any]] = {
            "count": _count,
            "seconds": _seconds,
            "flag": _flag,
            "urls": _urls,
        }
        typed: dict[str, Any] = {
            setting.name.lower(): read[setting.kind](config, setting.name)
            for setting in TABLE
            if setting.kind in read
        }
        counts = typed
        for name in ("FEED_ITEMS", "HEADLINE_ITEMS"):
            if counts[name.lower()] > counts["max_items"]:
                raise SettingsError(
                    f"{PREFIX}{name} must not be more than MAX_ITEMS ({counts['max_items']})"
                )
        # Used only when a new index is made: the index keeps the authority of its birth.
        authority = texts["ID_AUTHORITY"] or f"{parts.hostname},{time.gmtime().tm_year}"
        if not re.fullmatch(r"[A-Za-z0-9.@-]+,\d{4}(-\d{2}(-\d{2})?)?", authority, re.ASCII):
            raise SettingsError(
                f"{PREFIX}ID_AUTHORITY {_shown(authority)} is not a tag URI authority such as "
                "'example.org,2026'"
            )
        access_log = texts["ACCESS_LOG"].strip().lower()
        if access_log not in (formats := SETTINGS["ACCESS_LOG"].choices):
            raise SettingsError(
                f"{PREFIX}ACCESS_LOG must be one of {', '.join(formats)}, "
                f"not {_shown(texts['ACCESS_LOG'])}"
            )
        for name in ("ICON_URL", "LOGO_URL"):
            if not _image_url(texts[name]):
                raise SettingsError(
                    f"{PREFIX}{name} {_shown(texts[name])} is neither an absolute http(s) URL "
                    "nor a path from the site root"
                )
        articles_dir = os.path.abspath(texts["ARTICLES_DIR"])
        state_dir = texts["STATE_DIR"] or os.path.join(
            os.path.dirname(articles_dir), ".feedsvc-state", os.path.basename(articles_dir)
        )
        return cls(
            articles_dir=articles_dir,
            state_dir=os.path.abspath(state_dir),
            base_url=base_url,
            site_title=texts["SITE_TITLE"],
            site_description=texts["SITE_DESCRIPTION"],
            language=texts["LANGUAGE"],
            author=texts["AUTHOR"],
            time_zone=zone,
            id_authority=authority,
            id_authority_given=bool(texts["ID_AUTHORITY"]),
            icon_url=texts["ICON_URL"],
            logo_url=texts["LOGO_URL"],
            access_log=access_log,
            **typed,
        )
