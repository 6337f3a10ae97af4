"""The keys of a realistic corpus's tags (the benchmark's generator: accents, scripts,
punctuation) are what they were before emoji and invisible characters were seen to."""

from __future__ import annotations

from pathlib import Path

from bench.corpus import generate
from tests.unit.test_tag_keys import key, key_before


def test_a_realistic_corpus_keeps_its_tag_keys(tmp_path: Path) -> None:
    corpus = generate(tmp_path / "corpus", articles=300, tags=2_000)
    labels = corpus.tag_labels or list(corpus.tag_counts)
    assert len(labels) > 100
    assert [key(label) for label in labels] == [key_before(label) for label in labels]
