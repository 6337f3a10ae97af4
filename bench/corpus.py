"""A deterministic corpus of article files for the benchmark, in two kinds.

``python -m bench.corpus OUTDIR --articles 10000 --tags 2000 --seed 1 [--corpus easy]``
writes OUTDIR/*.txt in the project's article format (see ``feedsvc/articles.py``).
Both kinds draw tags from a Zipf-like distribution (weight ``1 / rank``) over the
tag vocabulary, so a few tags are on thousands of articles and most on a handful.

``realistic`` (the default, ``bench.realistic``) looks like a newsroom's export:
every file has front matter, dates in ISO 8601, RFC 2822 and the long English
form in equal shares, 8 to 25 keywords per article (places with accents, names
with punctuation), curly quotes, dashes, no-break spaces and the odd control
character in titles and bodies, some hard-wrapped paragraphs.

``easy`` is the first generator, kept as a second case:

* 3 to 6 distinct tags per article, one-word or two-word syllable labels;
* dates are spread evenly over four past years (2022-2025);
* about 85% of the files carry their date as a ``YYYY-MM-DD-slug.txt`` name
  prefix, the rest use front matter with ISO 8601 dates (some with an
  ``updated`` date and an author) and a plain ``slug.txt`` name;
* about 60% have an image caption line; bodies are 4-8 paragraphs of
  generated prose, 0.3-2.2 KB (median 1.1 KB; files median 1.4 KB), sized so
  that a 20-item RSS tag feed is about 44 KB, as in the issue's ~40 KB.

The same arguments always give byte-identical files.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Literal, get_args

from bench import prose
from bench.prose import FIRST_NAMES, LAST_NAMES, easy_tag_labels, sentence, vocabulary
from feedsvc.indexer import Indexer
from feedsvc.settings import Settings
from feedsvc.store import SITE, Store

CorpusKind = Literal["realistic", "easy"]
CORPUS_KINDS: tuple[CorpusKind, ...] = get_args(CorpusKind)

START = datetime(2022, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 4 * 365 * 24 * 3600
OFFSET_MINUTES = (0, 0, 60, 120, -300, -240, 330, 540)


@dataclass
class Corpus:
    """What was written: the tag labels by popularity and which files carry each."""

    directory: Path
    kind: CorpusKind
    tag_labels: list[str]
    tag_counts: dict[str, int] = field(default_factory=dict)
    files_by_tag: dict[str, list[str]] = field(default_factory=dict)
    paths_by_slug: dict[str, str] = field(default_factory=dict)
    total_bytes: int = 0

    def popular(self) -> list[str]:
        """Tag labels, most articles first (ties by label)."""
        return sorted(self.tag_counts, key=lambda t: (-self.tag_counts[t], t))

    def add(self, name: str, slug: str, labels: list[str], text: str) -> None:
        """Write one article file and record it."""
        path = self.directory / name
        data = text.encode()
        path.write_bytes(data)
        self.total_bytes += len(data)
        self.paths_by_slug[slug] = str(path)
        for label in labels:
            self.tag_counts[label] = self.tag_counts.get(label, 0) + 1
            self.files_by_tag.setdefault(label, []).append(str(path))


class ZipfSampler:
    """Zipf-like draws: tag at rank r has weight 1/r."""

    def __init__(self, count: int) -> None:
        total = 0.0
        self.cumulative: list[float] = []
        for rank in range(1, count + 1):
            total += 1.0 / rank
            self.cumulative.append(total)
        self.count = count

    def draw(self, rng: random.Random, k: int) -> list[int]:
        """``k`` distinct ranks (fewer if there are fewer tags)."""
        chosen: list[int] = []
        while len(chosen) < min(k, self.count):
            index = rng.choices(range(self.count), cum_weights=self.cumulative)[0]
            if index not in chosen:
                chosen.append(index)
        return chosen


def article_text(
    title: str,
    standfirst: str,
    keyword_line: str,
    body: list[str],
    caption: str | None = None,
    front: dict[str, str] | None = None,
) -> str:
    blocks = []
    if front:
        blocks.append("---\n" + "".join(f"{k}: {v}\n" for k, v in front.items()) + "---")
    blocks += [title, standfirst, keyword_line]
    if caption:
        blocks.append(caption)
    blocks += body
    return "\n\n".join(blocks) + "\n"


def _write_easy(corpus: Corpus, rng: random.Random, articles: int, tags: int) -> None:
    words = vocabulary(rng, 3000)
    # A pool of sentences keeps generation fast at 100,000 articles.
    sentences = [sentence(rng, words) for _ in range(4000)]
    labels = corpus.tag_labels = easy_tag_labels(rng, tags)
    sampler = ZipfSampler(tags)
    for number in range(articles):
        title_words = [rng.choice(words) for _ in range(rng.randint(5, 10))]
        title = " ".join(title_words).capitalize() + f" {number}"
        slug = "-".join(title_words[:6]) + f"-{number}"
        standfirst = " ".join(rng.choice(sentences) for _ in range(2))
        chosen = [labels[i] for i in sampler.draw(rng, rng.randint(3, 6))]
        paragraphs = []
        for _ in range(rng.randint(4, 8)):
            paragraphs.append(" ".join(rng.choice(sentences) for _ in range(rng.randint(1, 3))))
        caption = None
        if rng.random() < 0.6:
            credit = f"{rng.choice(FIRST_NAMES)[0]}. {rng.choice(LAST_NAMES)}/Agency"
            caption = f"{rng.choice(sentences).rstrip('.?!')} | Image: {credit}"
        moment = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        if rng.random() < 0.85:
            name = f"{moment:%Y-%m-%d}-{slug}.txt"
            front = None
        else:
            name = f"{slug}.txt"
            offset = rng.choice(["+00:00", "+01:00", "-05:00", "Z"])
            front = {"date": moment.strftime("%Y-%m-%dT%H:%M:%S") + offset}
            if rng.random() < 0.3:
                later = moment + timedelta(hours=rng.randint(1, 72))
                front["updated"] = later.strftime("%Y-%m-%dT%H:%M:%S") + "+00:00"
            if rng.random() < 0.5:
                front["author"] = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        text = article_text(title, standfirst, ", ".join(chosen), paragraphs, caption, front)
        corpus.add(name, slug, chosen, text)


def _realistic_front(rng: random.Random, form: int) -> tuple[dict[str, str], datetime]:
    """Front matter with a date in the given form; also the local date for a name prefix."""
    moment = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
    offset = timedelta(minutes=rng.choice(OFFSET_MINUTES))
    front = {"date": prose.date_text(moment, form, offset)}
    if rng.random() < 0.25:
        later = moment + timedelta(minutes=rng.randint(10, 72 * 60))
        front["updated"] = prose.date_text(later, form, offset)
    if rng.random() < 0.8:
        front["author"] = prose.author(rng)
    if rng.random() < 0.05:
        front["lang"] = rng.choice(("en-GB", "en-US", "pt-BR"))
    if rng.random() < 0.05:
        front["source"] = rng.choice(("Wire", "Staff", "Partner feed"))
    return front, moment.astimezone(timezone(offset))


def _body(rng: random.Random, sentences: list[str]) -> list[str]:
    """4-8 paragraphs of 1-3 sentences; one file in five hard-wrapped at 72 columns."""
    paragraphs = [
        " ".join(rng.choice(sentences) for _ in range(rng.randint(1, 3)))
        for _ in range(rng.randint(4, 8))
    ]
    return [prose.wrapped(p) for p in paragraphs] if rng.random() < 0.2 else paragraphs


def _caption(rng: random.Random, sentences: list[str]) -> str | None:
    if rng.random() >= 0.6:
        return None
    return f"{rng.choice(sentences).rstrip('.?!' + prose.ELLIPSIS)} | Image: {prose.credit(rng)}"


def _file_name(
    rng: random.Random, number: int, slug: str, front: dict[str, str], day: datetime
) -> str:
    """Mostly the slug; one in ten names differ, the slug in front matter; 40% date-prefixed."""
    stem = slug
    if rng.random() < 0.1:
        front["slug"], stem = slug, f"story-{number:06d}"
    return f"{day:%Y-%m-%d}-{stem}.txt" if rng.random() < 0.4 else f"{stem}.txt"


def _write_realistic(corpus: Corpus, rng: random.Random, articles: int, tags: int) -> None:
    words = vocabulary(rng, 3000)
    sentences = [prose.dressed(rng, sentence(rng, words)) for _ in range(4000)]
    labels = corpus.tag_labels = prose.realistic_tag_labels(rng, tags)
    sampler = ZipfSampler(tags)
    for number in range(articles):
        plain = [rng.choice(words) for _ in range(rng.randint(5, 12))]
        slug = "-".join(plain[:6]) + f"-{number}"
        front, day = _realistic_front(rng, number % 3)  # the three date forms in turn
        chosen = [labels[i] for i in sampler.draw(rng, rng.randint(8, 25))]
        body = _body(rng, sentences)
        caption = _caption(rng, sentences)
        if caption and rng.random() < 0.5:
            front["image"] = f"/images/{slug}.jpg"
        name = _file_name(rng, number, slug, front, day)
        standfirst = " ".join(rng.choice(sentences) for _ in range(2))
        keyword_line = prose.keyword_line(rng, chosen)
        title = prose.title(rng, plain)
        text = article_text(title, standfirst, keyword_line, body, caption, front)
        corpus.add(name, slug, chosen, text)


def generate(
    outdir: str | os.PathLike[str],
    articles: int = 10_000,
    tags: int = 2_000,
    seed: int = 1,
    kind: CorpusKind = "realistic",
) -> Corpus:
    """Write the corpus into ``outdir`` (created if needed) and describe it."""
    rng = random.Random(seed)
    directory = Path(outdir)
    directory.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(directory, kind, [])
    if kind == "easy":
        _write_easy(corpus, rng, articles, tags)
    else:
        _write_realistic(corpus, rng, articles, tags)
    return corpus


def corpus_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of a benchmark that measures an index of a corpus folder."""
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--state", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")


def corpus_and_state(
    parser: argparse.ArgumentParser, args: argparse.Namespace, work: Path
) -> tuple[Path, Path]:
    """The corpus folder and the state directory :func:`corpus_arguments` asked for; with
    ``--quick``, 2,000 articles generated in ``work`` and one round."""
    if args.quick:
        args.corpus, args.state, args.rounds = work / "articles", work / "state", 1
        generate(args.corpus, 2_000, 200)
    if args.corpus is None:
        parser.error("--corpus is required (a folder made by python -m bench.corpus)")
    return args.corpus, args.state or work / "state"


def built(corpus: Path, state: Path) -> Store:
    """The index the service would make of ``corpus``, built or brought up to date in
    ``state``; says how many articles it holds and how long that took."""
    started = time.perf_counter()
    settings = Settings.from_mapping({"ARTICLES_DIR": str(corpus), "STATE_DIR": str(state)})
    indexer = Indexer.of(settings)
    indexer.open()
    indexer.catch_up()
    indexer.close()
    seconds = time.perf_counter() - started
    store = Store(str(state))
    with store.reading() as index:
        total = index.count(SITE)
    print(f"{total:,} articles; index ready in {seconds:.1f} s")
    return store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("outdir")
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--corpus", choices=CORPUS_KINDS, default="realistic")
    args = parser.parse_args(argv)
    corpus = generate(args.outdir, args.articles, args.tags, args.seed, args.corpus)
    top = corpus.popular()[:5]
    print(
        f"wrote {args.articles} {args.corpus} articles ({corpus.total_bytes / 1e6:.1f} MB), "
        f"{len(corpus.tag_counts)} tags in use; most used: "
        + ", ".join(f"{t} ({corpus.tag_counts[t]})" for t in top)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
