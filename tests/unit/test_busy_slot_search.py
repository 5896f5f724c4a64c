"""Busy times of the consultants' own calendars in the slot search (services.scheduler.domain).

A busy time blocks a start exactly as a talk does, with the same single travel buffer, in a
placement, in the proposed alternatives and in ``why_not``; it never counts as a talk.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from services.scheduler.domain import (
    Busy,
    Choice,
    Consultant,
    DictCalendar,
    NoPlacement,
    Talk,
    TalkRequest,
    fits,
    place,
    why_not,
)
from shared.text.localtime import localize, to_local

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)  # Monday
OFFICE_HOURS = {weekday: (time(8), time(16)) for weekday in range(5)}
TUE = (2027, 3, 2)  # Tuesday 2 March 2027


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return localize(datetime(year, month, day, hour, minute)).astimezone(UTC)


def consultant(cid: str = "c1", **changes: Any) -> Consultant:
    fields: dict[str, Any] = {
        "id": cid,
        "name": f"Konsulent {cid}",
        "email": f"{cid}@example.dk",
        "phone": None,
        "working_hours": OFFICE_HOURS,
    }
    fields.update(changes)
    return Consultant(**fields)


def busy_calendar(*entries: tuple[str, datetime, datetime]) -> DictCalendar:
    calendar = DictCalendar()
    for cid, start, end in entries:
        calendar.add_busy(cid, Busy(start, end))
    return calendar


def request(*starts: datetime, minutes: int = 120, booking_id: str = "b1") -> TalkRequest:
    return TalkRequest(booking_id, "selvledelse", timedelta(minutes=minutes), tuple(starts))


TWO_HOURS = timedelta(hours=2)


def test_a_busy_time_blocks_an_overlapping_talk() -> None:
    cal = busy_calendar(("c1", local(*TUE, 12), local(*TUE, 13)))
    reason = why_not(consultant(), local(*TUE, 11), local(*TUE, 13), cal)
    assert reason is not None
    assert "busy in their own calendar" in reason


@pytest.mark.parametrize(
    ("start_hour", "start_minute", "free"),
    [
        (9, 0, True),  # 09:00–11:00, then 60 min travel, meeting at 12:00
        (9, 30, False),  # ends 11:30: only 30 min before the meeting
        (14, 0, True),  # the meeting ends 13:00, 60 min travel, 14:00–16:00 and 60 min before 17:00
        (13, 30, False),  # only 30 min after the meeting
    ],
)
def test_a_busy_time_keeps_the_travel_buffer_like_a_talk(start_hour: int, start_minute: int, free: bool) -> None:
    c1 = consultant(working_hours={1: (time(8), time(17))})
    cal = busy_calendar(("c1", local(*TUE, 12), local(*TUE, 13)))
    start = local(*TUE, start_hour, start_minute)
    assert fits(c1, start, start + TWO_HOURS, cal) is free


def test_a_talk_one_buffer_after_a_busy_time_fits_exactly() -> None:
    c1 = consultant(working_hours={1: (time(8), time(17))})
    cal = busy_calendar(("c1", local(*TUE, 10), local(*TUE, 11)))
    assert fits(c1, local(*TUE, 12), local(*TUE, 14), cal)
    assert not fits(c1, local(*TUE, 11, 59), local(*TUE, 13, 59), cal)


def test_a_busy_moment_still_needs_the_buffer() -> None:
    c1 = consultant()
    cal = busy_calendar(("c1", local(*TUE, 12), local(*TUE, 12)))
    assert not fits(c1, local(*TUE, 11), local(*TUE, 13), cal)
    assert fits(c1, local(*TUE, 9), local(*TUE, 11), cal)


def test_busy_times_do_not_count_toward_the_daily_maximum() -> None:
    c1 = consultant(max_talks_per_day=1)
    cal = busy_calendar(("c1", local(*TUE, 8), local(*TUE, 9)))
    assert fits(c1, local(*TUE, 12), local(*TUE, 14), cal)


def test_busy_times_of_another_consultant_do_not_matter() -> None:
    cal = busy_calendar(("c2", local(*TUE, 8), local(*TUE, 16)))
    assert fits(consultant("c1"), local(*TUE, 10), local(*TUE, 12), cal)


def test_a_multi_day_busy_time_blocks_every_day_it_covers_and_no_other() -> None:
    c1 = consultant()
    cal = busy_calendar(("c1", local(2027, 3, 1, 12), local(2027, 3, 3, 12)))  # Monday noon to Wednesday noon
    assert not fits(c1, local(2027, 3, 1, 13), local(2027, 3, 1, 15), cal)
    assert not fits(c1, local(2027, 3, 2, 9), local(2027, 3, 2, 11), cal)
    assert not fits(c1, local(2027, 3, 3, 9), local(2027, 3, 3, 11), cal)
    assert fits(c1, local(2027, 3, 3, 13), local(2027, 3, 3, 15), cal)
    assert cal.busy_on("c1", date(2027, 3, 4)) == ()


def test_a_busy_time_ending_at_midnight_leaves_the_next_day_free() -> None:
    midnight = datetime(2027, 3, 3, 0, 0, tzinfo=to_local(NOW).tzinfo).astimezone(UTC)
    cal = busy_calendar(("c1", local(*TUE, 0), midnight))  # an all-day event on Tuesday
    assert len(cal.busy_on("c1", date(*TUE))) == 1
    assert cal.busy_on("c1", date(2027, 3, 3)) == ()
    reason = why_not(consultant(), local(*TUE, 10), local(*TUE, 12), cal)
    assert reason == "is busy in their own calendar"  # covers the working day: the day is closed


def test_a_blocked_day_gives_its_own_reason() -> None:
    cal = DictCalendar()
    cal.block_day("c1", date(*TUE), "has a calendar that could not be read for too long")
    assert why_not(consultant(), local(*TUE, 10), local(*TUE, 12), cal) == (
        "has a calendar that could not be read for too long"
    )
    assert fits(consultant(), local(2027, 3, 3, 10), local(2027, 3, 3, 12), cal)


def test_placement_goes_to_the_consultant_who_is_not_busy() -> None:
    cal = busy_calendar(("c1", local(*TUE, 9), local(*TUE, 10)))
    result = place(request(local(*TUE, 10)), [consultant("c1"), consultant("c2")], cal, now=NOW)
    assert isinstance(result, Choice)
    assert result.consultant_id == "c2"


def test_alternatives_skip_busy_times() -> None:
    # A weekly Tuesday meeting 10:00–12:00 and a Wednesday one; the workplace wants Tuesday 10:00.
    cal = DictCalendar()
    for week in range(-3, 4):
        day = date(*TUE) + timedelta(weeks=week)
        start = localize(datetime.combine(day, time(10))).astimezone(UTC)
        cal.add_busy("c1", Busy(start, start + TWO_HOURS))
    result = place(request(local(*TUE, 10)), [consultant()], cal, now=NOW)
    assert isinstance(result, NoPlacement)
    assert len(result.alternatives) == 3
    for alternative in result.alternatives:
        day = to_local(alternative).date()
        for held in cal.busy_on("c1", day):
            assert alternative + TWO_HOURS + timedelta(hours=1) <= held.start or held.end + timedelta(
                hours=1
            ) <= alternative, f"{to_local(alternative)} collides with a busy time"
    assert "busy in their own calendar" in result.reason


def test_rescheduling_a_booking_does_not_ignore_busy_times() -> None:
    cal = busy_calendar(("c1", local(*TUE, 10), local(*TUE, 11)))
    cal.add("c1", Talk("b1", local(*TUE, 13), local(*TUE, 15)))
    assert not fits(consultant(), local(*TUE, 10), local(*TUE, 12), cal, ignore_booking_id="b1")


def test_a_busy_time_must_be_aware_and_in_order() -> None:
    with pytest.raises(ValueError, match="aware"):
        Busy(datetime(2027, 3, 2, 10), local(*TUE, 11))
    with pytest.raises(ValueError, match="after"):
        Busy(local(*TUE, 11), local(*TUE, 10))
