"""The days no talk is held: Denmark's public holidays and the organisation's own closing days.

Both the booking service (its intake refuses a desired time on such a day, naming it) and the
scheduler (it never places nor proposes a talk on one) read the same rule, built once from the
``CLOSING_DAYS`` setting and passed into their pure domain code: :class:`ClosedDays`.

* **Public holidays** come from the ``holidays`` package (Denmark, computed per year, Easter-based
  ones included), with their Danish and English names; never a hand-kept list of dates.
* **Closing days** are the organisation's: ``CLOSING_DAYS`` is a comma-separated list of recurring
  ``MM-DD`` and one-off ``YYYY-MM-DD`` entries, each with an optional ``=Name``, e.g.
  ``12-24,12-31,06-05,2027-08-13=Personaledag``. A recurring entry without a name takes the one the
  ``holidays`` package knows for that date among Denmark's observances that are not public holidays
  (24 December: *Juleaftensdag*, 31 December: *Nytårsaften*, 5 June: *Grundlovsdag*), else
  *Lukkedag*.

Pure: nothing here does I/O; a year's holidays are computed on first use and kept.
"""

from __future__ import annotations

import re
from calendar import isleap
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import holidays

from shared.contracts.catalogue import Localized

__all__ = ["DEFAULT_CLOSING_DAYS", "DENMARK", "ClosedDay", "ClosedDays", "ClosingDay", "parse_closing_days"]

DEFAULT_CLOSING_DAYS = "12-24,12-31,06-05"
COUNTRY = "DK"
# The package's language codes for the two languages of the system.
_LANGUAGES = {"da": "da", "en": "en_US"}
_ENTRY = re.compile(r"^(?:(?P<year>\d{4})-)?(?P<month>\d{2})-(?P<day>\d{2})(?:\s*=\s*(?P<name>.+))?$")
_UNNAMED = Localized(da="Lukkedag", en="Closing day")

Kind = Literal["holiday", "closing_day"]


@dataclass(frozen=True, slots=True)
class ClosedDay:
    """Why a date is closed: a public holiday or a closing day, and its name in both languages."""

    kind: Kind
    name: Localized


@dataclass(frozen=True, slots=True)
class ClosingDay:
    """One entry of ``CLOSING_DAYS``: every year on ``month``-``day``, or once in ``year``."""

    month: int
    day: int
    year: int | None = None
    name: str | None = None

    def falls_on(self, day: date) -> bool:
        return day.month == self.month and day.day == self.day and self.year in (None, day.year)


def parse_closing_days(text: str) -> tuple[ClosingDay, ...]:
    """The entries of a ``CLOSING_DAYS`` value; ValueError naming the first one that is wrong."""
    entries: list[ClosingDay] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        match = _ENTRY.match(entry)
        if match is None:
            raise ValueError(f"closing day {entry!r}: use MM-DD or YYYY-MM-DD, optionally =Name")
        year = int(match["year"]) if match["year"] else None
        month, day = int(match["month"]), int(match["day"])
        try:
            date(year or 2028, month, day)  # 2028 is a leap year: 02-29 recurs
        except ValueError:
            raise ValueError(f"closing day {entry!r}: no such date") from None
        name = match["name"].strip() if match["name"] else None
        entries.append(ClosingDay(month, day, year, name))
    return tuple(entries)


@dataclass(frozen=True)
class ClosedDays:
    """Which dates are closed, and why (:meth:`on`)."""

    closing_days: tuple[ClosingDay, ...] = parse_closing_days(DEFAULT_CLOSING_DAYS)
    public_holidays: bool = True
    _years: dict[int, dict[date, ClosedDay]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_setting(cls, text: str) -> ClosedDays:
        """Denmark's public holidays and the closing days of a ``CLOSING_DAYS`` value."""
        return cls(parse_closing_days(text))

    @classmethod
    def none(cls) -> ClosedDays:
        """No closed days at all (for tests that are about something else)."""
        return cls((), public_holidays=False)

    def on(self, day: date) -> ClosedDay | None:
        """Why ``day`` is closed, or None when talks can be held on it."""
        year = self._years.get(day.year)
        if year is None:
            year = self._years[day.year] = self._closed_in(day.year)
        return year.get(day)

    def is_closed(self, day: date) -> bool:
        return self.on(day) is not None

    def _closed_in(self, year: int) -> dict[date, ClosedDay]:
        closed: dict[date, ClosedDay] = {}
        observances = _names(year, ("optional",))
        for entry in self.closing_days:
            if entry.year not in (None, year) or ((entry.month, entry.day) == (2, 29) and not isleap(year)):
                continue
            day = date(year, entry.month, entry.day)
            name = Localized(da=entry.name, en=entry.name) if entry.name else observances.get(day, _UNNAMED)
            closed[day] = ClosedDay("closing_day", name)
        if self.public_holidays:  # a public holiday is named as one, even when it is a closing day too
            closed.update({day: ClosedDay("holiday", name) for day, name in _names(year, ("public",)).items()})
        return closed


# Denmark's public holidays and the default closing days: what the domain assumes unless told otherwise.
DENMARK = ClosedDays()


def _names(year: int, categories: tuple[str, ...]) -> dict[date, Localized]:
    """Denmark's days of these ``holidays`` categories in ``year``, named in Danish and English."""
    da, en = (
        holidays.country_holidays(COUNTRY, years=year, language=_LANGUAGES[lang], categories=categories)
        for lang in ("da", "en")
    )
    return {day: Localized(da=name, en=en.get(day, name)) for day, name in da.items()}
