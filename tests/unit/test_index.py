"""The index: incremental updates, versions, duplicates, drafts, schedules, restarts."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import pytest

from feedsvc import indexer as indexer_module
from feedsvc import watch as watch_module
from feedsvc.articles import Limits, Tag
from feedsvc.indexer import (
    ADD_BYTES,
    READ_AHEAD,
    READERS,
    Change,
    Indexer,
    WriterLock,
    mark_unreconciled,
    read_reading,
)
from feedsvc.store import SITE, Snapshot, Store, is_damage
from feedsvc.watch import Watcher
from feedsvc.writer import (
    BUILD_PARTS,
    BulkLoad,
    FileReading,
    Part,
    create_database,
    sort_part,
    tags_json,
)
from tests.conftest import WriteArticle, article_writer, wait_until


@dataclass
class Index:
    """An indexer over the test folder and a store reading what it wrote."""

    indexer: Indexer
    store: Store

    def snapshot(self) -> Snapshot:
        """A snapshot that stays open until the test ends (closed by the fixture)."""
        snapshot = self.store.begin()
        opened.append(snapshot)
        return snapshot

    def titles(self, scope: str = SITE) -> list[str]:
        with self.store.reading() as snapshot:
            return [a.title for a in snapshot.newest(scope, 100)]


opened: list[Snapshot] = []


@pytest.fixture
def make_index(articles_dir: Path, tmp_path: Path) -> Iterator[Callable[..., Index]]:
    def make(clock: Callable[[], float] | None = None, folder: Path = articles_dir) -> Index:
        indexer = Indexer(
            str(folder), str(tmp_path / "state"), **({"clock": clock} if clock else {})
        )
        indexer.open()
        indexer.catch_up()
        return Index(indexer, Store(str(tmp_path / "state")))

    yield make
    while opened:
        opened.pop().close()


@pytest.fixture
def index(make_index: Callable[..., Index], write_article: WriteArticle) -> Index:
    write_article("2026-01-01-a1.txt", title="A1", keywords="alpha")
    write_article("2026-01-02-a2.txt", title="A2", keywords="alpha, shared")
    write_article("2026-01-03-b1.txt", title="B1", keywords="Beta, shared")
    return make_index()


def test_index_lists_newest_first_by_scope(index: Index) -> None:
    assert index.titles() == ["B1", "A2", "A1"]
    assert index.titles("alpha") == ["A2", "A1"]
    assert index.titles("shared") == ["B1", "A2"]
    assert index.snapshot().label("beta") == "Beta"


def test_unchanged_files_are_not_read_again(index: Index, articles_dir: Path) -> None:
    reads = index.indexer.files_read
    index.indexer.scan()
    assert index.indexer.files_read == reads
    os.utime(articles_dir / "2026-01-01-a1.txt", ns=(1, 1))
    index.indexer.scan()
    assert index.indexer.files_read == reads + 1


def test_edit_moves_only_the_versions_of_its_scopes(
    index: Index, write_article: WriteArticle
) -> None:
    before = index.snapshot()
    versions = {scope: before.version(scope) for scope in ("alpha", SITE, "beta", "shared")}
    path = write_article("2026-01-01-a1.txt", title="A1 edited", keywords="alpha")
    index.indexer.update([str(path)])
    after = index.snapshot()
    assert after.version("alpha") > versions["alpha"]
    assert after.version(SITE) > versions[SITE]
    assert after.version("beta") == versions["beta"]
    assert after.version("shared") == versions["shared"]
    assert index.store.version("alpha") == after.version("alpha")  # every worker's snapshot
    assert before.newest("alpha", 10)[1].title == "A1"  # the old snapshot is untouched


def test_same_bytes_under_a_new_stamp_move_no_version(index: Index, articles_dir: Path) -> None:
    path = articles_dir / "2026-01-02-a2.txt"
    version = index.snapshot().version("alpha")
    path.write_bytes(path.read_bytes())  # rewritten: new times, same bytes
    index.indexer.update([str(path)])
    assert index.snapshot().version("alpha") == version


def test_moving_an_article_between_tags(index: Index, write_article: WriteArticle) -> None:
    path = write_article("2026-01-01-a1.txt", title="A1", keywords="gamma")
    index.indexer.update([str(path)])
    assert index.titles("alpha") == ["A2"]
    assert index.titles("gamma") == ["A1"]


def test_last_article_of_a_tag_removes_the_tag(index: Index, articles_dir: Path) -> None:
    (articles_dir / "2026-01-03-b1.txt").unlink()
    index.indexer.scan()
    snapshot = index.snapshot()
    assert not snapshot.has_tag("beta")
    assert "beta" not in {tag.key for tag in snapshot.tags_by_count()}


def test_duplicate_slug_serves_first_file_name_and_reports_the_other(
    index: Index, write_article: WriteArticle, articles_dir: Path
) -> None:
    write_article("x-copy.txt", title="Copy", keywords="alpha", front={"slug": "a1"})
    index.indexer.scan()
    snapshot = index.snapshot()
    article = snapshot.article("a1")
    assert article is not None and article.title == "A1"  # "2026-…" sorts before "x-copy"
    assert "already served from" in snapshot.problems()[str(articles_dir / "x-copy.txt")]
    (articles_dir / "2026-01-01-a1.txt").unlink()
    index.indexer.scan()
    snapshot = index.snapshot()
    article = snapshot.article("a1")
    assert article is not None and article.title == "Copy"
    assert snapshot.problems() == {}


def test_duplicate_slug_in_a_first_build(
    make_index: Callable[..., Index], write_article: WriteArticle, articles_dir: Path
) -> None:
    write_article("2026-01-01-a1.txt", title="A1", keywords="alpha")
    write_article("x-copy.txt", title="Copy", keywords="beta", front={"slug": "a1"})
    snapshot = make_index().snapshot()
    article = snapshot.article("a1")
    assert article is not None and article.title == "A1"
    assert list(snapshot.problems()) == [str(articles_dir / "x-copy.txt")]
    assert not snapshot.has_tag("beta")


def test_drafts_are_not_published(index: Index, write_article: WriteArticle) -> None:
    write_article("d.txt", title="Draft", keywords="alpha", front={"draft": "true"})
    index.indexer.scan()
    assert index.snapshot().article("d") is None


def test_scheduled_article_is_released_by_the_clock(
    make_index: Callable[..., Index], write_article: WriteArticle
) -> None:
    now = [1_700_000_000.0]
    write_article("s.txt", title="Soon", keywords="alpha", front={"date": "2023-11-14T22:15:00Z"})
    index = make_index(clock=lambda: now[0])
    release = 1_700_000_100.0  # 2023-11-14T22:15:00Z
    snapshot = index.snapshot()
    assert snapshot.article("s") is None
    assert snapshot.release_of("alpha") == release == snapshot.release_of(SITE)
    assert index.indexer.next_release == release
    index.indexer.release_due()
    assert index.titles("alpha") == []  # not yet
    now[0] = release
    index.indexer.release_due()
    assert index.titles("alpha") == ["Soon"]
    assert index.snapshot().release_of("alpha") == float("inf")


def test_missing_directory_is_reported_not_raised(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    snapshot = make_index(folder=tmp_path / "nowhere").snapshot()
    assert snapshot.count(SITE) == 0
    assert "cannot list" in snapshot.problems()[str(tmp_path / "nowhere")]


def test_new_label_moves_every_scope_that_prints_it(
    make_index: Callable[..., Index], write_article: WriteArticle, articles_dir: Path
) -> None:
    """Feeds print an item's tags by their labels, so a relabel reaches co-tagged feeds."""
    write_article("2026-01-01-old.txt", title="Old", keywords="Climate")
    write_article("2026-01-02-new.txt", title="New", keywords="climate, energy")
    index = make_index()
    before = index.snapshot()
    assert before.label("climate") == "Climate"
    version = before.version("energy")
    (articles_dir / "2026-01-01-old.txt").unlink()
    index.indexer.scan()
    after = index.snapshot()
    assert after.label("climate") == "climate"
    assert after.version("energy") > version


def test_implausible_dates_are_reported_not_raised(
    make_index: Callable[..., Index], articles_dir: Path, write_article: WriteArticle
) -> None:
    write_article("early.txt", keywords="alpha", front={"date": "0001-01-01T00:00:00+01:00"})
    write_article("0001-01-01-prefix.txt", keywords="alpha")
    write_article("2026-01-01-fine.txt", keywords="alpha")
    snapshot = make_index().snapshot()
    assert [a.slug for a in snapshot.newest(SITE, 10)] == ["fine"]
    problems = snapshot.problems()
    assert "outside 1900 to 9998" in problems[str(articles_dir / "early.txt")]
    assert "is not a date" in problems[str(articles_dir / "0001-01-01-prefix.txt")]


def test_body_comes_from_the_indexed_reading(index: Index, articles_dir: Path) -> None:
    """A body is the one read with its title and dates: never newer text under an old entry."""
    path = articles_dir / "2026-01-01-a1.txt"
    path.write_text(path.read_text() + "\nOne more paragraph.\n")
    assert index.snapshot().body("a1") == ("The first paragraph.", "The second paragraph.")
    index.indexer.update([str(path)])
    assert index.snapshot().body("a1") == (
        "The first paragraph.",
        "The second paragraph.",
        "One more paragraph.",
    )


def test_missing_directory_stays_reported_through_file_updates(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    index = make_index(folder=tmp_path / "nowhere")
    index.indexer.update([str(tmp_path / "nowhere" / "a.txt")])
    assert "cannot list" in index.snapshot().problems()[str(tmp_path / "nowhere")]
    (tmp_path / "nowhere").mkdir()
    index.indexer.scan()
    assert index.snapshot().problems() == {}


def test_restart_reads_only_what_changed_while_stopped(
    make_index: Callable[..., Index], write_article: WriteArticle, articles_dir: Path
) -> None:
    """A second start over the same state reconciles: new, changed and deleted files."""
    write_article("2026-01-01-keep.txt", title="Keep", keywords="alpha")
    write_article("2026-01-02-edit.txt", title="Edit", keywords="alpha")
    write_article("2026-01-03-gone.txt", title="Gone", keywords="alpha")
    make_index().indexer.close()
    write_article("2026-01-02-edit.txt", title="Edited", keywords="alpha")
    (articles_dir / "2026-01-03-gone.txt").unlink()
    write_article("2026-01-04-new.txt", title="New", keywords="beta")
    again = make_index()
    assert again.indexer.files_read == 2  # the edited and the new file, no other
    assert again.titles() == ["New", "Edited", "Keep"]
    assert again.titles("beta") == ["New"]


def test_a_restart_says_it_is_reconciling_before_it_stats_the_folder(
    articles_dir: Path, write_article: WriteArticle, tmp_path: Path
) -> None:
    """What the last run left ("ready") is replaced at once: a big folder takes a while to
    stat, and /healthz must not say the index is current meanwhile."""
    write_article("a.txt", title="Alpha", keywords="alpha")
    state = tmp_path / "state"
    first = Indexer(str(articles_dir), str(state))
    first.open()
    first.catch_up()
    first.close()
    said: list[str] = []
    again = Indexer(str(articles_dir), str(state))
    again.open()
    real_differences = again._differences

    def differences(names: list[str], between: object = None) -> tuple[list[str], list[str]]:
        said.append(Store(str(state)).progress().phase)  # what a worker's /healthz reads
        return real_differences(names)

    again._differences = differences  # type: ignore[method-assign]
    again.catch_up()
    again.close()
    assert said == ["reconciling"]
    assert Store(str(state)).progress().phase == "ready"


def test_a_service_starting_on_an_old_index_does_not_say_ready_before_its_writer(
    articles_dir: Path, write_article: WriteArticle, tmp_path: Path
) -> None:
    """``feedsvc serve`` marks an index left by an earlier run as not yet reconciled
    before any worker answers, unless another process indexes it: that one's word stands."""
    write_article("a.txt", title="Alpha", keywords="alpha")
    state = tmp_path / "state"
    mark_unreconciled(str(state))  # no index yet: nothing to say
    assert not (state / "progress.json").exists()
    first = Indexer(str(articles_dir), str(state))
    first.open()
    first.catch_up()
    first.close()
    assert Store(str(state)).progress().phase == "ready"
    other = WriterLock(str(state))
    assert other.acquire()  # another service indexes this state directory
    try:
        mark_unreconciled(str(state))
        assert Store(str(state)).progress().phase == "ready"
    finally:
        other.release()
    mark_unreconciled(str(state))
    assert Store(str(state)).progress().phase == "reconciling"


def test_first_build_on_every_core_keeps_first_claims_and_reports_problems(
    write_article: WriteArticle,
    articles_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Read by a pool, a file a task: the first claim of each slug in name order is served
    with its own tags, whatever process read it, and every bad file is reported."""
    monkeypatch.setattr(indexer_module, "CHUNK", 1)
    monkeypatch.setattr(indexer_module, "POOL_THRESHOLD", 0)
    for n in range(8):
        write_article(f"2026-01-0{n + 1}-a{n}.txt", title=f"A{n}", keywords="alpha")
    write_article("0-first.txt", title="First", keywords="first", front={"slug": "a5"})
    write_article("z-late.txt", title="Late", keywords="late", front={"slug": "a1"})
    write_article("2026-01-09-broken.txt", text="---\nnot a pair\n---\nT\n\nS\n\nk\n\nBody\n")
    indexer = Indexer(str(articles_dir), str(tmp_path / "state"), workers=2)
    indexer.catch_up()
    snapshot = Store(str(tmp_path / "state")).begin()
    opened.append(snapshot)
    assert snapshot.article("a5").title == "First"  # type: ignore[union-attr]
    assert snapshot.article("a1").title == "A1"  # type: ignore[union-attr]
    assert snapshot.has_tag("first") and not snapshot.has_tag("late")
    assert sorted(a.title for a in snapshot.newest("alpha", 100)) == [
        f"A{n}" for n in range(8) if n != 5
    ]
    problems = snapshot.problems()
    assert sorted(problems) == [
        str(articles_dir / name)
        for name in ("2026-01-06-a5.txt", "2026-01-09-broken.txt", "z-late.txt")
    ]
    assert (
        "front matter line is not 'key: value'"
        in problems[str(articles_dir / "2026-01-09-broken.txt")]
    )
    assert "already served from" in problems[str(articles_dir / "z-late.txt")]
    assert BUILD_PARTS not in os.listdir(tmp_path / "state")  # the parts are cleared away
    indexer.close()


def test_parts_merged_in_any_order_serve_the_first_file_name(
    write_article: WriteArticle, articles_dir: Path, tmp_path: Path
) -> None:
    """A slug claimed in two parts, and twice within one part in reverse name order: the
    file whose name sorts first is served, with its tags only; the others are shadowed."""
    write_article("a-first.txt", title="First", keywords="kept, shared", front={"slug": "s"})
    write_article("b-second.txt", title="Second", keywords="lost, shared", front={"slug": "s"})
    write_article("c-third.txt", title="Third", keywords="gone", front={"slug": "s"})
    write_article("d-other.txt", title="Other", keywords="shared")

    def reading(name: str) -> FileReading:
        return read_reading(str(articles_dir), name, UTC)

    now = 4_000_000_000 * 10**6  # every file's date is past
    late = Part(str(tmp_path / "late.sqlite"))
    late.add([reading("c-third.txt"), reading("b-second.txt"), reading("d-other.txt")], now)
    early = Part(str(tmp_path / "early.sqlite"))
    early.add([reading("a-first.txt")], now)
    for part in (late, early):
        part.close()
        sort_part(part.path)
    db = create_database(str(tmp_path / "index.sqlite"), {})
    bulk = BulkLoad(db, now)
    bulk.merge([late.path, early.path])
    bulk.finish()
    served = db.execute("SELECT slug, title FROM articles ORDER BY slug").fetchall()
    assert served == [("d-other", "Other"), ("s", "First")]
    tags = db.execute("SELECT tag, slug FROM article_tags ORDER BY tag, slug").fetchall()
    assert tags == [("kept", "s"), ("shared", "d-other"), ("shared", "s")]
    shadowed = db.execute("SELECT path FROM files WHERE shadowed ORDER BY path").fetchall()
    assert shadowed == [(b"b-second.txt",), (b"c-third.txt",)]
    counts = dict(db.execute("SELECT scope, count FROM scopes").fetchall())
    assert counts == {"": 2, "kept": 1, "shared": 2}
    db.close()


def test_tags_column_is_the_json_of_the_tags() -> None:
    """Made without json.dumps, it is still its text: quotes, backslashes, controls, any script."""
    tags = (
        Tag('say-"hi"', 'Say "hi"'),
        Tag("a\\b", "A\\b"),
        Tag("x\x7fy", "X\x7fY\u2028"),
        Tag("são-paulo", "São Paulo"),
        Tag("😀", "😀\x1f"),
    )
    assert tags_json(tags) == json.dumps([[t.key, t.label] for t in tags], ensure_ascii=False)
    assert tags_json(()) == "[]"


def test_files_read_ahead_give_what_reading_them_one_by_one_gives(
    articles_dir: Path, write_article: WriteArticle
) -> None:
    """A reading process reads files on other threads, batches ahead of its parsing: every
    file still gives its own reading, in order, a bad one included (a FIFO, one too big,
    one gone since the folder was listed, one that is no article)."""
    names = []
    for number in range(READ_AHEAD * (READERS + 2) + 3):  # more batches than are read ahead
        name = f"2026-01-01-a{number:03}.txt"
        write_article(name, title=f"Article {number}", keywords=f"tag{number % 7}")
        names.append(name)
    os.mkfifo(articles_dir / "2026-01-02-fifo.txt")
    (articles_dir / "2026-01-02-big.txt").write_bytes(b"x" * 5000)
    (articles_dir / "2026-01-02-broken.txt").write_text("Only a title\n")
    bad = ["2026-01-02-fifo.txt", "2026-01-02-big.txt", "2026-01-02-gone.txt"]
    names[5:5] = bad
    names.insert(READ_AHEAD * 2, "2026-01-02-broken.txt")  # first in a later batch
    task = (str(articles_dir), names, UTC, 4000, Limits(), 0, "")

    ahead = indexer_module._read_chunk(task)

    one_by_one = [read_reading(str(articles_dir), name, UTC, 4000) for name in names]
    assert ahead == one_by_one
    assert [r.name for r in ahead] == names
    errors = {r.name: r.error for r in ahead if r.error}
    assert set(errors) == {*bad, "2026-01-02-broken.txt"}, errors
    assert "not a regular file" in errors["2026-01-02-fifo.txt"]
    assert "larger than 4000 bytes" in errors["2026-01-02-big.txt"]
    assert ahead[0].article is not None and ahead[0].article.title == "Article 0"


def test_a_reading_process_holds_a_bounded_share_of_large_files(
    articles_dir: Path, tmp_path: Path, write_article: WriteArticle
) -> None:
    """A chunk of large files goes into the part a few megabytes at a time: a reading
    process held the whole chunk's readings first (here about 80 MB of bodies)."""
    paragraph = "Word " * 4000  # 20 KB
    names = []
    for number in range(400):
        name = f"2026-01-01-big{number:03}.txt"
        write_article(name, title=f"Big {number}", keywords="big", body=(paragraph,) * 10)
        names.append(name)
    task = (str(articles_dir), names, UTC, 1 << 20, Limits(), 0, "")
    indexer_module._open_part(str(tmp_path))
    tracemalloc.start()
    try:
        path, files = indexer_module._load_chunk(task)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        indexer_module._close_part()
    assert files == 400
    with sqlite3.connect(path) as part:
        assert part.execute("SELECT count(*) FROM articles").fetchone() == (400,)
    # The readings held, the rows made of them, the batches read ahead: a few ADD_BYTES
    # (46 MB here); holding the whole chunk first took 153 MB.
    assert peak < 4 * ADD_BYTES, f"{peak / 2**20:.0f} MB"


@pytest.mark.parametrize(
    ("error", "damaged"),
    [
        (sqlite3.DatabaseError("database disk image is malformed"), True),
        (sqlite3.DatabaseError("file is not a database"), True),
        (sqlite3.OperationalError("Could not decode to UTF-8 column 'tags' with text 'x'"), True),
        (sqlite3.OperationalError("database is locked"), False),
        (sqlite3.OperationalError("database or disk is full"), False),
        (OSError("malformed"), False),
    ],
)
def test_what_counts_as_a_damaged_index(error: BaseException, damaged: bool) -> None:
    """Damage makes the writer rebuild; a lock or a full disk is waited out instead."""
    assert is_damage(error) is damaged


def test_a_rescan_lets_edits_in_between_slices_and_keeps_what_they_made(
    make_index: Callable[..., Index],
    write_article: WriteArticle,
    articles_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The watcher applies file events between slices of a rescan (a million files take
    tens of seconds to stat): an edit is not held back until the scan ends, and a file
    made after the folder was listed is no file gone."""
    for n in range(30):
        write_article(f"2026-01-01-f{n:02d}.txt", title=f"F{n}", keywords="alpha")
    index = make_index()
    monkeypatch.setattr(indexer_module, "RECONCILE_SLICE", 5)
    calls: list[int] = []

    def events() -> None:  # what the watcher does between slices
        calls.append(len(calls))
        if len(calls) == 1:
            new = write_article("2026-01-02-zz-new.txt", title="Made mid-scan", keywords="alpha")
            edited = write_article("2026-01-01-f29.txt", title="F29 edited", keywords="alpha")
            index.indexer.update([str(new), str(edited)])

    index.indexer.scan(between=events)
    assert len(calls) >= 5  # once a slice
    titles = index.titles("alpha")
    assert "Made mid-scan" in titles and "F29 edited" in titles and "F29" not in titles
    assert len(titles) == 31


def test_the_watcher_reads_noted_files_between_slices_of_its_rescan(
    make_index: Callable[..., Index],
    write_article: WriteArticle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The watcher's own hook (what its thread passes to a rescan): a file named by an
    event during the rescan is read at the next slice, not when the rescan ends."""
    for n in range(30):
        write_article(f"2026-01-01-f{n:02d}.txt", title=f"F{n}", keywords="alpha")
    index = make_index()
    watcher = Watcher(index.indexer, interval=1.0, rescan=30.0)
    monkeypatch.setattr(indexer_module, "RECONCILE_SLICE", 5)
    seen: list[list[str]] = []

    def between() -> None:
        seen.append(index.titles("alpha"))
        if len(seen) == 1:  # an editor saves during the rescan, and its event arrives
            watcher.note(
                str(write_article("2026-01-01-f03.txt", title="F3 saved", keywords="alpha"))
            )
        watcher.apply_events()

    index.indexer.scan(skip=watcher.hold_recent, between=between)
    assert len(seen) >= 3
    assert "F3 saved" not in seen[0]
    assert "F3 saved" in seen[1]  # read at the slice after the event, mid-rescan
    assert "F3 saved" in index.titles("alpha") and "F3" not in index.titles("alpha")
    assert not watcher.take()  # nothing left over for after the rescan


def test_a_bulk_arrival_is_recorded_in_batches_and_lets_a_later_edit_in_first(
    make_index: Callable[..., Index],
    write_article: WriteArticle,
    articles_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Files moved in by the hundred (a migration, a restore): each transaction holds at
    most a batch, an article written after the arrival began is served before its end,
    and the progress every worker reads says how much is left."""
    monkeypatch.setattr(watch_module, "BATCH", 10)
    write_article("2026-01-01-first.txt", title="First", keywords="alpha")
    index = make_index()
    staging = tmp_path / "staging"
    staging.mkdir()
    for n in range(60):
        article_writer(staging)(f"2026-02-01-bulk{n:02d}.txt", title=f"Bulk {n}", keywords="bulk")
    changes: list[tuple[frozenset[str], str, int]] = []
    first_change = threading.Event()
    later = str(articles_dir / "2026-02-02-later.txt")

    def heard(change: Change) -> None:
        progress = index.store.progress()
        changes.append((change.slugs, progress.phase, progress.total - progress.done))
        if not first_change.is_set():
            first_change.set()
            # The writer waits here, in its first batch, until the save's event has come:
            # else a quick machine records the whole arrival before the save is made.
            wait_until(lambda: later in watcher.changed, 60, "the save's event")

    index.indexer.listeners.append(heard)
    watcher = Watcher(index.indexer, interval=0.05, rescan=3600.0)
    watcher.observe()
    watcher.start()
    for path in sorted(staging.iterdir()):
        path.rename(articles_dir / path.name)
    wait_until(first_change.is_set, 60, "the first batch")
    write_article("2026-02-02-later.txt", title="Later", keywords="alpha")
    wait_until(lambda: len(index.titles("bulk")) == 60 and "Later" in index.titles(), 60)
    wait_until(lambda: index.store.progress().phase == "ready", 60, "ready again")
    assert all(len(slugs) <= 10 for slugs, _, _ in changes)
    saved = next(n for n, (slugs, _, _) in enumerate(changes) if "later" in slugs)
    last_bulk = max(n for n, (slugs, _, _) in enumerate(changes) if any("bulk" in s for s in slugs))
    assert saved < last_bulk, "the later article waited for the whole arrival"
    assert any(phase == "updating" and left > 0 for _, phase, left in changes)


@pytest.fixture
def guarded(articles_dir: Path, tmp_path: Path, write_article: WriteArticle) -> Index:
    """An index of 40 articles whose writer holds removals of more than half at once."""
    for n in range(40):
        write_article(f"2026-01-01-g{n:02d}.txt", title=f"G{n}", keywords="alpha")
    indexer = Indexer(str(articles_dir), str(tmp_path / "state"), max_removed_percent=50)
    indexer.open()
    indexer.catch_up()
    return Index(indexer, Store(str(tmp_path / "state")))


def test_a_folder_moved_away_for_a_moment_withdraws_nothing(
    guarded: Index, articles_dir: Path
) -> None:
    """``mv articles articles.old && mv new articles``, a share remounted: while the folder
    cannot be listed the index is served as it was, and the events of its files (their
    paths now lead nowhere) delete nothing."""
    changes: list[Change] = []
    guarded.indexer.listeners.append(changes.append)
    away = articles_dir.with_name("articles.old")
    articles_dir.rename(away)
    guarded.indexer.update([str(articles_dir / "2026-01-01-g01.txt")])
    guarded.indexer.scan()
    assert len(guarded.titles()) == 40 and changes == []
    assert "cannot list" in guarded.snapshot().problems()[str(articles_dir)]
    away.rename(articles_dir)
    guarded.indexer.scan()
    assert len(guarded.titles()) == 40 and changes == []
    assert guarded.snapshot().problems() == {}


def test_a_folder_emptied_for_a_moment_holds_the_removals(
    guarded: Index, articles_dir: Path, tmp_path: Path
) -> None:
    """More than FEEDSVC_MAX_REMOVED_PERCENT of the site removed at once is a fault: held
    and said, until the files are back; removals within it are edits."""
    changes: list[Change] = []
    guarded.indexer.listeners.append(changes.append)
    aside = tmp_path / "aside"
    aside.mkdir()
    files = sorted(articles_dir.iterdir())
    for path in files[:30]:
        path.rename(aside / path.name)
    guarded.indexer.scan()
    assert len(guarded.titles()) == 40 and changes == []
    held = guarded.snapshot().removals_held()
    assert held is not None and "30 of 40" in held and "allow-removals" in held
    # The events of files deleted one by one add up to the same fault.
    guarded.indexer.update([str(articles_dir / path.name) for path in files[:30]])
    assert len(guarded.titles()) == 40 and changes == []
    for path in files[:30]:
        (aside / path.name).rename(path)
    guarded.indexer.scan()
    assert guarded.snapshot().removals_held() is None
    assert len(guarded.titles()) == 40
    for path in files[:5]:  # an editor's deletions are within the share
        path.unlink()
    guarded.indexer.scan()
    assert len(guarded.titles()) == 35


def test_removals_allowed_by_the_operator_are_applied(
    guarded: Index, articles_dir: Path, tmp_path: Path
) -> None:
    for path in sorted(articles_dir.iterdir())[:30]:
        path.unlink()
    guarded.indexer.scan()
    assert len(guarded.titles()) == 40
    (tmp_path / "state" / "allow-removals").write_text("allowed\n")
    guarded.indexer.scan()
    assert len(guarded.titles()) == 10
    assert guarded.snapshot().removals_held() is None
    assert not (tmp_path / "state" / "allow-removals").exists()


def test_in_a_burst_of_events_what_came_last_is_read_first(
    make_index: Callable[..., Index], articles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of files moved in and, in the same instant, one article saved: the save
    is in the first batch, not behind the bulk in name order."""
    monkeypatch.setattr(watch_module, "BATCH", 10)
    watcher = Watcher(make_index().indexer, interval=1.0, rescan=3600.0)
    bulk = [str(articles_dir / f"2026-02-01-bulk{n:02d}.txt") for n in range(50)]
    watcher.note(*bulk)
    watcher.note(str(articles_dir / "zz-saved.txt"), bulk[0])  # bulk[0]: an event again
    first = watcher.first_batch(watcher.take())
    assert first[:2] == [bulk[0], str(articles_dir / "zz-saved.txt")]
    assert len(first) == 10 and watcher.pending == 41
    batches = [first]
    while batch := watcher.next_batch():
        batches.append(batch)
    assert sorted(p for batch in batches for p in batch) == sorted([*bulk, batches[0][1]])
    assert all(len(batch) <= 10 for batch in batches)
