"""Author feeds from the real service: served, revalidated, and moved by edits."""

from __future__ import annotations

import os
from collections.abc import Callable

from tests.conftest import WriteArticle, wait_until
from tests.system.conftest import LiveServer, feed_titles


def test_an_author_feed_follows_edits_and_revalidates(
    write_article: WriteArticle, live_server: Callable[..., LiveServer]
) -> None:
    write_article(
        "2026-01-01-a.txt", title="Ana one", keywords="Syria", front={"author": "Ana Lima"}
    )
    path = write_article(
        "2026-01-02-b.txt", title="Bo one", keywords="Syria", front={"author": "Bo Chen"}
    )
    server = live_server(args=("--workers", "2"))
    assert feed_titles(server, "/authors/ana-lima/feed.atom") == ["Ana one"]
    assert feed_titles(server, "/authors/ana-lima/tags/syria/feed.rss") == ["Ana one"]
    first = server.get("/authors/ana-lima/feed.atom")
    again = server.get("/authors/ana-lima/feed.atom", {"If-None-Match": first.getheader("ETag")})
    assert again.status == 304
    assert first.getheader("xkey") == "all author:ana-lima"

    # Bo's article becomes Ana's and Bo's: both feeds follow, and the topic too.
    path.write_text(path.read_text().replace("author: Bo Chen", "author: Bo Chen and Ana Lima"))
    os.utime(path, ns=(2_000_000_000 * 10**9, 2_000_000_000 * 10**9))

    def moved() -> bool:
        return feed_titles(server, "/authors/ana-lima/feed.atom") == ["Bo one", "Ana one"]

    wait_until(moved, 10, "the edit reached Ana's feed")
    assert feed_titles(server, "/authors/ana-lima/tags/syria/feed.rss") == ["Bo one", "Ana one"]
    assert feed_titles(server, "/authors/bo-chen/feed.atom") == ["Bo one"]
    changed = server.get("/authors/ana-lima/feed.atom", {"If-None-Match": first.getheader("ETag")})
    assert changed.status == 200

    # The only article of an author gone: their feed is gone, and says so plainly.
    path.unlink()
    wait_until(lambda: server.get("/authors/bo-chen/feed.rss").status == 404, 10, "Bo's feed gone")
    assert server.get("/authors/bo-chen/feed.rss").body == b"no author 'bo-chen'\n"
