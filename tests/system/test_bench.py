"""The benchmark still works: ``python -m bench.run --quick`` end to end, no timing asserted."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.corpus import CORPUS_KINDS, CorpusKind, generate
from feedsvc.store import SITE
from tests.conftest import build_index

ROOT = Path(__file__).resolve().parents[2]


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


DATE_FORMS = {
    "ISO 8601": re.compile(r"^date: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$", re.M),
    "RFC 2822": re.compile(r"^date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$", re.M),
    "long": re.compile(r"^date: [A-Z][a-z]+ \d{1,2}, \d{4} \d\d:\d\d GMT$", re.M),
}


@pytest.mark.parametrize("kind", CORPUS_KINDS)
def test_corpus_is_deterministic_and_valid(tmp_path: Path, kind: CorpusKind) -> None:
    first = generate(tmp_path / "a", articles=200, tags=200, seed=7, kind=kind)
    generate(tmp_path / "b", articles=200, tags=200, seed=7, kind=kind)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    other = generate(tmp_path / "c", 200, 200, seed=8, kind=kind)
    assert digest(tmp_path / "a") != digest(other.directory)

    with build_index(tmp_path / "a").reading() as view:
        problems = view.problems()
        articles = view.newest(SITE, 1000)
        tags = view.tags_by_count()
    assert not problems
    assert len(articles) == 200
    assert set(first.paths_by_slug) == {a.slug for a in articles}
    names = [p.name for p in (tmp_path / "a").iterdir()]
    assert any(n[:4].isdigit() for n in names)  # date-prefixed names
    assert any(not n[:4].isdigit() for n in names)  # front matter dates
    counts = [tag.count for tag in tags]
    assert len(counts) == len(first.tag_counts)  # one key per label
    assert counts[0] == first.tag_counts[first.popular()[0]]
    assert counts[0] > 5 * counts[len(counts) // 2]  # Zipf-like: a head and a long tail


def test_realistic_corpus_looks_like_real_copy(tmp_path: Path) -> None:
    generate(tmp_path, articles=300, tags=200, seed=3)  # realistic is the default
    texts = [p.read_text() for p in sorted(tmp_path.iterdir())]
    assert all(t.startswith("---\n") for t in texts)  # every file has front matter
    shares = [sum(bool(form.search(t)) for t in texts) for form in DATE_FORMS.values()]
    assert shares == [100, 100, 100], dict(zip(DATE_FORMS, shares, strict=True))
    everything = "".join(texts)
    for mark in ("\x0b", "\x1f", "\u201c", "\u2019", "\u2014", "\u2026", "\u00a0", "São Paulo"):
        assert mark in everything, repr(mark)
    with build_index(tmp_path).reading() as view:
        articles = view.newest(SITE, 1000)
    assert len(articles) == 300
    assert all(8 <= len(a.tags) <= 25 for a in articles)
    assert any(a.author and not a.author.isascii() for a in articles)
    assert not any("\x0b" in a.title + a.standfirst for a in articles)  # cleaned on reading


def quick(module: str, timeout: float, said: list[str] | None = None, *arguments: str) -> str:
    """Run ``python -m <module> --quick [arguments]`` with no FEEDSVC_ setting; its
    standard output (its standard error appended to ``said``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    done = subprocess.run(
        [sys.executable, "-m", module, "--quick", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    if said is not None:
        said.append(done.stderr)
    return done.stdout


def test_quick_benchmark_runs() -> None:
    out = quick("bench.run", 180)
    for row in ("| 1 | warm 200 |", "| 2 | conditional 304 |", "| 3 | gzip 200 |"):
        assert row in out, out
    for words in ("cold start", "resident memory", "served over HTTP", "re-index CPU"):
        assert words in out, out
    assert "first render of an uncached" in out
    assert "edited in a loop under wrk" in out


def test_quick_polling_benchmark_runs() -> None:
    """``python -m bench.polling --quick``: every feed fetched, both mixes against nginx
    (the benchmark itself fails when an answer is not the expected 200 or 304), two
    workers of each, and an edit served; the rows are printed."""
    out = quick("bench.polling", 240)
    for words in (
        "random plain GETs over",
        "random conditional GETs over",
        "both loaded at once: requests per CPU-second, plain",
        "both loaded at once: requests per CPU-second, conditional",
        "feedsvc: random plain GETs, 2 workers",
        "nginx: random conditional GETs, 2 workers",
        "memory of the server",
        "one article edited",
    ):
        assert words in out, out


def test_quick_cache_tier_benchmark_runs() -> None:
    out = quick("bench.cache_tier", 180)
    for row in ("| origin alone |", "| nginx |", "| minimal VCL |", "| shipped VCL |"):
        assert row in out, out
    for words in ("shipped VCL / minimal VCL", "hit ratio", "served through the cache"):
        assert words in out, out


def test_quick_side_by_side_benchmark_runs() -> None:
    """``python -m bench.side_by_side --quick``: two servers loaded at once, a row a mix."""
    out = quick("bench.side_by_side", 240)
    assert "| random plain GETs, requests per CPU-second |" in out, out
    assert "| random conditional GETs (304), requests per CPU-second |" in out, out


def test_quick_first_build_benchmark_runs() -> None:
    """``python -m bench.first_build --quick``: every stage timed over a whole index (the
    benchmark fails when the index misses an article), the projections printed."""
    out = quick("bench.first_build", 120)
    for stage in ("read", "parse", "rows", "sort", "merge"):
        assert re.search(rf"^\| {stage} \| \d+\.\d \|", out, re.M), out
    for files in ("100,000", "1,000,000"):
        assert re.search(rf"^\| {files} \| \d+\.\d \| \d+\.\d \| ≤ \d+ \|$", out, re.M), out


def test_quick_hostile_load_benchmark_runs() -> None:
    """The never-down run, small: no figure of time is asserted, only that nothing was
    lost, the service stayed up, and it met both faults (a killed worker, a damaged
    index) and came back from each."""
    out = quick("bench.hostile", 240)
    rows = dict(line.split("  ", 1) for line in out.splitlines() if "  " in line)
    rows = {name.strip(): value.strip() for name, value in rows.items()}
    assert rows["articles lost / ghosts / stale titles"] == "0 / 0 / 0", out
    assert rows["tag counts off"] == "0", out
    assert rows["service up at the end"] == "yes", out
    assert rows["worker replaced (log)"] == "yes", out
    assert rows["index rebuilt after the damage (log)"] == "yes", out
    assert rows["tracebacks in the log"] == "0", out
    assert "killed the writing worker" in out and "junk written over" in out


def test_same_output_compares_every_url_of_two_servers() -> None:
    """``python -m bench.same_output``: the working tree against itself serves the same
    bytes at every URL of the bundled site; a setting that changes the feeds is seen."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    command = [sys.executable, "-m", "bench.same_output", "--max-tags", "5", "--max-pages", "3"]
    same = subprocess.run(
        [*command, ".", "."], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert same.returncode == 0, same.stdout[-3000:] + same.stderr[-3000:]
    assert re.search(r"[\d,]+ URLs from \. and \. \(200: [\d,]+.*: 0 differ", same.stdout)
    other = subprocess.run(
        [*command, ".", ".,FEEDSVC_SITE_TITLE=Another Site"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert other.returncode == 1, other.stdout[-3000:] + other.stderr[-3000:]
    assert "DIFFERS /feed.atom" in other.stdout


def test_quick_combinations_benchmark_runs() -> None:
    """``python -m bench.combinations --quick``: every kind of combination rendered
    from a built index, a row each, against a single tag's feed; then the service's
    memory while distinct combinations are asked for."""
    out = quick("bench.combinations", 240, None, "--memory", "200")
    for kind in ("one tag (reference)", "AND of the two biggest", "OR of the two biggest"):
        assert f"| {kind} |" in out, out
    assert "biggest NOT second" in out and "AND of the biggest and a small tag" in out, out
    assert "| distinct combinations asked | service VmRSS MB | seconds |" in out, out
    assert re.search(r"^\| 200 \| \d+ \| \d+ \|$", out, re.MULTILINE), out


def test_quick_authors_benchmark_runs() -> None:
    """``python -m bench.authors --quick``: author feeds, alone and on a topic, rendered
    from a built index against a single tag's feed, then the author index."""
    said: list[str] = []
    out = quick("bench.authors", 240, said)
    for kind in ("one tag (reference)", "the most prolific author", "an author of about 5"):
        assert f"| {kind}" in out, out
    assert "the most prolific on the biggest tag" in out, out
    assert re.search(r"/authors/: [\d,]+ authors, \d+ page\(s\) of 500; first page median", out)
    assert "rebuilding" not in said[0], said  # built once, as the service builds it


def test_quick_search_benchmark_runs() -> None:
    """``python -m bench.search --quick``: search feeds of every kind rendered from a built
    index against a single tag's feed, then the index's size and an edit's cost, and the
    service's memory while distinct searches are asked for."""
    out = quick("bench.search", 240, None, "--memory", "200")
    for kind in ("one tag (reference)", "the two commonest words", "a phrase from the newest"):
        assert f"| {kind}" in out, out
    assert re.search(r"\| this tree \| [\d.]+ \| \d+ \| [\d.]+ \|", out), out
    assert re.search(r"to its search feed over HTTP: median \d+ ms, max \d+ ms \(of 7: ", out)
    assert "| distinct searches asked | service VmRSS MB | seconds |" in out, out
    assert re.search(r"^\| 200 \| \d+ \| \d+ \|$", out, re.MULTILINE), out


def test_quick_pages_benchmark_runs() -> None:
    """``python -m bench.pages --quick``: every kind of page answered by the app in
    process, in br and gzip, with its median."""
    out = quick("bench.pages", 240)
    for kind in ("home (`/`)", "tag list (`/tags/`)", "the biggest tag, page 2", "author list"):
        assert f"| {kind}" in out, out
    assert re.search(
        r"^\| the newest article \(`/articles/[^`]+`\) \| gzip \| [\d.]+ \|$", out, re.M
    )


def test_quick_regression_benchmark_runs() -> None:
    """``python -m bench.regress --quick --against HEAD``: two revisions built and loaded
    in one run, a row a measure with its ratio."""
    out = quick("bench.regress", 300, None, "--against", "HEAD")
    for row in ("| first build,", "| poll mix, random plain GETs", "| hot identity feed"):
        assert row in out, out


def test_quick_bulk_arrival_benchmark_runs() -> None:
    """``python -m bench.bulk --quick``: 300 files moved into a running site of 2,000 are
    all served, and so is an unrelated article written meanwhile."""
    out = quick("bench.bulk", 300)
    row = next(line for line in out.splitlines() if line.startswith("| this tree |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "300" and "nan" not in row, out


def test_quick_costly_requests_benchmark_runs() -> None:
    """``python -m bench.costly --quick``: an honest poller timed while costly clients ask
    distinct deep searches and combinations; the poller is never refused."""
    out = quick("bench.costly", 300)
    row = next(line for line in out.splitlines() if line.startswith("| this tree |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[5] == "0", out  # no poll failed
