"""Properties of parsing that hold for every input, checked on generated ones (hypothesis),
and the slug rules they rely on.

- Any bytes are either an article or an :class:`ArticleError`, never another exception.
- Tag normalisation never raises and is idempotent: a tag's label, or its key,
  normalised again gives the same key.
- A slug is one spelling: NFD and NFC names give the same slug; a control character
  (a newline that ``$`` would let through) is refused with its reason.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from feedsvc import writer
from feedsvc.articles import (
    MAX_TAG_CHARS,
    ArticleError,
    Stamp,
    Tag,
    normalize_tag,
    parse_tags,
    parse_text,
)
from feedsvc.writer import tags_json
from tests.conftest import article_text

STAMP = Stamp(1_700_000_000 * 10**9, 1, 2, 1_700_000_000 * 10**9)
PROPERTIES = settings(
    max_examples=300,
    deadline=None,
    database=None,  # nothing written to the working tree
    suppress_health_check=[HealthCheck.too_slow],
)

# Text that looks like an article often enough to reach every part of the parser.
_PIECES = st.sampled_from(
    [
        "---",
        "---\n",
        "\n",
        "\n\n",
        "\r\n",
        " \t\n",
        "\u00a0\n",
        "\ufeff",
        ",",
        ", ",
        "|",
        " | Image: ",
        ":",
        "date: ",
        "updated: ",
        "slug: ",
        "author: ",
        "image: ",
        "lang: ",
        "draft: ",
        "true",
        "no",
        "2026-03-24T14:05:00+01:00",
        "2026-02-31",
        "Tue, 10 Nov 2026 08:00:00 +9999",
        "March 24, 2016 14:05 GMT",
        "0001-01-01",
        "9999-12-31T23:59:59-23:59",
        "http://",
        "https://[::1",
        "/images/a.jpg",
        "pt-BR",
        "São Paulo",
        "Sa\u0303o",
        "हिन्दी",
        "Straße",
        "\x00",
        "\x1b",
        "\ud800",
        "\U0001f600",
        "Title",
        "Body paragraph.",
    ]
)
ARTICLE_LIKE = st.lists(st.one_of(_PIECES, st.text(max_size=8)), max_size=40).map("".join)
FILE_NAMES = st.one_of(
    st.sampled_from(
        ["a.txt", "2026-01-01-a.txt", "2026-13-45-x.txt", "trail\n.txt", "café.txt", ".txt"]
    ),
    st.text(min_size=1, max_size=20).map(lambda s: s.replace("/", "") + ".txt"),
)


def parses_or_reports(name: str, data: bytes) -> None:
    path = f"/srv/articles/{name}"
    try:
        article, body = parse_text(path, data, STAMP, UTC)
    except ArticleError as exc:
        assert exc.path == path and exc.reason
        return
    assert article.title and article.tags and body
    assert len(article.tags) <= 100
    assert unicodedata.is_normalized("NFC", article.slug)


@PROPERTIES
@given(st.binary(max_size=600), FILE_NAMES)
def test_any_bytes_are_an_article_or_an_article_error(data: bytes, name: str) -> None:
    parses_or_reports(name, data)


@PROPERTIES
@given(ARTICLE_LIKE, FILE_NAMES, st.sampled_from(["utf-8", "utf-16", "latin-1"]))
@example("---\ndate: Tue, 10 Nov 2026 08:00:00 +9999\n---\nT\n\nS\n\nk\n\nB\n", "a.txt", "utf-8")
@example("T\n\nS\n\nk\n\nB\n", "trail\n.txt", "utf-8")
def test_any_article_like_text_is_an_article_or_an_article_error(
    text: str, name: str, encoding: str
) -> None:
    parses_or_reports(
        name, text.encode(encoding, errors="surrogatepass" if encoding != "latin-1" else "replace")
    )


KEYWORDS = st.text(
    st.characters(codec=None, exclude_categories=()),  # every code point, surrogates too
    max_size=30,
)


@PROPERTIES
@given(KEYWORDS)
@example("Sa\u0303o Paulo")
@example("\u01f0")  # casefolds to two code points that NFC puts back together
@example("ß")
@example("\u0345")  # a combining mark that casefolds to a letter
@example("^¶")  # an ASCII symbol among others: the ASCII keyword "^" has no key
def test_tag_normalisation_never_raises_and_is_idempotent(keyword: str) -> None:
    tag = normalize_tag(keyword)
    if tag is None:
        return
    assert tag.key and tag.label
    assert normalize_tag(tag.label) == tag
    again = normalize_tag(tag.key)
    assert again is not None and again.key == tag.key


@PROPERTIES
@given(st.lists(KEYWORDS, max_size=30).map(", ".join), st.integers(1, 10))
def test_a_keyword_line_never_gives_more_tags_than_the_limit_nor_a_repeated_key(
    line: str, limit: int
) -> None:
    tags = parse_tags(line, limit)
    assert len(tags) <= limit
    assert len({t.key for t in tags}) == len(tags)
    assert tags == parse_tags(line)[:limit]  # the first ones, in order


@PROPERTIES
@given(st.lists(KEYWORDS | st.sampled_from(["", " ", "—", "A", "a", " a "]), max_size=30))
def test_a_keyword_line_gives_each_keys_first_spelling_whatever_was_met_before(
    keywords: list[str],
) -> None:
    """Met once or met before (the memo's fast path), a line gives the tags one keyword at
    a time would: each key once, spelled as it first came, none for an empty keyword."""
    line = ",".join(keywords)
    expected: dict[str, Tag] = {}
    for keyword in line.split(","):  # a keyword drawn may hold a comma
        tag = normalize_tag(keyword)
        if tag is not None and len(tag.label) <= MAX_TAG_CHARS:
            expected.setdefault(tag.key, tag)
    first = parse_tags(line)
    assert first == parse_tags(line) == tuple(expected.values())
    assert [t.label for t in first] == [t.label for t in expected.values()]


# Slugs ------------------------------------------------------------------------------


def slug_of(name: str, front: dict[str, str] | None = None) -> str:
    data = article_text(front=front).encode()
    return parse_text(f"/srv/articles/{name}", data, STAMP)[0].slug


@pytest.mark.parametrize(
    "name",
    ["trail\n.txt", "2026-01-01-trail\n.txt", "tab\there.txt", "bell\x07.txt", "del\x7f.txt"],
)
def test_a_file_name_holding_a_control_character_is_refused_with_the_reason(name: str) -> None:
    """``trail\\n`` passed, because ``$`` matches before a final newline (and after a date
    prefix the newline was dropped, making a second ``trail``)."""
    stem = name.removesuffix(".txt").removeprefix("2026-01-01-")
    with pytest.raises(ArticleError) as caught:
        slug_of(name)
    assert caught.value.reason == f"slug {stem!r} holds a control character"


@pytest.mark.parametrize("name", ["café.txt", "2026-01-01-café.txt", "Ångström-ñandú.txt"])
def test_nfd_and_nfc_file_names_give_the_same_slug(name: str) -> None:
    """The NFD spelling (macOS, some archives) was refused while the NFC one was served."""
    nfc, nfd = (unicodedata.normalize(form, name) for form in ("NFC", "NFD"))
    assert nfc != nfd
    expected = unicodedata.normalize("NFC", name.removesuffix(".txt").removeprefix("2026-01-01-"))
    assert slug_of(nfd) == slug_of(nfc) == expected


def test_nfd_and_nfc_front_matter_slugs_are_the_same_slug() -> None:
    nfd = unicodedata.normalize("NFD", "résumé-2026")
    assert slug_of("a.txt", {"slug": nfd}) == slug_of("b.txt", {"slug": "résumé-2026"})
    assert slug_of("a.txt", {"slug": nfd}) == "résumé-2026"


@PROPERTIES
@given(st.text(min_size=1, max_size=12))
def test_every_spelling_of_a_name_behaves_the_same(stem: str) -> None:
    """NFC, NFD, NFKC-free: a name and its canonical equivalents give one answer."""
    stem = stem.replace("/", "")

    def outcome(name: str) -> str:
        try:
            return "slug " + slug_of(f"{name}.txt")
        except ArticleError as exc:
            return "error " + exc.reason

    outcomes = {outcome(unicodedata.normalize(form, stem)) for form in ("NFC", "NFD")}
    assert len(outcomes) == 1, outcomes


@PROPERTIES
@given(st.lists(st.tuples(st.text(min_size=1), st.text()), max_size=30))
def test_the_tags_column_is_the_json_of_its_pairs(pairs: list[tuple[str, str]]) -> None:
    """``tags_json`` writes the column by hand, keeping each tag's text for the next
    article: it must be byte for byte what ``json.dumps`` makes, which the index compares
    to tell a change, and before and after its store of made texts is emptied."""
    tags = [Tag(key, label) for key, label in pairs]
    expected = json.dumps([list(pair) for pair in pairs], ensure_ascii=False)
    writer._TAG_JSON.clear()
    try:
        assert tags_json(tags) == expected
        assert tags_json(tags) == expected  # now from what was kept
        # Full of other tags: the next one not kept empties the store before it is added.
        with patch.object(writer, "TAG_JSON_KEPT", 64):
            others = ((f"\x00{n}", "") for n in range(writer.TAG_JSON_KEPT))
            writer._TAG_JSON.update({pair: "[]" for pair in others if pair not in pairs})
            unseen = "\x01" + "".join(key for key, _ in pairs)  # longer than any key
            assert tags_json([Tag(unseen, ""), *tags]) == json.dumps(
                [[unseen, ""], *map(list, pairs)], ensure_ascii=False
            )
            assert len(writer._TAG_JSON) <= writer.TAG_JSON_KEPT
    finally:
        writer._TAG_JSON.clear()
