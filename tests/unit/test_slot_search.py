"""Unit tests of the scheduler's slot search (services.scheduler.domain): pure, synchronous."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from services.scheduler.domain import (
    Choice,
    Consultant,
    DictCalendar,
    NoPlacement,
    SearchLimits,
    Talk,
    TalkRequest,
    days_needed,
    fits,
    place,
    why_not,
)
from shared.contracts.closed_days import ClosedDays
from shared.text.localtime import localize, to_local

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)  # Monday
OFFICE_HOURS = {weekday: (time(8), time(16)) for weekday in range(5)}  # Mon–Fri 08:00–16:00


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Copenhagen wall time as an aware UTC instant."""
    return localize(datetime(year, month, day, hour, minute)).astimezone(UTC)


def consultant(cid: str = "c1", **changes: Any) -> Consultant:
    fields: dict[str, Any] = {
        "id": cid,
        "name": f"Konsulent {cid}",
        "email": f"{cid}@example.dk",
        "phone": None,
        "working_hours": OFFICE_HOURS,
        "absences": (),
    }
    fields.update(changes)
    return Consultant(**fields)


def talk(start: datetime, minutes: int = 120, booking_id: str = "other") -> Talk:
    return Talk(booking_id, start, start + timedelta(minutes=minutes))


def request(*starts: datetime, theme: str = "selvledelse", minutes: int = 120, booking_id: str = "b1") -> TalkRequest:
    return TalkRequest(booking_id, theme, timedelta(minutes=minutes), tuple(starts))


def calendar(*entries: tuple[str, Talk]) -> DictCalendar:
    return DictCalendar.from_talks(entries)


def placed(result: Choice | NoPlacement) -> Choice:
    assert isinstance(result, Choice), result
    return result


def not_placed(result: Choice | NoPlacement) -> NoPlacement:
    assert isinstance(result, NoPlacement), result
    return result


TUE = (2027, 3, 2)  # Tuesday 2 March 2027, well after the minimum notice
# Easter 2027 falls on the weekend of the spring DST change: the DST tests leave holidays out.
NO_CLOSED_DAYS = SearchLimits(closed=ClosedDays.none())


# ------------------------------------------------------------------------------------- buffers


def test_talk_right_after_another_without_buffer_is_refused_with_buffer_allowed() -> None:
    c1 = consultant()
    cal = calendar(("c1", talk(local(*TUE, 9))))  # 09:00–11:00
    two_hours = timedelta(hours=2)
    assert not fits(c1, local(*TUE, 11), local(*TUE, 11) + two_hours, cal)
    assert not fits(c1, local(*TUE, 11, 30), local(*TUE, 11, 30) + two_hours, cal)
    # a single buffer between two talks: 11:00 end + 60 min = 12:00 start is fine
    assert fits(c1, local(*TUE, 12), local(*TUE, 12) + two_hours, cal)
    assert isinstance(place(request(local(*TUE, 11)), [c1], cal, now=NOW), NoPlacement)
    assert placed(place(request(local(*TUE, 12)), [c1], cal, now=NOW)).start == local(*TUE, 12)


def test_buffer_also_needed_before_a_later_talk() -> None:
    c1 = consultant()
    cal = calendar(("c1", talk(local(*TUE, 13))))  # 13:00–15:00
    assert fits(c1, local(*TUE, 10), local(*TUE, 12), cal)  # ends 12:00, next starts 13:00
    assert not fits(c1, local(*TUE, 10, 30), local(*TUE, 12, 30), cal)
    reason = why_not(c1, local(*TUE, 10, 30), local(*TUE, 12, 30), cal)
    assert reason == "too close to another talk (travel buffer)"


def test_the_buffer_is_the_consultants_own() -> None:
    c1 = consultant(travel_buffer=timedelta(minutes=30))
    cal = calendar(("c1", talk(local(*TUE, 9))))
    assert fits(c1, local(*TUE, 11, 30), local(*TUE, 13, 30), cal)
    assert not fits(c1, local(*TUE, 11, 15), local(*TUE, 13, 15), cal)


@pytest.mark.parametrize(
    ("hour", "minute", "ok"),
    [(8, 30, False), (8, 59, False), (9, 0, True), (11, 0, True), (13, 0, True), (13, 1, False), (13, 30, False)],
)
def test_buffers_must_lie_inside_working_hours(hour: int, minute: int, ok: bool) -> None:
    # hours 08:00–16:00, buffer 60: a 120-minute talk may start 09:00..13:00
    start = local(*TUE, hour, minute)
    assert fits(consultant(), start, start + timedelta(minutes=120), DictCalendar()) is ok
    assert isinstance(place(request(start), [consultant()], DictCalendar(), now=NOW), Choice) is ok


def test_day_off_is_not_bookable() -> None:
    c1 = consultant(working_hours={0: (time(8), time(16)), 1: (time(8), time(16))})  # Mon, Tue only
    assert fits(c1, local(*TUE, 10), local(*TUE, 12), DictCalendar())
    wednesday = local(2027, 3, 3, 10)
    assert not fits(c1, wednesday, wednesday + timedelta(hours=2), DictCalendar())
    assert why_not(c1, wednesday, wednesday + timedelta(hours=2), DictCalendar()) == "does not work on Wed"


# ------------------------------------------------------------------------ absences, maximum, themes


def test_absence_days_are_refused_inclusively() -> None:
    c1 = consultant(absences=((date(2027, 3, 1), date(2027, 3, 3)),))
    for day in (1, 2, 3):
        start = local(2027, 3, day, 10)
        assert not fits(c1, start, start + timedelta(hours=2), DictCalendar())
    thursday = local(2027, 3, 4, 10)
    assert fits(c1, thursday, thursday + timedelta(hours=2), DictCalendar())
    result = not_placed(
        place(request(local(*TUE, 10)), [c1], DictCalendar(), now=NOW, limits=SearchLimits(alternatives=0))
    )
    assert "absent" in result.reason


def test_daily_maximum() -> None:
    long_day = {weekday: (time(7), time(21)) for weekday in range(5)}
    cal = calendar(("c1", talk(local(*TUE, 8))), ("c1", talk(local(*TUE, 11))))  # 08–10, 11–13
    capped = consultant(working_hours=long_day)  # max 2 a day
    assert not fits(capped, local(*TUE, 15), local(*TUE, 17), cal)
    assert "maximum 2" in (why_not(capped, local(*TUE, 15), local(*TUE, 17), cal) or "")
    roomy = consultant(working_hours=long_day, max_talks_per_day=3)
    assert fits(roomy, local(*TUE, 15), local(*TUE, 17), cal)


def test_theme_restriction() -> None:
    specialist = consultant("a-specialist", themes=frozenset({"smidighed"}))
    generalist = consultant("b-generalist")  # gives all themes
    busy = calendar(("b-generalist", talk(local(2027, 3, 1, 9))))  # generalist busier that week
    both = [specialist, generalist]
    result = placed(place(request(local(*TUE, 10), theme="selvledelse"), both, busy, now=NOW))
    assert result.consultant_id == "b-generalist"
    result = placed(place(request(local(*TUE, 10), theme="smidighed"), both, busy, now=NOW))
    assert result.consultant_id == "a-specialist"


def test_impossible_request_has_no_alternatives() -> None:
    specialist = consultant(themes=frozenset({"smidighed"}))
    req = request(local(*TUE, 10), theme="alene-arbejde")
    result = not_placed(place(req, [specialist], DictCalendar(), now=NOW))
    assert result.alternatives == ()
    assert "alene-arbejde" in result.reason
    assert not_placed(place(request(local(*TUE, 10)), [], DictCalendar(), now=NOW)).alternatives == ()


# ------------------------------------------------------------------------ choice between consultants


def test_week_balance_prefers_fewest_talks_that_iso_week() -> None:
    c1, c2 = consultant("c1"), consultant("c2")
    cal = calendar(
        ("c1", talk(local(2027, 3, 1, 9))),  # Monday, same ISO week
        ("c1", talk(local(2027, 3, 4, 9))),  # Thursday, same ISO week
        ("c2", talk(local(2027, 3, 5, 9))),  # Friday, same ISO week
        # last week and next week do not count
        *[("c2", talk(local(2027, 2, day, 9))) for day in (22, 23, 24, 25, 26)],
        ("c2", talk(local(2027, 3, 8, 9))),
    )
    assert placed(place(request(local(*TUE, 10)), [c1, c2], cal, now=NOW)).consultant_id == "c2"
    cal.add("c2", talk(local(2027, 3, 3, 9)))  # now 2 each
    assert placed(place(request(local(*TUE, 10)), [c2, c1], cal, now=NOW)).consultant_id == "c1"


def test_stable_order_on_ties() -> None:
    consultants = [consultant("zeta"), consultant("alpha"), consultant("mu")]
    for order in (consultants, consultants[::-1]):
        result = placed(place(request(local(*TUE, 10)), order, DictCalendar(), now=NOW))
        assert result.consultant_id == "alpha"


def test_only_consultants_who_fit_compete_on_balance() -> None:
    c1, c2 = consultant("c1"), consultant("c2")
    cal = calendar(("c1", talk(local(*TUE, 9))))  # c1 busy 09–11 but has only 1 talk; c2 has 0
    result = placed(place(request(local(*TUE, 10)), [c1, c2], cal, now=NOW))
    assert result.consultant_id == "c2"
    assert result.end - result.start == timedelta(minutes=120)


# ------------------------------------------------------------------------ preferred order and limits


def test_preferred_order_is_honoured() -> None:
    c1 = consultant()
    later, earlier = local(2027, 3, 9, 13), local(*TUE, 13)
    assert placed(place(request(later, earlier), [c1], DictCalendar(), now=NOW)).start == later
    cal = calendar(("c1", talk(local(2027, 3, 9, 12))))
    assert placed(place(request(later, earlier), [c1], cal, now=NOW)).start == earlier


def test_minimum_notice_and_maximum_ahead() -> None:
    c1 = consultant()
    no_alternatives = SearchLimits(alternatives=0)
    exactly_two_weeks = NOW + timedelta(days=14)  # Monday 2027-01-18 10:00 local
    assert to_local(exactly_two_weeks).hour == 10
    assert isinstance(place(request(exactly_two_weeks), [c1], DictCalendar(), now=NOW), Choice)
    too_soon = local(2027, 1, 18, 9, 30)
    result = not_placed(place(request(too_soon), [c1], DictCalendar(), now=NOW, limits=no_alternatives))
    assert "minimum notice" in result.reason
    a_year = local(2028, 1, 4, 10)  # = NOW + 365 days
    assert a_year == NOW + timedelta(days=365)
    assert isinstance(place(request(a_year), [c1], DictCalendar(), now=NOW), Choice)
    too_far = local(2028, 1, 5, 10)
    result = not_placed(place(request(too_far), [c1], DictCalendar(), now=NOW, limits=no_alternatives))
    assert "ahead" in result.reason
    # a preferred start too soon falls through to the next one
    fallen_through = placed(place(request(too_soon, local(*TUE, 10)), [c1], DictCalendar(), now=NOW))
    assert fallen_through.start == local(*TUE, 10)


def test_rescheduled_booking_does_not_block_itself() -> None:
    c1 = consultant()
    cal = calendar(("c1", talk(local(*TUE, 9), booking_id="b1")))
    result = placed(place(request(local(*TUE, 10), booking_id="b1"), [c1], cal, now=NOW))
    assert result.start == local(*TUE, 10)
    assert isinstance(place(request(local(*TUE, 10), booking_id="b2"), [c1], cal, now=NOW), NoPlacement)


# ------------------------------------------------------------------------------------ alternatives


def assert_genuinely_free(
    alternatives: Sequence[datetime], consultants: Sequence[Consultant], cal: DictCalendar, minutes: int = 120
) -> None:
    assert len(set(alternatives)) == len(alternatives)
    for start in alternatives:
        assert start.utcoffset() == timedelta(0)
        assert to_local(start).weekday() < 5
        assert start - NOW >= timedelta(days=14)
        assert any(fits(c, start, start + timedelta(minutes=minutes), cal) for c in consultants)


def test_alternatives_same_time_of_day_on_nearest_weekdays_first() -> None:
    c1 = consultant(absences=((date(*TUE), date(*TUE)),))
    result = not_placed(place(request(local(*TUE, 13)), [c1], DictCalendar(), now=NOW))
    # distance 1: Monday and Wednesday; distance 2: Thursday (Sunday is skipped)
    assert result.alternatives == (local(2027, 3, 1, 13), local(2027, 3, 3, 13), local(2027, 3, 4, 13))
    assert_genuinely_free(result.alternatives, [c1], DictCalendar())
    assert "absent" in result.reason


def test_alternatives_never_on_a_weekend_and_skip_busy_days() -> None:
    friday = local(2027, 3, 5, 13)
    c1 = consultant(
        working_hours={weekday: (time(8), time(16)) for weekday in range(7)},
        absences=((date(2027, 3, 5), date(2027, 3, 5)),),
    )
    cal = calendar(("c1", talk(local(2027, 3, 4, 9))), ("c1", talk(local(2027, 3, 4, 13))))  # Thursday full
    result = not_placed(place(request(friday), [c1], cal, now=NOW))
    # though c1 works weekends: Wed (2 days), Tue (3), Mon 8 March (3 days after)
    assert result.alternatives == (local(2027, 3, 3, 13), local(2027, 3, 2, 13), local(2027, 3, 8, 13))
    assert_genuinely_free(result.alternatives, [c1], cal)


def test_alternatives_follow_preferred_order_at_equal_distance_and_are_at_most_three() -> None:
    c1 = consultant(absences=((date(2027, 3, 2), date(2027, 3, 2)), (date(2027, 3, 16), date(2027, 3, 16))))
    req = request(local(2027, 3, 16, 10), local(*TUE, 13))
    result = not_placed(place(req, [c1], DictCalendar(), now=NOW))
    assert result.alternatives == (local(2027, 3, 15, 10), local(2027, 3, 17, 10), local(2027, 3, 1, 13))
    five = not_placed(
        place(request(local(*TUE, 13)), [c1], DictCalendar(), now=NOW, limits=SearchLimits(alternatives=5))
    )
    assert len(five.alternatives) == 5
    assert_genuinely_free(five.alternatives, [c1], DictCalendar())


def test_alternatives_respect_minimum_notice() -> None:
    c1 = consultant(absences=((date(2027, 1, 19), date(2027, 1, 19)),))
    result = not_placed(place(request(local(2027, 1, 19, 13)), [c1], DictCalendar(), now=NOW))
    # Monday 18 January 13:00 is just after the notice (NOW + 14 days = 18 January 10:00)
    assert result.alternatives == (local(2027, 1, 18, 13), local(2027, 1, 20, 13), local(2027, 1, 21, 13))
    later = NOW + timedelta(hours=5)
    late = not_placed(place(request(local(2027, 1, 19, 13)), [c1], DictCalendar(), now=later))
    assert local(2027, 1, 18, 13) not in late.alternatives
    assert late.alternatives[0] == local(2027, 1, 20, 13)


def test_alternatives_fall_back_to_other_times_nearest_first() -> None:
    c1 = consultant(absences=((date(2027, 3, 1), date(2027, 3, 1)), (date(2027, 3, 3), date(2027, 3, 3))))
    cal = calendar(
        ("c1", talk(local(*TUE, 12))),  # Tuesday 12–14: only 09:00 is free that day
        ("c1", talk(local(2027, 3, 4, 13))),  # Thursday 13–15: 09:00..10:00 free
    )
    result = not_placed(
        place(request(local(*TUE, 13)), [c1], cal, now=NOW, limits=SearchLimits(alternative_window_days=2))
    )
    # wall-clock distance from Tuesday 13:00: Tuesday 09:00 is 4 h, Thursday 09:00 44 h, 09:30 44.5 h
    assert result.alternatives == (local(*TUE, 9), local(2027, 3, 4, 9), local(2027, 3, 4, 9, 30))
    assert_genuinely_free(result.alternatives, [c1], cal)


def test_alternatives_only_from_consultants_giving_the_theme() -> None:
    generalist = consultant("c1", absences=((date(2027, 2, 15), date(2027, 3, 31)),))
    specialist = consultant("c2", themes=frozenset({"smidighed"}))  # free, but the wrong theme
    result = not_placed(place(request(local(*TUE, 13)), [generalist, specialist], DictCalendar(), now=NOW))
    assert result.alternatives == ()


def test_no_consultant_free_anywhere_gives_no_alternatives_but_a_reason() -> None:
    c1 = consultant(absences=((date(2027, 1, 1), date(2027, 12, 31)),))
    result = not_placed(place(request(local(*TUE, 13), local(2027, 3, 9, 13)), [c1], DictCalendar(), now=NOW))
    assert result.alternatives == ()
    assert "2 preferred" in result.reason and "0 alternative" in result.reason


# --------------------------------------------------------------------------------------------- DST


def test_13_local_on_both_sides_of_the_dst_changes() -> None:
    c1 = consultant()
    spring = placed(place(request(local(2027, 3, 30, 13)), [c1], DictCalendar(), now=NOW, limits=NO_CLOSED_DAYS))
    assert spring.start == datetime(2027, 3, 30, 11, 0, tzinfo=UTC)
    assert spring.end == datetime(2027, 3, 30, 13, 0, tzinfo=UTC)
    autumn = placed(place(request(local(2027, 11, 2, 13)), [c1], DictCalendar(), now=NOW))
    assert autumn.start == datetime(2027, 11, 2, 12, 0, tzinfo=UTC)
    before_spring = placed(
        place(request(local(2027, 3, 26, 13)), [c1], DictCalendar(), now=NOW, limits=NO_CLOSED_DAYS)
    )
    assert before_spring.start == datetime(2027, 3, 26, 12, 0, tzinfo=UTC)


def test_on_the_dst_days_themselves_working_hours_are_wall_time() -> None:
    every_day = {weekday: (time(8), time(16)) for weekday in range(7)}
    c1 = consultant(working_hours=every_day)
    for day, utc_hour in ((date(2027, 3, 28), 11), (date(2027, 10, 31), 12)):
        req = request(local(day.year, day.month, day.day, 13))
        result = placed(place(req, [c1], DictCalendar(), now=NOW, limits=NO_CLOSED_DAYS))
        assert result.start == datetime(day.year, day.month, day.day, utc_hour, tzinfo=UTC)
        latest_end = local(day.year, day.month, day.day, 15)
        assert fits(c1, latest_end - timedelta(hours=2), latest_end, DictCalendar())
        assert not fits(
            c1, latest_end - timedelta(hours=1, minutes=30), latest_end + timedelta(minutes=30), DictCalendar()
        )


@pytest.mark.parametrize(
    ("absent", "preferred", "expected_utc"),
    [
        # Friday 26 March 13:00 CET (12:00Z) unavailable -> Monday 29 March 13:00 CEST = 11:00Z
        ((date(2027, 3, 15), date(2027, 3, 26)), local(2027, 3, 26, 13), datetime(2027, 3, 29, 11, tzinfo=UTC)),
        # Friday 29 October 13:00 CEST (11:00Z) unavailable -> Monday 1 November 13:00 CET = 12:00Z
        ((date(2027, 10, 18), date(2027, 10, 29)), local(2027, 10, 29, 13), datetime(2027, 11, 1, 12, tzinfo=UTC)),
    ],
)
def test_alternative_across_the_dst_change_keeps_13_local(
    absent: tuple[date, date], preferred: datetime, expected_utc: datetime
) -> None:
    c1 = consultant(absences=(absent,))
    result = not_placed(place(request(preferred), [c1], DictCalendar(), now=NOW, limits=NO_CLOSED_DAYS))
    assert result.alternatives[0] == expected_utc
    assert all(to_local(start).hour == 13 and to_local(start).minute == 0 for start in result.alternatives)


# ------------------------------------------------------------------------------------- days_needed


class RecordingCalendar(DictCalendar):
    __slots__ = ("looked_up",)

    def __init__(self) -> None:
        super().__init__()
        self.looked_up: set[date] = set()

    def talks_on(self, consultant_id: str, day: date) -> Sequence[Talk]:
        self.looked_up.add(day)
        return super().talks_on(consultant_id, day)


def test_days_needed_covers_the_iso_week_and_the_window() -> None:
    req = request(local(2027, 3, 3, 13), local(2027, 6, 6, 13))  # a Wednesday, and a Sunday
    days = days_needed(req, NOW, SearchLimits())
    for start_day in (date(2027, 3, 3), date(2027, 6, 6)):
        monday = start_day - timedelta(days=start_day.weekday())
        assert {monday + timedelta(days=i) for i in range(7)} <= days
        window = {start_day + timedelta(days=i) for i in range(-14, 15)}
        assert {day for day in window if day.weekday() < 5} <= days
    assert date(2027, 2, 16) not in days  # 15 days before the first
    assert date(2027, 2, 27) not in days  # a weekend day outside the ISO weeks
    assert date(2027, 4, 1) not in days


def test_days_needed_skips_days_before_the_notice() -> None:
    days = days_needed(request(local(2027, 1, 20, 13)), NOW, SearchLimits())
    assert date(2027, 1, 15) not in days  # before NOW + 14 days, not in the ISO week
    assert date(2027, 1, 18) in days and date(2027, 2, 3) in days


@pytest.mark.parametrize("with_alternatives", [True, False])
def test_place_only_looks_up_the_days_needed(with_alternatives: bool) -> None:
    c1 = consultant("c1", absences=((date(2027, 3, 1), date(2027, 3, 12)),))
    c2 = consultant("c2", absences=((date(2027, 2, 24), date(2027, 3, 2)),))
    cal = RecordingCalendar()
    cal.add("c2", talk(local(2027, 3, 3, 12)))  # blocks Wednesday 13:00
    cal.add("c2", talk(local(2027, 3, 4, 13)))
    limits = SearchLimits(alternatives=10 if with_alternatives else 0, alternative_window_days=5)
    req = request(local(*TUE, 13), local(2027, 3, 3, 13))
    result = place(req, [c1, c2], cal, now=NOW, limits=limits)
    assert cal.looked_up
    assert cal.looked_up <= days_needed(req, NOW, limits)
    if with_alternatives:
        assert len(not_placed(result).alternatives) == 10


def test_place_with_several_fitting_looks_up_the_iso_week() -> None:
    cal = RecordingCalendar()
    req = request(local(*TUE, 13))
    placed(place(req, [consultant("c1"), consultant("c2")], cal, now=NOW))
    assert cal.looked_up == {date(2027, 3, 1) + timedelta(days=i) for i in range(7)}


# -------------------------------------------------------------------------------------- validation


def test_naive_datetimes_and_bad_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        request(datetime(2027, 3, 2, 13))
    with pytest.raises(ValueError, match="before the end"):
        consultant(working_hours={0: (time(16), time(8))})
    with pytest.raises(ValueError, match="unique"):
        place(request(local(*TUE, 13)), [consultant("c1"), consultant("c1")], DictCalendar(), now=NOW)


def test_dict_calendar_keys_by_local_date() -> None:
    late = Talk("x", datetime(2027, 3, 1, 23, 30, tzinfo=UTC), datetime(2027, 3, 2, 0, 30, tzinfo=UTC))
    cal = DictCalendar.from_talks([("c1", late)])  # 00:30 local on Tuesday
    assert cal.talks_on("c1", date(2027, 3, 2)) == [late]
    assert cal.talks_on("c1", date(2027, 3, 1)) == ()
    assert len(cal) == 1
    assert DictCalendar({("c1", date(2027, 3, 2)): [late]}).talks_on("c1", date(2027, 3, 2)) == [late]
