"""Kept representations: shared by workers, surviving restarts, checked when read,
rendered again on change (not on request), and a shelf that cannot be used.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import sqlite3
from pathlib import Path

import brotli
import pytest
from flask import Flask

from feedsvc import shelf as shelf_module
from feedsvc.app import create_app
from feedsvc.cache import ResponseCache, shelf_key
from feedsvc.prerender import LONGEST, QUIET, Prerenderer
from feedsvc.responses import Representation
from feedsvc.shelf import DATABASE, OLDEST, OLDEST_VARIANTS, Shelf
from tests.conftest import WriteArticle
from tests.unit.test_cache import count_flask

FEED = ("feed", "alpha", "rss", 1, None)


def state_of(app: Flask) -> Path:
    return Path(app.extensions["feedsvc"].settings.state_dir)


def renders(app: Flask) -> int:
    cache: ResponseCache = app.extensions["feedsvc"].cache
    return cache.renders


@pytest.fixture
def config(write_article: WriteArticle, articles_dir: Path) -> dict[str, object]:
    write_article("2026-01-01-a.txt", title="Alpha", keywords="alpha")
    write_article("2026-01-02-b.txt", title="Beta", keywords="beta")
    return {"ARTICLES_DIR": str(articles_dir), "WATCH": False}


# The shelf on its own --------------------------------------------------------------


def test_a_kept_representation_comes_back_with_its_validators(tmp_path: Path) -> None:
    shelf = Shelf(str(tmp_path), 1 << 20)
    kept = Representation.of(b"<rss>" + b"x" * 5000 + b"</rss>", "text/xml", 1e9, 60).complete()
    assert shelf.keep("k", "alpha", 3, kept)
    found = shelf.find("k", 3, 60)
    assert found is not None and not found.bodies  # validators only, until a body is asked for
    assert found.etag("gzip") == kept.etag("gzip") and found.last_modified == 1e9
    assert gzip.decompress(found.body("gzip") or b"") == kept.body("identity")
    assert brotli.decompress(found.body("br") or b"") == kept.body("identity")
    assert shelf.find("k", 4, 60) is None  # another version is not it


def test_a_damaged_body_is_never_served(tmp_path: Path) -> None:
    shelf = Shelf(str(tmp_path), 1 << 20)
    shelf.keep("k", "", 1, Representation.of(b"a" * 1000, "text/plain", 0, 60).complete())
    with sqlite3.connect(tmp_path / DATABASE) as database:
        database.execute(
            "UPDATE bodies SET body = CAST(? AS BLOB) WHERE coding = 'identity'", (b"b" * 1000,)
        )
    found = shelf.find("k", 1, 60)
    assert found is not None
    assert found.body("identity") is None and shelf.damaged == 1
    assert found.body("gzip") is not None  # the others were not touched


def test_the_shelf_is_bounded_oldest_first(tmp_path: Path) -> None:
    shelf = Shelf(str(tmp_path), 30_000)
    for n in range(10):
        body = bytes(range(256)) * 40  # 10 KB that does not compress
        shelf.keep(f"k{n}", "", 1, Representation.of(body + bytes([n]), "x/y", 0, 60).complete())
    with sqlite3.connect(tmp_path / DATABASE) as database:
        (total,) = database.execute("SELECT sum(length) FROM bodies").fetchone()
    assert total <= 30_000
    assert shelf.find("k9", 1, 60) is not None and shelf.find("k0", 1, 60) is None


def test_a_corrupt_shelf_is_started_afresh(tmp_path: Path) -> None:
    (tmp_path / DATABASE).write_bytes(b"this is not a database" * 100)
    shelf = Shelf(str(tmp_path), 1 << 20)
    assert shelf.keep("k", "", 1, Representation.of(b"x", "x/y", 0, 60).complete())
    assert shelf.find("k", 1, 60) is not None and shelf.problem is None


# Through the service ------------------------------------------------------------------


def test_a_second_worker_serves_what_the_first_rendered(config: dict[str, object]) -> None:
    """Another process's app (here a second app on the same state directory) finds the
    rendered feed on the shelf: it renders nothing, and Flask is never entered."""
    first = create_app(config).test_client().get("/tags/alpha/feed.rss")
    assert first.status_code == 200
    second = create_app(config)
    client, flask = count_flask(second)
    again = client.get("/tags/alpha/feed.rss", headers={"Accept-Encoding": "gzip"})
    assert flask.calls == 0 and renders(second) == 0
    assert gzip.decompress(again.data) == first.data
    assert again.headers["Last-Modified"] == first.headers["Last-Modified"]


def test_a_conditional_request_reads_no_body(config: dict[str, object]) -> None:
    """With every body gone from the shelf, a current client still gets its 304 from the
    validators alone; a plain GET renders the feed again."""
    app = create_app(config)
    first = app.test_client().get("/tags/alpha/feed.rss")
    with sqlite3.connect(state_of(app) / DATABASE) as database:
        database.execute("DELETE FROM bodies")
    other = create_app(config)  # nothing held in its memory
    client, flask = count_flask(other)
    conditional = client.get(
        "/tags/alpha/feed.rss", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert conditional.status_code == 304 and flask.calls == 0 and renders(other) == 0
    plain = client.get("/tags/alpha/feed.rss")
    assert plain.status_code == 200 and plain.data == first.data and renders(other) == 1


def test_a_damaged_kept_feed_is_rendered_again(config: dict[str, object]) -> None:
    app = create_app(config)
    first = app.test_client().get("/tags/alpha/feed.rss", headers={"Accept-Encoding": "gzip"})
    with sqlite3.connect(state_of(app) / DATABASE) as database:
        database.execute(
            "UPDATE bodies SET body = CAST(zeroblob(length) AS BLOB) WHERE coding = 'gzip'"
        )
    other = create_app(config)
    again = other.test_client().get("/tags/alpha/feed.rss", headers={"Accept-Encoding": "gzip"})
    assert again.status_code == 200 and gzip.decompress(again.data) == gzip.decompress(first.data)
    assert renders(other) == 1


def test_an_unusable_state_directory_renders_on_demand(config: dict[str, object]) -> None:
    app = create_app(config)
    (state_of(app) / DATABASE).mkdir()  # no database can be opened there
    client = app.test_client()
    for fmt in ("rss", "atom", "json"):
        assert client.get(f"/tags/alpha/feed.{fmt}").status_code == 200
    health = json.loads(client.get("/healthz").data)
    assert health["status"] == "degraded"
    assert health["representations"]["kept"] is False and "problem" in health["representations"]


# Re-render on change ------------------------------------------------------------------


def test_a_burst_of_edits_renders_its_scope_once(
    config: dict[str, object], write_article: WriteArticle
) -> None:
    app = create_app(config)
    site = app.extensions["feedsvc"]
    prerenderer = Prerenderer(site.store, site.cache, site.syndication)
    now = 1000.0
    while prerenderer.step(now):  # the start's backlog: every scope checked, each rendered once
        pass
    # The site, each tag and each author (the site author's: the articles name none).
    assert prerenderer.rendered == {"": 3, "alpha": 3, "beta": 3, "@feedsvc-newsroom": 3}
    prerenderer.rendered.clear()
    for edit in range(10):  # ten edits, each within QUIET of the last
        write_article("2026-01-01-a.txt", title=f"Alpha {edit}", keywords="alpha")
        site.indexer.scan()
        now += QUIET / 2
        prerenderer.step(now)
    while now < 1000 + 10 * QUIET / 2 + LONGEST + QUIET:
        now += QUIET / 2
        prerenderer.step(now)
    # Once, with every edit in it: each format counts one.
    assert prerenderer.rendered["alpha"] == 3 and "beta" not in prerenderer.rendered
    kept = site.cache.shelf.find(shelf_key(FEED), site.store.version("alpha"), 300)
    assert kept is not None and b"Alpha 9" in (kept.body("identity") or b"")


def test_a_rebuilt_index_never_serves_what_was_kept_before(
    config: dict[str, object], write_article: WriteArticle
) -> None:
    """Versions never repeat across builds: after a rebuild (here while no service runs),
    what the shelf kept for the old index is not taken for the new one's."""
    app = create_app(config)
    old = app.test_client().get("/tags/alpha/feed.rss")
    assert b"Alpha" in old.data
    write_article("2026-01-01-a.txt", title="Alpha, rebuilt", keywords="alpha")
    app.extensions["feedsvc"].indexer.catch_up(rebuild=True)
    fresh = create_app(config)  # nothing held in its memory
    new = fresh.test_client().get("/tags/alpha/feed.rss")
    assert b"Alpha, rebuilt" in new.data and new.headers["ETag"] != old.headers["ETag"]
    held = app.test_client().get("/tags/alpha/feed.rss")  # the first app's memory too
    assert held.data == new.data


def test_made_up_query_variants_never_push_out_a_feed(tmp_path: Path) -> None:
    """The shelf's own URLs (pinned) make room last: a flood of query variants evicts
    older query variants, within the variants' share of the shelf."""
    shelf = Shelf(str(tmp_path), 4 * 100_000)  # variants' share: 100 KB
    body = os.urandom(10_000)  # does not compress: about 30 KB kept in three codings
    kept = [
        shelf.keep(f"feed{n}", "", 1, Representation.of(body + bytes([n]), "x/y", 0, 60).complete())
        for n in range(2)
    ]
    for n in range(20):
        made_up = Representation.of(body + bytes([100 + n]), "x/y", 0, 60).complete()
        kept.append(shelf.keep(f"variant{n}", "", 1, made_up, pinned=False))
    assert all(kept)  # each variant took the room of an older one
    assert shelf.find("feed0", 1, 60) is not None and shelf.find("feed1", 1, 60) is not None
    assert shelf.find("variant19", 1, 60) is not None and shelf.find("variant0", 1, 60) is None
    # A variant larger than the variants' share is not kept at all.
    huge = Representation.of(os.urandom(40_000), "x/y", 0, 60).complete()
    assert not shelf.keep("variant-huge", "", 1, huge, pinned=False)
    assert shelf.find("feed0", 1, 60) is not None


def test_a_full_state_directory_renders_on_demand(
    config: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite's own "database or disk is full" (the file may not grow by a page): feeds
    are still served, rendered on demand; the log says so once; /healthz is degraded."""
    app = create_app(config)
    shelf = app.extensions["feedsvc"].cache.shelf
    connection = shelf._connection()  # this thread's: the test client runs here too
    (pages,) = connection.execute("PRAGMA page_count").fetchone()
    connection.execute(f"PRAGMA max_page_count = {pages}")
    client = app.test_client()
    with caplog.at_level("ERROR", logger="feedsvc.shelf"):
        for fmt in ("rss", "atom", "json", "rss"):
            answer = client.get(f"/tags/alpha/feed.{fmt}")
            assert answer.status_code == 200 and b"Alpha" in answer.data
    full = [r for r in caplog.records if "full" in r.getMessage()]
    assert len(full) == 1, caplog.text  # once per outage, not once per render
    health = json.loads(client.get("/healthz").data)
    assert health["status"] == "degraded" and health["representations"]["kept"] is False


def test_a_shelf_of_another_version_is_deleted_not_opened(tmp_path: Path) -> None:
    old = tmp_path / "representations.sqlite"
    old.write_bytes(b"x" * 10_000)  # a shelf with another schema, however big
    (tmp_path / "representations.sqlite-wal").write_bytes(b"x")
    shelf = Shelf(str(tmp_path), 1 << 20)
    assert shelf.keep("k", "", 1, Representation.of(b"x", "x/y", 0, 60).complete())
    assert not old.exists() and not (tmp_path / "representations.sqlite-wal").exists()
    assert (tmp_path / DATABASE).exists()


@pytest.mark.parametrize("query", [OLDEST, OLDEST_VARIANTS])
def test_making_room_walks_the_age_index(tmp_path: Path, query: str) -> None:
    """Finding what to drop reads the oldest rows in order, never sorts them all: with
    the variants' share full, every made-up URL kept makes room (72,000 kept, a sort
    took 28 ms a request)."""
    shelf = Shelf(str(tmp_path), 1 << 20)
    shelf.keep("k", "", 1, Representation.of(b"x" * 100, "x/y", 0, 60).complete())
    with sqlite3.connect(tmp_path / DATABASE) as database:
        plan = " ".join(row[3] for row in database.execute(f"EXPLAIN QUERY PLAN {query}", ("",)))
    assert "USING INDEX representations_by_age" in plan and "TEMP B-TREE" not in plan, plan


def test_room_that_cannot_be_given_back_is_said_once_not_at_each_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """On a full state disk the writer asks for room at every try (once a second): the
    log says when giving room back starts failing and when it works again, not each time."""
    caplog.set_level(logging.WARNING, logger="feedsvc.shelf")
    shelf = Shelf(str(tmp_path), 1 << 20)
    assert shelf.keep("k", "alpha", 3, Representation.of(b"x" * 5000, "text/xml", 1e9, 60))

    def full(_: str) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(shelf_module, "room", full)
    for _ in range(5):
        assert not shelf.give_back()
    monkeypatch.undo()
    shelf.give_back()
    shelf.give_back()
    said = [r.getMessage() for r in caplog.records if "room" in r.getMessage()]
    assert len(said) == 2, said
    assert said[0].startswith("cannot give room back") and said[1].endswith("again")
