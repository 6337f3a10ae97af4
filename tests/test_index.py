"""The catalogue and the library: incremental updates, versions, duplicates, drafts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from feedsvc.index import SITE, Library
from tests.conftest import WriteArticle


@pytest.fixture
def library(articles_dir: Path, write_article: WriteArticle) -> Library:
    write_article("2026-01-01-a1.txt", title="A1", keywords="alpha")
    write_article("2026-01-02-a2.txt", title="A2", keywords="alpha, shared")
    write_article("2026-01-03-b1.txt", title="B1", keywords="Beta, shared")
    library = Library(articles_dir)
    library.scan()
    return library


def test_catalogue_lists_newest_first_by_scope(library: Library) -> None:
    catalogue = library.current()
    assert [a.title for a in catalogue.articles] == ["B1", "A2", "A1"]
    assert [a.title for a in catalogue.in_scope("alpha")] == ["A2", "A1"]
    assert [a.title for a in catalogue.in_scope("shared")] == ["B1", "A2"]
    assert catalogue.labels["beta"] == "Beta"


def test_unchanged_files_are_not_read_again(library: Library, articles_dir: Path) -> None:
    reads = library.files_read
    library.scan()
    assert library.files_read == reads
    os.utime(articles_dir / "2026-01-01-a1.txt", ns=(1, 1))
    library.scan()
    assert library.files_read == reads + 1


def test_edit_moves_only_the_versions_of_its_scopes(
    library: Library, write_article: WriteArticle
) -> None:
    before = library.current()
    path = write_article("2026-01-01-a1.txt", title="A1 edited", keywords="alpha")
    library.update([str(path)])
    after = library.current()
    assert after.version("alpha") > before.version("alpha")
    assert after.version(SITE) > before.version(SITE)
    assert after.version("beta") == before.version("beta")
    assert after.version("shared") == before.version("shared")
    assert before.in_scope("alpha")[1].title == "A1"  # the old snapshot is untouched


def test_moving_an_article_between_tags(library: Library, write_article: WriteArticle) -> None:
    path = write_article("2026-01-01-a1.txt", title="A1", keywords="gamma")
    library.update([str(path)])
    catalogue = library.current()
    assert [a.title for a in catalogue.in_scope("alpha")] == ["A2"]
    assert [a.title for a in catalogue.in_scope("gamma")] == ["A1"]


def test_last_article_of_a_tag_removes_the_tag(library: Library, articles_dir: Path) -> None:
    (articles_dir / "2026-01-03-b1.txt").unlink()
    library.scan()
    catalogue = library.current()
    assert "beta" not in catalogue.by_tag
    assert "beta" not in catalogue.labels


def test_duplicate_slug_serves_first_file_name_and_reports_the_other(
    library: Library, write_article: WriteArticle, articles_dir: Path
) -> None:
    write_article("x-copy.txt", title="Copy", keywords="alpha", front={"slug": "a1"})
    library.scan()
    catalogue = library.current()
    assert catalogue.by_slug["a1"].title == "A1"  # "2026-…" sorts before "x-copy.txt"
    assert "already served from" in catalogue.problems[str(articles_dir / "x-copy.txt")]
    (articles_dir / "2026-01-01-a1.txt").unlink()
    library.scan()
    catalogue = library.current()
    assert catalogue.by_slug["a1"].title == "Copy"
    assert catalogue.problems == {}


def test_drafts_are_not_published(library: Library, write_article: WriteArticle) -> None:
    write_article("d.txt", title="Draft", keywords="alpha", front={"draft": "true"})
    library.scan()
    assert "d" not in library.current().by_slug


def test_scheduled_article_is_released_by_the_clock(
    articles_dir: Path, write_article: WriteArticle
) -> None:
    now = [1_700_000_000.0]
    write_article("s.txt", title="Soon", keywords="alpha", front={"date": "2023-11-14T22:15:00Z"})
    library = Library(articles_dir, clock=lambda: now[0])
    library.scan()
    release = 1_700_000_100.0  # 2023-11-14T22:15:00Z
    assert library.current().by_slug == {}
    assert library.current().release_of("alpha") == release
    now[0] = release
    assert [a.title for a in library.current().in_scope("alpha")] == ["Soon"]
    assert library.current().release_of("alpha") == float("inf")


def test_missing_directory_is_reported_not_raised(tmp_path: Path) -> None:
    library = Library(tmp_path / "nowhere")
    library.scan()
    catalogue = library.current()
    assert catalogue.articles == []
    assert "cannot list" in catalogue.problems[str(tmp_path / "nowhere")]


def test_new_label_moves_every_scope_that_prints_it(
    articles_dir: Path, write_article: WriteArticle
) -> None:
    """Feeds print an item's tags by their labels, so a relabel reaches co-tagged feeds."""
    write_article("2026-01-01-old.txt", title="Old", keywords="Climate")
    write_article("2026-01-02-new.txt", title="New", keywords="climate, energy")
    library = Library(articles_dir)
    library.scan()
    before = library.current()
    assert before.labels["climate"] == "Climate"
    (articles_dir / "2026-01-01-old.txt").unlink()
    library.scan()
    after = library.current()
    assert after.labels["climate"] == "climate"
    assert after.version("energy") > before.version("energy")


def test_implausible_dates_are_reported_not_raised(
    articles_dir: Path, write_article: WriteArticle
) -> None:
    write_article("early.txt", keywords="alpha", front={"date": "0001-01-01T00:00:00+01:00"})
    write_article("0001-01-01-prefix.txt", keywords="alpha")
    write_article("2026-01-01-fine.txt", keywords="alpha")
    library = Library(articles_dir)
    library.scan()
    catalogue = library.current()
    assert [a.slug for a in catalogue.articles] == ["fine"]
    assert "outside 1900 to 9998" in catalogue.problems[str(articles_dir / "early.txt")]
    assert "is not a date" in catalogue.problems[str(articles_dir / "0001-01-01-prefix.txt")]


def test_body_of_a_file_changed_since_indexing_is_none(
    library: Library, articles_dir: Path
) -> None:
    article = library.current().by_slug["a1"]
    path = articles_dir / "2026-01-01-a1.txt"
    text = path.read_text()
    path.write_text(text + "\nOne more paragraph.\n")
    assert library.body(article) is None  # never the new text under the old entry
    library.update([str(path)])
    fresh = library.current().by_slug["a1"]
    assert library.body(fresh) == (
        "The first paragraph.",
        "The second paragraph.",
        "One more paragraph.",
    )


def test_missing_directory_stays_reported_through_file_updates(tmp_path: Path) -> None:
    library = Library(tmp_path / "nowhere")
    library.scan()
    library.update([str(tmp_path / "nowhere" / "a.txt")])
    assert "cannot list" in library.current().problems[str(tmp_path / "nowhere")]
    (tmp_path / "nowhere").mkdir()
    library.scan()
    assert library.current().problems == {}
