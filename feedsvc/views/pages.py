"""HTML pages: the home page, the tag index, tag and article pages, and /healthz.

Pages are rendered per request (they are cheap next to feeds) and carry their own
validators and a shorter cache lifetime than feeds.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from flask import Response, request

from ..articles import Article
from ..combinations import is_combination
from ..feeds import rfc3339
from ..notify import failing, read_status
from ..room import room
from ..silent import connection_limit
from ..store import SITE, Snapshot, damage_reported
from ..syndication import tag_labels
from ..urls import (
    ARTICLE_RULE,
    AUTHOR_INDEX_PATH,
    AUTHORS,
    HEALTH_PATH,
    SEARCH_PATH,
    TAG_INDEX_PATH,
    TAGS,
    TOPIC,
    article_path,
    scope_path,
    site_rule,
)
from ..workers import HEARTBEAT, died, hung, replaced_hung
from .html import Listing, feed_links, listing, page, share_meta
from .kit import (
    Routes,
    absolute,
    fail,
    moved,
    quoted,
    resolve_author,
    resolve_scope,
    resolve_search,
    resolve_topic,
    site,
    snapshot,
    url,
    whole_number,
)
from .policy import SEARCH_POLICY, secure

blueprint = Routes("pages", __name__)


@blueprint.route(site_rule())
def home() -> Response:
    index = snapshot()
    settings = site().settings
    shown = listing(index, SITE)
    return page(
        "index.html",
        scope=SITE,
        listing=shown,
        articles=shown.articles,
        feeds=feed_links(index, SITE),
        title=settings.site_title
        if shown.number == 1
        else f"{settings.site_title}: page {shown.number}",
        meta=share_meta(
            kind="website",
            title=settings.site_title,
            description=settings.site_description,
            address=shown.canonical,
            image=first_image(shown.articles),
        ),
        tag_labels=tag_labels(index, shown.articles),
    )


def first_image(articles: Sequence[Article]) -> str | None:
    """The picture of the newest article listed that has one: a listing's preview."""
    return next((absolute(a.image) for a in articles if a.image), None)


LISTED_PER_PAGE = 500
"""Tags or authors listed on each page of the tag index and the author index: a site
of many thousand tags is a page's worth of rows a request, never all of them."""


def index_page(
    index: Snapshot,
    template: str,
    path: str,
    heading: str,
    total: int,
    rows: Callable[[int, int], list[Any]],
) -> Response:
    """One page of the tag index or the author index: of ``total`` entries at ``path``,
    the page ``?page=N`` asks for, its rows read by ``rows(limit, offset)``; past the
    last page is a 404."""
    number = whole_number("page", 1) or 1
    pages = max(1, -(-total // LISTED_PER_PAGE))
    if number > pages:
        fail(404, f"page {number} is past the last page, {pages}")

    def at(page: int) -> str:
        return url(path, page=page if page > 1 else None)

    title = f"{heading} — {site().settings.site_title}"
    return page(
        template,
        scope=SITE,
        rows=rows(LISTED_PER_PAGE, (number - 1) * LISTED_PER_PAGE),
        listing=Listing(
            articles=(),
            number=number,
            pages=pages,
            previous=at(number - 1) if number > 1 else None,
            next=at(number + 1) if number < pages else None,
            canonical=at(number),
        ),
        feeds=feed_links(index, SITE),
        title=title if number == 1 else f"{title}: page {number}",
    )


@blueprint.route(TAG_INDEX_PATH)
def tags() -> Response:
    index = snapshot()
    return index_page(
        index, "tags.html", TAG_INDEX_PATH, "All tags", index.tag_count(), index.tags_by_count
    )


@blueprint.route(TAGS.rule())
def tag_page(tag: str) -> Response:
    index = snapshot()
    key = resolve_scope(index, tag)
    return scope_page(index, key, "tag.html", "website", key=key)


def scope_page(index: Snapshot, scope: str, template: str, kind: str, **more: Any) -> Response:
    """A tag's or an author's page (or a combination's): one page of its headlines, its
    feeds, and what a shared link shows."""
    shown = listing(index, scope)
    label = index.label(scope)
    syndication = site().syndication
    title = syndication.title(index, scope)
    description = syndication.description(scope, label)
    return page(
        template,
        scope=scope,
        label=label,
        listing=shown,
        articles=shown.articles,
        count=None if is_combination(scope) else index.count(scope),
        feeds=feed_links(index, scope),
        title=title if shown.number == 1 else f"{title}: page {shown.number}",
        meta=share_meta(
            kind=kind,
            title=title,
            description=f"{description} on {site().settings.site_title}",
            address=shown.canonical,
            image=first_image(shown.articles),
        ),
        tag_labels=tag_labels(index, shown.articles),
        **more,
    )


@blueprint.route(AUTHOR_INDEX_PATH)
def authors() -> Response:
    index = snapshot()
    return index_page(
        index,
        "authors.html",
        AUTHOR_INDEX_PATH,
        "All authors",
        index.author_count(),
        index.authors_by_date,
    )


@blueprint.route(AUTHORS.rule())
def author_page(author: str) -> Response:
    index = snapshot()
    return scope_page(index, resolve_author(index, author), "author.html", "profile")


@blueprint.route(AUTHORS.rule(f"{TOPIC}<tag>/"))
def author_topic_page(author: str, tag: str) -> Response:
    index = snapshot()
    return scope_page(index, resolve_topic(index, author, tag), "author.html", "profile")


@blueprint.route(SEARCH_PATH)
def search() -> Response:
    """The search form, and with ``?q=`` the articles that match, newest first, with the
    links to the search's feeds."""
    index = snapshot()
    title = f"Search — {site().settings.site_title}"
    if not request.args.get("q", "").strip():
        return page(
            "search.html",
            policy=SEARCH_POLICY,
            scope=SITE,
            q="",
            feeds=feed_links(index, SITE),
            title=title,
        )
    scope = resolve_search()
    shown = listing(index, scope)
    label = index.label(scope)
    return page(
        "search.html",
        policy=SEARCH_POLICY,
        scope=scope,
        q=label,
        listing=shown,
        articles=shown.articles,
        feeds=feed_links(index, scope),
        empty="No article holds these words.",
        title=f"{label} — {title}" if shown.number == 1 else f"{label}: page {shown.number}",
        tag_labels=tag_labels(index, shown.articles),
    )


@blueprint.route(ARTICLE_RULE)
def article_page(slug: str) -> Response:
    index = snapshot()
    article = index.article(slug)
    if article is None:
        if (current := index.moved_to(slug)) is not None:
            return moved(article_path(current))  # renamed: its old address still works
        if (title := index.gone(slug)) is not None:
            return gone_page(index, slug, title)
        fail(404, f"no article {quoted(slug)}")
    image = absolute(article.image)
    labels = tag_labels(index, [article])
    address = url(article_path(slug))
    meta = share_meta(
        kind="article",
        title=article.title,
        description=article.standfirst,
        address=address,
        image=image,
        image_alt=article.caption or article.title,
    )
    meta += [
        ("property", "article:published_time", rfc3339(article.published)),
        ("property", "article:modified_time", rfc3339(article.updated)),
    ]
    # Open Graph's article:author is a profile: each author's page.
    meta += [("property", "article:author", url(scope_path(a.key))) for a in article.authors]
    meta += [("property", "article:tag", labels.get(t.key, t.label)) for t in article.tags]
    return page(
        "article.html",
        slug=slug,
        article=article,
        body=index.body(slug),
        image=image,
        canonical=address,
        meta=meta,
        feeds=feed_links(index, SITE),
        # Readers offered the feeds of the article's tags can follow just those topics.
        more_feeds=[link for tag in article.tags for link in feed_links(index, tag.key)],
        title=article.title,
        tag_labels=labels,
    )


def gone_page(index: Snapshot, slug: str, title: str) -> Response:
    """410 for a deleted article: not a typo's 404, and a way back to the site."""
    return page(
        "gone.html",
        slug=slug,
        status=410,
        title=f"Removed: {title}",
        removed=title,
        feeds=feed_links(index, SITE),
    )


HEALTH_STATUS = {"ok": 200, "starting": 200, "degraded": 200, "failing": 503}
# Reasons are fixed text around quoted fragments of the file ('the offending line'):
# the fragments go, the few quotes that are part of the fixed text stay.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'" r'|"(?:[^"\\]|\\.)*"')
_FIXED_QUOTES = frozenset({"'key: value'", "'---'", "'.'", "'-'", "'_'", "'en'", "'pt-BR'"})
MAX_REASON = 120
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def public_reason(reason: str, directory: str) -> str:
    """A skipped file's reason without what the file says, with paths made relative."""
    reason = reason.replace(directory + os.sep, "")
    reason = _QUOTED.sub(lambda m: m[0] if m[0] in _FIXED_QUOTES else "", reason)
    reason = re.sub(r" +([:,)])", r"\1", " ".join(reason.split()))
    return reason.rstrip(": ")[:MAX_REASON]


def relative(path: str, directory: str) -> str:
    """``path`` from the articles folder: ``.`` for the folder itself."""
    if path == directory:
        return "."
    return path.removeprefix(directory + os.sep)


def folder_problem(directory: str) -> str | None:
    """Why the articles folder cannot be read right now, or ``None``."""
    if not os.path.isdir(directory):
        return "the articles directory is missing"
    if not os.access(directory, os.R_OK | os.X_OK):
        return "the articles directory cannot be listed"
    return None


def local_client() -> bool:
    """A client on this host, talking to us directly: a loopback address, and no proxy
    header (behind a proxy on the same host every request comes from loopback)."""
    if any(name in request.headers for name in PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


LATE_BEATS = 2.5
"""A worker whose heartbeat is this many beats late is said not to answer (it is killed
at ``FEEDSVC_WORKER_TIMEOUT``)."""

HEALTH_LISTED = 100
"""The most skipped files ``/healthz`` lists, the first by path: a health check polled
every few seconds stays cheap when a folder holds thousands of broken files (``feedsvc
check`` lists every one)."""


@blueprint.route(HEALTH_PATH)
def healthz() -> Response:
    """How the service is: ``ok``, ``starting`` (a first build runs), ``degraded`` (files
    were skipped) or ``failing`` (the articles folder cannot be read; a 503).

    Counts and progress for anyone; each skipped file with its reason only for a
    local client or with ``FEEDSVC_HEALTH_DETAILS``. Never cross-origin.
    """
    current = site()
    directory = current.settings.articles_dir
    progress = current.store.progress()
    report: dict[str, object] = {
        "status": "ok",
        "index": progress.phase,
        "progress": {"done": progress.done, "total": progress.total, "rate": progress.rate},
    }
    problems: dict[str, str] = {}
    skipped = 0
    # "starting" until the first build says it is done, even once its database is in
    # place: the two are one moment apart, and the index phase is what callers follow.
    if current.store.ready() and progress.phase != "building":
        index = snapshot()
        report["articles"] = index.count(SITE)
        report["tags"] = index.tag_count()
        problems = index.problems(HEALTH_LISTED)
        skipped = index.problem_count()
        if (filling := index.search_progress()) is not None:
            # Everything but search is served meanwhile: no fault.
            report["search"] = {"index": "building", "done": filling[0], "total": filling[1]}
        if skipped:
            report["status"] = "degraded"
    else:
        report["status"] = "starting"
    folder = folder_problem(directory)
    if folder is not None:
        if directory not in problems:
            skipped += 1
        problems = {directory: folder, **problems}
    if folder is not None or directory in problems:
        # With an index, what it holds is served until the folder is back: a fault the
        # operator must see, not a site that is down.
        report["status"] = "degraded" if report["status"] != "starting" else "failing"
        report["folder"] = {
            "problem": "the articles folder cannot be read; the index is served as it was"
        }
    if report["status"] != "starting" and (held := snapshot().removals_held()):
        report["removals"] = {"problem": held}
        report["status"] = "degraded"
    report["skipped_count"] = skipped
    details = current.settings.health_details or local_client()
    if details:
        report["skipped"] = [
            {"path": relative(path, directory), "reason": public_reason(reason, directory)}
            for path, reason in list(problems.items())[:HEALTH_LISTED]
        ]
    shelf = current.cache.shelf
    kept: dict[str, object] = {"kept": shelf is not None and shelf.usable()}
    if current.pending_renders is not None:
        kept["pending"] = current.pending_renders()
    if shelf is not None and shelf.problem is not None:
        # Readers still get every feed, rendered on demand: slower, not wrong.
        kept["problem"] = "the state directory cannot keep rendered feeds; see the log"
        if report["status"] == "ok":
            report["status"] = "degraded"
    report["representations"] = kept
    # Connections each worker serves at once (from its open-file limit); more wait.
    report["connections"] = {"per_worker": connection_limit()}
    disk = room(current.settings.state_dir)
    stuck = current.indexer.disk_problem if current.indexer is not None else None
    if disk is not None and (disk.short or stuck):
        # Edits may not be recorded (the shelf has given back what it could): feeds
        # are served, but may be stale.
        short: dict[str, object] = {"problem": "the state directory is short of room; see the log"}
        if details:
            short.update(free=disk.free, headroom=disk.headroom)
        report["disk"] = short
        if report["status"] == "ok":
            report["status"] = "degraded"
    if damage_reported(current.settings.state_dir) is not None:
        # What is kept is served, the rest answers 503 until the rebuild replaces it.
        report["damage"] = {"problem": "a damaged index page was met; the index is being rebuilt"}
        if report["status"] == "ok":
            report["status"] = "degraded"
    state = current.settings.state_dir
    dead, late = died(state), hung(state, LATE_BEATS * HEARTBEAT)
    workers: dict[str, object] = {}
    if dead or late:
        said = [f"{len(dead)} worker(s) died"] if dead else []
        said += [f"{len(late)} worker(s) not answering"] if late else []
        workers.update(problem="; ".join(said) + "; being replaced", died=len(dead))
        workers["not_answering"] = len(late)
        if report["status"] == "ok":
            report["status"] = "degraded"
    if replaced := replaced_hung(state):  # since the service started
        workers["replaced_hung"] = replaced
    if workers:
        report["workers"] = workers
    notifying = read_status(current.settings.state_dir)
    if notifying:
        report.update(notifying)
        if failing(notifying) and report["status"] == "ok":
            report["status"] = "degraded"
    if current.indexer is not None:
        report["last_update_cpu_ms"] = round(current.indexer.last_update_cpu * 1000, 3)
    # ASCII escapes, because a file name need not be valid UTF-8.
    response = Response(
        json.dumps(report), HEALTH_STATUS[str(report["status"])], mimetype="application/json"
    )
    response.cache_control.no_store = True
    return secure(response)
