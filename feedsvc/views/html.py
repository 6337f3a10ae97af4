"""HTML pages: rendered per request with their own validators, listings and their pages,
the links to a scope's feeds, and what a shared link shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import Response, render_template

from ..articles import Article
from ..combinations import is_combination
from ..feeds import FORMATS
from ..responses import Representation
from ..store import Snapshot
from ..surrogate import key_headers, keys_of
from ..urls import PREFERRED_FORMAT, feed_path, scope_path
from .kit import fail, send, site, snapshot, url, whole_number
from .policy import PAGE_POLICY, PAGE_SCRIPT, SITE_CSS, policy_headers


def feed_links(index: Snapshot, scope: str) -> list[dict[str, str]]:
    """Autodiscovery and visible links to a scope's feeds, one per format."""
    title = site().syndication.title(index, scope)
    return [
        {
            "href": url(feed_path(scope, fmt.name)),
            "type": fmt.media_type,
            "name": fmt.label,
            "title": f"{title} ({fmt.label})",
        }
        for fmt in sorted(FORMATS.values(), key=lambda f: f.name != PREFERRED_FORMAT)
    ]


def page(
    template: str,
    *,
    policy: str = PAGE_POLICY,
    scope: str | None = None,
    slug: str | None = None,
    status: int = 200,
    **context: Any,
) -> Response:
    """An HTML page under ``policy``, answered by :func:`~feedsvc.responses.respond` as
    feeds are (negotiated, compressed, each coding with its own ETag), with a shorter
    lifetime and no ``Last-Modified``.

    The page is made from ``scope`` (the site or a tag) or from the article ``slug``:
    its surrogate keys name them, and its lifetimes end at the scope's next release.
    A ``status`` other than 200 (a 410) is sent whatever the request's validators say.
    """
    settings = site().settings
    html = render_template(
        template,
        settings=settings,
        url=url,
        site_css=SITE_CSS,
        page_script=PAGE_SCRIPT,
        icons=site().urls.icons,
        opml=site().urls.opml,
        urls=site().urls,
        **context,
    )
    keys = keys_of([] if scope is None else [scope], [] if slug is None else [slug])
    representation = Representation.of(
        html.encode(),
        "text/html; charset=utf-8",
        0.0,  # not dated: no Last-Modified
        settings.page_max_age,
        release=math.inf if scope is None else snapshot().release_of(scope),
        headers=(*key_headers(keys), *policy_headers(policy)),
        shared_max_age=site().syndication.shared_max_age,
        dated=False,
    )
    response = send(representation, conditional=status == 200)
    if response is None:
        raise AssertionError("a fresh rendering holds its body")
    if response.status_code == 200:
        response.status_code = status
    return response


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of a scope's headlines, and where the pages before and after it are."""

    articles: Sequence[Article]
    number: int
    pages: int | None
    """``None`` for a combination of tags: counting would read every match."""
    previous: str | None
    """The newer page's URL (``rel="prev"``)."""
    next: str | None
    """The older page's URL (``rel="next"``)."""
    canonical: str


def listing(index: Snapshot, scope: str) -> Listing:
    """The page of a scope's headlines that ``?page=N`` asks for; past the last is a 404."""
    per_page = site().settings.page_items
    number = whole_number("page", 1) or 1
    offset = (number - 1) * per_page
    pages: int | None
    if is_combination(scope):
        pages = None
        articles = index.newest(scope, per_page + 1, offset)  # one more: is there a next page?
        if number > 1 and not articles:
            fail(404, f"page {number} is past the last page")
        later = len(articles) > per_page
        articles = articles[:per_page]
    else:
        pages = max(1, -(-index.count(scope) // per_page))
        if number > pages:
            fail(404, f"page {number} is past the last page, {pages}")
        later = number < pages
        articles = index.newest(scope, per_page, offset)
    path = scope_path(scope)

    def at(page: int) -> str:
        return url(path, page=page if page > 1 else None)

    return Listing(
        articles=articles,
        number=number,
        pages=pages,
        previous=at(number - 1) if number > 1 else None,
        next=at(number + 1) if later else None,
        canonical=at(number),
    )


Meta = list[tuple[str, str, str]]
"""``<meta>`` elements as (attribute, name, content): ``property`` for Open Graph."""


def share_meta(
    *,
    kind: str,
    title: str,
    description: str,
    address: str,
    image: str | None,
    image_alt: str | None = None,
) -> Meta:
    """Open Graph and Twitter card metadata, so a shared link shows a preview: the
    page's picture when there is one (a large card), else the site's icon (a small one)."""
    settings = site().settings
    picture = image or site().urls.icons.icon
    meta: Meta = [
        ("name", "description", description),
        ("property", "og:type", kind),
        ("property", "og:site_name", settings.site_title),
        ("property", "og:title", title),
        ("property", "og:description", description),
        ("property", "og:url", address),
        ("property", "og:image", picture),
        ("property", "og:locale", settings.language.replace("-", "_")),
        ("name", "twitter:card", "summary_large_image" if image else "summary"),
        ("name", "twitter:title", title),
        ("name", "twitter:description", description),
        ("name", "twitter:image", picture),
    ]
    if image and image_alt:
        meta += [("property", "og:image:alt", image_alt), ("name", "twitter:image:alt", image_alt)]
    return meta
