"""Search queries: what a person types after ``?q=``, read into terms, one canonical text,
and the full-text query the index runs, rebuilt from the terms (never the text as typed).

The language: words, all of which an article must hold (``palmyra unesco``); a phrase in
double quotes (``"old city"``); ``-`` before a word or phrase for what it must not hold
(``syria -damascus``). ``AND`` between terms says what a space says, and ``NOT`` what
``-`` says; ``OR`` is refused. A word is what the index's tokenizer takes for one: a run
of letters and digits, compared without case or accents, so ``U.S.`` is the phrase
``"u s"`` and ``São`` is ``sao``; everything else (``*``, ``(``, ``:``, control
characters) separates words and is never an operator. Prefixes (``pal*``) are not
searched: their cost has no bound.

Each query has one spelling, its *canonical text*: words folded, phrases quoted only
when they hold several words, terms sorted, exclusions last (``-damascus syria`` is
``syria -damascus``). It names the search's scope in the caches. Plain data.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_QUERY = 200
"""The longest ``q``, in characters."""
MAX_TERMS = 8
"""The most words and phrases a query holds."""

MARKER = "?"
"""Before a canonical text, a search's scope (no tag or author key starts with it)."""

_PIECES = re.compile(r'(-?)"([^"]*)"?|(\S+)')
"""A quoted phrase (its closing quote optional), with a ``-`` before it, or a bare word."""


class QueryError(ValueError):
    """A query that cannot be run: empty, too long, too many terms, an OR. Answered 400."""


@dataclass(frozen=True, slots=True)
class Query:
    """What an article must hold, and what it must not; each term a phrase of words."""

    required: tuple[tuple[str, ...], ...]
    excluded: tuple[tuple[str, ...], ...] = ()

    @property
    def text(self) -> str:
        """The canonical text."""
        return " ".join(
            [_spelled(term) for term in self.required]
            + ["-" + _spelled(term) for term in self.excluded]
        )

    @property
    def scope(self) -> str:
        return MARKER + self.text

    def match(self) -> str:
        """The FTS5 query: every term a quoted phrase of plain words, nothing typed in it."""
        required = " AND ".join(_quoted(term) for term in self.required)
        return f"({required})" + "".join(f" NOT {_quoted(term)}" for term in self.excluded)


def _spelled(term: tuple[str, ...]) -> str:
    return term[0] if len(term) == 1 else '"' + " ".join(term) + '"'


def _quoted(term: tuple[str, ...]) -> str:
    return '"' + " ".join(term) + '"'  # words are letters and digits: no quote in them


def words(text: str) -> tuple[str, ...]:
    """The words of ``text`` as the index's tokenizer sees them: runs of letters and
    digits, casefolded, accents dropped."""
    found = []
    word: list[str] = []
    for character in unicodedata.normalize("NFKC", text) + " ":
        if character.isalnum():
            word.append(character)
        elif word:
            found.append(_folded("".join(word)))
            word = []
    return tuple(w for w in found if w)


def _folded(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", plain)


def read(q: str) -> Query:
    """The query ``q`` asks for.

    :raises QueryError: an empty or too long query, too many terms, an ``OR``.
    """
    if len(q) > MAX_QUERY:
        raise QueryError(f"q is at most {MAX_QUERY} characters")
    required: list[tuple[str, ...]] = []
    excluded: list[tuple[str, ...]] = []
    negate = False
    for match in _PIECES.finditer(q):
        minus, phrase, bare = match.groups()
        if bare is not None:
            if bare == "AND":
                continue
            if bare == "OR":
                raise QueryError("q finds articles holding every term: OR is not supported")
            if bare == "NOT":
                negate = True
                continue
            minus, phrase = ("-", bare[1:]) if bare.startswith("-") else ("", bare)
        term = words(phrase)
        if not term:
            continue  # punctuation alone: nothing to look for
        target = excluded if minus or negate else required
        negate = False
        if term not in target:
            target.append(term)
    if len(required) + len(excluded) > MAX_TERMS:
        raise QueryError(f"q holds at most {MAX_TERMS} words and phrases")
    if not required and excluded:
        raise QueryError("q needs a word to look for (a - only takes away)")
    if not required:
        raise QueryError("q needs a word to look for")
    return Query(tuple(sorted(required, key=_spelled)), tuple(sorted(excluded, key=_spelled)))


def is_search(scope: str) -> bool:
    return scope.startswith(MARKER)


def parse(scope: str) -> Query:
    """A search's scope back into its query (the canonical text reads as itself)."""
    return read(scope[len(MARKER) :])
