"""The scheduler's handlers: place, move and cancel talks (issue 3 §3–4).

Each handler takes the booking's lease (one worker per booking at a time), clears any talk left
by an interrupted earlier attempt, runs the pure slot search, reserves with an optimistic version
check on the consultant's day (a conflict re-runs the search), then stores the outcome and its
event in one write to the placement. A redelivered event is recognised by its id and changes
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from services.scheduler.calendars.status import BusyTimes
from services.scheduler.domain import (
    Consultant,
    NoPlacement,
    Placement,
    SearchLimits,
    TalkRequest,
    days_needed,
    place,
    why_not,
)
from services.scheduler.store import BookingBusy, Document, SchedulerStore, day_id, local_day
from shared.contracts.events import (
    BookingCancelledData,
    BookingCancelRequested,
    BookingNeedsAlternativeData,
    BookingRequested,
    BookingRescheduledData,
    BookingRescheduleRequested,
    BookingScheduledData,
    Event,
    new_event,
)
from shared.contracts.models import BookingDetails, ConsultantRef, Slot
from shared.infra.messaging import RetryLater
from shared.infra.outbox import merge_updates, outbox_update

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 25


class ReservationConflict(Exception):
    """Lost the race for a day too many times in a row; the message is retried later."""


class NotYetPlaced(RetryLater):
    """A cancel or move arrived before the request it refers to: wait for the request."""


class BusyTimesSource(Protocol):
    """The busy times of the consultants' own calendars (services.scheduler.calendars)."""

    async def busy_for(self, consultant_ids: Collection[str], days: Collection[date], now: datetime) -> BusyTimes: ...


class Planner:
    def __init__(
        self,
        store: SchedulerStore,
        limits: SearchLimits,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        busy: BusyTimesSource | None = None,
    ) -> None:
        self._store = store
        self._limits = limits
        self._clock = clock
        self._busy = busy

    async def _busy_times(self, consultant_ids: Collection[str], days: Collection[date], now: datetime) -> BusyTimes:
        return await self._busy.busy_for(consultant_ids, days, now) if self._busy else BusyTimes()

    async def handle(self, event: Event) -> None:
        if isinstance(event, BookingRequested):
            await self.on_requested(event)
        elif isinstance(event, BookingCancelRequested):
            await self.on_cancel_requested(event)
        elif isinstance(event, BookingRescheduleRequested):
            await self.on_reschedule_requested(event)

    # --- handlers -----------------------------------------------------------------------------------

    async def on_requested(self, event: BookingRequested) -> None:
        data, now = event.data, self._clock()
        new = {
            "status": "placing",
            "booking": data.booking.model_dump(mode="python"),
            "status_url": data.status_url,
            "slot": None,
        }
        claimed = await self._store.claim(data.booking_id, create=new, now=now)
        assert claimed is not None
        placement, token = claimed
        if str(event.event_id) in placement["applied"] or placement["status"] != "placing":
            await self._store.release(data.booking_id, token)
            return
        outcome = await self._place(
            data.booking_id, data.booking, data.booking.preferred_starts, None, now, fresh=placement.get("fresh", False)
        )
        revision = _next_revision(placement)
        if isinstance(outcome, Slot):
            update = self._state(
                "scheduled",
                outcome,
                0,
                now,
                BookingScheduledData(
                    booking_id=data.booking_id,
                    booking=data.booking,
                    status_url=data.status_url,
                    slot=outcome,
                    sequence=0,
                    revision=revision,
                ),
            )
        else:
            update = self._state(
                "needs_alternative",
                None,
                0,
                now,
                BookingNeedsAlternativeData(
                    booking_id=data.booking_id,
                    booking=data.booking,
                    status_url=data.status_url,
                    alternatives=outcome.alternatives,
                    reason=outcome.reason,
                    revision=revision,
                ),
            )
        await self._finish(data.booking_id, token, event, update)

    async def on_cancel_requested(self, event: BookingCancelRequested) -> None:
        booking_id, now = event.data.booking_id, self._clock()
        placement, token = await self._claim_existing(booking_id, now)
        if str(event.event_id) in placement["applied"] or placement["status"] == "cancelled":
            await self._store.release(booking_id, token)
            return
        await self._release_talks(booking_id, keep=None)
        slot = _slot_of(placement)
        sequence = placement["sequence"] + (1 if slot else 0)
        update = self._state(
            "cancelled",
            None,
            sequence,
            now,
            BookingCancelledData(
                booking_id=booking_id,
                booking=_details(placement),
                status_url=placement["status_url"],
                slot=slot,
                sequence=sequence,
                reason=event.data.reason,
                revision=_next_revision(placement),
            ),
        )
        await self._finish(booking_id, token, event, update)

    async def on_reschedule_requested(self, event: BookingRescheduleRequested) -> None:
        data, now = event.data, self._clock()
        placement, token = await self._claim_existing(data.booking_id, now)
        if str(event.event_id) in placement["applied"] or placement["status"] == "cancelled":
            await self._store.release(data.booking_id, token)
            return
        details, current = _details(placement), _slot_of(placement)
        if data.start is not None and data.consultant_id is not None:
            outcome = await self._place_fixed(data.booking_id, details, data.start, data.consultant_id, current)
        else:
            outcome = await self._place(data.booking_id, details, data.preferred_starts, current, now)
        common: dict[str, Any] = {
            "booking_id": data.booking_id,
            "booking": details,
            "status_url": placement["status_url"],
            "revision": _next_revision(placement),
        }
        if isinstance(outcome, NoPlacement):
            update = self._state(
                placement["status"] if current else "needs_alternative",
                current,
                placement["sequence"],
                now,
                BookingNeedsAlternativeData(
                    **common, alternatives=outcome.alternatives, reason=outcome.reason, current_slot=current
                ),
            )
        elif current is None:
            update = self._state(
                "scheduled",
                outcome,
                placement["sequence"],
                now,
                BookingScheduledData(**common, slot=outcome, sequence=placement["sequence"]),
            )
        else:
            await self._release_talks(data.booking_id, keep=outcome)
            sequence = placement["sequence"] + 1
            update = self._state(
                "scheduled",
                outcome,
                sequence,
                now,
                BookingRescheduledData(**common, slot=outcome, previous_slot=current, sequence=sequence),
            )
        await self._finish(data.booking_id, token, event, update)

    # --- placing ------------------------------------------------------------------------------------

    async def _place(
        self,
        booking_id: str,
        details: BookingDetails,
        starts: tuple[datetime, ...],
        current: Slot | None,
        now: datetime,
        *,
        fresh: bool = False,
    ) -> Slot | NoPlacement:
        if not fresh:
            await self._release_talks(booking_id, keep=current)
        consultants = {c.id: c for c in (doc.to_domain() for doc in await self._store.all_consultants())}
        request = TalkRequest(
            booking_id=booking_id,
            theme=details.theme,
            duration=timedelta(minutes=details.duration_minutes),
            preferred_starts=starts,
        )
        days = days_needed(request, now, self._limits)
        busy = await self._busy_times(consultants.keys(), days, now)
        for _ in range(MAX_ATTEMPTS):
            loaded = await self._store.load_days(consultants, days)
            busy.add_to(loaded.calendar)
            result = place(request, list(consultants.values()), loaded.calendar, now=now, limits=self._limits)
            if isinstance(result, NoPlacement):
                return result
            consultant = consultants[result.consultant_id]
            if await self._reserve(booking_id, details, consultant, result, loaded.versions, loaded.talks):
                return _slot(consultant, result)
        raise ReservationConflict(booking_id)

    async def _place_fixed(
        self, booking_id: str, details: BookingDetails, start: datetime, consultant_id: str, current: Slot | None
    ) -> Slot | NoPlacement:
        """An admin's chosen time and consultant: calendar rules still apply, never a double booking."""
        await self._release_talks(booking_id, keep=current)
        found = [c.to_domain() for c in await self._store.all_consultants() if c.id == consultant_id]
        if not found:
            return NoPlacement(alternatives=(), reason=f"unknown consultant {consultant_id!r}")
        consultant = found[0]
        placement = Placement(
            consultant.id, start.astimezone(UTC), (start + timedelta(minutes=details.duration_minutes)).astimezone(UTC)
        )
        day = local_day(placement.start)
        busy = await self._busy_times([consultant.id], [day], self._clock())
        for _ in range(MAX_ATTEMPTS):
            loaded = await self._store.load_days([consultant.id], [day])
            busy.add_to(loaded.calendar)
            reason = why_not(consultant, placement.start, placement.end, loaded.calendar, ignore_booking_id=booking_id)
            if reason is not None:
                return NoPlacement(alternatives=(), reason=f"the chosen time does not fit: {reason}")
            if await self._reserve(booking_id, details, consultant, placement, loaded.versions, loaded.talks):
                return _slot(consultant, placement)
        raise ReservationConflict(booking_id)

    async def _reserve(
        self,
        booking_id: str,
        details: BookingDetails,
        consultant: Consultant,
        placement: Placement,
        versions: dict[str, int],
        talks: dict[str, list[Document]],
    ) -> bool:
        day = local_day(placement.start)
        key = day_id(consultant.id, day)
        # A move within the same day replaces the booking's old talk in the same write.
        kept = [t for t in talks.get(key, []) if t["booking_id"] != booking_id]
        new_talk = {"booking_id": booking_id, "start": placement.start, "end": placement.end, **_talk_info(details)}
        return await self._store.write_day(consultant.id, day, versions.get(key, 0), [*kept, new_talk])

    async def _release_talks(self, booking_id: str, keep: Slot | None) -> None:
        """Remove the booking's talks except ``keep``: its old slot, or what a crash left behind."""
        for _ in range(MAX_ATTEMPTS):
            dirty = False
            for doc in await self._store.days_holding(booking_id):
                remaining = [
                    t
                    for t in doc["talks"]
                    if t["booking_id"] != booking_id
                    or (keep is not None and doc["consultant_id"] == keep.consultant.id and t["start"] == keep.start)
                ]
                if len(remaining) != len(doc["talks"]):
                    day = datetime.fromisoformat(doc["day"]).date()
                    if not await self._store.write_day(doc["consultant_id"], day, doc["version"], remaining):
                        dirty = True
            if not dirty:
                return
        raise ReservationConflict(booking_id)

    # --- storing the outcome ---------------------------------------------------------------------------

    async def _claim_existing(self, booking_id: str, now: datetime) -> tuple[Document, str]:
        claimed = await self._store.claim(booking_id, create=None, now=now)
        if claimed is None:
            raise NotYetPlaced(booking_id)
        return claimed

    @staticmethod
    def _state(status: str, slot: Slot | None, sequence: int, now: datetime, data: Any) -> Document:
        event = new_event(data, now=now)
        return merge_updates(
            {
                "$set": {
                    "status": status,
                    "slot": slot.model_dump(mode="python") if slot else None,
                    "sequence": sequence,
                    "revision": data.revision,
                    "updated_at": now,
                }
            },
            outbox_update([event], now),
        )

    async def _finish(self, booking_id: str, token: str, event: Event, update: Document) -> None:
        update = merge_updates(update, {"$push": {"applied": str(event.event_id)}})
        if not await self._store.finish(booking_id, token, update):
            raise BookingBusy(f"{booking_id}: lease lost before the outcome was stored")
        log.info(
            "booking %s: %s",
            booking_id,
            update["$set"]["status"],
            extra={"booking_id": booking_id, "event_type": event.type},
        )


def _next_revision(placement: Document) -> int:
    """The revision of the outcome about to be stored (we hold the booking's lease, so no race)."""
    return int(placement.get("revision", 0)) + 1


def _slot(consultant: Consultant, placement: Placement) -> Slot:
    return Slot(
        consultant=ConsultantRef(
            id=consultant.id, name=consultant.name, email=consultant.email, phone=consultant.phone
        ),
        start=placement.start,
        end=placement.end,
    )


def _slot_of(placement: Document) -> Slot | None:
    return Slot.model_validate(placement["slot"]) if placement.get("slot") else None


def _details(placement: Document) -> BookingDetails:
    return BookingDetails.model_validate(placement["booking"])


def _talk_info(details: BookingDetails) -> Document:
    """What the consultant's calendar feed shows about a talk."""
    return {
        "theme": details.theme,
        "location": details.workplace.one_line(),
        "setting": details.setting,
        "participants": details.participants,
        "contact": f"{details.contact.name}, {details.contact.phone}, {details.contact.email}",
        "notes": details.notes,
    }
