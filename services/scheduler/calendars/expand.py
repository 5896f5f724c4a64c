"""iCalendar data to busy intervals within a window: pure, no I/O.

Recurrence is the work of ``recurring-ical-events`` (RRULE, RDATE, EXDATE, moved or cancelled
occurrences by RECURRENCE-ID, VTIMEZONE and IANA time zones, X-WR-TIMEZONE); this module only
decides what counts as busy and in which time:

* ``STATUS:CANCELLED`` and ``TRANSP:TRANSPARENT`` occurrences are free time;
* all-day events (``VALUE=DATE``) take whole Copenhagen days, from midnight to midnight;
* floating times (no zone) are Copenhagen wall time;
* an event without an end lasts one day (date) or is a moment (date-time), as RFC 5545 says;
* overlapping or touching intervals are merged, which changes nothing for the search.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import icalendar
import recurring_ical_events

from shared.text.localtime import LOCAL_TZ


class InvalidCalendarData(ValueError):
    """The data is not an iCalendar object (wrong URL, an HTML login page, a truncated file)."""


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """Busy from ``start`` to ``end`` (aware, UTC); ``start == end`` is a moment."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Window:
    """The instants placement may need (aware)."""

    start: datetime
    end: datetime


def parse_calendar(data: bytes | str) -> icalendar.Calendar:
    """One or more VCALENDAR objects as one calendar; refuses anything else."""
    try:
        calendars = icalendar.Calendar.from_ical(data, multiple=True)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise InvalidCalendarData(f"not iCalendar data ({type(exc).__name__})") from None
    calendars = [c for c in calendars if getattr(c, "name", None) == "VCALENDAR"]
    if not calendars:
        raise InvalidCalendarData("no VCALENDAR in the data")
    if len(calendars) == 1:
        return calendars[0]
    return combine(calendars)


def combine(calendars: Iterable[icalendar.Calendar]) -> icalendar.Calendar:
    """Several calendar objects (a CalDAV collection's resources) as one; time zones once each."""
    combined = icalendar.Calendar()
    combined.add("prodid", "-//inspiration//external calendars//EN")
    combined.add("version", "2.0")
    zones: set[str] = set()
    for calendar in calendars:
        for component in calendar.subcomponents:
            if component.name == "VTIMEZONE":
                tzid = str(component.get("TZID", ""))
                if tzid in zones:
                    continue
                zones.add(tzid)
            combined.add_component(component)
    return combined


def _instant(value: date | datetime) -> datetime:
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=LOCAL_TZ).astimezone(UTC)
    return value.astimezone(UTC)


def _is_free(occurrence: Any) -> bool:
    status = str(occurrence.get("STATUS", "")).upper()
    transparency = str(occurrence.get("TRANSP", "")).upper()
    return status == "CANCELLED" or transparency == "TRANSPARENT"


def _bounds(occurrence: Any) -> tuple[datetime, datetime] | None:
    start_prop = occurrence.get("DTSTART")
    if start_prop is None:
        return None
    start_value = start_prop.dt
    end_prop = occurrence.get("DTEND")
    if end_prop is not None:
        end_value = end_prop.dt
    elif occurrence.get("DURATION") is not None:
        end_value = start_value + occurrence["DURATION"].dt
    elif isinstance(start_value, datetime):
        end_value = start_value
    else:
        end_value = start_value + timedelta(days=1)
    start, end = _instant(start_value), _instant(end_value)
    return (start, end) if start <= end else (end, start)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, with overlapping or touching intervals joined."""
    merged: list[Interval] = []
    for interval in sorted(intervals):
        if merged and interval.start <= merged[-1].end:
            if interval.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, interval.end)
        else:
            merged.append(interval)
    return merged


def busy_intervals(calendar: icalendar.Calendar, window: Window) -> list[Interval]:
    """The busy intervals of ``calendar`` that overlap ``window``, merged and sorted.

    Only occurrences near the window are expanded: the query is by Copenhagen dates a day wider
    than the window on each side (floating and all-day events are read in local time), then the
    exact overlap is checked on the converted instants.
    """
    first = window.start.astimezone(LOCAL_TZ).date() - timedelta(days=1)
    last = window.end.astimezone(LOCAL_TZ).date() + timedelta(days=2)
    query = recurring_ical_events.of(calendar, skip_bad_series=True)
    found: list[Interval] = []
    for occurrence in query.between(first, last):
        if _is_free(occurrence):
            continue
        bounds = _bounds(occurrence)
        if bounds is None:
            continue
        start, end = bounds
        if start < window.end and (end > window.start or start == end >= window.start):
            found.append(Interval(start, end))
    return merge(found)
