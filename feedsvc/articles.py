"""Read one article file into an :class:`Article`.

The file format, blocks separated by blank lines::

    ---                      optional front matter
    date: 2026-03-24 14:05
    ---
    Title
    Standfirst, the one-paragraph summary.
    comma, separated, keywords
    Caption | Image: Credit  optional
    Body paragraph...        at least one

Everything is validated here, at the edge: code downstream trusts an ``Article``.
This module imports only the standard library and python-dateutil.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import stat
import sys
import threading
import unicodedata
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import NamedTuple
from urllib.parse import urlsplit

from dateutil import parser as date_parser

from .settings import DEFAULTS

MIN_YEAR, MAX_YEAR = 1900, 9998
MAX_ARTICLE_BYTES: int = DEFAULTS["MAX_ARTICLE_BYTES"]
"""The largest article file read, by default; a larger one is skipped and reported."""
MAX_KEYWORDS: int = DEFAULTS["MAX_KEYWORDS"]
"""The most tags an article carries, by default; it keeps its first ones, the rest are noted."""
MAX_AUTHORS: int = DEFAULTS["MAX_AUTHORS"]
"""The most authors an ``author:`` line names, by default; the first are kept, the rest noted."""
MAX_TAG_CHARS = 100
NFC_SHRINKS = 4
"""A keyword longer than this many times :data:`MAX_TAG_CHARS` is too long whatever NFC
makes of it (a composed character is rarely more than three code points apart)."""
"""The longest keyword made a tag; a longer one is left out and noted."""
FRONT_MATTER_KEYS = frozenset({"date", "updated", "author", "slug", "image", "lang", "draft"})

# XML 1.0 forbids most C0 controls, lone surrogates and U+FFFE/U+FFFF; one of them
# in one article would make every feed carrying it ill-formed.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_ALLOWED_BYTES = bytes(b for b in range(256) if not _XML_FORBIDDEN.match(chr(b)))
_FFFE, _FFFF = "\ufffe".encode(), "\uffff".encode()
# A blank line may hold any white space (a no-break or an ideographic space, say).
_BLANK_LINES = re.compile(r"\n[^\S\n]*(?:\n[^\S\n]*)+")
_SPACES = re.compile(r"\s+")
_CAPTION = re.compile(r"^(?P<caption>.*?)\s*\|\s*Image:\s*(?P<credit>\S.*)$", re.DOTALL)
# Always used with fullmatch: "$" would also match before a final newline.
_DATE_PREFIX = re.compile(r"(\d{4})-(\d{2})-(\d{2})-(.+)", re.DOTALL)
_SLUG = re.compile(r"\w[\w.-]*")
_LANG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# Two defaults for the fields a date leaves out: a date complete enough to publish
# parses the same under both, so nothing is ever filled in from today's date.
_PROBE_DEFAULTS = (datetime(2000, 1, 1), datetime(2001, 2, 2))
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = "(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + ")"
_TIME = r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
_ZONE = r"(?P<zone>(?-i:GMT|UTC|Z)|[+-]\d{4})"
# The two documented forms besides ISO 8601, read without dateutil (which costs
# about 100 us a date): RFC 2822 and "March 24, 2016 14:05 GMT". Anything else
# still goes to dateutil, so every form that parsed before parses the same.
_RFC_2822 = re.compile(
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun),\s*)?(?P<day>\d{1,2})\s+"
    + _MONTH
    + r"\s+(?P<year>\d{4})\s+"
    + _TIME
    + r"\s+"
    + _ZONE,
    re.IGNORECASE,
)
_ENGLISH = re.compile(
    _MONTH + r"\s+(?P<day>\d{1,2}),\s+(?P<year>\d{4})(?:\s+" + _TIME + r")?(?:\s+" + _ZONE + ")?",
    re.IGNORECASE,
)
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})

log = logging.getLogger(__name__)


class ArticleError(Exception):
    """A file that cannot be served as an article, with where and why."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        reason: str,
        line: int | None = None,
        stamp: Stamp | None = None,
    ):
        self.path = str(path)
        self.reason = reason
        self.line = line
        self.stamp = stamp
        """What the file looked like when read; ``None`` when it could not be opened."""
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag: ``key`` is its URL form, ``label`` the first spelling met."""

    key: str
    label: str


@dataclass(frozen=True, slots=True)
class Stamp:
    """What a file looked like when read; a different stamp means read it again.

    The inode and change time catch what size and modification time miss: a file
    replaced by a rename, or rewritten to the same size with its old time put back.
    """

    mtime_ns: int
    size: int
    inode: int = 0
    ctime_ns: int = 0


@dataclass(frozen=True, slots=True)
class Article:
    """One article, everything but its body paragraphs (the index keeps those apart:
    listings never load them)."""

    slug: str
    title: str
    standfirst: str
    tags: tuple[Tag, ...]
    published: datetime
    updated: datetime
    path: str
    stamp: Stamp
    author: str | None = None
    """The ``author:`` line as written."""
    image: str | None = None
    caption: str | None = None
    credit: str | None = None
    lang: str | None = None
    draft: bool = False
    extra: tuple[tuple[str, str], ...] = field(default=())
    notes: tuple[str, ...] = field(default=(), compare=False)
    """What parsing left out of a served article (keywords past the limit), for the log.

    Set by :func:`parse_text` only: the index does not keep it."""
    dated: bool = True
    """Whether the file gives its date (front matter or name): else the index keeps the
    date it first saw, rather than the modification time of the day."""
    updated_given: bool = False
    """Whether front matter gives ``updated``: else an edit's indexing time is used."""
    uid: str = ""
    """The article's identity in the index (its first slug): ids are made from it, so
    they survive renames. Empty until indexed."""
    authors: tuple[Tag, ...] = ()
    """Each author's scope (``@<key>``, :data:`feedsvc.urls.AUTHORS`) and name as this
    article spells it: its ``author:`` line's, else the site author's. Set by the index."""


def clean_text(text: str) -> str:
    """Drop characters XML 1.0 forbids, so no feed can be made ill-formed."""
    return _XML_FORBIDDEN.sub("", text)


TAG_MEMO_BYTES = 4 << 20
"""The most :func:`normalize_tag` keeps of what it has seen, in bytes, per process."""
TAG_MEMO_LONGEST = 100
"""Keywords longer than this (in characters) are normalised each time and never kept:
real keywords are short, and a request may spell a tag any way it likes."""


class _TagMemo:
    """Normalised keywords within a byte budget, the least recently used dropped first.

    An entry counts the sizes of its strings and objects, so no sequence of distinct
    keywords (every request for a tag URL brings one) grows it past ``budget``.
    """

    OVERHEAD = 240
    """Bytes of bookkeeping per entry: the ordered dict's node and slot, a tuple, an int."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self._found: OrderedDict[str, tuple[Tag | None, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, keyword: str) -> tuple[Tag | None] | None:
        """``(tag,)`` when ``keyword`` is kept, else ``None``."""
        with self._lock:
            found = self._found.get(keyword)
            if found is None:
                return None
            self._found.move_to_end(keyword)
            return (found[0],)

    def put(self, keyword: str, tag: Tag | None) -> None:
        cost = sys.getsizeof(keyword) + self.OVERHEAD
        if tag is not None:
            cost += sys.getsizeof(tag) + sys.getsizeof(tag.key) + sys.getsizeof(tag.label)
        with self._lock:
            old = self._found.pop(keyword, None)
            if old is not None:
                self.size -= old[1]
            while self._found and self.size + cost > self.budget:
                self.size -= self._found.popitem(last=False)[1][1]
            if self.size + cost <= self.budget:
                self._found[keyword] = (tag, cost)
                self.size += cost


_tag_memo = _TagMemo(TAG_MEMO_BYTES)


def normalize_tag(keyword: str) -> Tag | None:
    """Turn one keyword into a tag, or ``None`` when nothing of it is left.

    ``"  São   Paulo "`` gives ``Tag("são-paulo", "São Paulo")``: the label is
    trimmed with inner white space collapsed, the key is its casefolded form with
    runs of spaces and punctuation made ``-``; letters of any script are kept.
    Results for short keywords are memoised within :data:`TAG_MEMO_BYTES`.
    """
    if len(keyword) > TAG_MEMO_LONGEST:
        return _normalize_tag(keyword)
    found = _tag_memo.get(keyword)
    if found is not None:
        return found[0]
    tag = _normalize_tag(keyword)
    _tag_memo.put(keyword, tag)
    return tag


_ASCII_SEPARATORS = re.compile(r"[^0-9a-z]+")
"""In a casefolded ASCII keyword, what separates the words of its key."""


def _invisible(character: str, category: str) -> bool:
    """A format character (soft hyphen, zero-width space or joiner: category Cf) or a
    variation selector: nothing a reader sees, so nothing a key holds."""
    code = ord(character)
    return category == "Cf" or 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


_WORD = re.compile(r"[^\W_]")
"""A letter or digit of any script (what ``str.isalnum`` says)."""


_BIDI = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
"""Bidirectional controls: in a label, U+202E would reverse the text shown after it (on
``/authors/``, in a reader's list), so they are taken out of labels as out of keys."""


def _normalize_tag(keyword: str) -> Tag | None:
    label = _SPACES.sub(" ", keyword).strip()
    if not label.isascii():
        label = _BIDI.sub("", label).strip()
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", label).casefold())
    if folded.isascii():  # most keywords: no marks, no invisible characters, no emoji
        key = _ASCII_SEPARATORS.sub("-", folded).strip("-")
        return Tag(key, label) if key else None
    # A keyword of symbols alone (emoji: "❤️", "🏳️‍🌈") keys by its symbols; in any
    # other, symbols separate words as punctuation does, as they always have.
    symbols = _WORD.search(folded) is None
    kept: list[str] = []
    after_kept = False
    for c in folded:
        if c.isalnum():
            kept.append(c)
            after_kept = True
            continue
        category = unicodedata.category(c)
        if _invisible(c, category):
            continue  # dropped, not a separator: "Syr\xadia" is "syria"
        # Combining marks (Devanagari vowel signs, a virama) belong to the letter before
        # them: a mark with none makes no key of its own.
        # ASCII symbols ("^", "`") separate, as in an ASCII keyword: a key means the same
        # whichever path made it.
        keep = (category[0] == "M" and after_kept) or (
            symbols and category in ("So", "Sk") and not c.isascii()
        )
        kept.append(c if keep else " ")
        after_kept = keep
    key = "-".join("".join(kept).split())
    return Tag(key, label) if key else None


_AUTHOR_SEPARATORS = re.compile(r"\s*(?:[,;&]|\band\b)\s*", re.IGNORECASE)
"""What separates the authors an ``author:`` line names: ``,``, ``;``, ``&`` or ``and``."""


def author_names(line: str) -> list[str]:
    """The authors an ``author:`` line names, in its order: ``Ana Lima and Bo Chen`` and
    ``Ana Lima, Bo Chen`` name two. (A name is never split inside a word: Anderson
    stays whole.)"""
    return [name for name in _AUTHOR_SEPARATORS.split(line) if name.strip()]


def bounded_authors(line: str | None, limit: int) -> tuple[str | None, list[str]]:
    """An ``author:`` line within the bounds: at most ``limit`` names, none longer than
    :data:`MAX_TAG_CHARS` (an author's key is a tag's), no bidirectional controls; and
    notes on what was left out. A line within them is kept as written."""
    if not line:
        return None, []
    clean = _BIDI.sub("", line) if not line.isascii() else line
    names = [name.strip() for name in author_names(clean)]
    kept = [name for name in names if len(name) <= MAX_TAG_CHARS]
    notes = []
    if len(kept) < len(names):
        dropped = len(names) - len(kept)
        notes.append(
            f"{dropped} author name{'s' if dropped > 1 else ''} longer than "
            f"{MAX_TAG_CHARS} characters left out"
        )
    if len(kept) > limit:
        notes.append(
            f"{len(kept):,} authors: the first {limit} are kept, {len(kept) - limit:,} left out"
        )
        kept = kept[:limit]
    if not notes:
        return clean.strip() or None, []
    return ", ".join(kept) or None, notes


def parse_tags(line: str, limit: int | None = None) -> tuple[Tag, ...]:
    """Parse a keyword line, dropping repeats of a key within it; at most ``limit`` tags."""
    return _keyword_tags(line, limit)[0]


class _KeywordMemo:
    """What the keywords met in files made, within a byte budget, for parsing.

    Apart from :func:`normalize_tag`'s memo, which requests grow: parsing asks for
    about twenty keywords an article, most of them met before, and a plain dict
    answers in one probe where the least-recently-used memo takes a lock and
    reorders. Two generations keep the keywords in use: a keyword found in the
    older one moves to the newer one; when the newer one has spent half the budget
    it becomes the older one, and the older one is dropped.
    """

    OVERHEAD = 160
    """Bytes of bookkeeping per entry: the dict's slot and index, the Tag object."""

    def __init__(self, budget: int) -> None:
        self.half = budget // 2
        self.size = 0
        self.young: dict[str, Tag | None] = {}
        self.old: dict[str, Tag | None] = {}

    def put(self, keyword: str, tag: Tag | None) -> None:
        cost = sys.getsizeof(keyword) + self.OVERHEAD
        if tag is not None:
            cost += sys.getsizeof(tag.key) + sys.getsizeof(tag.label)
        if self.size + cost > self.half:
            # New dicts, never cleared ones: a parse on another thread keeps its own.
            self.old, self.young, self.size = self.young, {}, 0
        self.young[keyword] = tag
        self.size += cost


KEYWORD_MEMO_BYTES = 16 << 20
"""The most parsing keeps of the keywords it met, in bytes, per process: only the
processes that read files fill it, and realistic folders have thousands of
spellings (14,000 in 20,000 articles of the benchmark corpus; 4 MB kept 80% of them)."""

_keyword_memo = _KeywordMemo(KEYWORD_MEMO_BYTES)
# Markers, never served: no tag key is empty.
_UNSEEN = Tag("", "unseen")
_TOO_LONG = Tag("", "too long")
"""What :func:`_keyword_outcome` gives for a keyword longer than :data:`MAX_TAG_CHARS`."""


def _keyword_outcome(keyword: str) -> Tag | None:
    """The tag of one keyword, ``None`` when nothing of it is left, or :data:`_TOO_LONG`."""
    # Measured before normalising, so an overlong keyword never reaches a memo; in
    # composed characters (NFC), so a keyword saved decomposed (as macOS does) counts
    # its letters, not its letters and accents apart.
    if len(keyword) > MAX_TAG_CHARS and (
        len(collapsed := _SPACES.sub(" ", keyword).strip()) > MAX_TAG_CHARS
        and (
            len(collapsed) > NFC_SHRINKS * MAX_TAG_CHARS
            or len(unicodedata.normalize("NFC", collapsed)) > MAX_TAG_CHARS
        )
    ):
        return _TOO_LONG
    if len(keyword) > TAG_MEMO_LONGEST:
        return _normalize_tag(keyword)
    memo = _keyword_memo
    tag = memo.old.get(keyword, _UNSEEN)
    if tag is _UNSEEN:
        tag = _normalize_tag(keyword)
    memo.put(keyword, tag)
    return tag


def _keyword_tags(line: str, limit: int | None) -> tuple[tuple[Tag, ...], list[str]]:
    """The first ``limit`` tags of a keyword line, and notes on what was left out.

    Linear in the length of the line: each keyword is looked at once.
    """
    seen: dict[str, Tag] = {}
    extra: set[str] = set()
    too_long = 0
    found = _keyword_memo.young
    for keyword in line.split(","):
        tag = found.get(keyword, _UNSEEN)
        if tag is _UNSEEN:
            tag = _keyword_outcome(keyword)
            found = _keyword_memo.young
        if tag is None:
            continue
        if tag is _TOO_LONG:
            too_long += 1
            continue
        key = tag.key
        if key in seen:
            continue
        if limit is not None and len(seen) >= limit:
            extra.add(key)
            continue
        seen[key] = tag
    notes = []
    if extra:
        notes.append(
            f"{len(seen) + len(extra):,} tags: the first {limit} are kept, {len(extra):,} left out"
        )
    if too_long:
        notes.append(
            f"{too_long} keyword{'s' if too_long > 1 else ''} longer than "
            f"{MAX_TAG_CHARS} characters left out"
        )
    return tuple(seen.values()), notes


def parse_date(value: str, default_tz: tzinfo) -> datetime:
    """Parse ISO 8601, RFC 2822 or a plain English date into an aware UTC datetime.

    :raises ValueError: when the text is not a date.
    """
    value = value.strip()
    parsed = None
    # ISO 8601 starts with its year: the other forms are not worth a raised ValueError.
    if "0" <= value[:1] <= "9":
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(value)  # fast path: most front matter is ISO
    if parsed is None:
        match = _RFC_2822.fullmatch(value) or _ENGLISH.fullmatch(value)
        parsed = _from_match(match, value) if match else _parse_other_date(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=default_tz)
    return _plausible(parsed, value)


def _plausible(moment: datetime, text: str) -> datetime:
    """The moment in UTC, if feeds can carry it (RFC 822 wants four-digit years)."""
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise ValueError(f"date {text!r} is outside {MIN_YEAR} to {MAX_YEAR}")
    return utc


_OFFSETS: dict[str, tzinfo] = {}
"""Zones of the ``+hhmm`` offsets met: a handful, each made once."""


def _from_match(match: re.Match[str], value: str) -> datetime:
    """A date from one of the two documented forms that ``fromisoformat`` refuses."""
    zone: tzinfo | None = None
    if match["zone"]:
        offset = match["zone"]
        if offset[0] in "+-":
            zone = _OFFSETS.get(offset)
            if zone is None:
                minutes = int(offset[1:3]) * 60 + int(offset[3:5])
                zone = timezone(timedelta(minutes=-minutes if offset[0] == "-" else minutes))
                if len(_OFFSETS) < 1000:
                    _OFFSETS[offset] = zone
        else:
            zone = UTC
    try:
        return datetime(
            int(match["year"]),
            _MONTHS[match["month"].lower()],
            int(match["day"]),
            int(match["hour"] or 0),
            int(match["minute"] or 0),
            int(match["second"] or 0),
            tzinfo=zone,
        )
    except ValueError:
        return _parse_other_date(value)  # the 31st of February, say: dateutil's word


def _parse_other_date(value: str) -> datetime:
    with warnings.catch_warnings():
        # An unknown zone name is an error below, not a warning to ignore.
        warnings.simplefilter("error", date_parser.UnknownTimezoneWarning)
        try:
            parsed, check = (date_parser.parse(value, default=d) for d in _PROBE_DEFAULTS)
        except (ValueError, OverflowError, date_parser.UnknownTimezoneWarning) as exc:
            raise ValueError(f"unparseable date {value!r}") from exc
    if parsed != check:
        raise ValueError(f"incomplete date {value!r}: it needs a year, a month and a day")
    return parsed


def _join_lines(block: str) -> str:
    if "\n" not in block:  # the common case, and start-up on a large corpus feels it
        return block.strip()
    return " ".join(line.strip() for line in block.split("\n") if line.strip())


def _front_matter(path: str, text: str) -> tuple[dict[str, str], str]:
    """Read ``key: value`` lines after an opening ``---``; return them and the text after
    the closing one. Only the front matter's lines are looked at, never the body's."""
    values: dict[str, str] = {}
    start = text.find("\n") + 1  # past the opening line
    number = 2
    while start:
        end = text.find("\n", start)
        line = text[start:end] if end >= 0 else text[start:]
        if line.strip() == "---":
            return values, text[end + 1 :] if end >= 0 else ""
        if line.strip():
            key, colon, value = line.partition(":")
            if not colon or not key.strip():
                raise ArticleError(path, f"front matter line is not 'key: value': {line!r}", number)
            values[key.strip().lower()] = value.strip()
        start = end + 1
        number += 1
    raise ArticleError(path, "front matter has no closing '---'")


def _decode(path: str, data: bytes) -> str:
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[bom:].decode()  # the plain codec is several times faster than utf-8-sig
    except UnicodeDecodeError as exc:
        raise ArticleError(path, f"not UTF-8 (byte {exc.start + bom})") from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Most files hold nothing XML forbids, and looking at the bytes says so at half the
    # cost of a substitution over the text (strict UTF-8 decoding lets no surrogate by).
    if data.translate(None, _XML_ALLOWED_BYTES) or _FFFE in data or _FFFF in data:
        text = clean_text(text)
    return text


def parse_text(
    path: str,
    data: bytes,
    stamp: Stamp,
    default_tz: tzinfo = UTC,
    *,
    with_body: bool = True,
    max_keywords: int = MAX_KEYWORDS,
    max_authors: int = MAX_AUTHORS,
) -> tuple[Article, tuple[str, ...]]:
    """Parse the bytes of the article file at ``path``; return it and its body.

    An article with more than ``max_keywords`` tags, or ``max_authors`` authors, keeps
    its first ones; what was left out is logged as a warning and kept in
    :attr:`Article.notes`.

    :raises ArticleError: naming the path and the reason the file is not an article.
    """
    text = _decode(path, data)
    meta: dict[str, str] = {}
    if text.lstrip(" \t").startswith("---") and text.partition("\n")[0].strip() == "---":
        meta, text = _front_matter(path, text)
    # Without the body, the first five blocks and "is there more" are all we need.
    pieces = _BLANK_LINES.split(text.strip("\n"), maxsplit=0 if with_body else 5)
    blocks = [b for b in pieces if b.strip()]
    for index, what in enumerate(("title", "standfirst", "keyword line")):
        if len(blocks) <= index:
            raise ArticleError(path, f"missing the {what}")
    title, standfirst, keywords = (_join_lines(b) for b in blocks[:3])
    tags, notes = _keyword_tags(keywords, max_keywords)
    if not tags:
        raise ArticleError(path, "; ".join(["the keyword line holds no tag", *notes]))
    author, author_notes = bounded_authors(meta.get("author"), max_authors)
    notes += author_notes
    rest = blocks[3:]
    caption = credit = None
    # No "|", no caption: most bodies' first paragraph, and the pattern's longest search.
    if rest and "|" in rest[0] and (match := _CAPTION.match(_join_lines(rest[0]))):
        caption, credit = match["caption"] or None, match["credit"].strip()
        rest = rest[1:]
    if not rest:
        raise ArticleError(path, "no body paragraph")
    # Inline for the common one-line paragraph: a call each costs as much as the strip.
    body = (
        tuple([b.strip() if "\n" not in b else _join_lines(b) for b in rest]) if with_body else ()
    )

    # NFC: a name typed on one system and saved on another is the same slug.
    name = unicodedata.normalize("NFC", os.path.basename(path).removesuffix(".txt"))
    prefix = _DATE_PREFIX.fullmatch(name)
    published = _published(path, meta, prefix, stamp, default_tz)
    updated = published
    if "updated" in meta:
        updated = max(published, _meta_date(path, meta, "updated", default_tz))
    article = Article(
        slug=_slug(path, meta, prefix[4] if prefix else name),
        title=title,
        standfirst=standfirst,
        tags=tags,
        published=published,
        updated=updated,
        path=path,
        stamp=stamp,
        author=author,
        image=_image(path, meta.get("image")),
        caption=caption,
        credit=credit,
        lang=_lang(path, meta.get("lang")),
        draft=_flag(path, meta.get("draft", "false")),
        extra=tuple((k, v) for k, v in meta.items() if k not in FRONT_MATTER_KEYS),
        notes=tuple(notes),
        dated="date" in meta or prefix is not None,
        updated_given="updated" in meta,
    )
    for note in notes:
        log.warning("%s: %s", path, note)
    return article, body


def _meta_date(path: str, meta: dict[str, str], key: str, default_tz: tzinfo) -> datetime:
    try:
        return parse_date(meta[key], default_tz)
    except ValueError as exc:
        raise ArticleError(path, f"{key}: {exc}") from None


def _published(
    path: str,
    meta: dict[str, str],
    prefix: re.Match[str] | None,
    stamp: Stamp,
    default_tz: tzinfo,
) -> datetime:
    if "date" in meta:
        return _meta_date(path, meta, "date", default_tz)
    if prefix:
        try:
            day = datetime(int(prefix[1]), int(prefix[2]), int(prefix[3]), tzinfo=default_tz)
            return _plausible(day, prefix[0][:10])
        except ValueError:
            raise ArticleError(path, f"file name date {prefix[0][:10]!r} is not a date") from None
    return datetime.fromtimestamp(stamp.mtime_ns / 1e9, UTC).replace(microsecond=0)


def _slug(path: str, meta: dict[str, str], default: str) -> str:
    slug = unicodedata.normalize("NFC", meta.get("slug") or default)
    if _CONTROL.search(slug):
        raise ArticleError(path, f"slug {slug!r} holds a control character")
    if not _SLUG.fullmatch(slug):
        raise ArticleError(path, f"slug {slug!r} may hold only letters, digits, '.', '-' and '_'")
    return slug


def _image(path: str, value: str | None) -> str | None:
    if not value:
        return None
    web = value.startswith(("https://", "http://")) and _has_host(value)
    if (web or value.startswith("/")) and not _SPACES.search(value):
        return value
    raise ArticleError(path, f"image {value!r} is not an http(s) URL or a path from the site root")


def _has_host(url: str) -> bool:
    try:
        return bool(urlsplit(url).hostname)
    except ValueError:  # a malformed [IPv6] host
        return False


def _lang(path: str, value: str | None) -> str | None:
    if not value:
        return None
    if _LANG.fullmatch(value):
        return value
    raise ArticleError(path, f"lang {value!r} is not a language tag such as 'en' or 'pt-BR'")


def _flag(path: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ArticleError(path, f"draft {value!r} is not true or false")


def stamp_of(status: os.stat_result) -> Stamp:
    return Stamp(status.st_mtime_ns, status.st_size, status.st_ino, status.st_ctime_ns)


def content_hash(data: bytes) -> bytes:
    """A digest of a file's bytes: the same bytes under a new stamp are no change."""
    return hashlib.blake2b(data, digest_size=16).digest()


class Limits(NamedTuple):
    """What one article may hold: tags, and authors on its ``author:`` line."""

    keywords: int = MAX_KEYWORDS
    authors: int = MAX_AUTHORS


def read_file(path: str, max_bytes: int = MAX_ARTICLE_BYTES) -> tuple[bytes, Stamp]:
    """The bytes of a regular file, at most ``max_bytes``, and its stamp.

    Opened without blocking, so a FIFO or a device named ``*.txt`` (or a symlink to
    one) is refused at once instead of hanging the reader or filling its memory.

    :raises ArticleError: with ``stamp`` ``None`` when the file is gone.
    """
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise ArticleError(path, f"cannot read: {exc.strerror}") from None
    except OSError as exc:
        try:  # unreadable but there (permissions): still worth a report
            stamp: Stamp | None = stamp_of(os.stat(path))
        except OSError:
            stamp = None
        raise ArticleError(path, f"cannot read: {exc.strerror or exc}", stamp=stamp) from None
    try:
        stamp = stamp_of(status := os.fstat(handle))
        if not stat.S_ISREG(status.st_mode):
            raise ArticleError(path, "not a regular file", stamp=stamp)
        if status.st_size > max_bytes:
            raise ArticleError(path, f"larger than {max_bytes} bytes", stamp=stamp)
        chunks = []
        left = max_bytes + 1  # one byte more tells a file that grew past the limit
        want = min(left, status.st_size + 1)
        while left > 0 and (chunk := os.read(handle, want)):
            chunks.append(chunk)
            left -= len(chunk)
            if len(chunk) < want:
                break  # a regular file's short read is its end: no read to see it
            want = min(left, 1 << 20)
    except OSError as exc:
        raise ArticleError(path, f"cannot read: {exc.strerror or exc}", stamp=stamp) from None
    finally:
        os.close(handle)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise ArticleError(path, f"larger than {max_bytes} bytes", stamp=stamp)
    return data, stamp


def read_article(
    path: str | os.PathLike[str],
    default_tz: tzinfo = UTC,
    *,
    with_body: bool = False,
    max_bytes: int = MAX_ARTICLE_BYTES,
    max_keywords: int = MAX_KEYWORDS,
) -> tuple[Article, tuple[str, ...]]:
    """Read and parse one article file.

    :raises ArticleError: when it cannot be read or is not an article.
    """
    path = os.fspath(path)
    data, stamp = read_file(path, max_bytes)
    try:
        return parse_text(
            path, data, stamp, default_tz, with_body=with_body, max_keywords=max_keywords
        )
    except ArticleError as exc:
        exc.stamp = stamp
        raise


def read_body(article: Article, default_tz: tzinfo = UTC) -> tuple[str, ...]:
    """Read the body paragraphs of an indexed article again from its file.

    :raises ArticleError: when the file has changed since it was indexed or is gone.
    """
    fresh, body = read_article(article.path, default_tz, with_body=True)
    if fresh.stamp != article.stamp:
        raise ArticleError(article.path, "changed since it was indexed")
    return body
