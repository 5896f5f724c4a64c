"""Free starts (``available_starts`` and the scheduler's availability use case): the same answer as the
slot search for the same data, a taken time gone at once, the daily maximum emptying a day, and the
cache used only while nothing it was computed from has changed. Pure, and the use case on fakes."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from services.scheduler.availability import AvailabilityCache, FreeQuery, free_starts
from services.scheduler.calendars.status import BusyTimes
from services.scheduler.consultants import ConsultantIn
from services.scheduler.days import BookedTalk
from services.scheduler.domain import (
    GRID,
    Busy,
    Choice,
    Consultant,
    DictCalendar,
    SearchLimits,
    Talk,
    TalkRequest,
    available_starts,
    fits,
    place,
)
from services.scheduler.handlers import HANDLERS, Deps
from shared.contracts.events import BookingRequested, BookingRequestedData, new_event
from shared.contracts.models import BookingDetails, Contact, Workplace
from shared.text.localtime import localize, to_local
from tests.fakes.scheduler import Clock, FakeCalendar, FakeOwnCalendars, FakePlacements

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)  # a Monday
THEME = "selvledelse"
TWO_HOURS = timedelta(hours=2)
WEEK = [date(2027, 3, 1) + timedelta(days=offset) for offset in range(7)]  # Monday 1 to Sunday 7 March 2027


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return localize(datetime.combine(day, time(hour, minute))).astimezone(UTC)


def consultant(cid: str, **changes: Any) -> Consultant:
    fields: dict[str, Any] = {
        "id": cid, "name": cid, "email": f"{cid}@example.dk", "phone": None,
        "working_hours": {weekday: (time(8), time(16)) for weekday in range(5)},
    }
    return Consultant(**{**fields, **changes})


def starts(free: list[Choice]) -> list[datetime]:
    return [choice.start for choice in free]


# --- the pure function ----------------------------------------------------------------------------------


def test_an_empty_calendar_offers_the_whole_working_day_on_the_half_hour() -> None:
    free = available_starts(THEME, TWO_HOURS, [WEEK[1]], [consultant("c1")], DictCalendar(), now=NOW)
    # hours 08-16, 60 minutes of travel on both sides: a two-hour talk starts from 09:00 to 13:00
    assert starts(free) == [local(WEEK[1], 9, 0) + GRID * step for step in range(9)]
    assert all(choice.end - choice.start == TWO_HOURS for choice in free)


def test_weekends_days_off_absences_and_other_themes_offer_nothing() -> None:
    consultants = [
        consultant("c1", absences=((WEEK[0], WEEK[1]),)),
        consultant("c2", working_hours={2: (time(8), time(16))}),  # Wednesdays only
        consultant("c3", themes=frozenset({"smidighed"})),
    ]
    free = available_starts(THEME, TWO_HOURS, WEEK, consultants, DictCalendar(), now=NOW)
    assert {to_local(start).date() for start in starts(free)} == {WEEK[2], WEEK[3], WEEK[4]}


def test_a_taken_time_and_its_travel_buffer_disappear() -> None:
    c1 = consultant("c1")
    calendar = DictCalendar.from_talks([("c1", Talk("other", local(WEEK[1], 9), local(WEEK[1], 11)))])
    free = starts(available_starts(THEME, TWO_HOURS, [WEEK[1]], [c1], calendar, now=NOW))
    # 09-11 taken; one travel buffer of 60 minutes between two talks: the next may start at 12:00
    assert free == [local(WEEK[1], 12), local(WEEK[1], 12, 30), local(WEEK[1], 13)]


def test_the_daily_maximum_empties_a_day() -> None:
    c1 = consultant("c1", max_talks_per_day=1)
    calendar = DictCalendar.from_talks([("c1", Talk("other", local(WEEK[1], 9), local(WEEK[1], 10, 30)))])
    free = starts(available_starts(THEME, timedelta(minutes=90), WEEK[:3], [c1], calendar, now=NOW))
    assert free and not any(to_local(start).date() == WEEK[1] for start in free)
    assert any(to_local(start).date() == WEEK[0] for start in free)


def test_a_busy_time_in_the_consultants_own_calendar_blocks_like_a_talk() -> None:
    calendar = DictCalendar()
    calendar.add_busy("c1", Busy(local(WEEK[1], 8), local(WEEK[1], 12)))
    free = starts(available_starts(THEME, TWO_HOURS, [WEEK[1]], [consultant("c1")], calendar, now=NOW))
    assert free == [local(WEEK[1], 13)]


def test_nothing_within_the_minimum_notice_nor_beyond_the_furthest_day() -> None:
    first = to_local(NOW + timedelta(days=14)).date()
    days = [first - timedelta(days=1), first, first + timedelta(days=1)]
    free = starts(available_starts(THEME, TWO_HOURS, days, [consultant("c1")], DictCalendar(), now=NOW))
    assert free and all(start >= NOW + timedelta(days=14) for start in free)
    far = [to_local(NOW + timedelta(days=366)).date()]
    assert available_starts(THEME, TWO_HOURS, far, [consultant("c1")], DictCalendar(), now=NOW) == []


def test_every_free_start_is_placed_at_that_very_time_and_no_other_grid_start_is() -> None:
    """The availability and the search agree on the same data: a filled calendar, several consultants."""
    rng = random.Random(11)
    consultants = [
        consultant("c1"),
        consultant("c2", travel_buffer=timedelta(minutes=30), max_talks_per_day=1),
        consultant("c3", working_hours={weekday: (time(9), time(15)) for weekday in range(5)},
                   themes=frozenset({THEME, "smidighed"})),
        consultant("c4", themes=frozenset({"smidighed"})),
    ]
    days = [date(2027, 3, 1) + timedelta(days=offset) for offset in range(21)]
    calendar = DictCalendar()
    for _ in range(60):
        who, day = rng.choice(consultants), rng.choice(days)
        start = local(day, rng.randrange(8, 14), rng.choice((0, 30)))
        end = start + timedelta(minutes=rng.choice((90, 120)))
        if fits(who, start, end, calendar):
            calendar.add(who.id, Talk(f"t{rng.random()}", start, end))
    for minutes in (90, 120):
        duration = timedelta(minutes=minutes)
        free = set(starts(available_starts(THEME, duration, days, consultants, calendar, now=NOW)))
        assert free
        for day in days:
            for step in range(48):
                start = local(day, 0) + GRID * step
                result = place(TalkRequest("new", THEME, duration, (start,)), consultants, calendar,
                               now=NOW, limits=SearchLimits(alternatives=0))
                assert isinstance(result, Choice) == (start in free), start
                if isinstance(result, Choice):
                    assert result.start == start


# --- the use case, with its cache --------------------------------------------------------------------


class Scheduler:
    def __init__(self, *consultants: ConsultantIn, cache_for: timedelta = timedelta(seconds=60)) -> None:
        self.calendar = FakeCalendar(*consultants)
        self.own = FakeOwnCalendars()
        self.clock = Clock(NOW)
        self.placements = FakePlacements()
        self.deps = Deps(self.placements, self.calendar, self.own, SearchLimits(), self.clock)
        self.cache = AvailabilityCache(cache_for)

    async def free(self, minutes: int = 120, days: list[date] = WEEK) -> list[datetime]:
        query = FreeQuery(THEME, timedelta(minutes=minutes), days[0], days[-1])
        return starts(await free_starts(self.deps, self.cache, query))

    async def book(self, booking_id: str, start: datetime) -> None:
        details = BookingDetails(
            workplace=Workplace(name="Bostedet", address="Skovvej 12", postcode="8000", city="Aarhus C"),
            contact=Contact(name="Mette", email="mette@example.dk", phone="+4520304050"),
            theme=THEME, setting="staff_meeting", participants=10, duration_minutes=120, preferred_starts=(start,),
        )
        event = new_event(BookingRequestedData(booking_id=booking_id, booking=details, status_url="u"), now=NOW)
        assert isinstance(event, BookingRequested)
        await HANDLERS[event.type](self.deps, event)


def anne(**changes: Any) -> ConsultantIn:
    return ConsultantIn.model_validate({"id": "anne", "name": "Anne", "email": "anne@example.dk", **changes})


@pytest.mark.asyncio
async def test_a_time_booked_by_a_workplace_disappears_from_the_next_answer() -> None:
    scheduler = Scheduler(anne(max_talks_per_day=1))
    before = await scheduler.free()
    chosen = before[3]
    await scheduler.book("b1", chosen)
    after = await scheduler.free()
    assert chosen not in after
    assert not any(to_local(start).date() == to_local(chosen).date() for start in after)  # the day is full
    assert set(after) == {start for start in before if to_local(start).date() != to_local(chosen).date()}


@pytest.mark.asyncio
async def test_the_cache_answers_while_nothing_changed_and_recomputes_after_any_write() -> None:
    scheduler = Scheduler(anne())
    first = await scheduler.free()
    assert scheduler.calendar.loads == 1
    assert await scheduler.free() == first
    assert scheduler.calendar.loads == 1, "nothing changed: the cached answer is used"

    # another replica books a talk in the window: the versions differ, the answer is computed again
    start = first[0]
    scheduler.calendar.add_talk("anne", BookedTalk("x", start, start + TWO_HOURS, THEME, "", "staff_meeting", 5, ""))
    after = await scheduler.free()
    assert scheduler.calendar.loads == 2
    assert start not in after


@pytest.mark.asyncio
async def test_the_cache_sees_changed_consultants_and_busy_times_and_the_passing_of_time() -> None:
    scheduler = Scheduler(anne())
    first = await scheduler.free()
    scheduler.own.busy = BusyTimes(busy=[("anne", Busy(first[0], first[0] + timedelta(minutes=1)))])
    assert first[0] not in await scheduler.free()
    assert scheduler.calendar.loads == 2

    await scheduler.calendar.upsert_consultant(anne(themes=["smidighed"]))
    assert await scheduler.free() == []

    # six weeks and a day later Monday 1 March is within the minimum notice: a cached answer leaves it out
    scheduler = Scheduler(anne(), cache_for=timedelta(days=60))
    await scheduler.free()
    scheduler.clock.advance(timedelta(days=43))
    later = await scheduler.free()
    assert scheduler.calendar.loads == 1
    assert later and all(start >= scheduler.clock() + timedelta(days=14) for start in later)
    assert WEEK[0] not in {to_local(start).date() for start in later}


@pytest.mark.asyncio
async def test_a_cached_answer_expires() -> None:
    scheduler = Scheduler(anne())
    await scheduler.free()
    scheduler.clock.advance(timedelta(seconds=61))
    await scheduler.free()
    assert scheduler.calendar.loads == 2
