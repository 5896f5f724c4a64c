"""The scheduler's use cases: place, move and cancel talks (one handler per event, routed by
``HANDLERS``), and add, change or remove consultants.

Each event handler takes the booking's lease (one worker per booking at a time), clears any talk
left by an interrupted earlier attempt, runs the pure slot search, reserves with an optimistic
version check on the consultant's day (a lost race runs the search again), then stores the
outcome the placement decides and its event in one write. A redelivered event is recognised by
its id and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from services.scheduler.consultants import ConsultantIn, StoredConsultant
from services.scheduler.days import BookedTalk, Day, calendar_of, local_day
from services.scheduler.domain import (
    Choice,
    Consultant,
    NoPlacement,
    SearchLimits,
    TalkRequest,
    days_needed,
    place,
)
from services.scheduler.fixed import FixedVerdict, judge, misfit
from services.scheduler.placement import Outcome, Placement
from services.scheduler.store import (
    BookingBusy,
    BusyTimesSource,
    CalendarStore,
    Claim,
    ConsultantStore,
    OwnCalendars,
    PlacementStore,
)
from shared.contracts.events import (
    BookingCancelRequested,
    BookingErased,
    BookingRequested,
    BookingRescheduleRequested,
    Event,
)
from shared.contracts.models import BookingDetails, ConsultantRef, Slot
from shared.infra.messaging import RetryLater
from shared.infra.routing import Route

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 25


class ReservationConflict(Exception):
    """Lost the race for a day too many times in a row; the message is retried later."""


class NotYetPlaced(RetryLater):
    """A cancel or move arrived before the request it refers to: wait for the request."""


@dataclass(frozen=True)
class Deps:
    """What the event handlers work with."""

    placements: PlacementStore
    calendar: CalendarStore
    busy: BusyTimesSource
    limits: SearchLimits
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


# --- the events ----------------------------------------------------------------------------------------


async def on_requested(deps: Deps, event: BookingRequested) -> None:
    data, now = event.data, deps.clock()
    claim = await deps.placements.claim(data.booking_id, now, new=Placement.requested(data))
    assert claim is not None  # a new placement was given: the claim creates it or takes the existing one
    placement = claim.placement
    if not placement.awaits_placing(event.event_id):
        await deps.placements.release(claim)
        return
    found = await _search_and_reserve(deps, placement, data.booking.preferred_starts, now, fresh=claim.fresh)
    if isinstance(found, NoPlacement):
        outcome = placement.not_placed(found, cause=event.event_id, now=now)
    else:
        outcome = placement.placed(found, cause=event.event_id, now=now)
    await _finish(deps, claim, event, outcome)


async def on_cancel_requested(deps: Deps, event: BookingCancelRequested) -> None:
    now = deps.clock()
    claim = await _claim_existing(deps, event.data.booking_id, now)
    placement = claim.placement
    if not placement.can_change(event.event_id):
        await deps.placements.release(claim)
        return
    await _release_talks(deps, placement.booking_id, keep=None)
    await _finish(deps, claim, event, placement.cancelled(event.data.reason, cause=event.event_id, now=now))


async def on_reschedule_requested(deps: Deps, event: BookingRescheduleRequested) -> None:
    data, now = event.data, deps.clock()
    claim = await _claim_existing(deps, data.booking_id, now)
    placement = claim.placement
    if not placement.can_change(event.event_id):
        await deps.placements.release(claim)
        return
    if data.start is not None and data.consultant_id is not None:
        found = await _reserve_fixed(deps, placement, data.start, data.consultant_id, now)
    else:
        found = await _search_and_reserve(deps, placement, data.preferred_starts, now)
    if isinstance(found, NoPlacement):
        outcome = placement.not_placed(found, cause=event.event_id, now=now)
    else:
        if placement.slot is not None:
            await _release_talks(deps, placement.booking_id, keep=found)  # the old time is free again
        outcome = placement.placed(found, cause=event.event_id, now=now)
    await _finish(deps, claim, event, outcome)


async def on_erased(deps: Deps, event: BookingErased) -> None:
    """Erase the scheduler's copy of the booking's personal data: the placement's details, and who and
    where in the consultant's days (the calendar feed). The talk itself stays, anonymised."""
    claim = await _claim_existing(deps, event.data.booking_id, deps.clock())  # waits for its request
    await _anonymise_talks(deps, claim.placement.booking_id)
    await deps.placements.erase(claim)


HANDLERS: dict[str, Route[Deps]] = {
    "booking.requested": on_requested,
    "booking.cancel_requested": on_cancel_requested,
    "booking.reschedule_requested": on_reschedule_requested,
    "booking.erased": on_erased,
}


# --- placing -------------------------------------------------------------------------------------------


async def _search_and_reserve(
    deps: Deps, placement: Placement, starts: tuple[datetime, ...], now: datetime, *, fresh: bool = False
) -> Slot | NoPlacement:
    """The first fitting time among ``starts``, reserved; or the alternatives."""
    booking_id, details = placement.booking_id, placement.booking
    if not fresh:
        await _release_talks(deps, booking_id, keep=placement.slot)
    consultants = {c.id: c for c in await deps.calendar.consultants()}
    request = TalkRequest(
        booking_id=booking_id,
        theme=details.theme,
        duration=timedelta(minutes=details.duration_minutes),
        preferred_starts=starts,
    )
    days = days_needed(request, now, deps.limits)
    busy = await deps.busy.busy_for(consultants.keys(), days, now)
    for _ in range(MAX_ATTEMPTS):
        loaded = _by_key(await deps.calendar.load_days(consultants.keys(), days))
        calendar = calendar_of(loaded.values())
        busy.add_to(calendar)
        result = place(request, list(consultants.values()), calendar, now=now, limits=deps.limits)
        if isinstance(result, NoPlacement):
            return result
        consultant = consultants[result.consultant_id]
        if await _reserve(deps, booking_id, details, consultant, result, loaded):
            return _slot(consultant, result)
    raise ReservationConflict(booking_id)


async def _reserve_fixed(
    deps: Deps, placement: Placement, start: datetime, consultant_id: str, now: datetime
) -> Slot | NoPlacement:
    """An admin's chosen time and consultant: calendar rules still apply, never a double booking."""
    booking_id, details = placement.booking_id, placement.booking
    await _release_talks(deps, booking_id, keep=placement.slot)
    consultant = next((c for c in await deps.calendar.consultants() if c.id == consultant_id), None)
    if consultant is None:
        return NoPlacement(alternatives=(), reason=f"unknown consultant {consultant_id!r}")
    chosen = Choice(
        consultant.id, start.astimezone(UTC), (start + timedelta(minutes=details.duration_minutes)).astimezone(UTC)
    )
    day = local_day(chosen.start)
    busy = await deps.busy.busy_for([consultant.id], [day], now)
    for _ in range(MAX_ATTEMPTS):
        loaded = _by_key(await deps.calendar.load_days([consultant.id], [day]))
        calendar = calendar_of(loaded.values())
        busy.add_to(calendar)
        reason = misfit(consultant, chosen.start, chosen.end, calendar, booking_id=booking_id, limits=deps.limits)
        if reason is not None:
            return NoPlacement(alternatives=(), reason=reason)
        if await _reserve(deps, booking_id, details, consultant, chosen, loaded):
            return _slot(consultant, chosen)
    raise ReservationConflict(booking_id)


async def check_fixed(
    deps: Deps, consultant_id: str, start: datetime, duration: timedelta, *, booking_id: str, theme: str | None
) -> FixedVerdict | None:
    """What the scheduler would say to an admin's chosen time and consultant, without reserving anything
    (the back office shows it before sending); None for a consultant it does not know or who is inactive."""
    consultant = next((c for c in await deps.calendar.consultants() if c.id == consultant_id), None)
    if consultant is None:
        return None
    now = deps.clock()
    start = start.astimezone(UTC)
    day = local_day(start)
    calendar = calendar_of(await deps.calendar.load_days([consultant.id], [day]))
    (await deps.busy.busy_for([consultant.id], [day], now)).add_to(calendar)
    return judge(consultant, start, start + duration, calendar, booking_id=booking_id, theme=theme, now=now,
                 limits=deps.limits)


async def _reserve(
    deps: Deps,
    booking_id: str,
    details: BookingDetails,
    consultant: Consultant,
    chosen: Choice,
    loaded: Mapping[tuple[str, date], Day],
) -> bool:
    """Write the talk into the day as it was read; False if someone changed the day meanwhile."""
    day = local_day(chosen.start)
    current = loaded.get((consultant.id, day)) or Day(consultant.id, day)
    talk = BookedTalk.of(booking_id, details, chosen.start, chosen.end)
    return await deps.calendar.write_day(current.with_talk(talk))


async def _release_talks(deps: Deps, booking_id: str, keep: Slot | None) -> None:
    """Remove the booking's talks except ``keep``: its old slot, or what a crash left behind."""
    for _ in range(MAX_ATTEMPTS):
        dirty = False
        for day in await deps.calendar.days_holding(booking_id):
            remaining = day.without(booking_id, keep)
            if len(remaining.talks) < len(day.talks) and not await deps.calendar.write_day(remaining):
                dirty = True
        if not dirty:
            return
    raise ReservationConflict(booking_id)


async def _anonymise_talks(deps: Deps, booking_id: str) -> None:
    for _ in range(MAX_ATTEMPTS):
        dirty = False
        for day in await deps.calendar.days_holding(booking_id):
            if not await deps.calendar.write_day(day.anonymised(booking_id)):
                dirty = True
        if not dirty:
            return
    raise ReservationConflict(booking_id)


def _by_key(days: list[Day]) -> dict[tuple[str, date], Day]:
    return {(day.consultant_id, day.day): day for day in days}


def _slot(consultant: Consultant, chosen: Choice) -> Slot:
    return Slot(
        consultant=ConsultantRef(
            id=consultant.id, name=consultant.name, email=consultant.email, phone=consultant.phone
        ),
        start=chosen.start,
        end=chosen.end,
    )


# --- the lease -----------------------------------------------------------------------------------------


async def _claim_existing(deps: Deps, booking_id: str, now: datetime) -> Claim:
    claim = await deps.placements.claim(booking_id, now)
    if claim is None:
        raise NotYetPlaced(booking_id)
    return claim


async def _finish(deps: Deps, claim: Claim, event: Event, outcome: Outcome) -> None:
    booking_id = claim.placement.booking_id
    if not await deps.placements.finish(claim, outcome):
        raise BookingBusy(f"{booking_id}: lease lost before the outcome was stored")
    status = outcome.placement.status.value
    log.info("booking %s: %s", booking_id, status, extra={"booking_id": booking_id, "event_type": event.type})


# --- consultants (the admin API and CONSULTANTS_FILE) -------------------------------------------------


async def save_consultant(
    store: ConsultantStore, calendars: OwnCalendars, consultant: ConsultantIn
) -> tuple[StoredConsultant, bool]:
    """Create or replace the consultant and have its own calendars read now. Returns (stored, created)."""
    saved = await store.upsert_consultant(consultant)
    await calendars.consultant_saved(consultant.id, consultant.external_calendars)
    return saved


Removal = Literal["removed", "unknown", "has_talks_ahead"]


async def remove_consultant(
    store: ConsultantStore, calendars: OwnCalendars, consultant_id: str, now: datetime
) -> Removal:
    """Remove the consultant and forget its own calendars, unless it has talks ahead (move or
    cancel them first)."""
    if await store.has_future_talks(consultant_id, local_day(now)):
        return "has_talks_ahead"
    if not await store.delete_consultant(consultant_id):
        return "unknown"
    await calendars.consultant_deleted(consultant_id)
    return "removed"
