"""Compression levels for kept representations: time and size of each, on real feeds.

``python -m bench.compression [--corpus DIR] [--feeds N]`` renders tag feeds (RSS,
Atom, JSON Feed) of a realistic corpus in process and compresses each with brotli
qualities 4 to 11 and gzip levels 1 to 9, printing the median time per feed and the
total size relative to the chosen levels (brotli 5, gzip 6: see docs/http.md, "Kept
representations"). Without ``--corpus`` it generates 3,000 articles.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import brotli

from bench.corpus import generate

Compressor = Callable[[bytes], bytes]


def _brotli(body: bytes, quality: int) -> bytes:
    return bytes(brotli.compress(body, quality=quality))


def _gzip(body: bytes, level: int) -> bytes:
    return gzip.compress(body, compresslevel=level, mtime=0)


def levels() -> dict[str, Compressor]:
    found: dict[str, Compressor] = {}
    for quality in (4, 5, 6, 9, 11):
        found[f"brotli {quality}"] = functools.partial(_brotli, quality=quality)
    for level in (1, 6, 9):
        found[f"gzip {level}"] = functools.partial(_gzip, level=level)
    return found


def feeds(corpus: Path, state: Path, count: int) -> list[bytes]:
    """``count`` tag feeds in each format, rendered through the service."""
    from feedsvc.app import create_app

    app = create_app(
        {"ARTICLES_DIR": str(corpus), "STATE_DIR": str(state), "WATCH": False, "SHELF_MEGABYTES": 0}
    )
    client = app.test_client()
    tags = client.get("/tags.json").get_json()["tags"]
    step = max(1, len(tags) // count)
    bodies = []
    for tag in tags[::step][:count]:
        for fmt in ("rss", "atom", "json"):
            bodies.append(client.get(f"/tags/{tag['key']}/feed.{fmt}").data)
    return bodies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--feeds", type=int, default=20, help="tags (each in three formats)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="feedsvc-compression-"))
    try:
        corpus = args.corpus
        if corpus is None:
            corpus = work / "articles"
            generate(corpus, 3_000, 300)
        bodies = feeds(corpus, work / "state", args.feeds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    plain = sum(len(body) for body in bodies)
    print(f"{len(bodies)} feeds, {plain / len(bodies) / 1024:.0f} KB each on average\n")
    print("| coding | median ms per feed | total size | vs chosen |")
    print("|---|---|---|---|")
    results = {}
    for name, compress in levels().items():
        times, size = [], 0
        for body in bodies:
            started = time.perf_counter()
            out = compress(body)
            times.append(time.perf_counter() - started)
            size += len(out)
        results[name] = (statistics.median(times) * 1000, size)
    for name, (ms, size) in results.items():
        chosen = results["brotli 5" if name.startswith("brotli") else "gzip 6"][1]
        print(f"| {name} | {ms:.2f} | {size / plain:.1%} of plain | {size / chosen:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
