"""What one file's change costs the writer: no statement it runs reads a whole table.

A bulk arrival (a migration, a restore) is N single-file changes; one full scan per file
makes it cost N times the site's size. Every statement the writer runs for the usual
changes (new, edited, renamed, deleted, a slug moved, a duplicate, a scheduled article
and its release) is traced and asked for its query plan.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedsvc.indexer import Indexer
from tests.conftest import WriteArticle

FULL_SCAN = re.compile(r"\bSCAN (?:main\.)?(\w+)\b(?! USING (?:COVERING )?INDEX)")
"""A plan step reading every row of a table (a scan through an index names it)."""
BOUNDED_SCANS = {
    "search_config": "the full-text index's few settings, read when a write opens it",
}


def plans(db: sqlite3.Connection, statements: list[str]) -> Iterator[tuple[str, str]]:
    """Each traced statement's plan steps that read a whole table."""
    for statement in statements:
        words = statement.lstrip().split(None, 1)
        if not words or words[0].upper() in {"BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "--"}:
            continue
        if statement.lstrip().startswith("--"):  # a trigger's own statements
            continue
        for row in db.execute(f"EXPLAIN QUERY PLAN {statement}"):
            detail = row[-1]
            found = FULL_SCAN.search(detail)
            if found and found.group(1) not in BOUNDED_SCANS:
                yield statement, detail


@pytest.fixture
def indexer(articles_dir: Path, tmp_path: Path, write_article: WriteArticle) -> Iterator[Indexer]:
    for n in range(40):
        write_article(f"2026-01-{n % 28 + 1:02d}-a{n}.txt", title=f"A{n}", keywords="alpha, beta")
    made = Indexer(str(articles_dir), str(tmp_path / "state"), clock=lambda: 1.8e9)
    made.open()
    made.catch_up()
    yield made
    made.close()


def test_no_statement_of_a_files_change_reads_a_whole_table(
    indexer: Indexer, articles_dir: Path, write_article: WriteArticle
) -> None:
    db = indexer.writer.db
    traced: list[str] = []
    db.set_trace_callback(traced.append)
    try:
        new = write_article("2026-02-01-new.txt", title="New", keywords="alpha, gamma")
        indexer.update([str(new)])
        write_article("2026-02-01-new.txt", title="New, edited", keywords="gamma")
        indexer.update([str(new)])
        renamed = articles_dir / "2026-02-01-renamed.txt"
        os.rename(new, renamed)
        indexer.update([str(new), str(renamed)])
        moved = write_article(
            "2026-02-01-renamed.txt", title="Moved", keywords="gamma", front={"slug": "elsewhere"}
        )
        indexer.update([str(moved)])
        twin = write_article("2026-02-02-twin.txt", title="Twin", front={"slug": "elsewhere"})
        indexer.update([str(twin)])
        later = write_article(
            "2026-02-03-later.txt", title="Later", front={"date": "2027-12-01T00:00:00Z"}
        )
        indexer.update([str(later)])
        indexer.clock = lambda: 1.9e9
        indexer.release_due()
        for path in (twin, moved, later):
            path.unlink()
        indexer.update([str(twin), str(moved), str(later)])
        indexer.scan()
    finally:
        db.set_trace_callback(None)
    assert len(traced) > 50, "the changes ran no statements: the trace saw nothing"
    scans = sorted(set(plans(db, traced)))
    assert scans == [], "\n".join(f"{detail}: {statement}" for statement, detail in scans)


SEARCH_WRITE = re.compile(r"INSERT INTO search \((search, )?rowid.*?VALUES \(('delete', )?(\d+)")


def test_the_search_index_is_written_in_row_order(
    indexer: Indexer, articles_dir: Path, write_article: WriteArticle
) -> None:
    """Within a transaction, the words withdrawn and then the words added go to the
    full-text index with rising row numbers: FTS5 ends a segment at each one out of
    order, and hundreds of tiny segments set off merges that rewrite the whole index."""
    for n in range(40):  # edits: each article's words out, then in
        write_article(
            f"2026-01-{n % 28 + 1:02d}-a{n}.txt", title=f"A{n} edited", keywords="alpha, beta"
        )
    for n in range(30):  # new articles, their dates in no order of their names
        write_article(f"new-{n:02d}.txt", front={"date": f"2025-{(n * 7) % 12 + 1:02d}-03"})
    db = indexer.writer.db
    traced: list[str] = []
    db.set_trace_callback(traced.append)
    try:
        indexer.scan()
    finally:
        db.set_trace_callback(None)
    writes = [(bool(m.group(2)), int(m.group(3))) for m in map(SEARCH_WRITE.search, traced) if m]
    deletes = [rowid for deleting, rowid in writes if deleting]
    inserts = [rowid for deleting, rowid in writes if not deleting]
    assert len(deletes) == 40 and len(inserts) == 70
    assert writes == [(True, r) for r in deletes] + [(False, r) for r in inserts]
    assert deletes == sorted(deletes) and inserts == sorted(inserts)
