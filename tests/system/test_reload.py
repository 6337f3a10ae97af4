"""Live reload, observed over HTTP on the real server, and scheduled publishing.

Scheduled publishing runs in-process on a clock the test moves, so it never waits
for the real one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
import time_machine
from flask.testing import FlaskClient

from bench.processes import descendants
from feedsvc.app import create_app
from tests.conftest import WriteArticle, article_text, wait_until
from tests.system.conftest import LiveServer

BOUND = 60.0  # a bound that ends a hung test, not a timing: the docs' "within about a second"
# is measured in bench/


def feed_titles(status: int, body: bytes) -> list[str]:
    """The item titles of a feed response; none unless it is a 200."""
    if status != 200:
        return []
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.bozo_exception
    return [entry.title for entry in parsed.entries]


def titles(server: LiveServer, path: str = "/feed.atom") -> list[str]:
    response = server.get(path)
    return feed_titles(response.status, response.body)


def wait_for(check: Callable[[], bool], bound: float = BOUND) -> float:
    """Poll until ``check()`` holds; return how long it took, failing past the bound."""
    return wait_until(check, bound, "the change showing")


def skipped(server: LiveServer) -> list[dict[str, str]]:
    found: list[dict[str, str]] = json.loads(server.get("/healthz").body)["skipped"]
    return found


@pytest.fixture
def server(write_article: WriteArticle, live_server) -> LiveServer:  # type: ignore[no-untyped-def]
    write_article("2026-01-01-first.txt", title="First", keywords="alpha")
    write_article("2026-01-02-second.txt", title="Second", keywords="beta")
    return live_server()  # type: ignore[no-any-return]


def test_added_file_appears(server: LiveServer, write_article: WriteArticle) -> None:
    write_article("2026-01-03-third.txt", title="Third", keywords="alpha, gamma")
    wait_for(lambda: titles(server) == ["Third", "Second", "First"])
    assert titles(server, "/tags/gamma/feed.atom") == ["Third"]
    assert titles(server, "/tags/alpha/feed.atom") == ["Third", "First"]


def test_edited_file_changes_in_place(server: LiveServer, write_article: WriteArticle) -> None:
    before = feedparser.parse(server.get("/feed.atom").body).entries
    write_article("2026-01-01-first.txt", title="First, corrected", keywords="alpha")
    wait_for(lambda: "First, corrected" in titles(server))
    after = feedparser.parse(server.get("/feed.atom").body).entries
    assert [e.id for e in after] == [e.id for e in before]  # the id survives the edit


def test_renamed_file_keeps_serving_under_new_slug(server: LiveServer, articles_dir: Path) -> None:
    os.rename(articles_dir / "2026-01-01-first.txt", articles_dir / "2026-01-01-renamed.txt")
    wait_for(lambda: server.get("/articles/renamed").status == 200)
    old = server.get("/articles/first")  # the old address leads to the new one
    assert old.status == 301 and old.getheader("Location").endswith("/articles/renamed")
    assert titles(server) == ["Second", "First"]


def test_deleted_file_disappears_and_empty_tag_is_404(
    server: LiveServer, articles_dir: Path
) -> None:
    assert server.get("/tags/beta/feed.rss").status == 200
    (articles_dir / "2026-01-02-second.txt").unlink()
    wait_for(lambda: titles(server) == ["First"])
    assert server.get("/tags/beta/feed.rss").status == 404


def test_file_that_breaks_is_withdrawn_and_reported(
    server: LiveServer, write_article: WriteArticle
) -> None:
    write_article("2026-01-02-second.txt", text="Only a title\n")
    wait_for(lambda: titles(server) == ["First"])
    skipped = json.loads(server.get("/healthz").body)["skipped"]
    assert [s["path"] for s in skipped] == ["2026-01-02-second.txt"]  # from the folder
    assert "missing the standfirst" in skipped[0]["reason"]
    write_article("2026-01-02-second.txt", title="Second, fixed", keywords="beta")
    wait_for(lambda: titles(server) == ["Second, fixed", "First"])
    assert json.loads(server.get("/healthz").body)["skipped"] == []


def test_half_written_file_is_picked_up_when_complete(
    server: LiveServer, articles_dir: Path
) -> None:
    text = article_text(title="Slowly written", keywords="alpha").encode()
    path = articles_dir / "2026-01-05-slow.txt"
    with path.open("wb") as handle:
        handle.write(text[:10])
        handle.flush()
        # The watcher reads the partial file (and skips it) while it is still open.
        wait_for(lambda: [s["path"] for s in skipped(server)] == [path.name])
        handle.write(text[10:])
    wait_for(lambda: "Slowly written" in titles(server))
    assert json.loads(server.get("/healthz").body)["skipped"] == []


@pytest.mark.parametrize("name", [".hidden.txt", "notes.txt~", "draft.swp", "draft.tmp", "x.md"])
def test_editor_droppings_are_ignored(
    server: LiveServer, write_article: WriteArticle, name: str
) -> None:
    write_article(name, title="Dropping", keywords="alpha")
    write_article("2026-01-09-marker.txt", title="Marker", keywords="alpha")
    wait_for(lambda: "Marker" in titles(server))
    assert "Dropping" not in titles(server)
    assert json.loads(server.get("/healthz").body)["skipped"] == []


def test_unrelated_tag_feed_keeps_its_etag_across_changes(
    server: LiveServer, write_article: WriteArticle
) -> None:
    beta = server.get("/tags/beta/feed.rss").getheader("ETag")
    write_article("2026-01-07-more-alpha.txt", title="More alpha", keywords="alpha")
    wait_for(lambda: "More alpha" in titles(server, "/tags/alpha/feed.atom"))
    assert server.get("/tags/beta/feed.rss", {"If-None-Match": beta}).status == 304


def client_titles(client: FlaskClient, path: str = "/feed.atom") -> list[str]:
    response = client.get(path)
    return feed_titles(response.status_code, response.data)


def max_age(cache_control: str) -> int:
    found = re.fullmatch(r"public, max-age=(\d+)", cache_control)
    assert found is not None, cache_control
    return int(found[1])


def test_scheduled_article_appears_on_time(articles_dir: Path, write_article: WriteArticle) -> None:
    """A future-dated article goes live when the library's clock reaches its date."""
    clock = [time.time()]
    release = datetime.fromtimestamp(clock[0], UTC).replace(microsecond=0) + timedelta(minutes=2)
    write_article("2026-01-01-now.txt", title="Now", keywords="alpha")
    write_article("later.txt", title="Later", keywords="alpha", front={"date": release.isoformat()})
    app = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False}, clock=lambda: clock[0])
    client = app.test_client()
    assert client_titles(client) == ["Now"]
    assert client_titles(client, "/tags/alpha/feed.atom") == ["Now"]
    assert client.get("/articles/later").status_code == 404
    # No cache may hold a feed past the release: max-age is the seconds left until it
    # (counted on the real clock, when the response is made), less than the usual 300.
    for path in ("/tags/alpha/feed.rss", "/feed.rss"):
        before = time.time()
        feed = client.get(path)
        after = time.time()
        due = release.timestamp()
        age = max_age(feed.headers["Cache-Control"])
        assert math.ceil(due - after) <= age <= math.ceil(due - before) < 300, path
    clock[0] = release.timestamp() - 1  # a second early: still pending
    assert client_titles(client) == ["Now"]
    assert client.get("/articles/later").status_code == 404
    pending_since = client.get("/feed.rss").headers["Last-Modified"]
    clock[0] = release.timestamp()
    with time_machine.travel(release.timestamp(), tick=True):  # the wall clock too
        assert client_titles(client) == ["Later", "Now"]
        # The release is a change of the feed: If-Modified-Since alone sees it.
        since = {"If-Modified-Since": pending_since}
        assert client.get("/feed.rss", headers=since).status_code == 200
    assert client.get("/articles/later").status_code == 200
    assert client_titles(client, "/tags/alpha/feed.atom") == ["Later", "Now"]
    assert client.get("/tags/alpha/feed.rss").headers["Cache-Control"] == "public, max-age=300"


def test_in_place_saves_are_never_served_half_written(
    server: LiveServer, articles_dir: Path
) -> None:
    """An editor that truncates, writes half, pauses, then writes the rest and closes:
    every version served is a whole one."""
    path = articles_dir / "2026-01-06-draft-in-place.txt"

    def version(n: int) -> bytes:
        body = (*(f"Paragraph {i} of version {n}." for i in range(30)), f"END-{n}.")
        return article_text(title="In place", keywords="alpha", body=body).encode()

    path.write_bytes(version(0))
    wait_for(lambda: server.get("/articles/draft-in-place").status == 200)
    seen: list[bytes] = []
    stop = threading.Event()

    statuses: set[int] = set()

    def sample() -> None:
        while not stop.is_set():
            reply = server.get("/articles/draft-in-place")
            statuses.add(reply.status)
            if reply.status == 200:
                seen.append(reply.body)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        for n in range(1, 9):
            data = version(n)
            if n % 2:  # by rename, and at once in place: the race of a quick editor
                path.with_name("swap.tmp").write_bytes(version(n - 1))
                os.replace(path.with_name("swap.tmp"), path)
            with path.open("r+b") as handle:
                handle.truncate(0)
                handle.write(data[: len(data) // 2])  # cut inside the body: still parses
                handle.flush()
                time.sleep(0.15)
                handle.write(data[len(data) // 2 :])
        wait_for(lambda: b"END-8." in server.get("/articles/draft-in-place").body)
    finally:
        stop.set()
        sampler.join()
    assert statuses == {200}  # never withdrawn mid-save either
    halves = [body for body in seen if b"END-" not in body]
    assert seen and halves == [], halves[0][-1500:].decode()


def test_same_size_rewrite_with_old_time_is_seen(server: LiveServer, articles_dir: Path) -> None:
    path = articles_dir / "2026-01-01-first.txt"
    before = path.stat()
    path.write_bytes(path.read_bytes().replace(b"First", b"Fixed"))  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    wait_for(lambda: "Fixed" in titles(server))


# inotify(7) event bits, as /proc/PID/fdinfo shows a watch's mask.
IN_ACCESS, IN_CLOSE_WRITE, IN_CLOSE_NOWRITE, IN_OPEN = 0x1, 0x8, 0x10, 0x20
IN_MOVED_TO, IN_DELETE = 0x80, 0x200


def inotify_masks(pid: int) -> list[int]:
    """The event masks of every inotify watch the process holds, as the kernel has them."""
    masks = []
    for entry in Path(f"/proc/{pid}/fdinfo").iterdir():
        with contextlib.suppress(OSError):  # a descriptor closed meanwhile
            masks += [
                int(m, 16)
                for m in re.findall(r"^inotify .*\bmask:([0-9a-f]+)", entry.read_text(), re.M)
            ]
    return masks


def test_reading_the_folder_wakes_no_watcher(server: LiveServer, articles_dir: Path) -> None:
    """The folder's watch asks the kernel for changes only: with opens and unwritten closes
    in it, every file read (a first build's own, a reconciliation's, a backup's) cost the
    writing process one Python event each, about half a core during a first build."""
    workers = [server.process.pid, *descendants(server.process.pid)]
    masks = [mask for pid in workers for mask in inotify_masks(pid)]
    assert len(masks) == 1, masks  # one process watches the folder
    (mask,) = masks
    assert mask & (IN_ACCESS | IN_OPEN | IN_CLOSE_NOWRITE) == 0, hex(mask)
    assert mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE) == (
        IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE
    ), hex(mask)
    (articles_dir / "2026-01-01-first.txt").read_bytes()  # still served after a read
    write = articles_dir / "2026-01-03-third.txt"
    write.write_text(article_text(title="Third", keywords="alpha"))
    wait_for(lambda: "Third" in titles(server))


def test_a_file_moved_in_or_out_from_another_folder_shows_at_once(
    articles_dir: Path, tmp_path: Path, live_server: Callable[..., LiveServer]
) -> None:
    """A file written elsewhere and moved in whole (a CMS's export, ``mv`` from a staging
    folder) is read at once, as a rename within the folder is; it used to wait for the
    next rescan. Moved out again, it is gone as soon."""
    (articles_dir / "2026-01-01-first.txt").write_text(article_text(title="First"))
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "2026-01-02-staged.txt").write_text(article_text(title="Staged"))
    server = live_server(RESCAN_SECONDS="3600")  # only file events can show it in time
    os.rename(staging / "2026-01-02-staged.txt", articles_dir / "2026-01-02-staged.txt")
    wait_for(lambda: titles(server) == ["Staged", "First"])
    os.rename(articles_dir / "2026-01-02-staged.txt", staging / "2026-01-02-staged.txt")
    wait_for(lambda: titles(server) == ["First"])


def test_folder_swapped_by_symlink_or_recreated_is_followed(
    tmp_path: Path, live_server: Callable[..., LiveServer]
) -> None:
    """A deploy that swaps the folder's symlink, then one that deletes and re-creates it."""
    one, two = tmp_path / "v1", tmp_path / "v2"
    for folder, title in ((one, "Release one"), (two, "Release two")):
        folder.mkdir()
        (folder / "2026-01-01-r.txt").write_text(article_text(title=title, keywords="alpha"))
    current = tmp_path / "current"
    current.symlink_to(one)
    server = live_server(ARTICLES_DIR=str(current), RESCAN_SECONDS="3600")
    assert titles(server) == ["Release one"]
    (tmp_path / "current.new").symlink_to(two)
    os.replace(tmp_path / "current.new", current)  # ln -sfn v2 current.new && mv -T
    wait_for(lambda: titles(server) == ["Release two"])
    shutil.rmtree(two)
    two.mkdir()
    (two / "2026-01-02-r3.txt").write_text(article_text(title="Release three", keywords="beta"))
    wait_for(lambda: titles(server) == ["Release three"])


def test_a_rescan_never_serves_a_save_in_progress(
    write_article: WriteArticle, articles_dir: Path, live_server: Callable[..., LiveServer]
) -> None:
    """Full rescans every 0.1 s land inside a slow save (0.9 s, the file held open):
    the half is never served; the whole is, once closed."""

    def version(n: int) -> bytes:
        body = (*(f"Paragraph {i} of version {n}." for i in range(30)), f"END-{n}.")
        return article_text(title=f"Slow {n}", keywords="alpha", body=body).encode()

    path = articles_dir / "2026-01-06-slow-save.txt"
    path.write_bytes(version(0))
    server = live_server(RESCAN_SECONDS="0.1", WATCH_INTERVAL="0.05")
    bodies: list[bytes] = []
    with path.open("r+b") as handle:
        data = version(1)
        handle.truncate(0)
        handle.write(data[: len(data) // 2])
        handle.flush()
        started = time.monotonic()
        while time.monotonic() - started < 0.9:
            bodies.append(server.get("/articles/slow-save").body)
        handle.write(data[len(data) // 2 :])
    wait_for(lambda: b"END-1." in server.get("/articles/slow-save").body)
    assert not [b for b in bodies if b"Slow 1" in b and b"END-1." not in b]
