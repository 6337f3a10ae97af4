"""Search feeds from the real service: an edit that adds the words is found."""

from __future__ import annotations

import os
from collections.abc import Callable

from tests.conftest import WriteArticle, wait_until
from tests.system.conftest import LiveServer, feed_titles


def test_an_edit_that_adds_the_words_is_found(
    write_article: WriteArticle, live_server: Callable[..., LiveServer]
) -> None:
    write_article("2026-01-01-a.txt", title="Palmyra reopens", body=("The old city.",))
    path = write_article("2026-01-02-b.txt", title="Aleppo souk", body=("Stalls again.",))
    server = live_server(args=("--workers", "2"))
    feed = "/search/feed.atom?q=%22old+city%22+palmyra"
    assert feed_titles(server, feed) == ["Palmyra reopens"]
    first = server.get(feed)
    assert first.getheader("xkey") == "all search"
    assert server.get(feed, {"If-None-Match": first.getheader("ETag")}).status == 304

    path.write_text(
        path.read_text().replace("Stalls again.", "Stalls again, as in Palmyra's old city.")
    )
    os.utime(path, ns=(2_000_000_000 * 10**9, 2_000_000_000 * 10**9))
    wait_until(
        lambda: feed_titles(server, feed) == ["Aleppo souk", "Palmyra reopens"],
        10,
        "the edit found",
    )
    # Words taken out: no longer found.
    path.write_text(path.read_text().replace("Palmyra's old city", "Homs"))
    os.utime(path, ns=(2_000_000_001 * 10**9, 2_000_000_001 * 10**9))
    wait_until(lambda: feed_titles(server, feed) == ["Palmyra reopens"], 10, "the edit undone")
    assert server.get("/search/feed.rss?q=a+OR+b").status == 400
