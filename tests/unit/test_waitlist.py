"""The waitlist's rules as pure code and through the scheduler's handlers over in-memory fakes: who
waits for which times, what a freed time becomes (an offer, a placement), offers running out and
accepted too late; and the booking's checks of the workplace's choice."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from services.booking.domain import BookingRules, InvalidBooking, parse_waitlist
from services.scheduler.domain import Consultant, SearchLimits
from services.scheduler.matching import expire_offers, match_waiting
from services.scheduler.waitlist import Waiting, candidate_starts
from shared.contracts.events import BookingOfferAcceptRequested, BookingOfferAcceptRequestedData, new_event
from shared.contracts.models import WaitWindow
from shared.text.localtime import LOCAL_TZ
from tests.unit.test_scheduler_handlers import (
    NOW,
    TUESDAY,
    Scheduler,
    cancel_requested,
    details,
    requested,
)

WORKDAY = {weekday: (time(8), time(16)) for weekday in range(5)}
ANNE = Consultant("anne", "Anne", "anne@example.dk", None, WORKDAY)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LOCAL_TZ).astimezone(UTC)


# --- candidates ---------------------------------------------------------------------------------------------


def test_a_window_gives_the_mornings_of_its_weekdays_and_never_a_holiday() -> None:
    # 2027-05-06 is Ascension Day (Kristi himmelfartsdag), a Thursday; 05-07 a Friday; 05-08 a Saturday.
    window = WaitWindow(first=date(2027, 5, 6), last=date(2027, 5, 8), part_of_day="morning")
    waiting = Waiting("offer", NOW, window=window)

    starts = candidate_starts(waiting, timedelta(minutes=120), [ANNE], now=NOW, limits=SearchLimits())

    # 08-16 with a 60-minute buffer and 120 minutes: 09.00 to 13.00; mornings start before 12.00.
    assert starts == [local(date(2027, 5, 7), h, m) for h, m in ((9, 0), (9, 30), (10, 0), (10, 30), (11, 0), (11, 30))]


def test_a_scheduled_talk_waits_only_for_earlier_times_earliest_first() -> None:
    window = WaitWindow(first=date(2027, 2, 1), last=date(2027, 2, 2), part_of_day="afternoon")
    waiting = Waiting("auto", NOW, window=window, before=local(date(2027, 2, 2), 12, 30))

    starts = candidate_starts(waiting, timedelta(minutes=120), [ANNE], now=NOW, limits=SearchLimits())

    assert starts[0] == local(date(2027, 2, 1), 12) and starts[-1] == local(date(2027, 2, 2), 12)
    assert starts == sorted(starts)


def test_times_offered_before_and_days_elsewhere_are_left_out() -> None:
    own = (local(date(2027, 2, 2), 10), local(date(2027, 2, 3), 10))
    waiting = Waiting("offer", NOW, starts=own)

    only_tuesday = candidate_starts(
        waiting, timedelta(minutes=120), [ANNE], now=NOW, limits=SearchLimits(), days={date(2027, 2, 2)}
    )
    not_again = candidate_starts(
        waiting, timedelta(minutes=120), [ANNE], now=NOW, limits=SearchLimits(), exclude=own[:1]
    )

    assert only_tuesday == [own[0]] and not_again == [own[1]]


# --- the handlers ---------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_cancelled_time_is_offered_to_the_first_in_line_only() -> None:
    scheduler = Scheduler()
    await scheduler.handle(requested("FIRST", TUESDAY))
    await scheduler.handle(requested("SECOND", TUESDAY))
    await scheduler.handle(requested("THIRD", TUESDAY))
    assert scheduler.placement("SECOND").waiting is not None

    await scheduler.handle(cancel_requested("FIRST"))
    [freed] = scheduler.placements.of_type("booking.time_freed")
    await scheduler.handle(freed)

    offer = scheduler.placement("SECOND").open_offer
    assert offer is not None and offer.start == TUESDAY.astimezone(UTC)
    assert scheduler.placement("THIRD").open_offer is None
    assert scheduler.talk_starts() == [], "an offer reserves nothing"


@pytest.mark.asyncio
async def test_an_offer_run_out_passes_to_the_next_and_never_back() -> None:
    scheduler = Scheduler()
    for booking_id in ("FIRST", "SECOND", "THIRD"):
        await scheduler.handle(requested(booking_id, TUESDAY))
    await scheduler.handle(cancel_requested("FIRST"))
    await scheduler.handle(scheduler.placements.of_type("booking.time_freed")[0])

    scheduler.clock.advance(timedelta(hours=25))
    assert await expire_offers(scheduler.deps) == 1
    await scheduler.handle(scheduler.placements.of_type("booking.time_freed")[-1])

    assert scheduler.placement("SECOND").open_offer is None
    assert scheduler.placement("THIRD").open_offer is not None
    assert await match_waiting(scheduler.deps, days=None) == 0, "not offered to SECOND again"


@pytest.mark.asyncio
async def test_an_offer_accepted_after_the_time_was_taken_gets_fresh_choices() -> None:
    scheduler = Scheduler()
    await scheduler.handle(requested("FIRST", TUESDAY))
    await scheduler.handle(requested("SECOND", TUESDAY))
    await scheduler.handle(cancel_requested("FIRST"))
    await scheduler.handle(scheduler.placements.of_type("booking.time_freed")[0])
    offer = scheduler.placement("SECOND").open_offer
    assert offer is not None
    await scheduler.handle(requested("NEWCOMER", TUESDAY))  # books the free time directly

    accept = new_event(
        BookingOfferAcceptRequestedData(booking_id="SECOND", offer_id=offer.id, requested_by="workplace")
    )
    assert isinstance(accept, BookingOfferAcceptRequested)
    await scheduler.handle(accept)

    taken = scheduler.published("SECOND")[-1]
    assert taken.type == "booking.offer_taken" and taken.data.alternatives  # type: ignore[union-attr]
    assert [talk.booking_id for _, talk in scheduler.calendar.talks()] == ["NEWCOMER"]


@pytest.mark.asyncio
async def test_an_auto_request_is_placed_at_the_freed_time() -> None:
    scheduler = Scheduler()
    await scheduler.handle(requested("FIRST", TUESDAY))
    auto = requested("SECOND", TUESDAY)
    auto = auto.model_copy(
        update={
            "data": auto.data.model_copy(update={"booking": details(TUESDAY).model_copy(update={"waitlist": "auto"})})
        }
    )
    await scheduler.handle(auto)
    await scheduler.handle(cancel_requested("FIRST"))
    await scheduler.handle(scheduler.placements.of_type("booking.time_freed")[0])

    assert scheduler.placement("SECOND").slot is not None
    assert scheduler.talk_starts("SECOND") == [TUESDAY.astimezone(UTC)]
    assert scheduler.published("SECOND")[-1].type == "booking.scheduled"


# --- the booking's checks ----------------------------------------------------------------------------------------


def test_the_waitlist_choice_and_window_are_checked_per_field() -> None:
    now = datetime(2027, 1, 4, 8, tzinfo=UTC)
    with pytest.raises(InvalidBooking) as refused:
        parse_waitlist(
            {"waitlist": "maybe", "window": {"from": "2027-03-10", "to": "2027-03-01", "part_of_day": "night"}},
            now=now,
            rules=BookingRules(),
        )
    assert {e.field for e in refused.value.errors} == {"waitlist", "window.to", "window.part_of_day"}

    chosen = parse_waitlist(
        {"waitlist": "auto", "window": {"from": "2027-03-01", "to": "2027-03-31", "part_of_day": "morning"}},
        now=now,
        rules=BookingRules(),
    )
    assert chosen.mode == "auto" and chosen.window == WaitWindow(
        first=date(2027, 3, 1), last=date(2027, 3, 31), part_of_day="morning"
    )
