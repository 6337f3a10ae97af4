"""Surrogate keys and WebSub topics: the names a shared cache and a hub know our content by.

A response names every scope it is made from, so a change purges exactly what it
touched: a tag's feed carries ``tag:<key>`` (never the site's key), the site's
feeds and pages ``site``, an author's ``author:<key>``, an article's page
``article:<slug>``, and everything
carries :data:`EVERYTHING`, for the rare change that touches every page (a tag
relabelled). Keys are ASCII (tag keys and slugs percent-encoded) and hold no
space or comma, so one list reads the same in each cache's header: Varnish's
``xkey`` and Fastly's ``Surrogate-Key`` (space-separated) and Cloudflare's
``Cache-Tag`` (comma-separated). Plain data, no Flask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from urllib.parse import quote

from .combinations import is_combination, parse
from .responses import Rendered
from .search import is_search
from .store import SITE, STATIC
from .urls import AUTHORS, FEED_FORMATS, feed_path

EVERYTHING = "all"
"""The key every cacheable response carries."""
SEARCH = "search"
"""The key of every search's answers: any change to the site may change what one matches."""
KEY_HEADERS = ("xkey", "Surrogate-Key", "Cache-Tag")
"""The headers that carry the keys, one per kind of cache."""


def scope_key(scope: str) -> str:
    """The key of a scope: ``site``, ``static``, ``tag:<key>`` or ``author:<key>``."""
    if scope == SITE:
        return "site"
    if scope == STATIC:
        return "static"
    if AUTHORS.owns(scope):
        return f"author:{quote(AUTHORS.key(scope), safe='')}"
    return f"tag:{quote(scope, safe='')}"


def article_key(slug: str) -> str:
    return f"article:{quote(slug, safe='')}"


def keys_of(scopes: Iterable[str] = (), slugs: Iterable[str] = ()) -> tuple[str, ...]:
    """The keys of a response made from these scopes and articles, :data:`EVERYTHING` first.

    A combination of tags is named by each of its tags: a change to one purges every
    combination holding it, and nothing lists the combinations. Every search is named
    :data:`SEARCH`, purged with each change to the site."""
    named = {article_key(slug) for slug in slugs}
    for scope in scopes:
        if is_search(scope):
            named.add(SEARCH)
            continue
        tags = parse(scope).tags if is_combination(scope) else (scope,)
        named.update(scope_key(tag) for tag in tags)
    return (EVERYTHING, *sorted(named))


def key_headers(keys: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """The headers naming ``keys`` for Varnish (xkey), Fastly and Cloudflare."""
    listed = tuple(keys)
    spaced = " ".join(listed)
    return (("xkey", spaced), ("Surrogate-Key", spaced), ("Cache-Tag", ",".join(listed)))


def with_keys(render: Callable[[], Rendered], scope: str) -> Callable[[], Rendered]:
    """``render``, its rendering carrying the scope's surrogate keys."""

    def render_with_keys() -> Rendered:
        rendered = render()
        return replace(rendered, headers=(*rendered.headers, *key_headers(keys_of([scope]))))

    return render_with_keys


def topics_of(base_url: str, scopes: Iterable[str]) -> tuple[str, ...]:
    """The WebSub topics of these scopes: each one's feed in every format (each format
    is a topic of its own)."""
    return tuple(
        base_url + feed_path(scope, fmt)
        for scope in sorted(s for s in set(scopes) if s != STATIC)
        for fmt in FEED_FORMATS
    )


def hub_links(hubs: Iterable[str], topic: str) -> str:
    """A ``Link`` header value advertising the hubs and the topic itself (WebSub 4)."""
    return ", ".join([*(f'<{hub}>; rel="hub"' for hub in hubs), f'<{topic}>; rel="self"'])
