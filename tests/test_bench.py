"""The benchmark still works: ``python -m bench.run --quick`` end to end, no timing asserted."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.corpus import generate
from feedsvc.index import Library

ROOT = Path(__file__).resolve().parent.parent


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def test_corpus_is_deterministic_and_valid(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", articles=200, tags=50, seed=7)
    generate(tmp_path / "b", articles=200, tags=50, seed=7)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(generate(tmp_path / "c", 200, 50, seed=8).directory)

    library = Library(tmp_path / "a")
    library.scan()
    catalogue = library.current()
    assert not catalogue.problems
    assert len(catalogue.articles) == 200
    names = [p.name for p in (tmp_path / "a").iterdir()]
    assert any(n[:4].isdigit() for n in names)  # date-prefixed names
    assert any(not n[:4].isdigit() for n in names)  # front matter dates
    counts = sorted((len(v) for v in catalogue.by_tag.values()), reverse=True)
    assert counts[0] == first.tag_counts[first.popular()[0]]
    assert counts[0] > 5 * counts[len(counts) // 2]  # Zipf-like: a head and a long tail


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("nginx", "wrk", "taskset")),
    reason="the benchmark needs nginx, wrk and taskset",
)
def test_quick_benchmark_runs() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for row in ("| 1 | warm 200 |", "| 2 | conditional 304 |", "| 3 | gzip 200 |"):
        assert row in out, out
    for words in ("cold start", "resident memory", "served over HTTP", "re-index CPU"):
        assert words in out, out
    assert "first render of an uncached" in out
    assert "edited in a loop under wrk" in out
