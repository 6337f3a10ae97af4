"""Parsing article files: the format, dates, tags, slugs, and every way a file can be broken."""

from __future__ import annotations

import os
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import pytest
from dateutil import tz

from feedsvc import articles
from feedsvc.articles import (
    Article,
    ArticleError,
    Stamp,
    Tag,
    parse_tags,
    parse_text,
    read_article,
    read_body,
)

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "articles" / "2016-03-24-syrian-forces-enter-palmyra.txt"
PARIS = tz.gettz("Europe/Paris")
MTIME = datetime(2019, 5, 6, 7, 8, 9, tzinfo=UTC)
STAMP = Stamp(int(MTIME.timestamp()) * 10**9, 123)


def text(*blocks: str, front: str | None = None) -> str:
    """An article file: optional front matter lines, then blocks separated by a blank line."""
    head = f"---\n{front}---\n" if front is not None else ""
    return head + "\n\n".join(blocks) + "\n"


PLAIN = ("A title", "A standfirst.", "news", "A body paragraph.")


def parse(
    data: str | bytes, name: str = "plain-article.txt", zone: tzinfo = UTC
) -> tuple[Article, tuple[str, ...]]:
    raw = data.encode() if isinstance(data, str) else data
    return parse_text(f"/srv/articles/{name}", raw, STAMP, zone)


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_seed_article_parses_into_every_block() -> None:
    """The first real article (no front matter, date in the file name) reads completely."""
    article, body = read_article(SEED, with_body=True)
    assert article.slug == "syrian-forces-enter-palmyra"
    assert article.title == (
        "Syrian government forces reportedly enter Islamic State-held city of Palmyra"
    )
    assert article.standfirst == (
        "In Iraq, armed forces are said to be bearing down on the IS-held city of Mosul"
    )
    assert [t.key for t in article.tags] == [
        "syrian",
        "government",
        "islamic",
        "state",
        "palmyra",
        "iraq",
        "syria",
        "forces",
        "mosul",
    ]
    assert Tag("palmyra", "Palmyra") in article.tags
    assert article.caption == "This image shows ruins in the city of Palmyra"
    assert article.credit == "F. Bandarin/UNESCO"
    assert article.published == article.updated == at(2016, 3, 24)
    assert (article.author, article.image, article.lang, article.draft) == (None, None, None, False)
    assert len(body) == 16
    assert body[0].startswith("Syrian government forces have entered the Islamic State-held city")
    assert body[-1].endswith("warning that they would be targeted in days to come.")


def test_read_article_skips_the_body_unless_asked() -> None:
    """The catalogue reads articles without their bodies; read_body reads them again."""
    article, body = read_article(SEED)
    assert body == ()
    assert len(read_body(article)) == 16


# Each case: file name, file text, default time zone, and the fields expected of the result
# ("body" is the tuple of body paragraphs).
CASES = [
    pytest.param(
        "plain-article.txt",
        text(*PLAIN),
        UTC,
        {
            "slug": "plain-article",
            "title": "A title",
            "standfirst": "A standfirst.",
            "tags": (Tag("news", "news"),),
            "caption": None,
            "credit": None,
            "body": ("A body paragraph.",),
        },
        id="minimal-article-no-front-matter",
    ),
    pytest.param(
        "plain-article.txt",
        text(
            *PLAIN,
            front="date: 2026-03-01T10:00:00+02:00\nupdated: 2026-03-02T09:30:00Z\n"
            "author: Claire Dubois\nslug: chosen-slug\n"
            "image: https://images.example.org/a.jpg\nlang: pt-BR\ndraft: false\n",
        ),
        UTC,
        {
            "slug": "chosen-slug",
            "published": at(2026, 3, 1, 8),
            "updated": at(2026, 3, 2, 9, 30),
            "author": "Claire Dubois",
            "image": "https://images.example.org/a.jpg",
            "lang": "pt-BR",
            "draft": False,
            "extra": (),
            "title": "A title",
        },
        id="front-matter-every-known-key",
    ),
    pytest.param(
        "plain-article.txt",
        text(*PLAIN, front="draft: yes\nimage: /images/local.jpg\n"),
        UTC,
        {"draft": True, "image": "/images/local.jpg"},
        id="front-matter-draft-true-and-site-root-image",
    ),
    pytest.param(
        "plain-article.txt",
        text(*PLAIN, front="Source: Wire service\nx-priority: high\nauthor: Sam\n"),
        UTC,
        {"extra": (("source", "Wire service"), ("x-priority", "high")), "author": "Sam"},
        id="front-matter-unknown-keys-kept-in-extra",
    ),
    pytest.param(
        "plain-article.txt",
        text(*PLAIN, front="\nauthor:   Spaced   Out  \n\n"),
        UTC,
        {"author": "Spaced   Out", "slug": "plain-article"},
        id="front-matter-blank-lines-and-padding",
    ),
    pytest.param(
        "plain-article.txt",
        "---\nauthor: Ann\n---\nTitle right after the fence\n\nS.\n\nk\n\nBody.\n",
        UTC,
        {"author": "Ann", "title": "Title right after the fence", "body": ("Body.",)},
        id="front-matter-closed-without-blank-line",
    ),
    pytest.param(
        "plain-article.txt",
        text(*PLAIN, front="date: 2026-03-01T10:00:00+02:00\n"),
        UTC,
        {"published": at(2026, 3, 1, 8), "updated": at(2026, 3, 1, 8)},
        id="date-iso-8601-with-offset",
    ),
    pytest.param(
        "plain-article.txt",
        text(*PLAIN, front="date: Tue, 10 Nov 2026 08:00:00 +0100\n"),
        UTC,
        {"published": at(2026, 11, 10, 7)},
        id="date-rfc-2822",
    ),
    pytest.param(
        "plain-article.txt",
        text(*PLAIN, front="date: March 24, 2016 14:05 GMT\n"),
        PARIS,
        {"published": at(2016, 3, 24, 14, 5)},
        id="date-english-with-gmt",
    ),
    pytest.param(
        "plain-article.txt",
        text(*PLAIN, front="date: 2016-03-24 14:05\n"),
        PARIS,
        {"published": at(2016, 3, 24, 13, 5)},
        id="date-naive-winter-in-configured-zone",
    ),
    pytest.param(
        "plain-article.txt",
        text(*PLAIN, front="date: July 1, 2016 12:00\n"),
        PARIS,
        {"published": at(2016, 7, 1, 10)},
        id="date-naive-summer-in-configured-zone",
    ),
    pytest.param(
        "plain-article.txt",
        text(*PLAIN, front="date: 2016-03-24 14:05\n"),
        UTC,
        {"published": at(2016, 3, 24, 14, 5)},
        id="date-naive-defaults-to-utc",
    ),
    pytest.param(
        "2016-03-24-from-the-name.txt",
        text(*PLAIN),
        UTC,
        {"published": at(2016, 3, 24), "slug": "from-the-name"},
        id="date-from-file-name-prefix",
    ),
    pytest.param(
        "2016-03-24-from-the-name.txt",
        text(*PLAIN),
        PARIS,
        {"published": at(2016, 3, 23, 23)},
        id="date-from-file-name-prefix-in-configured-zone",
    ),
    pytest.param(
        "2016-03-24-from-the-name.txt",
        text(*PLAIN, front="author: Ann\n"),
        UTC,
        {"published": at(2016, 3, 24), "author": "Ann"},
        id="date-from-file-name-when-front-matter-has-none",
    ),
    pytest.param(
        "2016-03-24-from-the-name.txt",
        text(*PLAIN, front="date: 2020-02-02T02:02:00Z\n"),
        UTC,
        {"published": at(2020, 2, 2, 2, 2), "slug": "from-the-name"},
        id="date-front-matter-wins-over-file-name",
    ),
    pytest.param(
        "no-date-anywhere.txt",
        text(*PLAIN),
        UTC,
        {"published": MTIME, "updated": MTIME, "slug": "no-date-anywhere"},
        id="date-from-file-modification-time",
    ),
    pytest.param(
        "plain-article.txt",
        text(*PLAIN, front="date: 2026-03-01T10:00:00Z\nupdated: 2026-03-05T12:00:00+01:00\n"),
        UTC,
        {"published": at(2026, 3, 1, 10), "updated": at(2026, 3, 5, 11)},
        id="updated-explicit",
    ),
    pytest.param(
        "plain-article.txt",
        text(*PLAIN, front="date: 2016-03-24 14:05\nupdated: 2016-03-25 09:00\n"),
        PARIS,
        {"updated": at(2016, 3, 25, 8)},
        id="updated-naive-in-configured-zone",
    ),
    pytest.param(
        "plain-article.txt",
        text(*PLAIN, front="slug: my-slug_2.0\n"),
        UTC,
        {"slug": "my-slug_2.0"},
        id="slug-from-front-matter",
    ),
    pytest.param(
        "2024-06-15-sao-paulo-metro.txt",
        text(*PLAIN),
        UTC,
        {"slug": "sao-paulo-metro"},
        id="slug-from-file-name-without-date-prefix",
    ),
    pytest.param(
        "2024-06-15.txt",
        text(*PLAIN),
        UTC,
        {"slug": "2024-06-15", "published": MTIME},
        id="slug-file-name-that-is-only-a-date",
    ),
    pytest.param(
        "plain-article.txt",
        text("T", "S", "k", "Ruins of the city | Image: F. Bandarin/UNESCO", "Body."),
        UTC,
        {"caption": "Ruins of the city", "credit": "F. Bandarin/UNESCO", "body": ("Body.",)},
        id="caption-present",
    ),
    pytest.param(
        "plain-article.txt",
        text("T", "S", "k", "Ruins of the city\nat dusk |\nImage: A. Person", "Body."),
        UTC,
        {"caption": "Ruins of the city at dusk", "credit": "A. Person", "body": ("Body.",)},
        id="caption-over-several-lines",
    ),
    pytest.param(
        "plain-article.txt",
        text("T", "S", "k", "First paragraph.", "Second paragraph."),
        UTC,
        {"caption": None, "credit": None, "body": ("First paragraph.", "Second paragraph.")},
        id="caption-absent-first-block-is-body",
    ),
    pytest.param(
        "plain-article.txt",
        text("T", "S", "k", "Scores: home 2 | away 1, said the board.", "More."),
        UTC,
        {"caption": None, "body": ("Scores: home 2 | away 1, said the board.", "More.")},
        id="caption-paragraph-with-a-bar-is-body",
    ),
    pytest.param(
        "plain-article.txt",
        text("T", "S", "k", "Body.", "A later block | Image: not a caption"),
        UTC,
        {"caption": None, "body": ("Body.", "A later block | Image: not a caption")},
        id="caption-form-after-the-body-is-body",
    ),
    pytest.param(
        "plain-article.txt",
        "T\r\n\r\nS\r\n\r\nk1, k2\r\n\r\nCap | Image: Cred\r\n\r\nOne\r\ntwo\r\n\r\nThree\r\n",
        UTC,
        {
            "title": "T",
            "tags": (Tag("k1", "k1"), Tag("k2", "k2")),
            "caption": "Cap",
            "credit": "Cred",
            "body": ("One two", "Three"),
        },
        id="crlf-line-ends",
    ),
    pytest.param(
        "plain-article.txt",
        "T\r\rS\r\rk\r\rBody.\r",
        UTC,
        {"title": "T", "standfirst": "S", "body": ("Body.",)},
        id="cr-line-ends",
    ),
    pytest.param(
        "plain-article.txt",
        "\ufeff" + text(*PLAIN),
        UTC,
        {"title": "A title", "slug": "plain-article"},
        id="bom",
    ),
    pytest.param(
        "plain-article.txt",
        ("\ufeff" + text(*PLAIN, front="author: Ann\nslug: bom-crlf\n")).replace("\n", "\r\n"),
        UTC,
        {"author": "Ann", "slug": "bom-crlf", "title": "A title", "body": ("A body paragraph.",)},
        id="bom-crlf-and-front-matter",
    ),
    pytest.param(
        "plain-article.txt",
        "A title\nthat wraps\n\nA standfirst\n  over two lines.\n\nk\n\nA para\nover\nthree.\n",
        UTC,
        {
            "title": "A title that wraps",
            "standfirst": "A standfirst over two lines.",
            "body": ("A para over three.",),
        },
        id="multi-line-blocks-are-joined",
    ),
    pytest.param(
        "plain-article.txt",
        "\n\nT\n\n\n\nS\n \t \nk\n\u00a0\n\nBody one.\n\n\n\nBody two.\n\n\n",
        UTC,
        {"title": "T", "standfirst": "S", "body": ("Body one.", "Body two.")},
        id="runs-of-blank-and-white-space-lines",
    ),
    pytest.param(
        "plain-article.txt",
        "T\n\u3000\nS\n\u2003 \nk\n\nBody.\n",
        UTC,
        {"title": "T", "standfirst": "S", "body": ("Body.",)},
        id="lines-of-unicode-spaces-are-blank",
    ),
    pytest.param(
        "plain-article.txt",
        text("T", "S", "São Paulo, Syria", "Body."),
        UTC,
        {"tags": (Tag("são-paulo", "São Paulo"), Tag("syria", "Syria"))},
        id="tag-accents-kept-label-kept",
    ),
    pytest.param(
        "plain-article.txt",
        text("T", "S", "  New \t  York  ,Rio de  Janeiro", "Body."),
        UTC,
        {"tags": (Tag("new-york", "New York"), Tag("rio-de-janeiro", "Rio de Janeiro"))},
        id="tag-trimmed-inner-white-space-collapsed",
    ),
    pytest.param(
        "plain-article.txt",
        text("T", "S", "Syria, syria, SYRIA , Iraq, Syria", "Body."),
        UTC,
        {"tags": (Tag("syria", "Syria"), Tag("iraq", "Iraq"))},
        id="tag-duplicates-dropped-first-spelling-kept",
    ),
    pytest.param(
        "plain-article.txt",
        text("T", "S", "C++ / Rust, AI: the_future!, ...dots...", "Body."),
        UTC,
        {
            "tags": (
                Tag("c-rust", "C++ / Rust"),
                Tag("ai-the-future", "AI: the_future!"),
                Tag("dots", "...dots..."),
            )
        },
        id="tag-punctuation-runs-become-one-dash",
    ),
    pytest.param(
        "plain-article.txt",
        text("T", "S", "Straße, STRASSE, Ελλάδα, 東京", "Body."),
        UTC,
        {"tags": (Tag("strasse", "Straße"), Tag("ελλάδα", "Ελλάδα"), Tag("東京", "東京"))},
        id="tag-casefolded-any-script",
    ),
    pytest.param(
        "plain-article.txt",
        text("T", "S", "Sa\u0303o Paulo, São Paulo", "Body."),
        UTC,
        {"tags": (Tag("são-paulo", "Sa\u0303o Paulo"),)},
        id="tag-decomposed-accent-same-key",
    ),
    pytest.param(
        "plain-article.txt",
        text("T", "S", "हिन्दी, தமிழ் நாடு", "Body."),
        UTC,
        {"tags": (Tag("हिन्दी", "हिन्दी"), Tag("தமிழ்-நாடு", "தமிழ் நாடு"))},
        id="tag-combining-marks-are-part-of-letters",
    ),
    pytest.param(
        "plain-article.txt",
        text("T", "S", ",news,, ,--, sport,", "Body."),
        UTC,
        {"tags": (Tag("news", "news"), Tag("sport", "sport"))},
        id="tag-empty-keywords-dropped",
    ),
]


@pytest.mark.parametrize(("name", "data", "zone", "expected"), CASES)
def test_article_text_parses_to_fields(
    name: str, data: str, zone: tzinfo, expected: dict[str, Any]
) -> None:
    """Each article text gives exactly the expected fields."""
    article, body = parse(data, name, zone)
    got = {k: body if k == "body" else getattr(article, k) for k in expected}
    assert got == expected
    assert article.path == f"/srv/articles/{name}"
    assert article.stamp == STAMP


def test_updated_defaults_to_published() -> None:
    """Without an ``updated`` key the article was last updated when it was published."""
    article, _ = parse(text(*PLAIN, front="date: 2026-03-01T10:00:00+02:00\n"))
    assert article.updated == article.published == at(2026, 3, 1, 8)


def test_dates_are_aware_utc() -> None:
    """Every date source gives a time-zone-aware datetime in UTC."""
    sources = [
        ("a.txt", text(*PLAIN, front="date: 2016-03-24 14:05\n")),
        ("a.txt", text(*PLAIN, front="date: Thu, 24 Mar 2016 14:05:00 -0500\n")),
        ("2016-03-24-a.txt", text(*PLAIN)),
        ("a.txt", text(*PLAIN)),
    ]
    for name, data in sources:
        article, _ = parse(data, name, PARIS)
        assert article.published.utcoffset() is not None
        assert article.published.tzinfo == UTC


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("14:05", id="time-only"),
        pytest.param("March 2016", id="no-day"),
        pytest.param("March 24", id="no-year"),
        pytest.param("Tuesday", id="weekday-only"),
    ],
)
def test_incomplete_date_is_rejected_not_completed_from_the_clock(value: str) -> None:
    """A date missing its year, month or day is an error, never filled in from today."""
    with pytest.raises(ArticleError) as caught:
        parse(text(*PLAIN, front=f"date: {value}\n"))
    assert caught.value.reason == (
        f"date: incomplete date {value!r}: it needs a year, a month and a day"
    )


# Each case: file name, file bytes or text, and the reason the file is skipped.
BROKEN = [
    pytest.param("a.txt", b"Caf\xe9\n\nS.\n\nk\n\nBody.\n", "not UTF-8", id="latin-1-not-utf-8"),
    pytest.param("a.txt", b"\xff\xfeT\x00", "not UTF-8", id="utf-16-not-utf-8"),
    pytest.param("a.txt", "", "missing the title", id="empty-file"),
    pytest.param("a.txt", "\n \n\t\n", "missing the title", id="only-blank-lines"),
    pytest.param(
        "a.txt", text("T", front="date: 2020-01-01\n"), "missing the standfirst", id="no-standfirst"
    ),
    pytest.param(
        "a.txt", "---\ndate: 2020-01-01\n---\n", "missing the title", id="only-front-matter"
    ),
    pytest.param("a.txt", text("T", "S"), "missing the keyword line", id="no-keyword-line"),
    pytest.param(
        "a.txt", text("T", "S", " , ,, "), "the keyword line holds no tag", id="empty-keyword-line"
    ),
    pytest.param(
        "a.txt",
        text("T", "S", "--, !!"),
        "the keyword line holds no tag",
        id="punctuation-only-keywords",
    ),
    pytest.param("a.txt", text("T", "S", "k"), "no body paragraph", id="no-body"),
    pytest.param(
        "a.txt",
        text("T", "S", "k", "Cap | Image: Cred"),
        "no body paragraph",
        id="caption-but-no-body",
    ),
    pytest.param(
        "a.txt",
        text(*PLAIN, front="date: next Tuesday-ish\n"),
        "date: unparseable date 'next Tuesday-ish'",
        id="unparseable-date",
    ),
    pytest.param(
        "a.txt",
        text(*PLAIN, front="date: 2016-02-30\n"),
        "date: unparseable date '2016-02-30'",
        id="impossible-date",
    ),
    pytest.param(
        "a.txt",
        text(*PLAIN, front="date: 24 Mar 2016 14:05 XYZT\n"),
        "date: unparseable date",
        id="unknown-time-zone-name",
    ),
    pytest.param(
        "a.txt", text(*PLAIN, front="date:\n"), "date: unparseable date ''", id="empty-date"
    ),
    pytest.param(
        "a.txt",
        text(*PLAIN, front="updated: soon\n"),
        "updated: unparseable date 'soon'",
        id="unparseable-updated",
    ),
    pytest.param(
        "2016-02-30-bad-day.txt",
        text(*PLAIN),
        "file name date '2016-02-30' is not a date",
        id="impossible-file-name-date",
    ),
    pytest.param(
        "a.txt",
        "---\ndate: 2020-01-01\nauthor: Ann\n",
        "front matter has no closing '---'",
        id="unclosed-front-matter",
    ),
    pytest.param(
        "a.txt",
        "---\nauthor: Ann\n\nTitle\n\nS\n\nk\n\nBody\n",
        "front matter line is not 'key: value': 'Title'",
        id="front-matter-runs-into-the-title",
    ),
    pytest.param(
        "a.txt",
        text(*PLAIN, front=": no key\n"),
        "front matter line is not 'key: value'",
        id="front-matter-line-without-key",
    ),
    pytest.param(
        "a.txt",
        text(*PLAIN, front="draft: maybe\n"),
        "draft 'maybe' is not true or false",
        id="bad-draft-value",
    ),
    pytest.param(
        "a.txt",
        text(*PLAIN, front="image: picture.jpg\n"),
        "image 'picture.jpg' is not an http(s) URL or a path from the site root",
        id="image-relative-path",
    ),
    pytest.param(
        "a.txt",
        text(*PLAIN, front="image: ftp://example.org/a.jpg\n"),
        "image 'ftp://example.org/a.jpg' is not an http(s) URL",
        id="image-ftp-url",
    ),
    pytest.param(
        "a.txt",
        text(*PLAIN, front="image: javascript:alert(1)\n"),
        "image 'javascript:alert(1)' is not an http(s) URL",
        id="image-javascript-url",
    ),
    pytest.param(
        "a.txt",
        text(*PLAIN, front="image: https://example.org/a b.jpg\n"),
        "image 'https://example.org/a b.jpg' is not an http(s) URL",
        id="image-url-with-space",
    ),
    pytest.param(
        "a.txt",
        text(*PLAIN, front="image: http://\n"),
        "image 'http://' is not an http(s) URL",
        id="image-url-without-host",
    ),
    pytest.param(
        "a.txt",
        text(*PLAIN, front="slug: a/b\n"),
        "slug 'a/b' may hold only letters",
        id="bad-slug",
    ),
    pytest.param(
        "a.txt",
        text(*PLAIN, front="lang: English!\n"),
        "lang 'English!' is not a language tag",
        id="bad-lang",
    ),
]


@pytest.mark.parametrize(("name", "data", "reason"), BROKEN)
def test_broken_file_is_an_error_with_path_and_reason(
    name: str, data: str | bytes, reason: str
) -> None:
    """A file that cannot be an article raises ArticleError naming the file and why."""
    with pytest.raises(ArticleError) as caught:
        parse(data, name)
    assert caught.value.reason.startswith(reason)
    assert caught.value.path == f"/srv/articles/{name}"
    assert str(caught.value).startswith(f"/srv/articles/{name}")


def test_missing_file_is_an_error_with_reason(tmp_path: Path) -> None:
    """A file that cannot be opened is reported, not raised as an OSError."""
    with pytest.raises(ArticleError, match="cannot read"):
        read_article(tmp_path / "gone.txt")


def test_modification_time_is_the_fallback_date(tmp_path: Path) -> None:
    """With no date in front matter or file name, the file's mtime is the date."""
    path = tmp_path / "undated.txt"
    path.write_text(text(*PLAIN), encoding="utf-8")
    when = datetime(2021, 7, 8, 9, 10, 11, tzinfo=UTC).timestamp()
    os.utime(path, (when, when))
    article, _ = read_article(path)
    assert article.published == article.updated == at(2021, 7, 8, 9, 10, 11)


def test_body_edited_since_indexing_is_an_error(tmp_path: Path) -> None:
    """read_body refuses a file that changed after it was indexed."""
    path = tmp_path / "a.txt"
    path.write_text(text(*PLAIN), encoding="utf-8")
    article, _ = read_article(path)
    path.write_text(text(*PLAIN[:3], "A much longer, different body paragraph."), encoding="utf-8")
    with pytest.raises(ArticleError, match="changed since it was indexed"):
        read_body(article)


CONTROL = "\x00\x01\x08\x0b\x0c\x1b\x1f"


def test_control_characters_are_removed_from_every_text_field() -> None:
    """Characters XML 1.0 forbids never survive into any field."""
    data = text(
        f"Ti{CONTROL}tle",
        f"Stand{CONTROL}first.",
        f"new{CONTROL}s, Sp\x1bort",
        f"Cap{CONTROL}tion | Image: Cre{CONTROL}dit",
        f"Bo{CONTROL}dy one.",
        "Body\x0btwo.",
        front=f"author: An{CONTROL}n\nsource: wi{CONTROL}re\n",
    )
    article, body = parse(data)
    assert article.title == "Title"
    assert article.standfirst == "Standfirst."
    assert article.tags == (Tag("news", "news"), Tag("sport", "Sport"))
    assert (article.caption, article.credit) == ("Caption", "Credit")
    assert article.author == "Ann"
    assert article.extra == (("source", "wire"),)
    assert body == ("Body one.", "Bodytwo.")


def test_text_fields_keep_tabs_and_ordinary_unicode() -> None:
    """Cleaning removes only forbidden characters: accents, dashes and quotes stay."""
    title = "Porto\u2019s museum \u2014 \u201creopens\u201d\tnow"
    article, body = parse(text(title, "Ça marche.", "k", "Naïve café…"))
    assert article.title == title
    assert article.standfirst == "Ça marche."
    assert body == ("Naïve café…",)


def test_keyword_memo_keeps_its_budget_and_its_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Distinct keywords by the thousand never grow the parsing memo past its budget, and
    a keyword seen before, kept or dropped since, gives the same tag."""
    memo = articles._KeywordMemo(20_000)
    monkeypatch.setattr(articles, "_keyword_memo", memo)
    line = ", ".join(f"Keyword {n}" for n in range(2_000))
    first = parse_tags(line, 1_000)
    assert [t.key for t in first] == [f"keyword-{n}" for n in range(1_000)]
    assert memo.size <= memo.half
    assert len(memo.young) + len(memo.old) < 200  # two generations of half the budget
    assert parse_tags(line, 1_000) == first
    assert parse_tags("Keyword 1999, keyword 0", None) == (
        Tag("keyword-1999", "Keyword 1999"),
        Tag("keyword-0", "keyword 0"),
    )
