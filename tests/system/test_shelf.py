"""The shelf over the real server: an edit is rendered and kept before anyone asks."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from feedsvc.shelf import DATABASE
from tests.conftest import WriteArticle, wait_until
from tests.system.conftest import LiveServer


def test_an_edit_is_rendered_before_anyone_asks(
    live_server: object, write_article: WriteArticle, tmp_path: Path
) -> None:
    write_article("2026-01-01-a.txt", title="Alpha", keywords="alpha")
    write_article("2026-01-02-b.txt", title="Beta", keywords="beta")
    state = tmp_path / "state"
    server: LiveServer = live_server(STATE_DIR=str(state))  # type: ignore[operator]
    wait_until(lambda: pending(server) == 0, 30, "the start's backlog")
    write_article("2026-01-01-a.txt", title="Alpha, corrected", keywords="alpha")

    def kept_versions() -> set[bytes]:
        if not (state / DATABASE).exists():
            return set()
        with sqlite3.connect(state / DATABASE) as database:
            try:
                rows = database.execute(
                    "SELECT body FROM bodies WHERE coding = 'identity' AND key LIKE ?",
                    ('%["feed","alpha",%',),
                ).fetchall()
            except sqlite3.OperationalError:  # made a moment ago, its tables not yet
                return set()
        return {bytes(row[0]) for row in rows}

    wait_until(
        lambda: len(kept_versions()) == 3 and all(b"corrected" in b for b in kept_versions()),
        10,
        "alpha's three feeds kept with the edit, with no request for them",
    )


def pending(server: LiveServer) -> int:
    health = json.loads(server.get("/healthz").body)
    return int(health["representations"].get("pending", -1))
