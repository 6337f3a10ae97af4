"""The soak test still works: ``python -m bench.soak`` for 18 s on 200 articles.

Its correctness counts are asserted (no error response, no malformed body, no lost or
ghost article, titles as on disk); its timings and memory figures are not.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def figure(table: str, label: str) -> str:
    """The "measured" cell of the row whose label starts with ``label``."""
    found = re.search(rf"^\| {re.escape(label)}[^|]*\| ([^|]*) \|", table, re.M)
    assert found is not None, f"no row {label!r} in:\n{table}"
    return found[1].strip()


def test_short_soak_finds_nothing_wrong() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--minutes", "0.3", "--articles", "200"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout
    details = f"{table}\n{done.stderr[-3000:]}"
    assert int(figure(table, "requests (wrk").split()[0].replace(",", "")) > 0, details
    assert figure(table, "error responses").split()[0] == "0", details
    assert figure(table, "malformed bodies") == "0", details
    assert figure(table, "lost articles") == "0", details
    assert figure(table, "ghost articles") == "0", details
    assert figure(table, "served articles differing") == "0", details
    assert figure(table, "tag counts differing") == "0", details
    edits = figure(table, "edits made")
    for kind in ("in place", "rename", "delete", "re-add"):
        assert re.search(rf"{kind} [1-9]", edits), details
    assert re.search(r"16 KB tag [1-9]", figure(table, "hostile requests sent")), details
