"""Soak test: feedsvc at full load for minutes, with live edits and hostile requests.

``python -m bench.soak [--minutes 10] [--articles 2000] [--workers 1]`` (from the
repository root) writes a realistic corpus (``bench.corpus``) to a temporary folder,
starts the real ``feedsvc serve`` on it with its own state directory, waits for the
first index build, then for ``--minutes``:

* **load**: ``wrk`` in slices (``--slice`` seconds) over a mix of URLs written into a
  Lua script: the site feed and many tag feeds in the three formats, paged and not,
  the home page, ``/tags/``, tag pages, article pages, headlines JSON, ``tags.json``,
  OPML, with assorted ``Accept-Encoding`` and conditional requests (``If-None-Match``
  and ``If-Modified-Since`` with validators fetched just before each slice); the script
  counts the status of every response;
* **edits**: a thread changes one article every ``--edit-pause`` seconds, in place
  (open, truncate, write half, pause 20-80 ms, write the rest), by atomic rename (write
  ``NAME.txt.tmp``, ``os.replace`` it over the article), by deleting it, or by putting
  a deleted article back; it keeps the model of what must be published at the end;
* **hostile requests**: 8 threads send, at a bounded rate, distinct 16 KB tag names,
  distinct 64,000-byte query strings, bad ``Host`` headers, ``//evil.com`` paths,
  malformed oEmbed URLs, unacceptable ``Accept-Encoding``, bad ``?limit=``/``?page=``,
  ``HEAD`` and ``OPTIONS``; any 5xx or connection error is an error, any other answer
  not among those expected (or a redirect off the base URL) is counted apart;
* **bodies**: two threads fetch feeds, each every ``--sample-pause`` seconds (identity
  and gzip), and parse every body (``xml.etree`` for RSS and Atom, ``json`` for JSON Feed),
  counting items whose title and body come from different saves (a half-written file);
* **memory**: a thread reads the ``VmRSS`` of the server's workers every 10 s.

Then it stops the edits, waits until ``/healthz`` has said for a few seconds that the
index has nothing left to do, and compares what is served (the site's JSON Feed, paged,
and ``tags.json``) with the model and the files on disk. The table goes to standard
output (exit status 0 even when a figure fails: it is a measurement), progress and
details to standard error.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.client import get, wait_for
from bench.corpus import generate
from bench.processes import Processes, clean_up, free_port
from bench.servers import ROOT, feedsvc_env
from bench.soak_edits import Editor, Loop, log
from bench.soak_hostile import (
    HostileClient,
)
from bench.soak_load import LoadTotals, lua_script, mix, run_slice
from bench.soak_sampling import (
    GROWTH_LIMIT,
    FeedSampler,
    Memory,
    MemorySampler,
    memory_figures,
)
from bench.soak_state import (
    QUIET_SECONDS,
    RESCAN_SECONDS,
    Comparison,
    Phase,
    compare,
    on_disk,
    wait_quiet,
)


def verdict(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def server_log_figures(path: Path) -> tuple[int, int]:
    """Errors (tracebacks, ERROR lines) and warnings about skipped files in the server log."""
    text = path.read_text(errors="replace")
    errors = len(re.findall(r"^Traceback|\bERROR\b|\[ERROR\]", text, re.M))
    skipped = len(re.findall(r"WARNING feedsvc\.indexer: skipped", text))
    return errors, skipped


@dataclass
class Outcome:
    minutes: float
    articles: int
    workers: int
    load: LoadTotals
    editor: Editor
    hostile: HostileClient
    sampler: FeedSampler
    memory: Memory
    first: Comparison
    healed: Comparison | None
    log_errors: int
    log_skipped: int
    phase: Phase


def report(o: Outcome) -> str:
    edits = ", ".join(f"{kind} {o.editor.counts[kind]:,}" for kind in Editor.KINDS)
    statuses = ", ".join(f"{s}: {n:,}" for s, n in sorted(o.load.statuses.items()))
    server_errors = sum(n for s, n in o.load.statuses.items() if s >= 500)
    others = len(o.hostile.errors) + len(o.sampler.errors) + len(o.load.validator_errors)
    errors = server_errors + o.load.socket_errors + others
    hostile = sum(o.hostile.sent.values())
    kinds = ", ".join(f"{k} {n:,}" for k, n in o.hostile.sent.items())
    m = o.memory
    c = o.first
    rate = o.load.requests / o.load.seconds if o.load.seconds else 0.0
    rows = [
        (
            f"requests (wrk, {o.load.slices} slices, {o.load.seconds:.0f} s)",
            f"{o.load.requests:,} ({rate:,.0f}/s)",
            "",
            "",
        ),
        ("wrk answers by status", statuses, "", ""),
        (
            "error responses (5xx and connection errors)",
            f"{errors} (wrk {server_errors} + {o.load.socket_errors}, others {others})",
            "0",
            verdict(errors == 0),
        ),
        (
            f"malformed bodies (of {o.sampler.samples:,} feeds parsed)",
            str(len(o.sampler.malformed)),
            "0",
            verdict(not o.sampler.malformed),
        ),
        (
            "sampled items whose title and body are from different saves (a torn file)",
            str(len(o.sampler.torn)),
            "0",
            verdict(not o.sampler.torn),
        ),
        (f"edits made ({sum(o.editor.counts.values()):,})", edits, "", ""),
        (f"hostile requests sent ({hostile:,})", kinds, "", ""),
        (
            "hostile requests answered otherwise than expected",
            str(len(o.hostile.unexpected)),
            "0",
            verdict(not o.hostile.unexpected),
        ),
        (
            "lost articles (in the model, not served)",
            str(len(c.lost)),
            "0",
            verdict(not c.lost),
        ),
        (
            "ghost articles (served, not in the model)",
            str(len(c.ghosts) + len(c.duplicates)),
            "0",
            verdict(not c.ghosts and not c.duplicates),
        ),
        (
            "served articles differing from the file (title, or an edit's last paragraph)",
            str(len(c.titles)),
            "0",
            verdict(not c.titles),
        ),
        (
            "tag counts differing from the files (tags.json)",
            str(len(c.tags)),
            "0",
            verdict(not c.tags),
        ),
        *_recheck(o.healed),
        (
            f"/healthz index once the edits stopped ({QUIET_SECONDS:.0f} s with nothing to do)",
            str(o.phase),
            "ready",
            verdict(o.phase.name == "ready"),
        ),
        (
            "skipped files at the end (/healthz skipped_count)",
            str(c.skipped_in_health),
            "0",
            verdict(c.skipped_in_health == 0),
        ),
        (
            "errors in the server log",
            str(o.log_errors),
            "0",
            verdict(o.log_errors == 0),
        ),
        (
            "worker processes seen (a restart adds one)",
            str(m.workers_seen),
            str(o.workers),
            verdict(m.workers_seen == o.workers),
        ),
        (
            "half-written files read and withdrawn meanwhile (log warnings)",
            str(o.log_skipped),
            "",
            "",
        ),
        (
            "memory, workers' VmRSS: start / end / max",
            f"{m.start:.0f} / {m.end:.0f} / {m.peak:.0f} MB",
            "",
            "",
        ),
        (
            f"memory growth from {m.reference_at:.0f} s ({m.reference:.0f} MB) to the end",
            f"{100 * m.growth:+.1f}%",
            f"< {100 * GROWTH_LIMIT:.0f}%",
            verdict(m.growth < GROWTH_LIMIT),
        ),
    ]
    out = [
        f"feedsvc soak, {time.strftime('%Y-%m-%d')}: {o.minutes:g} min, {o.articles:,} articles, "
        f"{o.workers} worker(s)",
        "",
        "| figure | measured | expected | result |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
        "",
        "| minute | memory samples | min MB | median MB | max MB |",
        "|---:|---:|---:|---:|---:|",
        *(f"| {n} | {k} | {lo:.0f} | {mid:.0f} | {hi:.0f} |" for n, k, lo, mid, hi in m.per_minute),
    ]
    return "\n".join(out)


def _recheck(again: Comparison | None) -> list[tuple[str, str, str, str]]:
    """The row of the second comparison, made only when the first found a difference."""
    if again is None:
        return []
    figures = (len(again.lost), len(again.ghosts), len(again.titles), len(again.tags))
    return [
        (
            f"(the same {RESCAN_SECONDS + 2:.0f} s later, after a full rescan: "
            "lost / ghosts / titles / tag counts)",
            " / ".join(map(str, figures)),
            "",
            "",
        )
    ]


def details(o: Outcome) -> None:
    """What went wrong, to standard error."""
    for title, lines in (
        ("error responses, hostile", o.hostile.errors),
        ("error responses, sampler", o.sampler.errors),
        ("error responses, fetching validators", o.load.validator_errors),
        ("malformed bodies", o.sampler.malformed),
        ("torn items", o.sampler.torn),
        ("hostile requests answered otherwise than expected", o.hostile.unexpected),
        ("served articles differing from the file", o.first.titles),
        ("tag counts differing", o.first.tags),
        ("duplicated items in the site feed", o.first.duplicates),
    ):
        if lines:
            log(f"{title} ({len(lines)}):")
            for line in lines[:20]:
                log(f"  {line}")
    for title, slugs in (("lost", o.first.lost), ("ghost", o.first.ghosts)):
        for slug in slugs[:20]:
            log(f"{title} article {slug}: " + "; ".join(o.editor.history.get(slug, [])[-8:]))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the load")
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--tags", type=int, help="tag labels of the corpus (articles / 4)")
    parser.add_argument("--workers", type=int, default=1, help="feedsvc serve --workers")
    parser.add_argument("--slice", type=float, default=30.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--edit-pause", type=float, default=0.05)
    parser.add_argument("--hostile-pause", type=float, default=0.4, help="per hostile thread")
    parser.add_argument("--sample-pause", type=float, default=0.2, help="per sampler thread")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        log("bench.soak needs wrk on the PATH")
        return 2
    work = Path(tempfile.mkdtemp(prefix="feedsvc-soak-"))
    procs = Processes()
    try:
        print(soak(args, work, procs), flush=True)
    finally:
        clean_up(procs, work, args.keep)
    return 0


def soak(args: argparse.Namespace, work: Path, procs: Processes) -> str:
    articles = work / "articles"
    tags = args.tags or max(20, args.articles // 4)
    log(f"writing {args.articles:,} realistic articles to {articles}")
    corpus = generate(articles, args.articles, tags, seed=args.seed)
    port = free_port()
    env = {**feedsvc_env(articles, port), "FEEDSVC_STATE_DIR": str(work / "state")}
    command = [sys.executable, "-m", "feedsvc.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(args.workers)]
    server_log = work / "feedsvc.log"
    process = procs.start(command, server_log, env=env, cwd=ROOT)
    wait_for(port, "/feed.rss", process, limit=600)
    wait_quiet(port, process, 1.0)
    log(f"feedsvc ready on port {port} (log {server_log})")

    rng = random.Random(args.seed)
    listed = [t["key"] for t in json.loads(get(port, "/tags.json").body)["tags"]]
    chosen_tags = listed[:40] + listed[40 :: max(1, len(listed) // 120)]
    slugs = rng.sample(sorted(corpus.paths_by_slug), min(80, len(corpus.paths_by_slug)))
    targets = mix(chosen_tags, slugs, rng)
    log(f"load mix: {len(targets)} requests over {len(chosen_tags)} tags and {len(slugs)} articles")

    paths = {slug: Path(path) for slug, path in corpus.paths_by_slug.items()}
    duration = args.minutes * 60
    memory = MemorySampler(process.pid)
    editor = Editor(paths, args.edit_pause, args.seed)
    hostile = HostileClient(port, listed[:50], args.hostile_pause, args.seed, threads=8)
    sampler = FeedSampler(port, listed[:12], args.sample_pause, work, threads=2)
    threads: list[Loop] = [memory, editor, hostile, sampler]
    load = LoadTotals()
    script = work / "mix.lua"
    text = lua_script(port, targets, load.validator_errors)
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + duration
    try:
        # The next slice's script is made while this one runs: no pause in the load.
        with ThreadPoolExecutor(1) as preparing:
            while (seconds := round(min(args.slice, deadline - time.monotonic()))) >= 1:
                script.write_text(text)
                upcoming = None
                if deadline - time.monotonic() - seconds >= 1:
                    upcoming = preparing.submit(lua_script, port, targets, load.validator_errors)
                run_slice(script, port, seconds, args.connections, load)
                if process.poll() is not None:
                    raise RuntimeError(f"feedsvc exited with {process.returncode}")
                if upcoming is None:
                    break
                text = upcoming.result()
    finally:
        for thread in threads:
            thread.stop.set()
        for thread in threads:
            thread.join(timeout=60)
    memory.sample()
    for name, crash in (
        ("editor", editor.crash),
        ("hostile", hostile.crash),
        ("sampler", sampler.crash),
        ("memory", memory.crash),
    ):
        if crash is not None:
            raise RuntimeError(f"the {name} thread failed:\n{crash}")

    log("edits stopped; waiting for the index to settle")
    phase = wait_quiet(port, process, QUIET_SECONDS)
    disk = on_disk(articles)
    model = set(editor.published)
    differ = [
        a.path.name for a in editor.published.values() if a.path.read_bytes() != a.text.encode()
    ]
    if disk.unreadable or set(disk.titles) != model or differ:
        raise RuntimeError(
            f"the soak's own model is off: {disk.unreadable[:5]}, "
            f"{sorted(set(disk.titles) ^ model)[:10]}, {differ[:5]}"
        )
    first = compare(port, model, disk)
    healed = None
    if first.lost or first.ghosts or first.titles or first.tags:
        log(f"mismatch; checking again after a full rescan ({RESCAN_SECONDS + 2:.0f} s)")
        time.sleep(RESCAN_SECONDS + 2)
        healed = compare(port, model, disk)
    log_errors, log_skipped = server_log_figures(server_log)
    outcome = Outcome(
        args.minutes,
        args.articles,
        args.workers,
        load,
        editor,
        hostile,
        sampler,
        memory_figures(memory, duration),
        first,
        healed,
        log_errors,
        log_skipped,
        phase,
    )
    details(outcome)
    return report(outcome)


if __name__ == "__main__":
    sys.exit(main())
