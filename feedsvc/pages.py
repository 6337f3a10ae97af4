"""HTML pages: the home page, the tag index, tag and article pages, and /healthz.

Pages are rendered per request (they are cheap next to feeds) and carry their own
validators and a shorter cache lifetime than feeds.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, render_template, request

from .index import SITE, Catalogue
from .web import (
    FORMAT_NAMES,
    FORMATS,
    absolute,
    article_path,
    fail,
    feed_path,
    resolve_tag,
    scope_path,
    scope_title,
    site,
    url,
)

blueprint = Blueprint("pages", __name__)


def feed_links(catalogue: Catalogue, scope: str) -> list[dict[str, str]]:
    """Autodiscovery and visible links to a scope's feeds, one per format."""
    title = scope_title(catalogue, scope)
    return [
        {
            "href": url(feed_path(scope, fmt)),
            "type": FORMATS[fmt][0].split(";")[0],
            "name": FORMAT_NAMES[fmt],
            "title": f"{title} ({FORMAT_NAMES[fmt]})",
        }
        for fmt in FORMATS
    ]


def page(template: str, **context: Any) -> Response:
    """An HTML page with its own validators and a shorter cache lifetime than feeds."""
    settings = site().settings
    html = render_template(template, settings=settings, url=url, **context)
    response = Response(html, mimetype="text/html")
    response.cache_control.public = True
    response.cache_control.max_age = settings.page_max_age
    response.add_etag()
    response.make_conditional(request)
    return response


@blueprint.route("/")
def home() -> Response:
    catalogue = site().library.current()
    return page(
        "index.html",
        articles=catalogue.articles[:30],
        feeds=feed_links(catalogue, SITE),
        title=site().settings.site_title,
        tag_labels=catalogue.labels,
        article_path=article_path,
        scope_path=scope_path,
    )


@blueprint.route("/tags/")
def tags() -> Response:
    catalogue = site().library.current()
    return page(
        "tags.html",
        rows=[(key, catalogue.labels[key], len(items)) for key, items in catalogue.tags_by_count()],
        feed_path=feed_path,
        scope_path=scope_path,
        feeds=feed_links(catalogue, SITE),
        title=f"All tags — {site().settings.site_title}",
    )


@blueprint.route("/tags/<tag>/")
def tag_page(tag: str) -> Response:
    key = resolve_tag(tag)
    catalogue = site().library.current()
    if key not in catalogue.by_tag:
        fail(404, f"no tag {tag!r}")  # its last article went since the URL was resolved
    return page(
        "tag.html",
        key=key,
        label=catalogue.labels[key],
        articles=catalogue.by_tag[key][: site().settings.max_items],
        count=len(catalogue.by_tag[key]),
        feeds=feed_links(catalogue, key),
        title=scope_title(catalogue, key),
        tag_labels=catalogue.labels,
        article_path=article_path,
        scope_path=scope_path,
    )


@blueprint.route("/articles/<slug>")
def article_page(slug: str) -> Response:
    catalogue = site().library.current()
    article = catalogue.by_slug.get(slug)
    if article is None:
        fail(404, f"no article {slug!r}")
    return page(
        "article.html",
        article=article,
        body=site().library.body(article) or (article.standfirst,),
        image=absolute(article.image),
        feeds=feed_links(catalogue, SITE),
        # Readers offered the feeds of the article's tags can follow just those topics.
        more_feeds=[link for tag in article.tags for link in feed_links(catalogue, tag.key)],
        title=article.title,
        tag_labels=catalogue.labels,
        scope_path=scope_path,
    )


@blueprint.route("/healthz")
def healthz() -> Response:
    catalogue = site().library.current()
    report = {
        "status": "ok",
        "articles": len(catalogue.articles),
        "tags": len(catalogue.by_tag),
        "skipped": [{"path": p, "reason": r} for p, r in catalogue.problems.items()],
        "last_update_cpu_ms": round(site().library.last_update_cpu * 1000, 3),
    }
    # ASCII escapes, because a file name need not be valid UTF-8.
    response = Response(json.dumps(report), mimetype="application/json")
    response.cache_control.no_store = True
    return response
