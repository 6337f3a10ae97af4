"""Feeds made below the web layer: the background renderer keeps what the view serves."""

from __future__ import annotations

from pathlib import Path

import feedparser
import pytest
from flask import Flask

from feedsvc.app import create_app
from feedsvc.feeds import FORMATS
from feedsvc.prerender import Prerenderer
from feedsvc.store import SITE, later_page_dated
from feedsvc.syndication import PastTheEnd
from feedsvc.urls import feed_path
from tests.conftest import WriteArticle

SCOPES = (SITE, "alpha")


@pytest.fixture
def config(write_article: WriteArticle, articles_dir: Path) -> dict[str, object]:
    """Three pages of the site's feed and two of alpha's, at five items a page."""
    for n in range(12):
        keywords = "Alpha, Beta" if n % 3 else "Beta"
        write_article(f"2026-01-{n + 1:02d}-a{n}.txt", title=f"Item <{n}> & co", keywords=keywords)
    return {"ARTICLES_DIR": str(articles_dir), "WATCH": False, "FEED_ITEMS": 5}


def prerendered(config: dict[str, object]) -> Prerenderer:
    """The writing process's renderer, run until every scope's first pages are kept."""
    site = create_app(config).extensions["feedsvc"]
    prerenderer = Prerenderer(site.store, site.cache, site.syndication)
    while prerenderer.step(0.0):
        pass
    assert prerenderer.rendered[SITE] == len(FORMATS) and prerenderer.rendered["alpha"]
    return prerenderer


def on_demand(config: dict[str, object]) -> Flask:
    """A worker with nothing kept: every feed rendered by its view."""
    return create_app({**config, "SHELF_MEGABYTES": 0})


@pytest.mark.parametrize("coding", ["identity", "gzip", "br"])
def test_a_prerendered_first_page_is_what_the_view_renders(
    config: dict[str, object], coding: str
) -> None:
    prerendered(config)
    kept = create_app(config)  # a fresh worker: it finds the feeds on the shelf
    rendered = on_demand(config)
    for scope in SCOPES:
        for name in FORMATS:
            path = feed_path(scope, name)
            served = kept.test_client().get(path, headers={"Accept-Encoding": coding})
            made = rendered.test_client().get(path, headers={"Accept-Encoding": coding})
            assert served.status_code == made.status_code == 200
            assert served.data == made.data, path
            assert served.headers.to_wsgi_list() == made.headers.to_wsgi_list(), path
    assert kept.extensions["feedsvc"].cache.renders == 0  # nothing but what was kept
    assert rendered.extensions["feedsvc"].cache.renders == len(SCOPES) * len(FORMATS)


def test_a_later_page_renders_the_same_in_the_background_and_in_the_view(
    config: dict[str, object],
) -> None:
    prerenderer = prerendered(config)
    client = on_demand(config).test_client()
    index = prerenderer.store.begin()
    try:
        for scope in SCOPES:
            for fmt in FORMATS.values():
                background = prerenderer.representation(index, scope, fmt, page=2)
                served = client.get(f"{feed_path(scope, fmt.name)}?page=2")
                assert served.status_code == 200
                assert background.body("identity") == served.data
                # What respond() adds to every answer, kept or not, aside.
                sent = [
                    (name, value)
                    for name, value in served.headers.to_wsgi_list()
                    if name not in ("Cache-Control", "Content-Length")
                ]
                assert sorted(background.prepared("identity").headers) == sorted(sent)
    finally:
        index.close()


def test_a_page_past_the_end_is_a_domain_error_and_a_404(config: dict[str, object]) -> None:
    app = create_app(config)
    site = app.extensions["feedsvc"]
    index = site.store.begin()
    try:
        with pytest.raises(PastTheEnd, match="page 4 is past the last page, 3"):
            site.syndication.feed(index, SITE, FORMATS["atom"], page=4)
    finally:
        index.close()
    answer = app.test_client().get("/feed.atom?page=4")
    assert answer.status_code == 404
    assert answer.data == b"page 4 is past the last page, 3\n"


def test_a_feed_page_read_at_once_is_what_the_separate_queries_say(
    config: dict[str, object], write_article: WriteArticle
) -> None:
    # An older article edited last: the newest "updated" is not on the first page.
    write_article(
        "2025-06-01-old.txt", title="Old", keywords="Alpha", front={"updated": "2026-02-01"}
    )
    store = create_app(config).extensions["feedsvc"].store
    index = store.begin()
    try:
        for scope in SCOPES:
            count = index.count(scope)
            for page in (1, 2, 3, 4):
                data = index.feed_page(scope, 4, page)
                shown = index.newest(scope, 4, (page - 1) * 4)
                assert data.count == count and data.articles == shown
                assert data.bodies == index.bodies([a.slug for a in shown])
                assert data.labels == index.labels(t.key for a in shown for t in a.tags)
                assert (data.label, data.changed) == (index.label(scope), index.changed(scope))
                assert data.authority == index.authority()
                if shown:
                    own = max(a.updated for a in shown)
                    assert data.updated == (
                        own if page == 1 else later_page_dated(own, index.changed(scope))
                    )
                else:
                    assert (page - 1) * 4 >= count and data.updated is None
    finally:
        index.close()


def test_a_later_page_never_dates_back_when_a_newer_article_goes(
    config: dict[str, object], articles_dir: Path
) -> None:
    """A later page shifts with every newer change, a deletion included: its date is its
    scope's last change, so deleting the article updated last moves it on, not back."""

    def page_two_updated() -> str:
        client = create_app(config).test_client()
        feed = feedparser.parse(client.get("/feed.atom?page=2").data)
        return str(feed.feed.updated)

    before = page_two_updated()
    (articles_dir / "2026-01-12-a11.txt").unlink()  # the newest, on page 1
    after = page_two_updated()
    assert after > before
    assert after == page_two_updated()  # nothing changed since: the same date
