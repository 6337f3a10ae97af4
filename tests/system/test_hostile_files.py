"""Files no article folder should hold, met by the real server: FIFOs and devices."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from tests.conftest import WriteArticle, wait_until
from tests.system.conftest import LiveServer


def skipped(server: LiveServer) -> dict[str, str]:
    report = json.loads(server.get("/healthz").body)
    return {s["path"]: s["reason"] for s in report["skipped"]}


def titles(server: LiveServer) -> list[str]:
    return [i["title"] for i in json.loads(server.get("/feed.json").body)["items"]]


def test_fifo_at_start_added_live_and_renamed_over_an_article(
    write_article: WriteArticle, articles_dir: Path, live_server: Callable[..., LiveServer]
) -> None:
    """A FIFO never blocks a read: it is skipped as not a regular file, and every
    request, cached or not, is answered throughout."""
    write_article("2026-01-01-one.txt", title="One", keywords="alpha")
    write_article("2026-01-02-two.txt", title="Two", keywords="alpha")
    os.mkfifo(articles_dir / "at-start.txt")
    server = live_server()
    assert skipped(server) == {"at-start.txt": "not a regular file"}
    assert titles(server) == ["Two", "One"]
    os.mkfifo(articles_dir / "live.txt")
    wait_until(lambda: "live.txt" in skipped(server), 5, "the live FIFO reported")
    os.mkfifo(articles_dir / "pipe.tmp")
    os.replace(articles_dir / "pipe.tmp", articles_dir / "2026-01-02-two.txt")
    wait_until(lambda: titles(server) == ["One"], 5, "the replaced article withdrawn")
    assert server.get("/tags/alpha/feed.rss").status == 200
    for name in ("at-start.txt", "live.txt", "2026-01-02-two.txt"):
        (articles_dir / name).unlink()
    write_article("2026-01-03-three.txt", title="Three", keywords="alpha")
    wait_until(lambda: titles(server) == ["Three", "One"] and not skipped(server), 5)


def test_symlink_to_a_device_is_refused_at_once(
    write_article: WriteArticle, articles_dir: Path, live_server: Callable[..., LiveServer]
) -> None:
    """``zero.txt -> /dev/zero`` would be an endless read: refused, memory untouched."""
    write_article("2026-01-01-one.txt", title="One", keywords="alpha")
    (articles_dir / "zero.txt").symlink_to("/dev/zero")
    server = live_server()
    assert skipped(server) == {"zero.txt": "not a regular file"}
    (articles_dir / "random.txt").symlink_to("/dev/urandom")
    wait_until(lambda: "random.txt" in skipped(server), 5, "the live device reported")
    assert titles(server) == ["One"]
