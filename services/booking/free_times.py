"""Free times as the booking service offers them, as pure code: the public's question checked, the
weeks the form pages through, and the scheduler's free starts kept to those the intake accepts.

The scheduler decides which starts are free (one search for placing and for offering); the booking
service only checks the question and leaves out any start its own intake would refuse (the bookable
hours, say), so every time offered can be sent back as a desired start and is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.booking.domain import (
    MAX_DURATION,
    MIN_DURATION,
    BookingRules,
    FieldError,
    InvalidBooking,
    start_problem,
)
from shared.contracts.catalogue import content
from shared.text.localtime import to_local
from shared.text.numbers import whole_number

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class FreeTimesQuery:
    """Free times for a talk of ``theme`` and ``duration_minutes`` on the local dates ``first``..``last``."""

    theme: str
    duration_minutes: int
    first: date
    last: date


@dataclass(frozen=True)
class FreeSlot:
    start: datetime  # UTC
    end: datetime


def bookable_days(now: datetime, rules: BookingRules) -> tuple[date, date]:
    """The first and the last local date a talk can be booked on."""
    return to_local(now + rules.min_notice).date(), to_local(now + rules.max_ahead).date()


def parse_query(
    raw: Mapping[str, str], *, now: datetime, rules: BookingRules, longest_days: int
) -> FreeTimesQuery:
    """``theme``, ``duration_minutes``, ``from`` and ``to`` (YYYY-MM-DD) of a request for free times.

    A window of at most ``longest_days`` days; the part of it outside the bookable days is left out,
    and a window wholly outside them is refused. Raises ``InvalidBooking`` listing every problem."""
    errors: list[FieldError] = []
    theme = raw.get("theme", "").strip()
    if theme not in content().theme_ids:
        errors.append(FieldError("theme", "theme_one"))
    minutes_text = raw.get("duration_minutes", "").strip()
    minutes = whole_number(minutes_text) or 0
    if not MIN_DURATION <= minutes <= MAX_DURATION:
        errors.append(FieldError("duration_minutes", "duration"))
    days: dict[str, date] = {}
    for name in ("from", "to"):
        try:
            days[name] = date.fromisoformat(raw.get(name, "").strip())
        except ValueError:
            errors.append(FieldError(name, "date_format"))
    if len(days) == 2:
        first, last = days["from"], days["to"]
        bookable_first, bookable_last = bookable_days(now, rules)
        outside = {"first": bookable_first.isoformat(), "last": bookable_last.isoformat()}
        if last < first:
            errors.append(FieldError("to", "window_order"))
        elif (last - first).days >= longest_days:
            errors.append(FieldError("to", "window_too_long", {"days": longest_days}))
        elif last < bookable_first:
            errors.append(FieldError("to", "window_outside", outside))
        elif first > bookable_last:
            errors.append(FieldError("from", "window_outside", outside))
        days = {"from": max(first, bookable_first), "to": min(last, bookable_last)}
    if errors:
        raise InvalidBooking(errors)
    return FreeTimesQuery(theme, minutes, days["from"], days["to"])


def acceptable(
    slots: Iterable[FreeSlot], duration_minutes: int, *, now: datetime, rules: BookingRules
) -> list[FreeSlot]:
    """The free slots the intake would accept as desired starts, in order."""
    return [
        slot
        for slot in sorted(slots, key=lambda slot: slot.start)
        if start_problem(slot.start, duration_minutes, now=now, rules=rules, field="start") is None
    ]


# --- weeks, as the form shows them -----------------------------------------------------------------


@dataclass(frozen=True)
class Week:
    """A Monday-to-Sunday week of the form, its bookable part, and its neighbours (None: not bookable)."""

    monday: date
    first: date
    last: date
    previous: date | None
    next: date | None


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_of(text: str | None, *, now: datetime, rules: BookingRules) -> Week:
    """The week of the date ``text`` (any day of it), kept within the bookable weeks; the first bookable
    week when ``text`` is missing or not a date."""
    bookable_first, bookable_last = bookable_days(now, rules)
    try:
        wanted = date.fromisoformat(text or "")
    except ValueError:
        wanted = bookable_first
    monday = min(max(monday_of(wanted), monday_of(bookable_first)), monday_of(bookable_last))
    sunday = monday + timedelta(days=6)
    return Week(
        monday=monday,
        first=max(monday, bookable_first),
        last=min(sunday, bookable_last),
        previous=monday - WEEK if monday - WEEK >= monday_of(bookable_first) else None,
        next=monday + WEEK if monday + WEEK <= bookable_last else None,
    )
