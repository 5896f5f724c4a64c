"""The scheduler's handlers with in-memory fakes (tests/fakes/scheduler.py): placing, lost races,
cancel and move sequencing, duplicate events, leases and leftovers; no broker, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.scheduler.consultants import ConsultantIn
from services.scheduler.days import BookedTalk
from services.scheduler.domain import SearchLimits
from services.scheduler.handlers import (
    HANDLERS,
    Deps,
    NotYetPlaced,
    remove_consultant,
    save_consultant,
)
from services.scheduler.placement import Placement, Status
from services.scheduler.store import BookingBusy
from shared.contracts.events import (
    BookingCancelled,
    BookingCancelRequested,
    BookingCancelRequestedData,
    BookingNeedsAlternative,
    BookingRequested,
    BookingRequestedData,
    BookingRescheduled,
    BookingRescheduleRequested,
    BookingRescheduleRequestedData,
    BookingScheduled,
    Event,
    new_event,
)
from shared.contracts.models import BookingDetails, Contact, Workplace
from shared.infra.messaging import RetryLater
from shared.text.localtime import LOCAL_TZ
from tests.fakes.scheduler import Clock, FakeCalendar, FakeOwnCalendars, FakePlacements

pytestmark = pytest.mark.asyncio

NOW = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)  # a Monday; talks are booked from 14 days ahead
TUESDAY = datetime(2027, 2, 2, 10, 0, tzinfo=LOCAL_TZ)
WEDNESDAY = datetime(2027, 2, 3, 10, 0, tzinfo=LOCAL_TZ)
TALK = timedelta(minutes=120)


def consultant(consultant_id: str = "anne", **changes: Any) -> ConsultantIn:
    fields: dict[str, Any] = {
        "id": consultant_id,
        "name": f"{consultant_id.capitalize()} Konsulent",
        "email": f"{consultant_id}@socialpaedagogerne.example",
        "max_talks_per_day": 2,
    }
    return ConsultantIn.model_validate({**fields, **changes})


class Scheduler:
    """The handlers over fakes, with a clock that stands still unless moved."""

    def __init__(self, *consultants: ConsultantIn) -> None:
        self.placements = FakePlacements()
        self.calendar = FakeCalendar(*(consultants or (consultant(),)))
        self.own_calendars = FakeOwnCalendars()
        self.clock = Clock(NOW)
        self.deps = Deps(self.placements, self.calendar, self.own_calendars, SearchLimits(), self.clock)

    async def handle(self, event: Event) -> None:
        await HANDLERS[event.type](self.deps, event)

    def placement(self, booking_id: str) -> Placement:
        return self.placements.placements[booking_id]

    def published(self, booking_id: str) -> list[Event]:
        """The booking's outcomes (not the times it freed for the waitlist, the scheduler's own events)."""
        return [
            e for e in self.placements.published if e.correlation_id == booking_id and e.type != "booking.time_freed"
        ]

    def talk_starts(self, booking_id: str | None = None) -> list[datetime]:
        return [talk.start for _, talk in self.calendar.talks(booking_id)]


def details(*starts: datetime) -> BookingDetails:
    return BookingDetails(
        workplace=Workplace(name="Bostedet Lindely", address="Skovvej 12", postcode="8000", city="Aarhus C"),
        contact=Contact(name="Mette Hansen", email="mette@example.dk", phone="+4520304050"),
        theme="selvledelse",
        setting="staff_meeting",
        participants=18,
        duration_minutes=120,
        preferred_starts=tuple(s.astimezone(UTC) for s in starts),
    )


def requested(booking_id: str, *starts: datetime) -> BookingRequested:
    url = f"https://booking.test/bookings/{booking_id}"
    data = BookingRequestedData(booking_id=booking_id, booking=details(*starts), status_url=url)
    event = new_event(data, now=NOW)
    assert isinstance(event, BookingRequested)
    return event


def cancel_requested(booking_id: str) -> BookingCancelRequested:
    event = new_event(BookingCancelRequestedData(booking_id=booking_id, requested_by="workplace", reason="sygdom"))
    assert isinstance(event, BookingCancelRequested)
    return event


def reschedule_requested(booking_id: str, *starts: datetime, **fixed: Any) -> BookingRescheduleRequested:
    data = BookingRescheduleRequestedData(
        booking_id=booking_id,
        requested_by="admin" if fixed else "workplace",
        preferred_starts=tuple(s.astimezone(UTC) for s in starts),
        **fixed,
    )
    event = new_event(data)
    assert isinstance(event, BookingRescheduleRequested)
    return event


def other_talk(booking_id: str, start: datetime) -> BookedTalk:
    return BookedTalk.of(booking_id, details(start), start.astimezone(UTC), (start + TALK).astimezone(UTC))


# --- placing -----------------------------------------------------------------------------------------


async def test_a_request_is_placed_at_its_first_preferred_start_and_announced_with_revision_1() -> None:
    scheduler = Scheduler()

    await scheduler.handle(requested("BK-1", TUESDAY, WEDNESDAY))

    [event] = scheduler.published("BK-1")
    assert isinstance(event, BookingScheduled)
    assert (event.data.slot.consultant.id, event.data.slot.start) == ("anne", TUESDAY)
    assert event.data.slot.end - event.data.slot.start == TALK
    assert (event.data.sequence, event.data.revision) == (0, 1)
    placement = scheduler.placement("BK-1")
    assert (placement.status, placement.slot, placement.revision) == (Status.SCHEDULED, event.data.slot, 1)
    assert scheduler.talk_starts("BK-1") == [TUESDAY]


async def test_a_full_day_gives_alternatives_and_reserves_nothing() -> None:
    scheduler = Scheduler()
    scheduler.calendar.add_talk("anne", other_talk("BK-A", TUESDAY.replace(hour=9)))
    scheduler.calendar.add_talk("anne", other_talk("BK-B", TUESDAY.replace(hour=13)))

    await scheduler.handle(requested("BK-1", TUESDAY))

    [event] = scheduler.published("BK-1")
    assert isinstance(event, BookingNeedsAlternative)
    assert len(event.data.alternatives) == SearchLimits().alternatives
    assert all(start.astimezone(LOCAL_TZ).date() != TUESDAY.date() for start in event.data.alternatives)
    assert event.data.current_slot is None
    assert scheduler.placement("BK-1").status is Status.NEEDS_ALTERNATIVE
    assert scheduler.talk_starts("BK-1") == []


async def test_a_request_that_fits_reads_only_the_days_of_its_preferred_weeks() -> None:
    scheduler = Scheduler()

    await scheduler.handle(requested("BK-1", TUESDAY))

    assert isinstance(scheduler.published("BK-1")[0], BookingScheduled)
    monday = TUESDAY.date() - timedelta(days=1)
    assert set(scheduler.calendar.days_read) <= {monday + timedelta(days=n) for n in range(7)}


async def test_alternatives_come_from_the_window_around_the_wish_and_skip_its_full_days() -> None:
    scheduler = Scheduler()
    monday = TUESDAY - timedelta(days=1)
    full = [monday + timedelta(days=n) for n in range(5)] + [monday - timedelta(days=3)]  # + the Friday before
    for n, day in enumerate(full):
        scheduler.calendar.add_talk("anne", other_talk(f"BK-{n}a", day.replace(hour=9)))
        scheduler.calendar.add_talk("anne", other_talk(f"BK-{n}b", day.replace(hour=13)))

    await scheduler.handle(requested("BK-1", TUESDAY))

    [event] = scheduler.published("BK-1")
    assert isinstance(event, BookingNeedsAlternative)
    offered = {start.astimezone(LOCAL_TZ).date() for start in event.data.alternatives}
    assert offered and not offered & {day.date() for day in full}


async def test_a_lost_race_searches_again_and_never_double_books() -> None:
    scheduler = Scheduler()
    scheduler.calendar.someone_else_books_first("anne", other_talk("BK-OTHER", TUESDAY))

    await scheduler.handle(requested("BK-1", TUESDAY, WEDNESDAY))

    [event] = scheduler.published("BK-1")
    assert isinstance(event, BookingScheduled)
    assert event.data.slot.start == WEDNESDAY  # Tuesday went to the other replica's booking
    assert scheduler.calendar.writes == 2  # the refused write, then the one after the new search
    assert [(t.booking_id, t.start) for _, t in scheduler.calendar.talks()] == [
        ("BK-OTHER", TUESDAY),
        ("BK-1", WEDNESDAY),
    ]


# --- cancelling ----------------------------------------------------------------------------------------


async def test_a_cancel_that_comes_before_its_request_waits_for_it() -> None:
    scheduler = Scheduler()

    with pytest.raises(NotYetPlaced) as waited:
        await scheduler.handle(cancel_requested("BK-1"))

    assert isinstance(waited.value, RetryLater)  # retried later, without using up an attempt
    assert scheduler.placements.placements == {}
    assert scheduler.placements.published == []


async def test_a_cancel_frees_the_slot_and_raises_the_invite_sequence() -> None:
    scheduler = Scheduler(consultant(max_talks_per_day=1))
    await scheduler.handle(requested("BK-1", TUESDAY))
    slot = scheduler.placement("BK-1").slot

    await scheduler.handle(cancel_requested("BK-1"))

    cancelled = scheduler.published("BK-1")[-1]
    assert isinstance(cancelled, BookingCancelled)
    assert (cancelled.data.slot, cancelled.data.sequence, cancelled.data.revision) == (slot, 1, 2)
    assert cancelled.data.reason == "sygdom"
    assert scheduler.placement("BK-1").status is Status.CANCELLED
    assert scheduler.talk_starts() == []
    await scheduler.handle(requested("BK-2", TUESDAY))
    assert scheduler.talk_starts("BK-2") == [TUESDAY]


async def test_a_cancel_of_a_talk_that_holds_no_slot_keeps_the_sequence() -> None:
    scheduler = Scheduler(consultant(themes=["smidighed"]))  # nobody gives the theme asked for
    await scheduler.handle(requested("BK-1", TUESDAY))

    await scheduler.handle(cancel_requested("BK-1"))

    cancelled = scheduler.published("BK-1")[-1]
    assert isinstance(cancelled, BookingCancelled)
    assert (cancelled.data.slot, cancelled.data.sequence, cancelled.data.revision) == (None, 0, 2)


# --- moving --------------------------------------------------------------------------------------------


async def test_a_move_raises_the_sequence_and_frees_the_old_slot() -> None:
    scheduler = Scheduler(consultant(max_talks_per_day=1))
    await scheduler.handle(requested("BK-1", TUESDAY))
    original = scheduler.placement("BK-1").slot

    await scheduler.handle(reschedule_requested("BK-1", WEDNESDAY))

    moved = scheduler.published("BK-1")[-1]
    assert isinstance(moved, BookingRescheduled)
    assert (moved.data.slot.start, moved.data.previous_slot) == (WEDNESDAY, original)
    assert (moved.data.sequence, moved.data.revision) == (1, 2)
    assert scheduler.talk_starts() == [WEDNESDAY]
    await scheduler.handle(requested("BK-2", TUESDAY))
    assert scheduler.talk_starts("BK-2") == [TUESDAY]


async def test_a_move_within_the_same_day_replaces_the_talk() -> None:
    scheduler = Scheduler(consultant(max_talks_per_day=1))
    await scheduler.handle(requested("BK-1", TUESDAY))

    await scheduler.handle(reschedule_requested("BK-1", TUESDAY.replace(hour=13)))

    moved = scheduler.published("BK-1")[-1]
    assert isinstance(moved, BookingRescheduled)
    assert scheduler.talk_starts() == [TUESDAY.replace(hour=13)]


async def test_a_move_that_cannot_be_placed_keeps_the_slot_and_offers_alternatives() -> None:
    scheduler = Scheduler()
    await scheduler.handle(requested("BK-1", TUESDAY))
    kept = scheduler.placement("BK-1").slot
    scheduler.calendar.add_talk("anne", other_talk("BK-A", WEDNESDAY.replace(hour=9)))
    scheduler.calendar.add_talk("anne", other_talk("BK-B", WEDNESDAY.replace(hour=13)))

    await scheduler.handle(reschedule_requested("BK-1", WEDNESDAY))

    refused = scheduler.published("BK-1")[-1]
    assert isinstance(refused, BookingNeedsAlternative)
    assert refused.data.current_slot == kept
    assert refused.data.alternatives
    assert refused.data.revision == 2
    placement = scheduler.placement("BK-1")
    assert (placement.status, placement.slot, placement.sequence) == (Status.SCHEDULED, kept, 0)
    assert scheduler.talk_starts("BK-1") == [TUESDAY]


async def test_an_admin_move_onto_another_talk_is_refused_and_the_talk_stays() -> None:
    scheduler = Scheduler()
    await scheduler.handle(requested("BK-1", TUESDAY.replace(hour=9)))
    await scheduler.handle(requested("BK-2", TUESDAY.replace(hour=13)))

    await scheduler.handle(reschedule_requested("BK-2", start=TUESDAY.replace(hour=11), consultant_id="anne"))

    refused = scheduler.published("BK-2")[-1]
    assert isinstance(refused, BookingNeedsAlternative)
    assert "does not fit" in refused.data.reason
    assert scheduler.talk_starts() == [TUESDAY.replace(hour=9), TUESDAY.replace(hour=13)]
    assert scheduler.placement("BK-2").sequence == 0


# --- duplicates, leases and leftovers ------------------------------------------------------------------


async def test_a_duplicate_event_changes_nothing() -> None:
    scheduler = Scheduler()
    request, cancel = requested("BK-1", TUESDAY), cancel_requested("BK-1")
    await scheduler.handle(request)
    await scheduler.handle(request)
    assert len(scheduler.published("BK-1")) == 1
    assert scheduler.talk_starts() == [TUESDAY]

    await scheduler.handle(cancel)
    after_cancel = scheduler.placement("BK-1")
    await scheduler.handle(cancel)
    await scheduler.handle(request)

    assert scheduler.placement("BK-1") == after_cancel
    assert after_cancel.applied == (str(request.event_id), str(cancel.event_id))
    assert [e.type for e in scheduler.published("BK-1")] == ["booking.scheduled", "booking.cancelled"]


async def test_a_duplicate_move_moves_once() -> None:
    scheduler = Scheduler()
    await scheduler.handle(requested("BK-1", TUESDAY))
    move = reschedule_requested("BK-1", WEDNESDAY)

    await scheduler.handle(move)
    await scheduler.handle(move)

    assert [e.type for e in scheduler.published("BK-1")] == ["booking.scheduled", "booking.rescheduled"]
    assert (scheduler.placement("BK-1").sequence, scheduler.placement("BK-1").revision) == (1, 2)
    assert scheduler.talk_starts() == [WEDNESDAY]


async def test_another_workers_lease_makes_the_event_wait_until_it_runs_out() -> None:
    scheduler = Scheduler()
    await scheduler.handle(requested("BK-1", TUESDAY))
    scheduler.placements.held_by_another_worker("BK-1", until=NOW + timedelta(seconds=30))

    with pytest.raises(BookingBusy) as waited:
        await scheduler.handle(cancel_requested("BK-1"))

    assert isinstance(waited.value, RetryLater)
    assert scheduler.placement("BK-1").status is Status.SCHEDULED
    assert scheduler.talk_starts() == [TUESDAY]
    scheduler.clock.advance(timedelta(seconds=31))  # the other worker died: its lease ran out
    await scheduler.handle(cancel_requested("BK-1"))
    assert scheduler.placement("BK-1").status is Status.CANCELLED


async def test_the_leftovers_of_an_interrupted_attempt_are_released() -> None:
    scheduler = Scheduler()
    request = requested("BK-1", TUESDAY)
    # An earlier worker created the placement and reserved a time, then died before storing the outcome.
    scheduler.placements.placements["BK-1"] = Placement.requested(request.data)
    scheduler.calendar.add_talk("anne", other_talk("BK-1", WEDNESDAY))

    await scheduler.handle(request)

    assert scheduler.talk_starts() == [TUESDAY]
    [event] = scheduler.published("BK-1")
    assert isinstance(event, BookingScheduled)
    assert event.data.slot.start == TUESDAY


# --- consultants -----------------------------------------------------------------------------------------


async def test_a_saved_consultant_has_its_own_calendars_read_at_once() -> None:
    scheduler = Scheduler()
    bo = consultant("bo", external_calendars=[{"url": "https://calendar.example.dk/bo.ics"}])

    stored, created = await save_consultant(scheduler.calendar, scheduler.own_calendars, bo)

    assert created and stored.consultant == bo
    assert scheduler.own_calendars.saved == [("bo", list(bo.external_calendars))]
    again, created = await save_consultant(scheduler.calendar, scheduler.own_calendars, bo)
    assert not created and again.feed_token == stored.feed_token


async def test_a_consultant_with_talks_ahead_is_not_removed() -> None:
    scheduler = Scheduler()
    await scheduler.handle(requested("BK-1", TUESDAY))

    assert await remove_consultant(scheduler.calendar, scheduler.own_calendars, "anne", NOW) == "has_talks_ahead"
    await scheduler.handle(cancel_requested("BK-1"))
    assert await remove_consultant(scheduler.calendar, scheduler.own_calendars, "anne", NOW) == "removed"
    assert await remove_consultant(scheduler.calendar, scheduler.own_calendars, "anne", NOW) == "unknown"
    assert scheduler.own_calendars.deleted == ["anne"]
