"""The booking service's side of the free times, pure and on fakes: the public's question checked and
kept to the bookable days, the form's weeks, only starts the intake accepts offered, and the receipt
waiting a bounded moment for the scheduler's outcome."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from services.booking import handlers
from services.booking.domain import BookingRules, InvalidBooking
from services.booking.free_times import FreeSlot, FreeTimesQuery, acceptable, parse_query, week_of
from services.booking.handlers import API, Deps
from services.booking.scheduler_client import SchedulerUnavailable
from tests.fakes.booking import FakeBookingStore
from tests.unit.test_booking_handlers import scheduled
from tests.unit.test_rules import NOW
from tests.unit.test_rules import request as body

RULES = BookingRules()  # 14 days' notice, a year ahead, 08.00-17.00
FIRST = date(2027, 1, 18)  # NOW (Monday 4 January 2027, 10.00) + 14 days, as a local date


def query(**changes: str) -> dict[str, str]:
    return {"theme": "selvledelse", "duration_minutes": "120", "from": "2027-03-01", "to": "2027-03-28", **changes}


def fields(raw: dict[str, str]) -> set[str]:
    with pytest.raises(InvalidBooking) as refused:
        parse_query(raw, now=NOW, rules=RULES, longest_days=42)
    return {error.field for error in refused.value.errors}


def test_a_good_question() -> None:
    assert parse_query(query(), now=NOW, rules=RULES, longest_days=42) == FreeTimesQuery(
        "selvledelse", 120, date(2027, 3, 1), date(2027, 3, 28)
    )


def test_the_window_is_kept_to_the_bookable_days() -> None:
    parsed = parse_query(query(**{"from": "2027-01-04", "to": "2027-01-31"}), now=NOW, rules=RULES, longest_days=42)
    assert (parsed.first, parsed.last) == (FIRST, date(2027, 1, 31))
    late = parse_query(query(**{"from": "2027-12-20", "to": "2028-01-20"}), now=NOW, rules=RULES, longest_days=42)
    assert late.last == date(2028, 1, 4)


def test_wrong_questions_name_their_fields() -> None:
    assert fields(query(theme="yoga", duration_minutes="121")) == {"theme", "duration_minutes"}
    assert fields(query(**{"from": "1. marts"})) == {"from"}
    assert fields(query(**{"to": "2027-02-27"})) == {"to"}  # before from
    assert fields(query(**{"to": "2027-04-12"})) == {"to"}  # 43 days
    assert fields(query(**{"from": "2026-12-01", "to": "2027-01-10"})) == {"to"}  # all within the notice
    assert fields(query(**{"from": "2028-02-01", "to": "2028-02-07"})) == {"from"}  # beyond a year


def test_only_starts_the_intake_accepts_are_offered() -> None:
    def at(day: int, hour: int) -> FreeSlot:
        start = datetime(2027, 3, day, hour - 1, tzinfo=UTC)  # CET: local hour - 1 = UTC
        return FreeSlot(start, start + timedelta(hours=2))

    # 16.00 would end after 17.00; Saturday 6 March is a weekend day, whatever a consultant's hours say
    slots = [at(2, 16), at(6, 10), at(2, 9), at(1, 15)]
    assert acceptable(slots, 120, now=NOW, rules=RULES) == [at(1, 15), at(2, 9)]


def test_the_weeks_of_the_form() -> None:
    first = week_of(None, now=NOW, rules=RULES)
    assert (first.monday, first.first, first.previous, first.next) == (FIRST, FIRST, None, date(2027, 1, 25))
    march = week_of("2027-03-03", now=NOW, rules=RULES)
    assert (march.monday, march.last, march.previous) == (date(2027, 3, 1), date(2027, 3, 7), date(2027, 2, 22))
    assert week_of("2020-01-01", now=NOW, rules=RULES).monday == FIRST
    assert week_of("not a date", now=NOW, rules=RULES).monday == FIRST
    last = week_of("2030-01-01", now=NOW, rules=RULES)
    assert last.monday == date(2028, 1, 3) and last.last == date(2028, 1, 4) and last.next is None


class Scheduler:
    def __init__(self, slots: list[FreeSlot] | None = None) -> None:
        self.slots = slots
        self.asked: list[FreeTimesQuery] = []

    async def free_slots(self, query: FreeTimesQuery) -> list[FreeSlot]:
        self.asked.append(query)
        if self.slots is None:
            raise SchedulerUnavailable("down")
        return self.slots


@pytest.mark.asyncio
async def test_free_times_come_from_the_scheduler_or_say_it_cannot_tell() -> None:
    start = datetime(2027, 3, 2, 8, tzinfo=UTC)
    deps = Deps(FakeBookingStore(), RULES, "http://booking.test", lambda: NOW, Scheduler([FreeSlot(start, start)]))
    asked = FreeTimesQuery("selvledelse", 120, date(2027, 3, 1), date(2027, 3, 7))
    assert await handlers.free_times(deps, asked) == [FreeSlot(start, start)]
    down = Deps(FakeBookingStore(), RULES, "http://booking.test", lambda: NOW, Scheduler(None))
    with pytest.raises(SchedulerUnavailable):
        await handlers.free_times(down, asked)


@pytest.mark.asyncio
async def test_the_receipt_has_the_outcome_as_soon_as_this_replica_stores_it() -> None:
    store = FakeBookingStore()
    deps = Deps(store, RULES, "http://booking.test", lambda: NOW)
    booking = (await handlers.request_booking(deps, body(), channel=API)).booking

    async def scheduler_answers() -> None:
        await asyncio.sleep(0.05)
        await handlers.apply_outcome(deps, scheduled(booking, revision=1))

    # it may wait a minute and would read the booking again only after one: only the signal ends it sooner
    waiting = handlers.await_outcome(deps, booking, wait=60, poll=60)
    _, seen = await asyncio.wait_for(asyncio.gather(scheduler_answers(), waiting), timeout=10)
    assert seen.status == "scheduled"


@pytest.mark.asyncio
async def test_without_an_outcome_the_receipt_waits_no_longer_than_it_may() -> None:
    deps = Deps(FakeBookingStore(), RULES, "http://booking.test", lambda: NOW)
    booking = (await handlers.request_booking(deps, body(), channel=API)).booking
    seen = await handlers.await_outcome(deps, booking, wait=0.2, poll=0.05)
    assert seen.status == "received"
    assert await handlers.await_outcome(deps, booking, wait=0) is booking
