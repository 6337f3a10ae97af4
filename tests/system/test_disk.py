"""A small state disk: the index always has room before the shelf of rendered feeds.

Anyone can request made-up query variants (``?limit=7&page=2``); each is kept on the
shelf. These tests put the state directory on a real 12 MB filesystem (a tmpfs,
mounted as root) and check that no flood of variants, and no file written there by
another program, stops an edit from being published.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import random
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedsvc.responses import Representation
from feedsvc.room import room
from feedsvc.shelf import DATABASE, VARIANT_SHARE, Shelf
from tests.conftest import article_text, wait_until
from tests.system.conftest import LiveServer, start_server, stop_server

WORDS = str.split(
    "council budget river bridge “heritage” site — palmyra unesco refugees camp winter aid "
    "minister said on Tuesday that the report\N{RIGHT SINGLE QUOTATION MARK}s findings, "
    "published late, were «preliminary» école naïve façade 2026-03-01 10:00 +0100 "
    "O\N{RIGHT SINGLE QUOTATION MARK}Neill & Sons (est. 1890) 50% £3.2m"
)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 12 MB filesystem of its own (a real tmpfs: the kernel says when it is full)."""
    folder = tmp_path / "state"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(path: Path, leave: int = 0) -> None:
    """Write ``path`` until the filesystem has at most ``leave`` bytes free."""
    chunk = os.urandom(1 << 16)
    with path.open("wb", buffering=0) as out:
        while True:
            status = os.statvfs(path)
            free = status.f_bavail * status.f_frsize
            if free <= leave:
                return
            try:
                out.write(chunk[: min(len(chunk), free - leave)])
            except OSError as error:
                assert error.errno == errno.ENOSPC
                return


def realistic_articles(folder: Path, count: int) -> None:
    """``count`` articles of about 3 KB: front matter, many tags, odd punctuation."""
    rng = random.Random(23)
    tags = [f"topic {n}" for n in range(40)]
    for n in range(count):
        body = tuple(" ".join(rng.choice(WORDS) for _ in range(70)) + "." for _ in range(6))
        (folder / f"2026-01-{n % 28 + 1:02d}-story-{n}.txt").write_text(
            article_text(
                title=f"Story {n}: “{rng.choice(WORDS)}”",
                standfirst=" ".join(rng.choice(WORDS) for _ in range(30)),
                keywords=", ".join(rng.sample(tags, 6)),
                body=body,
                front={"date": f"2026-01-{n % 28 + 1:02d}T{n % 24:02d}:{n % 60:02d}:00+01:00"},
            ),
            encoding="utf-8",
        )


def get_status(server: LiveServer, path: str) -> int:
    return int(server.get(path).status)


def healthz(server: LiveServer) -> dict[str, object]:
    return dict(json.loads(server.get("/healthz").body))


def shelf_bytes(state: Path) -> int:
    return sum(
        (state / name).stat().st_size for name in os.listdir(state) if name.startswith(DATABASE)
    )


def flood_variants(server: LiveServer, state: Path) -> int:
    """Anonymous variant requests until the shelf stops growing; how many were made."""
    variants = itertools.product(range(100, 0, -1), (1, 2, 3), ("rss", "atom", "json"))
    made = 0
    lock = threading.Lock()
    sizes: list[int] = []

    def worker() -> None:
        nonlocal made
        while True:
            with lock:
                try:
                    limit, page, form = next(variants)
                except StopIteration:
                    return
                made += 1
                if made % 30 == 0:
                    sizes.append(shelf_bytes(state))
                    # Grown by nothing over the last 120 requests: it stopped.
                    if len(sizes) > 4 and max(sizes[-4:]) <= sizes[-5]:
                        return
            assert get_status(server, f"/feed.{form}?limit={limit}&page={page}") == 200

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return made


def edit_and_wait(server: LiveServer, name: str, title: str, timeout: float) -> None:
    path = server.articles / name
    path.write_text(path.read_text(encoding="utf-8").replace("Story", title, 1), "utf-8")

    def served() -> bool:
        return title in server.get("/feed.json?limit=100").body.decode()

    wait_until(served, timeout, f"the edit {title!r} served")


def every_article_served(server: LiveServer, count: int) -> None:
    """The site's JSON Feed, page after page, lists ``count`` articles, and each answers."""
    assert healthz(server)["articles"] == count
    urls: list[str] = []
    path: str | None = "/feed.json?limit=100"
    while path is not None:
        document = json.loads(server.get(path).body)
        urls += [item["url"] for item in document["items"]]
        following = document.get("next_url")
        path = following.removeprefix(server.url) if following else None
    assert len(set(urls)) == count
    for url in urls:
        assert get_status(server, url.removeprefix(server.url)) == 200, url


# Served end to end ------------------------------------------------------------------


def test_a_flood_of_variants_never_stops_an_edit_being_published(
    small_disk: Path, tmp_path: Path
) -> None:
    articles = tmp_path / "articles"
    articles.mkdir()
    realistic_articles(articles, 300)
    log = tmp_path / "serve.log"
    server = start_server(articles, log, STATE_DIR=str(small_disk))
    try:
        made = flood_variants(server, small_disk)
        now = room(str(small_disk))
        assert now is not None and not now.short, (made, now, os.listdir(small_disk))
        # The newest article, first in the feed: its edit must show within the watch
        # interval (the timeout only bounds a failure; the old code never shows it).
        newest = max(os.listdir(articles), key=lambda n: (n[:10], n))
        edit_and_wait(server, newest, "Edited after the flood", timeout=10)
        every_article_served(server, 300)
        assert healthz(server)["status"] == "ok"
    finally:
        stop_server(server)
    text = log.read_text(errors="replace")
    assert "cannot rollback" not in text and "Traceback" not in text, text[-3000:]
    assert "disk is full" not in text, text[-3000:]


def test_a_disk_filled_from_outside_then_freed_loses_no_edit(
    small_disk: Path, tmp_path: Path
) -> None:
    articles = tmp_path / "articles"
    articles.mkdir()
    realistic_articles(articles, 120)
    log = tmp_path / "serve.log"
    server = start_server(articles, log, STATE_DIR=str(small_disk))
    try:
        for form in ("rss", "atom", "json"):  # something on the shelf to give back
            for limit in range(1, 20):
                assert get_status(server, f"/feed.{form}?limit={limit}") == 200
        hog = small_disk / "backup.tar"  # another program's file
        fill(hog)
        wait_until(lambda: healthz(server)["status"] == "degraded", 10, "healthz degraded")
        report = healthz(server)
        disk = report["disk"]
        assert isinstance(disk, dict) and "short of room" in str(disk["problem"])
        newest = max(os.listdir(articles), key=lambda n: (n[:10], n))
        path = articles / newest
        path.write_text(
            path.read_text(encoding="utf-8").replace("Story", "Edited on a full disk", 1),
            "utf-8",
        )
        # Feeds go on being served while the disk is full.
        for _ in range(5):
            assert get_status(server, "/feed.atom") == 200
        hog.unlink()
        edit_and_wait(server, newest, "Edited on a full disk", timeout=10)
        wait_until(lambda: healthz(server)["status"] == "ok", 10, "healthz ok again")
        every_article_served(server, 120)
    finally:
        stop_server(server)
    text = log.read_text(errors="replace")
    assert "cannot rollback" not in text and "Traceback" not in text, text[-3000:]
    # Said once per outage, not once per attempt.
    assert text.count("cannot record changes") <= 1, text[-3000:]
    assert text.count("short of room") <= 1 or "the shelf keeps less" in text


# The shelf on its own --------------------------------------------------------------


def representation(size: int) -> Representation:
    return Representation.of(os.urandom(size), "application/octet-stream", 1e9, 60).complete()


def test_the_shelf_never_takes_the_index_headroom(small_disk: Path) -> None:
    shelf = Shelf(str(small_disk), 4 << 30)  # a budget far above the disk
    kept = 0
    for n in range(120):
        kept += shelf.keep(f"feed-{n}", "site", 1, representation(200_000))
        now = room(str(small_disk))
        assert now is not None and not now.short, (n, now)
    assert kept == 120  # each new one took the room of the oldest
    assert shelf.find("feed-119", 1, 60) is not None
    assert shelf.find("feed-0", 1, 60) is None


def test_query_variants_have_a_share_and_never_push_out_a_feed(tmp_path: Path) -> None:
    budget = 2 << 20
    shelf = Shelf(str(tmp_path), budget)
    for n in range(6):
        assert shelf.keep(f"feed-{n}", "site", 1, representation(100_000))
    for n in range(100):
        shelf.keep(f"variant-{n}", "site", 1, representation(50_000), pinned=False)
    for n in range(6):
        assert shelf.find(f"feed-{n}", 1, 60) is not None
    with contextlib.closing(sqlite3.connect(tmp_path / DATABASE)) as db:
        (variants,) = db.execute(
            "SELECT sum(size) FROM representations WHERE NOT pinned"
        ).fetchone()
        (counted,) = db.execute("SELECT value FROM totals WHERE name = 'variants'").fetchone()
    assert 0 < variants <= budget // VARIANT_SHARE
    assert counted == variants  # the running total the budget is checked against
    assert shelf.find("variant-99", 1, 60) is not None  # the newest made room


def test_giving_back_returns_room_to_the_filesystem(small_disk: Path) -> None:
    shelf = Shelf(str(small_disk), 4 << 30)
    for n in range(8):
        assert shelf.keep(f"feed-{n}", "site", 1, representation(200_000))
        assert shelf.keep(f"variant-{n}", "site", 1, representation(100_000), pinned=False)
    fill(small_disk / "other", leave=64 << 10)
    before = room(str(small_disk))
    assert before is not None and before.short
    assert shelf.give_back()
    after = room(str(small_disk))
    assert after is not None and after.free > before.free + 500_000  # pages handed back
    assert all(shelf.find(f"variant-{n}", 1, 60) is None for n in range(8))
    assert not after.short  # the headroom is free again: the oldest feeds made it
    assert shelf.find("feed-7", 1, 60) is not None  # the newest stayed
    assert shelf.short_of_room is None
    (small_disk / "other").unlink()
    assert shelf.keep("feed-new", "site", 1, representation(1000))
