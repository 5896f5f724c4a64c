"""iCalendar data to busy intervals (services.scheduler.calendars.expand): pure, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.scheduler.calendars.expand import (
    Interval,
    InvalidCalendarData,
    Window,
    busy_intervals,
    merge,
    parse_calendar,
)
from shared.text.localtime import LOCAL_TZ

YEAR_2027 = Window(datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))


def ics(*events: str, extra: str = "") -> str:
    body = "\r\n".join(part.strip().replace("\n", "\r\n") for part in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{extra}{body}\r\nEND:VCALENDAR\r\n"


def busy(data: str, window: Window = YEAR_2027) -> list[Interval]:
    return busy_intervals(parse_calendar(data), window)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LOCAL_TZ).astimezone(UTC)


def local_starts(intervals: list[Interval]) -> list[str]:
    return [f"{i.start.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}" for i in intervals]


WEEKLY_TUESDAY = """
BEGIN:VEVENT
UID:team-meeting@example.dk
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Copenhagen:20270302T100000
DTEND;TZID=Europe/Copenhagen:20270302T113000
RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=6
EXDATE;TZID=Europe/Copenhagen:20270316T100000
SUMMARY:Teammøde
END:VEVENT
BEGIN:VEVENT
UID:team-meeting@example.dk
DTSTAMP:20260101T000000Z
RECURRENCE-ID;TZID=Europe/Copenhagen:20270323T100000
DTSTART;TZID=Europe/Copenhagen:20270324T140000
DTEND;TZID=Europe/Copenhagen:20270324T150000
SUMMARY:Teammøde (flyttet)
END:VEVENT
"""


def test_a_weekly_meeting_without_its_cancelled_and_with_its_moved_occurrence() -> None:
    result = busy(ics(WEEKLY_TUESDAY))
    assert local_starts(result) == [
        "2027-03-02 10:00",
        "2027-03-09 10:00",
        # 16 March cancelled by EXDATE
        "2027-03-24 14:00",  # 23 March moved to Wednesday 24 March 14:00
        "2027-03-30 10:00",  # after the change to summer time: still 10:00 local
        "2027-04-06 10:00",
    ]
    assert result[0].end - result[0].start == timedelta(minutes=90)
    assert result[2].end - result[2].start == timedelta(hours=1)


def test_an_occurrence_cancelled_by_its_own_status_is_free() -> None:
    cancelled = """
BEGIN:VEVENT
UID:team-meeting@example.dk
DTSTAMP:20260101T000000Z
RECURRENCE-ID;TZID=Europe/Copenhagen:20270309T100000
DTSTART;TZID=Europe/Copenhagen:20270309T100000
DTEND;TZID=Europe/Copenhagen:20270309T113000
STATUS:CANCELLED
END:VEVENT
"""
    assert "2027-03-09 10:00" not in local_starts(busy(ics(WEEKLY_TUESDAY, cancelled)))


def test_rdate_adds_an_occurrence() -> None:
    event = """
BEGIN:VEVENT
UID:course@example.dk
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Copenhagen:20270301T090000
DTEND;TZID=Europe/Copenhagen:20270301T100000
RDATE;TZID=Europe/Copenhagen:20270305T130000
END:VEVENT
"""
    assert local_starts(busy(ics(event))) == ["2027-03-01 09:00", "2027-03-05 13:00"]


def test_an_event_in_new_york_across_both_dst_changes() -> None:
    # Mondays 09:00 in New York. The USA moves its clocks on 14 March 2027, Denmark on 28 March.
    event = """
BEGIN:VEVENT
UID:ny@example.com
DTSTAMP:20260101T000000Z
DTSTART;TZID=America/New_York:20270308T090000
DTEND;TZID=America/New_York:20270308T100000
RRULE:FREQ=WEEKLY;COUNT=4
END:VEVENT
"""
    assert local_starts(busy(ics(event))) == [
        "2027-03-08 15:00",  # EST (UTC-5) and CET (UTC+1): 6 hours apart
        "2027-03-15 14:00",  # EDT (UTC-4) and still CET: 5 hours
        "2027-03-22 14:00",
        "2027-03-29 15:00",  # EDT and CEST (UTC+2): 6 hours again
    ]


def test_an_outlook_time_zone_defined_by_its_vtimezone() -> None:
    zone = """
BEGIN:VTIMEZONE
TZID:Pacific Standard Time
BEGIN:STANDARD
DTSTART:16011104T020000
RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11
TZOFFSETFROM:-0700
TZOFFSETTO:-0800
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010311T020000
RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3
TZOFFSETFROM:-0800
TZOFFSETTO:-0700
END:DAYLIGHT
END:VTIMEZONE
"""
    event = """
BEGIN:VEVENT
UID:pst@example.com
DTSTAMP:20260101T000000Z
DTSTART;TZID=Pacific Standard Time:20270312T080000
DTEND;TZID=Pacific Standard Time:20270312T090000
RRULE:FREQ=WEEKLY;COUNT=2
END:VEVENT
"""
    result = busy(ics(zone, event))
    # 12 March: PST (UTC-8) -> 16:00Z; 19 March: PDT (UTC-7) -> 15:00Z
    assert [i.start for i in result] == [
        datetime(2027, 3, 12, 16, tzinfo=UTC),
        datetime(2027, 3, 19, 15, tzinfo=UTC),
    ]


def test_google_style_utc_series_follows_the_calendars_x_wr_timezone() -> None:
    # Google writes a series in UTC and names the calendar's zone in X-WR-TIMEZONE: the meeting
    # stays at 10:00 Copenhagen time after the change to summer time.
    event = """
BEGIN:VEVENT
UID:google@example.com
DTSTAMP:20260101T000000Z
DTSTART:20270322T090000Z
DTEND:20270322T100000Z
RRULE:FREQ=WEEKLY;COUNT=2
END:VEVENT
"""
    result = busy(ics(event, extra="X-WR-TIMEZONE:Europe/Copenhagen\r\n"))
    assert local_starts(result) == ["2027-03-22 10:00", "2027-03-29 10:00"]


def test_floating_times_are_copenhagen_time() -> None:
    event = """
BEGIN:VEVENT
UID:floating@example.dk
DTSTAMP:20260101T000000Z
DTSTART:20270702T100000
DTEND:20270702T110000
END:VEVENT
"""
    assert busy(ics(event)) == [Interval(local(2027, 7, 2, 10), local(2027, 7, 2, 11))]


def test_all_day_and_multi_day_events_take_whole_copenhagen_days() -> None:
    events = """
BEGIN:VEVENT
UID:day@example.dk
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20270302
DTEND;VALUE=DATE:20270303
END:VEVENT
BEGIN:VEVENT
UID:seminar@example.dk
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20270329
DTEND;VALUE=DATE:20270401
END:VEVENT
BEGIN:VEVENT
UID:no-end@example.dk
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20270510
END:VEVENT
"""
    assert busy(ics(events)) == [
        Interval(local(2027, 3, 2), local(2027, 3, 3)),
        Interval(local(2027, 3, 29), local(2027, 4, 1)),  # three days
        Interval(local(2027, 5, 10), local(2027, 5, 11)),  # no end: one day
    ]


def test_transparent_and_cancelled_events_are_free() -> None:
    events = """
BEGIN:VEVENT
UID:free@example.dk
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Copenhagen:20270302T100000
DTEND;TZID=Europe/Copenhagen:20270302T110000
TRANSP:TRANSPARENT
END:VEVENT
BEGIN:VEVENT
UID:cancelled@example.dk
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Copenhagen:20270303T100000
DTEND;TZID=Europe/Copenhagen:20270303T110000
STATUS:CANCELLED
END:VEVENT
BEGIN:VEVENT
UID:opaque@example.dk
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Copenhagen:20270304T100000
DTEND;TZID=Europe/Copenhagen:20270304T110000
TRANSP:OPAQUE
STATUS:CONFIRMED
END:VEVENT
"""
    assert local_starts(busy(ics(events))) == ["2027-03-04 10:00"]


def test_duration_and_a_moment() -> None:
    events = """
BEGIN:VEVENT
UID:duration@example.dk
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Copenhagen:20270302T100000
DURATION:PT45M
END:VEVENT
BEGIN:VEVENT
UID:moment@example.dk
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Copenhagen:20270303T120000
END:VEVENT
"""
    assert busy(ics(events)) == [
        Interval(local(2027, 3, 2, 10), local(2027, 3, 2, 10, 45)),
        Interval(local(2027, 3, 3, 12), local(2027, 3, 3, 12)),
    ]


def test_only_the_window_is_expanded() -> None:
    # A daily meeting since 2017 with no end, and single events from 2017 to 2036.
    daily = """
BEGIN:VEVENT
UID:daily@example.dk
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Copenhagen:20170102T080000
DTEND;TZID=Europe/Copenhagen:20170102T081500
RRULE:FREQ=DAILY
END:VEVENT
"""
    singles = [
        f"BEGIN:VEVENT\nUID:single-{year}@example.dk\nDTSTAMP:20260101T000000Z\n"
        f"DTSTART;TZID=Europe/Copenhagen:{year}0615T130000\nDTEND;TZID=Europe/Copenhagen:{year}0615T140000\n"
        "END:VEVENT"
        for year in range(2017, 2037)
    ]
    window = Window(local(2027, 6, 1), local(2027, 7, 1))
    result = busy(ics(daily, *singles), window)
    assert len(result) == 31  # 30 June days of the daily meeting and the 2027 single event
    assert all(window.start <= i.start < window.end for i in result)
    assert Interval(local(2027, 6, 15, 13), local(2027, 6, 15, 14)) in result


def test_an_event_reaching_into_the_window_counts() -> None:
    event = """
BEGIN:VEVENT
UID:long@example.dk
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20261228
DTEND;VALUE=DATE:20270105
END:VEVENT
"""
    assert busy(ics(event)) == [Interval(local(2026, 12, 28), local(2027, 1, 5))]


def test_merge_joins_overlapping_and_touching_intervals() -> None:
    a = Interval(local(2027, 3, 2, 9), local(2027, 3, 2, 10))
    b = Interval(local(2027, 3, 2, 9, 30), local(2027, 3, 2, 11))
    c = Interval(local(2027, 3, 2, 11), local(2027, 3, 2, 12))
    d = Interval(local(2027, 3, 2, 14), local(2027, 3, 2, 15))
    assert merge([d, c, a, b]) == [Interval(a.start, c.end), d]


def test_several_calendar_objects_are_read_as_one() -> None:
    first = ics("BEGIN:VEVENT\nUID:a\nDTSTAMP:20260101T000000Z\nDTSTART:20270302T090000Z\nEND:VEVENT")
    second = ics("BEGIN:VEVENT\nUID:b\nDTSTAMP:20260101T000000Z\nDTSTART:20270303T090000Z\nEND:VEVENT")
    assert len(busy(first + second)) == 2


@pytest.mark.parametrize(
    "data",
    ["<!DOCTYPE html><html><body>Log ind</body></html>", "", "BEGIN:VCARD\r\nVERSION:3.0\r\nEND:VCARD\r\n"],
    ids=["html-login-page", "empty", "vcard"],
)
def test_what_is_not_icalendar_is_refused(data: str) -> None:
    with pytest.raises(InvalidCalendarData):
        parse_calendar(data)


def test_times_come_back_in_utc() -> None:
    result = busy(ics(WEEKLY_TUESDAY))
    assert all(i.start.tzinfo is not None and i.start.utcoffset() == timedelta(0) for i in result)
    assert result[0].start == datetime(2027, 3, 2, 10, tzinfo=ZoneInfo("Europe/Copenhagen"))
    assert date(2027, 3, 2) == result[0].start.astimezone(LOCAL_TZ).date()
