"""HTML pages: the home page, the tag index, tag and article pages, and /healthz.

Pages are rendered per request (they are cheap next to feeds) and carry their own
validators and a shorter cache lifetime than feeds.
"""

from __future__ import annotations

import json

from flask import Response

from ..store import SITE
from .kit import (
    Routes,
    absolute,
    article_path,
    fail,
    feed_links,
    feed_path,
    page,
    quoted,
    resolve_tag,
    scope_path,
    scope_title,
    site,
    snapshot,
    tag_labels,
)

blueprint = Routes("pages", __name__)

HOME_ITEMS = 30


@blueprint.route("/")
def home() -> Response:
    view = snapshot()
    articles = view.newest(SITE, HOME_ITEMS)
    return page(
        "index.html",
        articles=articles,
        feeds=feed_links(view, SITE),
        title=site().settings.site_title,
        tag_labels=tag_labels(view, articles),
        article_path=article_path,
        scope_path=scope_path,
    )


@blueprint.route("/tags/")
def tags() -> Response:
    view = snapshot()
    return page(
        "tags.html",
        rows=[(tag.key, tag.label, tag.count) for tag in view.tags_by_count()],
        feed_path=feed_path,
        scope_path=scope_path,
        feeds=feed_links(view, SITE),
        title=f"All tags — {site().settings.site_title}",
    )


@blueprint.route("/tags/<tag>/")
def tag_page(tag: str) -> Response:
    view = snapshot()
    key = resolve_tag(view, tag)
    articles = view.newest(key, site().settings.max_items)
    return page(
        "tag.html",
        key=key,
        label=view.label(key),
        articles=articles,
        count=view.count(key),
        feeds=feed_links(view, key),
        title=scope_title(view, key),
        tag_labels=tag_labels(view, articles),
        article_path=article_path,
        scope_path=scope_path,
    )


@blueprint.route("/articles/<slug>")
def article_page(slug: str) -> Response:
    view = snapshot()
    article = view.article(slug)
    if article is None:
        fail(404, f"no article {quoted(slug)}")
    return page(
        "article.html",
        article=article,
        body=view.body(slug),
        image=absolute(article.image),
        feeds=feed_links(view, SITE),
        # Readers offered the feeds of the article's tags can follow just those topics.
        more_feeds=[link for tag in article.tags for link in feed_links(view, tag.key)],
        title=article.title,
        tag_labels=tag_labels(view, [article]),
        scope_path=scope_path,
    )


@blueprint.route("/healthz")
def healthz() -> Response:
    """Counts, skipped files, and how far indexing has come; answers during a first build."""
    current = site()
    progress = current.store.progress()
    report: dict[str, object] = {
        "status": "ok",
        "index": progress.phase,
        "progress": {"done": progress.done, "total": progress.total, "rate": progress.rate},
    }
    if current.store.ready():
        view = snapshot()
        report["articles"] = view.count(SITE)
        report["tags"] = len(view.tags_by_count())
        report["skipped"] = [{"path": p, "reason": r} for p, r in view.problems().items()]
    else:
        report["status"] = "starting"
    if current.indexer is not None:
        report["last_update_cpu_ms"] = round(current.indexer.last_update_cpu * 1000, 3)
    # ASCII escapes, because a file name need not be valid UTF-8.
    response = Response(json.dumps(report), mimetype="application/json")
    response.cache_control.no_store = True
    return response
