"""A damaged index page, met while serving: never a 500; 503 with Retry-After where
nothing kept can answer; /healthz says so; the index rebuilt from the folder."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from bench.hostile import damage
from tests.conftest import WriteArticle, wait_until
from tests.system.conftest import LiveServer, stop_server

TAGS = 30


def write_corpus(write_article: WriteArticle) -> None:
    """600 articles over 30 topics and one tag they all share: an index of many pages."""
    for n in range(600):
        write_article(
            f"2026-01-{n % 28 + 1:02d}-story-{n}.txt",
            title=f"Story {n}",
            keywords=f"topic {n % TAGS}, common",
            body=tuple(f"Paragraph {p} of story {n}. " * 30 for p in range(6)),
        )


def test_a_damaged_index_page_is_answered_503_then_rebuilt(
    write_article: WriteArticle, live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    write_corpus(write_article)
    state = tmp_path / "state"
    stop_server(live_server(STATE_DIR=str(state)))  # built, then stopped
    damage(state / "index.sqlite", seed=29)
    server = live_server(STATE_DIR=str(state), SHELF_MEGABYTES="0")  # nothing kept
    paths = [f"/tags/topic-{n}/feed.rss" for n in range(TAGS)] + ["/tags/common/feed.atom"]
    seen = set()
    for path in paths:
        answer = server.get(path)
        assert answer.status in (200, 503), (path, answer.status, answer.body[:200])
        if answer.status == 503:
            assert int(answer.getheader("Retry-After")) > 0
        seen.add(answer.status)
    assert 503 in seen  # the damage was met (else the test damaged nothing)
    health = json.loads(server.get("/healthz").body)
    assert health["status"] == "degraded" and "damage" in health, health

    def all_answer() -> bool:
        return all(server.get(path).status == 200 for path in paths)

    wait_until(all_answer, 60, "every feed answered from the rebuilt index")
    wait_until(lambda: json.loads(server.get("/healthz").body)["status"] == "ok", 10, "ok")
    log = server.log.read_text()
    assert "Traceback" not in log and " 500 " not in log, log[-3000:]
    assert "the index is rebuilt" in log
    assert [name for name in os.listdir(state) if ".damaged-" in name]  # kept for a look


def test_damage_while_serving_loses_no_edit(
    write_article: WriteArticle, live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    write_corpus(write_article)
    state = tmp_path / "state"
    server = live_server(STATE_DIR=str(state), SHELF_MEGABYTES="0")
    damage(state / "index.sqlite", seed=29)
    write_article("2026-02-01-new.txt", title="Written after the damage", keywords="topic 1")
    paths = [f"/tags/topic-{n}/feed.rss" for n in range(TAGS)]

    def whole() -> bool:
        answers = [server.get(path) for path in paths]
        assert all(answer.status in (200, 503) for answer in answers)
        return all(answer.status == 200 for answer in answers) and (
            b"Written after the damage" in server.get("/tags/topic-1/feed.rss").body
        )

    wait_until(whole, 60, "every feed whole again, the new file in it")
    assert " 500 " not in server.log.read_text()
