"""iCalendar pieces both the invites (notifier) and the calendar feed (scheduler) use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

from shared.text.localtime import LOCAL_TZ

PRODID = "-//Socialpaedagogerne Oestjylland//Inspiration Booking 1.0//DA"
TZID = "Europe/Copenhagen"
_UID_DOMAIN = "inspiration-booking"
_CET, _CEST = timedelta(hours=1), timedelta(hours=2)


def booking_uid(booking_id: str) -> str:
    """The UID of a booking's calendar entry, the same for its whole life (invites and feed)."""
    return f"{booking_id}@{_UID_DOMAIN}"


def copenhagen_vtimezone() -> Timezone:
    """VTIMEZONE for Europe/Copenhagen in the RRULE form (the EU rule, in force since 1996)."""
    timezone = Timezone()
    timezone.add("tzid", TZID)
    # Summer time from the last Sunday of March 02:00, standard time from the last Sunday of October 03:00.
    timezone.add_component(_observance(TimezoneDaylight(), "CEST", _CET, _CEST, datetime(1970, 3, 29, 2), month=3))
    timezone.add_component(_observance(TimezoneStandard(), "CET", _CEST, _CET, datetime(1970, 10, 25, 3), month=10))
    return timezone


Observance = TimezoneDaylight | TimezoneStandard


def _observance(
    part: Observance, name: str, before: timedelta, after: timedelta, start: datetime, *, month: int
) -> Observance:
    part.add("tzname", name)
    part.add("tzoffsetfrom", before)
    part.add("tzoffsetto", after)
    part.add("dtstart", start)
    part.add("rrule", {"freq": "yearly", "bymonth": month, "byday": "-1SU"})
    return part


def _last_sunday_utc(year: int, month: int) -> datetime:
    """01:00 UTC on the last Sunday of ``month`` (March or October): the EU change-over instant."""
    day = datetime(year, month, 31, 1, 0, tzinfo=UTC)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def eu_rule_agrees(moment: datetime) -> bool:
    """Whether the VTIMEZONE above gives the same UTC offset as the time-zone database for ``moment``.

    When it does not (should the EU ever drop summer time), write that time in UTC instead.
    """
    instant = moment.astimezone(UTC)
    summer = _last_sunday_utc(instant.year, 3) <= instant < _last_sunday_utc(instant.year, 10)
    return moment.astimezone(LOCAL_TZ).utcoffset() == (_CEST if summer else _CET)
