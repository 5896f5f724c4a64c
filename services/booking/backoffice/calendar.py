"""The back office's calendar as plain data: a week or a month of days (Monday first), each with the
consultants' talks, their absences, and whether it is a public holiday or closing day (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from services.booking.domain import Booking
from shared.contracts.catalogue import content
from shared.contracts.closed_days import ClosedDays
from shared.text.localtime import MONTHS, to_local

View = Literal["week", "month"]


@dataclass
class CalendarDay:
    day: date
    in_period: bool  # False: a day of the month before or after, shown to fill the weeks
    closed: str | None = None  # the holiday's or closing day's name
    talks: list[dict[str, str]] = field(default_factory=list)
    absences: list[dict[str, str]] = field(default_factory=list)


def period(view: View, anchor: date) -> tuple[date, date]:
    """The first and last day shown: the anchor's week, or the whole weeks around its month."""
    if view == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        return monday, monday + timedelta(days=6)
    first = anchor.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    last = following - timedelta(days=1)
    return first - timedelta(days=first.weekday()), last + timedelta(days=6 - last.weekday())


def neighbours(view: View, anchor: date) -> tuple[date, date]:
    """The anchors of the period before and after."""
    if view == "week":
        return anchor - timedelta(days=7), anchor + timedelta(days=7)
    first = anchor.replace(day=1)
    return (first - timedelta(days=1)).replace(day=1), (first + timedelta(days=32)).replace(day=1)


def title(view: View, anchor: date, lang: str) -> str:
    if view == "month":
        return f"{MONTHS[lang][anchor.month - 1].capitalize()} {anchor.year}"
    first, last = period("week", anchor)
    week = "Uge" if lang == "da" else "Week"
    return f"{week} {first.isocalendar().week}, {first:%d.%m.}–{last:%d.%m.%Y}"


def build(
    view: View,
    anchor: date,
    talks: Iterable[Booking],
    consultants: Sequence[Mapping[str, Any]],
    closed: ClosedDays,
    lang: str,
) -> list[CalendarDay]:
    first, last = period(view, anchor)
    days: dict[date, CalendarDay] = {}
    day = first
    while day <= last:
        in_period = view == "week" or day.month == anchor.month
        shut = closed.on(day)
        days[day] = CalendarDay(day, in_period, shut.name(lang) if shut else None)
        day += timedelta(days=1)
    names = {str(c["id"]): str(c["name"]) for c in consultants}
    for booking in talks:
        if booking.slot is None:
            continue
        start, end = to_local(booking.slot.start), to_local(booking.slot.end)
        if (talk_day := start.date()) in days:
            days[talk_day].talks.append({
                "booking_id": booking.id,
                "time": f"{start:%H.%M}–{end:%H.%M}",
                "consultant": names.get(booking.slot.consultant.id, booking.slot.consultant.name),
                "theme": content().theme_title(booking.details.theme, lang),
                "workplace": booking.details.workplace.name,
            })
    for consultant in consultants:
        for absence in consultant.get("absences", []):
            begin, until = date.fromisoformat(absence["start"]), date.fromisoformat(absence["end"])
            for calendar_day in days.values():
                if begin <= calendar_day.day <= until:
                    calendar_day.absences.append({"consultant": str(consultant["name"]),
                                                  "note": str(absence.get("note") or "")})
    for calendar_day in days.values():
        calendar_day.talks.sort(key=lambda t: t["time"])
    return list(days.values())
