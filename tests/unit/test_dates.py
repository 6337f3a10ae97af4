"""The fast date readers agree with dateutil on every documented form, and beat it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, tzinfo

import pytest
from dateutil import tz

from feedsvc import articles

PARIS = tz.gettz("Europe/Paris")
MONTHS = ["January", "Feb", "march", "Sept", "sep", "May", "DEC", "Juni", "Mayo"]
WEEKDAYS = ["Mon", "Tue", "thu", "Sun", "Monday"]
ZONES = ["GMT", "UTC", "UT", "Z", "+0100", "-0500", "-0000", "+1400", "gmt", "+01:00", ""]


def spellings(seed: int, count: int) -> list[str]:
    """RFC 2822 and "March 24, 2016 14:05 GMT" forms, valid and not, in odd spacing."""
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        year, month, day = rng.randint(1899, 2030), rng.choice(MONTHS), rng.randint(0, 32)
        hour, minute, second = rng.randint(0, 25), rng.randint(0, 61), rng.randint(0, 61)
        zone = rng.choice(ZONES)
        clock = f"{hour:02d}:{minute:02d}:{second:02d}"
        found += [
            f"{rng.choice(WEEKDAYS)}, {day:02d} {month} {year} {clock} {zone}",
            f"{day} {month} {year} {hour:02d}:{minute:02d} {zone}",
            f"{month} {day}, {year} {hour}:{minute:02d} {zone}",
            f"{month} {day}, {year}",
            f"{month} {day},{year} {hour}:{minute:02d}:{second:02d}",
            f"{month}  {day},\t{year}  {hour}:{minute:02d}  {zone}",
        ]
    return [s.strip() for s in found]


def by_dateutil(value: str, zone: tzinfo) -> datetime | str:
    """What the dateutil-only reader made of a date, or its error."""
    try:
        parsed = articles._parse_other_date(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone)
        return articles._plausible(parsed, value)
    except ValueError as exc:
        return str(exc)


def by_parse_date(value: str, zone: tzinfo) -> datetime | str:
    try:
        return articles.parse_date(value, zone)
    except ValueError as exc:
        return str(exc)


@pytest.mark.parametrize("zone", [UTC, PARIS], ids=["utc", "paris"])
def test_fast_readers_give_what_dateutil_gives(zone: tzinfo) -> None:
    """Same moment, or an error in both, for thousands of spellings (same messages too)."""
    differing = [
        value
        for value in spellings(seed=7, count=700)
        if by_parse_date(value, zone) != by_dateutil(value, zone)
    ]
    assert differing == []


def test_documented_forms_never_reach_dateutil(monkeypatch: pytest.MonkeyPatch) -> None:
    """ISO 8601, RFC 2822 and the long English form are read by the standard library."""

    def refuse(value: str) -> datetime:
        raise AssertionError(f"dateutil asked for {value!r}")

    monkeypatch.setattr(articles, "_parse_other_date", refuse)
    for value in (
        "2016-03-24T14:05:00+01:00",
        "Thu, 24 Mar 2016 14:05:00 -0500",
        "24 Mar 2016 14:05 GMT",
        "March 24, 2016 14:05 GMT",
        "March 24, 2016",
        "Sept 4, 2016 9:05:33 +0200",
    ):
        assert articles.parse_date(value, UTC).tzinfo == UTC
