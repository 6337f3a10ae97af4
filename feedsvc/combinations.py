"""Tag combinations: the articles carrying several tags, any of several, or not one.

A combination is written where a tag is, after ``/tags/``: terms joined by ``+``,
all of which an article must match (AND). A term is a tag, tags joined by ``,``
(any of them: OR), or ``-`` and a tag (NOT). ``,`` binds tighter than ``+``:
``climate,energy+-coal`` is (climate OR energy) AND NOT coal. At least one term is
not a NOT. Spaces around an operator are dropped (``climate, energy``); any other
space is read as ``+``, from a client that decoded ``+`` as a space.

Each combination has one spelling, its *canonical text*: every tag normalised as
a tag is, duplicates dropped, a NOT's tag dropped from an OR (``a,b+-a`` is
``b+-a``), an OR that holds another term dropped (``a+a,b`` is ``a``), the tags of
an OR sorted, the terms sorted, the NOTs last. Tag keys never hold ``+`` or ``,``,
so the canonical text of a combination is never a tag's key: it names the
combination's scope in the index and in the cache. Plain data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

AND = "+"
OR = ","
NOT = "-"

MAX_SPELLING = 1000
"""The longest combination read at all (characters)."""


_AROUND = re.compile(r"\s*([+,])\s*")
_SPACES = re.compile(r"\s+")


class CombinationError(ValueError):
    """A combination that cannot be: too many tags, a NOT alone, an empty term. Answered 400."""


class UnknownTag(LookupError):
    """A tag in a combination that no article carries. Answered 404."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True, slots=True)
class Combination:
    """An AND of ORs of tags, and the tags none of its articles carries."""

    groups: tuple[tuple[str, ...], ...]
    """Each an OR of tag keys, sorted; the groups sorted by their text."""
    excluded: tuple[str, ...] = ()
    """Tag keys, sorted."""

    @property
    def text(self) -> str:
        """The canonical text: the combination's scope."""
        terms = [OR.join(group) for group in self.groups]
        return AND.join(terms + [NOT + tag for tag in self.excluded])

    @property
    def tags(self) -> tuple[str, ...]:
        """Every tag it names, once each, sorted."""
        named = {tag for group in self.groups for tag in group} | set(self.excluded)
        return tuple(sorted(named))

    @property
    def single(self) -> str | None:
        """The one tag this is, when it is no combination at all (``a+a``)."""
        if len(self.groups) == 1 and len(self.groups[0]) == 1 and not self.excluded:
            return self.groups[0][0]
        return None

    def title(self, label: Callable[[str], str]) -> str:
        """What the feed is, in words: "syria + refugees", "climate or energy",
        "science, not space"; an OR among other terms in parentheses."""
        ors = [" or ".join(label(tag) for tag in group) for group in self.groups]
        if len(ors) > 1:
            ors = [
                f"({text})" if len(group) > 1 else text
                for text, group in zip(ors, self.groups, strict=True)
            ]
        return " + ".join(ors) + "".join(f", not {label(tag)}" for tag in self.excluded)


def is_combination(scope: str) -> bool:
    """Whether a scope is a combination rather than one tag (or the site)."""
    return AND in scope or OR in scope


def looks_combined(spelling: str) -> bool:
    """Whether a spelling after ``/tags/`` is read as a combination first: it has an
    operator, or a space that was a ``+``."""
    return is_combination(spelling) or " " in spelling.strip() or spelling.startswith(NOT)


def read(spelling: str, key_of: Callable[[str], str | None], max_terms: int) -> Combination:
    """The combination ``spelling`` names, each tag resolved by ``key_of`` (a known tag's
    key from any spelling of it, else ``None``), with at most ``max_terms`` tags.

    :raises CombinationError: too many tags, a NOT alone, an empty term.
    :raises UnknownTag: a tag no article carries.
    """
    if len(spelling) > MAX_SPELLING:
        raise CombinationError(f"a combination of tags is at most {MAX_SPELLING} characters")
    # Spaces around an operator are a person's ("climate, energy"); any other run of
    # them was a + that a client decoded as a space.
    terms = _SPACES.sub(AND, _AROUND.sub(r"\1", spelling.strip())).split(AND)
    if sum(term.count(OR) + 1 for term in terms) > max_terms:
        raise CombinationError(f"a combination names at most {max_terms} tags")
    groups: set[frozenset[str]] = set()
    excluded: set[str] = set()
    for term in terms:
        if not term:
            raise CombinationError("a combination has an empty term (two + in a row?)")
        if term.startswith(NOT):
            if OR in term:
                raise CombinationError("a NOT (-) takes one tag, not several")
            excluded.add(known(term[1:], key_of))
            continue
        names = term.split(OR)
        if any(not name or name.startswith(NOT) for name in names):
            raise CombinationError("an OR (,) joins tags: no empty one, and no NOT (-)")
        groups.add(frozenset(known(name, key_of) for name in names))
    if not groups:
        raise CombinationError("a NOT (-) needs a tag to take from: add one with +")
    # A tag of an OR that is also a NOT adds nothing to it: a,b+-a is b+-a (an OR of
    # NOTs alone stays, and matches nothing).
    groups = {group - excluded or group for group in groups}
    # An OR holding another term's every tag says nothing more: a+a,b is a.
    kept = [group for group in groups if not any(other < group for other in groups)]
    ordered = sorted((tuple(sorted(group)) for group in kept), key=OR.join)
    return Combination(tuple(ordered), tuple(sorted(excluded)))


def known(name: str, key_of: Callable[[str], str | None]) -> str:
    key = key_of(name)
    if key is None:
        raise UnknownTag(name)
    return key


def parse(text: str) -> Combination:
    """A canonical text back into its combination (tags not checked)."""
    groups: list[tuple[str, ...]] = []
    excluded: list[str] = []
    for term in text.split(AND):
        if term.startswith(NOT):
            excluded.append(term[1:])
        else:
            groups.append(tuple(term.split(OR)))
    return Combination(tuple(groups), tuple(excluded))
