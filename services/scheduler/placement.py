"""The scheduler's view of one booking: its placement, and the rules that decide each outcome.

A placement starts ``placing`` when the booking is requested; every outcome the scheduler reaches
for it is a new placement (the old one is not changed) and the event that announces it:

* placed at a slot: ``booking.scheduled``; if it held a slot already, it was moved:
  ``booking.rescheduled`` with the previous slot and the invite ``sequence`` raised by one (calendar
  programs replace an invite only by one with a higher sequence);
* not placed: ``booking.needs_alternative`` with the alternatives found; a scheduled talk that
  cannot be moved keeps its slot (and its status and sequence), and the event says which;
* cancelled: ``booking.cancelled``, with the sequence raised by one if a slot was held (its invite
  is withdrawn).

Every outcome raises ``revision`` by one, so a consumer can apply them in order, and records the id
of the event that caused it in ``applied``: an event already applied is a redelivery and changes
nothing. Pure code: ``now`` is passed in, nothing is read or stored here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypedDict
from uuid import UUID

from services.scheduler.domain import NoPlacement
from shared.contracts.events import (
    BookingCancelledData,
    BookingNeedsAlternativeData,
    BookingRequestedData,
    BookingRescheduledData,
    BookingScheduledData,
    Event,
    new_event,
)
from shared.contracts.models import BookingDetails, Slot


class Status(StrEnum):
    PLACING = "placing"
    SCHEDULED = "scheduled"
    NEEDS_ALTERNATIVE = "needs_alternative"
    CANCELLED = "cancelled"


class _About(TypedDict):
    """What every outcome event says about the booking."""

    booking_id: str
    booking: BookingDetails
    status_url: str


@dataclass(frozen=True, slots=True)
class Placement:
    booking_id: str
    booking: BookingDetails
    status_url: str
    status: Status = Status.PLACING
    slot: Slot | None = None  # the talk's reserved time and consultant, while it has one
    sequence: int = 0  # of the invite: raised whenever a sent invite is replaced or withdrawn
    revision: int = 0  # raised with every outcome
    applied: tuple[str, ...] = ()  # ids of the events whose outcome is stored
    updated_at: datetime | None = None

    @classmethod
    def requested(cls, data: BookingRequestedData) -> Placement:
        return cls(booking_id=data.booking_id, booking=data.booking, status_url=data.status_url)

    def has_applied(self, event_id: UUID) -> bool:
        return str(event_id) in self.applied

    def awaits_placing(self, event_id: UUID) -> bool:
        """A request still to be placed (not answered yet, and this event not applied before)."""
        return self.status is Status.PLACING and not self.has_applied(event_id)

    def can_change(self, event_id: UUID) -> bool:
        """A cancel or move to apply: the booking is not cancelled, and this event is new."""
        return self.status is not Status.CANCELLED and not self.has_applied(event_id)

    # --- outcomes ---------------------------------------------------------------------------------

    def placed(self, slot: Slot, *, cause: UUID, now: datetime) -> Outcome:
        """Scheduled at ``slot``: placed for the first time, or moved there from the slot it held."""
        revision = self.revision + 1
        if self.slot is None:
            return self._outcome(
                Status.SCHEDULED,
                slot,
                self.sequence,
                BookingScheduledData(**self._about(), slot=slot, sequence=self.sequence, revision=revision),
                cause,
                now,
            )
        sequence = self.sequence + 1
        return self._outcome(
            Status.SCHEDULED,
            slot,
            sequence,
            BookingRescheduledData(
                **self._about(), slot=slot, previous_slot=self.slot, sequence=sequence, revision=revision
            ),
            cause,
            now,
        )

    def not_placed(self, found: NoPlacement, *, cause: UUID, now: datetime) -> Outcome:
        """No time fits: alternatives are offered. A talk that holds a slot keeps it (a move that
        cannot be made changes nothing but the revision); one without becomes ``needs_alternative``."""
        status = self.status if self.slot is not None else Status.NEEDS_ALTERNATIVE
        return self._outcome(
            status,
            self.slot,
            self.sequence,
            BookingNeedsAlternativeData(
                **self._about(),
                alternatives=found.alternatives,
                reason=found.reason,
                current_slot=self.slot,
                revision=self.revision + 1,
            ),
            cause,
            now,
        )

    def cancelled(self, reason: str, *, cause: UUID, now: datetime) -> Outcome:
        """Cancelled; a held slot is given up, and its invite withdrawn with the next sequence."""
        sequence = self.sequence + (1 if self.slot is not None else 0)
        return self._outcome(
            Status.CANCELLED,
            None,
            sequence,
            BookingCancelledData(
                **self._about(), slot=self.slot, sequence=sequence, reason=reason, revision=self.revision + 1
            ),
            cause,
            now,
        )

    def _about(self) -> _About:
        return {"booking_id": self.booking_id, "booking": self.booking, "status_url": self.status_url}

    def _outcome(
        self,
        status: Status,
        slot: Slot | None,
        sequence: int,
        data: BookingScheduledData | BookingRescheduledData | BookingNeedsAlternativeData | BookingCancelledData,
        cause: UUID,
        now: datetime,
    ) -> Outcome:
        placement = dataclasses.replace(
            self,
            status=status,
            slot=slot,
            sequence=sequence,
            revision=data.revision,
            applied=(*self.applied, str(cause)),
            updated_at=now,
        )
        return Outcome(placement, new_event(data, now=now))


@dataclass(frozen=True, slots=True)
class Outcome:
    """The placement after an event, and the event that announces it (stored together)."""

    placement: Placement
    event: Event
