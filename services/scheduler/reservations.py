"""Reserving and giving up talks in the consultants' days: what the event handlers and the waitlist
share, and the handlers' dependencies (:class:`Deps`).

Every reservation rewrites a consultant's day only if its version is still the one the search read
(:meth:`~services.scheduler.store.CalendarStore.write_day`): the loser of a race searches again, so
nobody is ever double-booked, whichever path (a request, a move, an offer accepted, the waitlist's
direct placement) reserves.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from services.scheduler.calendars.status import BusyTimes
from services.scheduler.days import BookedTalk, Day, calendar_of, local_day
from services.scheduler.domain import (
    Choice,
    Consultant,
    DictCalendar,
    NoPlacement,
    SearchLimits,
    TalkRequest,
    days_needed,
    place,
)
from services.scheduler.fixed import misfit
from services.scheduler.placement import Placement
from services.scheduler.store import BusyTimesSource, CalendarStore, Lock, PlacementStore
from shared.contracts.models import BookingDetails, ConsultantRef, Slot

MAX_ATTEMPTS = 25


class ReservationConflict(Exception):
    """Lost the race for a day too many times in a row; the message is retried later."""


class NoLocks:
    """A :class:`~services.scheduler.store.Lock` that is always free (one worker alone)."""

    async def acquire(self, name: str, now: datetime, lease: timedelta) -> str | None:
        return "alone"

    async def release(self, name: str, token: str) -> None:
        return None


@dataclass(frozen=True)
class Deps:
    """What the event handlers work with."""

    placements: PlacementStore
    calendar: CalendarStore
    busy: BusyTimesSource
    limits: SearchLimits
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    offer_for: timedelta = timedelta(hours=24)  # how long a waitlist offer stands (WAITLIST_OFFER_HOURS)
    locks: Lock = field(default_factory=NoLocks)  # one replica matches the waitlist at a time
    # Called when an offer was made: this replica's waitlist worker then watches for its expiry.
    offer_made: Callable[[], None] = field(default=lambda: None)


async def search_and_reserve(
    deps: Deps, placement: Placement, starts: tuple[datetime, ...], now: datetime, *, fresh: bool = False
) -> Slot | NoPlacement:
    """The first fitting time among ``starts``, reserved; or the alternatives."""
    booking_id, details = placement.booking_id, placement.booking
    if not fresh:
        await release_talks(deps, booking_id, keep=placement.slot)
    consultants = {c.id: c for c in await deps.calendar.consultants()}
    request = TalkRequest(
        booking_id=booking_id,
        theme=details.theme,
        duration=timedelta(minutes=details.duration_minutes),
        preferred_starts=starts,
    )
    # Most requests fit a preferred start, and that needs only the days of those starts' weeks: the
    # alternatives' window (about four times as many days) is read only when none fits.
    preferred_only = replace(deps.limits, alternatives=0)
    first_days = days_needed(request, now, preferred_only)
    all_days = days_needed(request, now, deps.limits)
    busy = await busy_times(deps, consultants.values(), all_days, now)
    for _ in range(MAX_ATTEMPTS):
        loaded = by_key(await deps.calendar.load_days(consultants.keys(), first_days))
        result = place(request, list(consultants.values()), _with(busy, loaded), now=now, limits=preferred_only)
        if isinstance(result, NoPlacement) and deps.limits.alternatives > 0:
            if window := all_days - first_days:
                loaded |= by_key(await deps.calendar.load_days(consultants.keys(), window))
            result = place(request, list(consultants.values()), _with(busy, loaded), now=now, limits=deps.limits)
        if isinstance(result, NoPlacement):
            return result
        consultant = consultants[result.consultant_id]
        if await reserve(deps, booking_id, details, consultant, result, loaded):
            return slot_of(consultant, result)
    raise ReservationConflict(booking_id)


async def reserve_fixed(
    deps: Deps, placement: Placement, start: datetime, consultant_id: str, now: datetime
) -> Slot | NoPlacement:
    """An admin's chosen time and consultant: calendar rules still apply, never a double booking."""
    booking_id, details = placement.booking_id, placement.booking
    await release_talks(deps, booking_id, keep=placement.slot)
    consultant = next((c for c in await deps.calendar.consultants() if c.id == consultant_id), None)
    if consultant is None:
        return NoPlacement(alternatives=(), reason=f"unknown consultant {consultant_id!r}")
    chosen = Choice(
        consultant.id, start.astimezone(UTC), (start + timedelta(minutes=details.duration_minutes)).astimezone(UTC)
    )
    day = local_day(chosen.start)
    busy = await busy_times(deps, [consultant], [day], now)
    for _ in range(MAX_ATTEMPTS):
        loaded = by_key(await deps.calendar.load_days([consultant.id], [day]))
        calendar = calendar_of(loaded.values())
        busy.add_to(calendar)
        reason = misfit(consultant, chosen.start, chosen.end, calendar, booking_id=booking_id, limits=deps.limits)
        if reason is not None:
            return NoPlacement(alternatives=(), reason=reason)
        if await reserve(deps, booking_id, details, consultant, chosen, loaded):
            return slot_of(consultant, chosen)
    raise ReservationConflict(booking_id)


async def reserve(
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


async def release_talks(deps: Deps, booking_id: str, keep: Slot | None) -> None:
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


async def anonymise_talks(deps: Deps, booking_id: str) -> None:
    for _ in range(MAX_ATTEMPTS):
        dirty = False
        for day in await deps.calendar.days_holding(booking_id):
            if not await deps.calendar.write_day(day.anonymised(booking_id)):
                dirty = True
        if not dirty:
            return
    raise ReservationConflict(booking_id)


def _with(busy: BusyTimes, loaded: Mapping[tuple[str, date], Day]) -> DictCalendar:
    calendar = calendar_of(loaded.values())
    busy.add_to(calendar)
    return calendar


def by_key(days: list[Day]) -> dict[tuple[str, date], Day]:
    return {(day.consultant_id, day.day): day for day in days}


def slot_of(consultant: Consultant, chosen: Choice) -> Slot:
    return Slot(
        consultant=ConsultantRef(
            id=consultant.id, name=consultant.name, email=consultant.email, phone=consultant.phone
        ),
        start=chosen.start,
        end=chosen.end,
    )


async def busy_times(deps: Deps, consultants: Iterable[Consultant], days: Collection[date], now: datetime) -> BusyTimes:
    """The busy times of those consultants who have calendars of their own (no read when none has)."""
    with_calendars = [c.id for c in consultants if c.has_own_calendars]
    return await deps.busy.busy_for(with_calendars, days, now) if with_calendars else BusyTimes()
