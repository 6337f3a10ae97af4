"""A deterministic corpus of article files for the benchmark.

``python -m bench.corpus OUTDIR --articles 10000 --tags 2000 --seed 1`` writes
OUTDIR/*.txt in the project's article format (see ``feedsvc/articles.py``):

* tags are drawn from a Zipf-like distribution (weight ``1 / rank``) over the
  tag vocabulary, 3 to 6 distinct tags per article, so a few tags are on
  thousands of articles and most on a handful;
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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

SYLLABLES = (  # noqa: SIM905
    "ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo fu ga ge gi go "
    "gu ha he hi ho hu la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi "
    "po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo vu za ze "
    "zi zo zu bar ber cor dan del fen gar hol kin lam mar nor pel ran sen tor "
    "val wen"
).split()
COMMON = (  # noqa: SIM905
    "the of and to in a is that for on with as by at from it was said has "
    "have which were will would are its their this after over more than about "
    "into new government city council report year week people officials "
    "minister market plan local region company research study team workers "
    "water energy project"
).split()
FIRST_NAMES = (  # noqa: SIM905
    "Ana Ben Chloe David Elena Farid Grace Hugo Ines Jonas Kemi Liam Maria"
).split()
LAST_NAMES = (  # noqa: SIM905
    "Silva Okafor Dubois Novak Tanaka Rossi Keller Haddad Larsen Moreau"
).split()
START = datetime(2022, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 4 * 365 * 24 * 3600


@dataclass
class Corpus:
    """What was written: the tag keys by popularity and which files carry each."""

    directory: Path
    tag_labels: list[str]
    tag_counts: dict[str, int] = field(default_factory=dict)
    files_by_tag: dict[str, list[str]] = field(default_factory=dict)
    paths_by_slug: dict[str, str] = field(default_factory=dict)
    total_bytes: int = 0

    def popular(self) -> list[str]:
        """Tag labels, most articles first (ties by label)."""
        return sorted(self.tag_counts, key=lambda t: (-self.tag_counts[t], t))


def _word(rng: random.Random, low: int = 2, high: int = 4) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(low, high)))


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    words = {_word(rng, 1, 3) for _ in range(size * 2)}
    return sorted(words)[:size]


def _tag_labels(rng: random.Random, count: int) -> list[str]:
    """``count`` tag labels whose keys (casefolded, punctuation as '-') are distinct."""
    labels: list[str] = []
    keys: set[str] = set()
    while len(labels) < count:
        words = [_word(rng, 2, 3) for _ in range(1 if rng.random() < 0.7 else 2)]
        label = " ".join(w.capitalize() if rng.random() < 0.4 else w for w in words)
        key = "-".join(label.casefold().split())
        if key not in keys:
            keys.add(key)
            labels.append(label)
    return labels


def _sentence(rng: random.Random, vocabulary: list[str]) -> str:
    words = [
        rng.choice(COMMON) if rng.random() < 0.45 else rng.choice(vocabulary)
        for _ in range(rng.randint(8, 22))
    ]
    if rng.random() < 0.15:
        words.insert(rng.randrange(len(words)), f"{rng.randint(2, 9999):,}")
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice(".....?!")


class _Sampler:
    """Zipf-like draws: tag at rank r has weight 1/r."""

    def __init__(self, count: int) -> None:
        weights = [1.0 / rank for rank in range(1, count + 1)]
        total = 0.0
        self.cumulative = []
        for weight in weights:
            total += weight
            self.cumulative.append(total)
        self.count = count

    def draw(self, rng: random.Random, k: int) -> list[int]:
        chosen: list[int] = []
        while len(chosen) < min(k, self.count):
            index = rng.choices(range(self.count), cum_weights=self.cumulative)[0]
            if index not in chosen:
                chosen.append(index)
        return chosen


def article_text(
    title: str,
    standfirst: str,
    keywords: list[str],
    body: list[str],
    caption: str | None = None,
    front: dict[str, str] | None = None,
) -> str:
    blocks = []
    if front:
        blocks.append("---\n" + "".join(f"{k}: {v}\n" for k, v in front.items()) + "---")
    blocks += [title, standfirst, ", ".join(keywords)]
    if caption:
        blocks.append(caption)
    blocks += body
    return "\n\n".join(blocks) + "\n"


def generate(
    outdir: str | os.PathLike[str], articles: int = 10_000, tags: int = 2_000, seed: int = 1
) -> Corpus:
    """Write the corpus into ``outdir`` (created if needed) and describe it."""
    rng = random.Random(seed)
    directory = Path(outdir)
    directory.mkdir(parents=True, exist_ok=True)
    vocabulary = _vocabulary(rng, 3000)
    # A pool of sentences keeps generation fast at 100,000 articles.
    sentences = [_sentence(rng, vocabulary) for _ in range(4000)]
    labels = _tag_labels(rng, tags)
    sampler = _Sampler(tags)
    corpus = Corpus(directory, labels)
    for number in range(articles):
        title_words = [rng.choice(vocabulary) for _ in range(rng.randint(5, 10))]
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
        text = article_text(title, standfirst, chosen, paragraphs, caption, front)
        data = text.encode()
        (directory / name).write_bytes(data)
        corpus.total_bytes += len(data)
        corpus.paths_by_slug[slug] = str(directory / name)
        for label in chosen:
            corpus.tag_counts[label] = corpus.tag_counts.get(label, 0) + 1
            corpus.files_by_tag.setdefault(label, []).append(str(directory / name))
    return corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("outdir")
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    corpus = generate(args.outdir, args.articles, args.tags, args.seed)
    top = corpus.popular()[:5]
    print(
        f"wrote {args.articles} articles ({corpus.total_bytes / 1e6:.1f} MB), "
        f"{len(corpus.tag_counts)} tags in use; most used: "
        + ", ".join(f"{t} ({corpus.tag_counts[t]})" for t in top)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
