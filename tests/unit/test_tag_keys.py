"""Tags from Unicode keywords: emoji keep keys of their own, invisible characters are no
part of a key, a mark alone makes no tag, lengths count composed characters, and the
keys of ordinary tags are what they always were."""

from __future__ import annotations

import unicodedata

import pytest

from feedsvc.articles import MAX_TAG_CHARS, normalize_tag, parse_tags
from tests.conftest import BUNDLED_ARTICLES


def key_before(keyword: str) -> str:
    """The key as feedsvc made it before emoji and invisible characters were seen to:
    the reference that ordinary keywords must still match."""
    label = " ".join(keyword.split())
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", label).casefold())
    kept = "".join(c if c.isalnum() or unicodedata.category(c)[0] == "M" else " " for c in folded)
    return "-".join(kept.split())


def key(keyword: str) -> str | None:
    tag = normalize_tag(keyword)
    return None if tag is None else tag.key


def test_emoji_keywords_keep_distinct_visible_keys() -> None:
    """Each emoji written with its variation selector (U+FE0F) once made the key U+FE0F:
    four tags merged into one invisible one."""
    keys = [key(emoji) for emoji in ("❤️", "☀️", "✈️", "🏳️‍🌈", "👍🏽")]
    assert keys == ["❤", "☀", "✈", "🏳🌈", "👍🏽"]
    assert key("❤") == key("❤️")  # with or without the selector, one tag


@pytest.mark.parametrize("keyword", ["\u0301", "\ufe0f", "\u200d", "\u00ad", " \u0301 \u200b "])
def test_marks_selectors_or_format_characters_alone_make_no_tag(keyword: str) -> None:
    assert normalize_tag(keyword) is None


@pytest.mark.parametrize(
    "written", ["Syr\u00adia", "Syr\u200bia", "Sy\u200dria", "\u2060Syria", "Syria\ufeff"]
)
def test_format_characters_are_no_part_of_a_key(written: str) -> None:
    assert key(written) == "syria"


def test_a_keyword_saved_decomposed_is_measured_composed() -> None:
    composed = "é" * 60  # 60 letters: within the limit
    decomposed = unicodedata.normalize("NFD", composed)
    assert len(decomposed) == 120 > MAX_TAG_CHARS
    [tag] = parse_tags(decomposed)
    assert tag.key == composed
    assert parse_tags("é" * (MAX_TAG_CHARS + 1)) == ()  # longer is still too long


ORDINARY = [
    "São Paulo",
    "AT&T",
    "C++",
    "Q&A",
    "Rock \N{RIGHT SINGLE QUOTATION MARK}n\N{RIGHT SINGLE QUOTATION MARK} roll",
    "Côte d'Ivoire",
    "Zürich",
    "北京",
    "हिन्दी",
    "Ελλάδα",
    "New  York",
    "★ Stars",
    "COVID-19",
    "e\u0301te\u0301",
]


@pytest.mark.parametrize("keyword", ORDINARY)
def test_ordinary_keys_are_unchanged(keyword: str) -> None:
    assert key(keyword) == key_before(keyword)


def test_the_bundled_site_keys_are_unchanged() -> None:
    keywords = [
        keyword
        for path in sorted(BUNDLED_ARTICLES.glob("*.txt"))
        for keyword in path.read_text(encoding="utf-8")
        .split("\n\n")[3 if path.read_text(encoding="utf-8").startswith("---") else 2]
        .split(",")
        if keyword.strip()
    ]
    assert len(keywords) > 20
    assert [key(k) for k in keywords] == [key_before(k) for k in keywords]
