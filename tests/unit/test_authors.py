"""Authors: who the index says wrote each article, and the author scopes it keeps."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from feedsvc.articles import author_names
from feedsvc.indexer import Indexer
from feedsvc.store import SITE, Store
from feedsvc.urls import AUTHORS
from feedsvc.writer import author_scopes
from tests.conftest import WriteArticle


@pytest.mark.parametrize(
    ("line", "names"),
    [
        ("Ana Lima", ["Ana Lima"]),
        ("Ana Lima and Bo Chen", ["Ana Lima", "Bo Chen"]),
        ("Ana Lima, Bo Chen", ["Ana Lima", "Bo Chen"]),
        ("Ana Lima; Bo Chen & Cy Dee", ["Ana Lima", "Bo Chen", "Cy Dee"]),
        ("Ana Lima AND Bo Chen", ["Ana Lima", "Bo Chen"]),
        ("Mary Anderson", ["Mary Anderson"]),  # never split inside a word
        ("Brandon Sanders", ["Brandon Sanders"]),
        ("Mary O'Brien", ["Mary O'Brien"]),
        (", ,", []),
        ("", []),
    ],
)
def test_an_author_line_names_each_author(line: str, names: list[str]) -> None:
    assert author_names(line) == names


def test_author_scopes_are_normalised_as_tags_and_fall_back_to_the_site_author() -> None:
    scopes = author_scopes("Ana  Lima, ANA LIMA and José Ñúñez", "The Newsroom")
    assert [(t.key, t.label) for t in scopes] == [
        ("@ana-lima", "Ana Lima"),
        ("@josé-ñúñez", "José Ñúñez"),
    ]
    assert [t.key for t in author_scopes(None, "The Newsroom")] == ["@the-newsroom"]
    assert [t.key for t in author_scopes(" , ", "The Newsroom")] == ["@the-newsroom"]
    assert author_scopes(None, "") == []


def index_of(folder: Path, state: Path, site_author: str = "The Newsroom") -> Store:
    indexer = Indexer(str(folder), str(state), site_author=site_author)
    indexer.open()
    indexer.catch_up()
    indexer.close()
    return Store(str(state))


def test_the_index_keeps_each_author_as_a_scope(
    articles_dir: Path, tmp_path: Path, write_article: WriteArticle
) -> None:
    write_article("2026-01-01-a.txt", title="A", front={"author": "ana lima"})
    write_article("2026-01-02-b.txt", title="B", front={"author": "Ana Lima and Bo Chen"})
    write_article("2026-01-03-c.txt", title="C")
    write_article("2026-01-04-d.txt", title="D", front={"author": "Bo Chen", "draft": "yes"})
    store = index_of(articles_dir, tmp_path / "state")
    with store.reading() as view:
        ana, bo, newsroom = (AUTHORS.scope(k) for k in ("ana-lima", "bo-chen", "the-newsroom"))
        assert [a.title for a in view.newest(ana, 10)] == ["B", "A"]
        assert [a.title for a in view.newest(bo, 10)] == ["B"]  # a draft is no article
        assert [a.title for a in view.newest(newsroom, 10)] == ["C"]
        assert view.label(ana) == "ana lima"  # the oldest article's spelling
        assert view.count(ana) == 2
        assert [(s.key, s.count) for s in view.authors_by_date()] == [
            (newsroom, 1),
            (ana, 2),  # B is the newest of both: then by key
            (bo, 1),
        ]
        assert view.author_count() == 3
        assert view.has_author(ana) and not view.has_tag(ana)
        assert not view.has_author("news") and view.has_tag("news")
        # Authors are no tags: the tag index lists only tags.
        assert [t.key for t in view.tags_by_count()] == ["news"]
        b = view.newest(ana, 1)[0]
        assert [(t.key, t.label) for t in b.authors] == [(ana, "Ana Lima"), (bo, "Bo Chen")]
        assert [t.key for t in b.tags] == ["news"]
        assert [t.key for t in view.article(b.slug).authors] == [ana, bo]  # type: ignore[union-attr]
        assert view.count(SITE) == 3


def test_an_edit_moves_an_article_between_authors(
    articles_dir: Path, tmp_path: Path, write_article: WriteArticle
) -> None:
    path = write_article("2026-01-01-a.txt", title="A", front={"author": "Ana Lima"})
    indexer = Indexer(str(articles_dir), str(tmp_path / "state"), site_author="Desk")
    indexer.open()
    indexer.catch_up()
    store = Store(str(tmp_path / "state"))
    before = store.version("@ana-lima")
    path.write_text(path.read_text().replace("Ana Lima", "Bo Chen"))
    os.utime(path, ns=(1, 1))
    indexer.catch_up()
    with store.reading() as view:
        assert view.count("@ana-lima") == 0 and view.count("@bo-chen") == 1
        assert [s.key for s in view.authors_by_date()] == ["@bo-chen"]
    assert store.version("@ana-lima") != before
    indexer.close()


def test_another_site_author_rebuilds_the_index(
    articles_dir: Path, tmp_path: Path, write_article: WriteArticle
) -> None:
    write_article("2026-01-01-a.txt", title="A")
    state = tmp_path / "state"
    with index_of(articles_dir, state, "Desk").reading() as view:
        assert view.count("@desk") == 1
    with index_of(articles_dir, state, "Night Desk").reading() as view:
        assert view.count("@desk") == 0
        assert view.count("@night-desk") == 1
