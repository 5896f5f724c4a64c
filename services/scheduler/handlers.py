"""The scheduler's use cases: place, move and cancel talks (one handler per event, routed by
``HANDLERS``), the waitlist's events, and add, change or remove consultants.

Each event handler takes the booking's lease (one worker per booking at a time), clears any talk
left by an interrupted earlier attempt, runs the pure slot search, reserves with an optimistic
version check on the consultant's day (a lost race runs the search again; :mod:`.reservations`),
then stores the outcome the placement decides and its events in one write. A redelivered event is
recognised by its id and changes nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Literal

from services.scheduler import matching
from services.scheduler.consultants import ConsultantIn, StoredConsultant
from services.scheduler.days import calendar_of, local_day
from services.scheduler.domain import NoPlacement
from services.scheduler.fixed import FixedVerdict, judge
from services.scheduler.placement import Outcome, Placement
from services.scheduler.reservations import (
    Deps,
    anonymise_talks,
    release_talks,
    reserve_fixed,
    search_and_reserve,
)
from services.scheduler.store import BookingBusy, Claim, ConsultantStore, OwnCalendars
from shared.contracts.events import (
    BookingCancelRequested,
    BookingErased,
    BookingOfferAcceptRequested,
    BookingRequested,
    BookingRescheduleRequested,
    BookingTimeFreed,
    BookingWaitlistRequested,
    Event,
)
from shared.infra.messaging import RetryLater
from shared.infra.routing import Route

log = logging.getLogger(__name__)

__all__ = ["HANDLERS", "Deps", "NotYetPlaced", "remove_consultant", "save_consultant"]


class NotYetPlaced(RetryLater):
    """A cancel or move arrived before the request it refers to: wait for the request."""


# --- the events ----------------------------------------------------------------------------------------


async def on_requested(deps: Deps, event: BookingRequested) -> None:
    data, now = event.data, deps.clock()
    claim = await deps.placements.claim(data.booking_id, now, new=Placement.requested(data))
    assert claim is not None  # a new placement was given: the claim creates it or takes the existing one
    placement = claim.placement
    if not placement.awaits_placing(event.event_id):
        await deps.placements.release(claim)
        return
    wanted = data.booking.preferred_starts
    found = await search_and_reserve(deps, placement, wanted, now, fresh=claim.fresh)
    if isinstance(found, NoPlacement):
        outcome = placement.not_placed(found, cause=event.event_id, now=now, wanted=wanted)
    else:
        outcome = placement.placed(found, cause=event.event_id, now=now)
    await _finish(deps, claim, event, outcome)


async def on_cancel_requested(deps: Deps, event: BookingCancelRequested) -> None:
    now = deps.clock()
    claim = await _claim_to_change(deps, event, event.data.booking_id, now)
    if claim is None:
        return
    placement = claim.placement
    await release_talks(deps, placement.booking_id, keep=None)
    await _finish(deps, claim, event, placement.cancelled(event.data.reason, cause=event.event_id, now=now))


async def on_reschedule_requested(deps: Deps, event: BookingRescheduleRequested) -> None:
    data, now = event.data, deps.clock()
    claim = await _claim_to_change(deps, event, data.booking_id, now)
    if claim is None:
        return
    placement = claim.placement
    if data.start is not None and data.consultant_id is not None:
        found = await reserve_fixed(deps, placement, data.start, data.consultant_id, now)
    else:
        found = await search_and_reserve(deps, placement, data.preferred_starts, now)
    if isinstance(found, NoPlacement):
        outcome = placement.not_placed(found, cause=event.event_id, now=now, wanted=data.preferred_starts)
    else:
        if placement.slot is not None:
            await release_talks(deps, placement.booking_id, keep=found)  # the old time is free again
        outcome = placement.placed(found, cause=event.event_id, now=now)
    await _finish(deps, claim, event, outcome)


async def on_erased(deps: Deps, event: BookingErased) -> None:
    """Erase the scheduler's copy of the booking's personal data: the placement's details, and who and
    where in the consultant's days (the calendar feed). The talk itself stays, anonymised."""
    now = deps.clock()
    claim = await _claim_existing(deps, event.data.booking_id, now)  # waits for its request
    await anonymise_talks(deps, claim.placement.booking_id)
    await deps.placements.erase(claim, claim.placement.erased(now))  # and off the waitlist


# --- the waitlist --------------------------------------------------------------------------------------


async def on_time_freed(deps: Deps, event: BookingTimeFreed) -> None:
    """A time was given up: offer it (or give it, ``auto``) to the requests waiting for that day."""
    await matching.match_waiting(deps, days=frozenset({local_day(event.data.start)}))


async def on_offer_accept_requested(deps: Deps, event: BookingOfferAcceptRequested) -> None:
    """The workplace accepts an offer: the offered time is reserved through the same search and
    version-checked write as any placement, so if it was taken meanwhile nobody is double-booked and
    the workplace gets fresh choices near it (``booking.offer_taken``). An offer is no reservation: a
    time still free is given even if the offer had just run out."""
    data, now = event.data, deps.clock()
    claim = await _claim_existing(deps, data.booking_id, now)
    placement = claim.placement
    offer = placement.offer(data.offer_id)
    if not placement.can_change(event.event_id) or offer is None:
        await deps.placements.release(claim)
        return
    found = await search_and_reserve(deps, placement, (offer.start,), now)
    if isinstance(found, NoPlacement):
        outcome = placement.offer_taken(offer, found, cause=event.event_id, now=now)
    else:
        if placement.slot is not None:
            await release_talks(deps, placement.booking_id, keep=found)  # the later time is free again
        outcome = placement.placed(found, cause=event.event_id, now=now, accepted=offer.id)
    await _finish(deps, claim, event, outcome)


async def on_waitlist_requested(deps: Deps, event: BookingWaitlistRequested) -> None:
    """The workplace's waitlist choice: stored on the placement; a time that already fits it is
    offered (or given) at once."""
    data, now = event.data, deps.clock()
    claim = await _claim_to_change(deps, event, data.booking_id, now)
    if claim is None:
        return
    placement = claim.placement
    changed = placement.with_waitlist(data.waitlist, data.window, cause=event.event_id, now=now)
    if not await deps.placements.save(claim, changed):
        raise BookingBusy(f"{data.booking_id}: lease lost before the waitlist choice was stored")
    if changed.waiting is not None:
        await matching.match_waiting(deps, days=None)


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
    return judge(
        consultant, start, start + duration, calendar, booking_id=booking_id, theme=theme, now=now, limits=deps.limits
    )


HANDLERS: dict[str, Route[Deps]] = {
    "booking.requested": on_requested,
    "booking.cancel_requested": on_cancel_requested,
    "booking.reschedule_requested": on_reschedule_requested,
    "booking.erased": on_erased,
    "booking.time_freed": on_time_freed,
    "booking.offer_accept_requested": on_offer_accept_requested,
    "booking.waitlist_requested": on_waitlist_requested,
}


# --- the lease -----------------------------------------------------------------------------------------


async def _claim_existing(deps: Deps, booking_id: str, now: datetime) -> Claim:
    claim = await deps.placements.claim(booking_id, now)
    if claim is None:
        raise NotYetPlaced(booking_id)
    return claim


async def _claim_to_change(deps: Deps, event: Event, booking_id: str, now: datetime) -> Claim | None:
    """The booking's lease for a change ``event`` brings; None (the lease given back) when there is
    nothing to change: the booking is cancelled, or the event was applied before."""
    claim = await _claim_existing(deps, booking_id, now)
    if claim.placement.can_change(event.event_id):
        return claim
    await deps.placements.release(claim)
    return None


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
