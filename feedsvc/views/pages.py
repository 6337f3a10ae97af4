"""HTML pages: the home page, the tag index, tag and article pages, and /healthz.

Pages are rendered per request (they are cheap next to feeds) and carry their own
validators and a shorter cache lifetime than feeds.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response

from ..index import SITE
from .kit import (
    absolute,
    article_path,
    fail,
    feed_links,
    feed_path,
    page,
    resolve_tag,
    scope_path,
    scope_title,
    site,
    snapshot,
)

blueprint = Blueprint("pages", __name__)

HOME_ITEMS = 30


@blueprint.route("/")
def home() -> Response:
    catalogue = snapshot()
    return page(
        "index.html",
        articles=catalogue.articles[:HOME_ITEMS],
        feeds=feed_links(catalogue, SITE),
        title=site().settings.site_title,
        tag_labels=catalogue.labels,
        article_path=article_path,
        scope_path=scope_path,
    )


@blueprint.route("/tags/")
def tags() -> Response:
    catalogue = snapshot()
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
    catalogue = snapshot()
    key = resolve_tag(catalogue, tag)
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
    catalogue = snapshot()
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
    catalogue = snapshot()
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
