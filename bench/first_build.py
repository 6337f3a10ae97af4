"""Where a first build's time goes, stage by stage, and the least it could take.

``python -m bench.first_build --corpus DIR`` runs each stage of a first build (see
``feedsvc.indexer`` and ``feedsvc.writer``) over the first ``--files`` files of DIR
(20,000 by default) in this one process, three times, and prints the median CPU time
a file of each, measured with ``time.process_time``:

1. **read**: open, stat, read and close the file (``read_file``) and hash its bytes;
2. **parse**: decode and parse it into an article (``parse_text``);
3. **rows**: make its rows and insert them into a part (``Part.add``);
4. **sort**: make the part's tag rows, in the index's order (``sort_part``);
5. **merge**: copy the part into an index and finish it (``BulkLoad``): one core.

Stages 1-4 run in every reading process, so on ``--cores`` cores they take a share of
that; stage 5 runs in the building process alone. From these it projects a first
build of 100,000 and of 1,000,000 files, and the *floor*: the same with parsing, rows
and sorting free, only the files read (on every core) and the index made (on one).
The cache of the folder's pages is warmed first, so reading is not the disk's speed.
``--quick`` (the smoke test) runs it on 300 generated files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

from bench.corpus import generate
from feedsvc.articles import Stamp, content_hash, parse_text, read_file
from feedsvc.indexer import is_article_file, to_micros_now
from feedsvc.writer import BulkLoad, FileReading, Part, create_database, sort_part

BATCH = 500
"""Files a part inserts at once, as a reading process does (``indexer.CHUNK``)."""
TARGETS = {100_000: 5.0, 1_000_000: 60.0}
"""Issue 9's first-build targets: seconds until the first tag feed, by folder size."""


def cpu(work: Callable[[], object]) -> float:
    started = time.process_time()
    work()
    return time.process_time() - started


def one_run(folder: Path, names: list[str], work: Path) -> dict[str, float]:
    """Seconds of CPU each stage took over all the files, once."""
    paths = [os.fspath(folder / name) for name in names]
    read: list[tuple[bytes, Stamp, bytes]] = []
    seconds = {"read": cpu(lambda: read.extend(_read(p) for p in paths))}
    readings: list[FileReading] = []

    def parse() -> None:
        for name, path, (data, stamp, digest) in zip(names, paths, read, strict=True):
            article, body = parse_text(path, data, stamp, UTC)
            readings.append(FileReading(name, article.stamp, digest, article, body))

    seconds["parse"] = cpu(parse)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    now = to_micros_now(time.time)
    part = Part(os.fspath(work / "part.sqlite"))
    seconds["rows"] = cpu(
        lambda: [part.add(readings[i : i + BATCH], now) for i in range(0, len(readings), BATCH)]
    )
    part.close()
    seconds["sort"] = cpu(lambda: sort_part(part.path))
    bulk = BulkLoad(create_database(os.fspath(work / "index.sqlite"), {}), now)

    def merge() -> None:
        bulk.merge([part.path])
        bulk.finish()

    seconds["merge"] = cpu(merge)
    (served,) = bulk.db.execute("SELECT count(*) FROM articles").fetchone()
    bulk.db.close()
    slugs = {r.article.slug for r in readings if r.article is not None}
    if served != len(slugs):  # what was measured must be a whole index
        raise SystemExit(f"the index holds {served} articles, not {len(slugs)}")
    return seconds


def _read(path: str) -> tuple[bytes, Stamp, bytes]:
    data, stamp = read_file(path)
    return data, stamp, content_hash(data)  # a build hashes every file it reads, once


def measure(folder: Path, files: int, cores: int, runs: int = 3) -> list[str]:
    """The report's lines (a Markdown table and the projections)."""
    names = sorted((n for n in os.listdir(folder) if is_article_file(n)), key=os.fsencode)
    names = names[:files]
    for name in names:  # the page cache warmed: the disk is not what is measured
        (folder / name).read_bytes()
    with tempfile.TemporaryDirectory(prefix="first-build-") as scratch:
        results = [one_run(folder, names, Path(scratch) / str(run)) for run in range(runs)]
    per_file = {
        stage: statistics.median(r[stage] for r in results) / len(names) * 1e6
        for stage in results[0]
    }
    every_core = per_file["read"] + per_file["parse"] + per_file["rows"] + per_file["sort"]
    one_core = per_file["merge"]
    lines = [
        f"first build, stage by stage: {len(names):,} files of {folder}, median of {runs} "
        f"runs, CPU a file in one process",
        "",
        "| stage | µs a file | runs on |",
        "|---|---:|---|",
    ]
    where = {"merge": "the building process"}
    for stage, micros in per_file.items():
        lines.append(f"| {stage} | {micros:.1f} | {where.get(stage, 'every reading process')} |")
    lines += [
        "",
        f"projected on {cores} cores, in seconds (no start-up, no serving; "
        f"{every_core:.0f} µs a file on every core, {one_core:.0f} on one):",
        "",
        "| files | projected build | floor: only reading and merging | target |",
        "|---:|---:|---:|---:|",
    ]
    for count, target in TARGETS.items():
        build = count * (every_core / cores + one_core) / 1e6
        floor = count * (per_file["read"] / cores + one_core) / 1e6
        lines.append(f"| {count:,} | {build:.1f} | {floor:.1f} | ≤ {target:.0f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="the articles folder measured")
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="300 generated files (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        with tempfile.TemporaryDirectory(prefix="first-build-corpus-") as scratch:
            corpus = generate(Path(scratch), articles=300, tags=100, seed=5)
            lines = measure(corpus.directory, 300, args.cores, runs=1)
    elif args.corpus is None:
        parser.error("--corpus DIR is needed (or --quick)")
    else:
        lines = measure(args.corpus, args.files, args.cores)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
