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

The waitlist (:mod:`.waitlist`): a request not placed whose workplace chose ``offer`` or ``auto`` waits
(``waiting``) for its desired times; a time given up (a cancellation, a move, an offer run out)
announces itself with ``booking.time_freed`` in the same write as the outcome, which the scheduler
offers to the waiting requests. Offers made (``booking.offer_made``), run out
(``booking.offer_expired``) or accepted too late (``booking.offer_taken``) are outcomes too; an offer
accepted in time places the talk as any placement does (``booking.scheduled`` or ``rescheduled``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypedDict
from uuid import UUID

from services.scheduler.domain import NoPlacement
from services.scheduler.waitlist import OfferRecord, OfferState, Waiting
from shared.contracts.events import (
    BookingCancelledData,
    BookingNeedsAlternativeData,
    BookingOfferExpiredData,
    BookingOfferMadeData,
    BookingOfferTakenData,
    BookingRequestedData,
    BookingRescheduledData,
    BookingScheduledData,
    BookingTimeFreedData,
    Event,
    new_event,
)
from shared.contracts.models import BookingDetails, Slot, WaitlistMode, WaitWindow


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
    waiting: Waiting | None = None  # on the waitlist: for which times, since when
    offers: tuple[OfferRecord, ...] = ()  # every offer made to it, open or closed (at most one open)

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

    @property
    def open_offer(self) -> OfferRecord | None:
        return next((offer for offer in self.offers if offer.is_open), None)

    def offer(self, offer_id: str) -> OfferRecord | None:
        return next((offer for offer in self.offers if offer.id == offer_id), None)

    # --- outcomes ---------------------------------------------------------------------------------

    def placed(self, slot: Slot, *, cause: UUID | None, now: datetime, accepted: str | None = None) -> Outcome:
        """Scheduled at ``slot``: placed for the first time, or moved there from the slot it held (whose
        time is announced as freed). It leaves the waitlist: the offer ``accepted`` is closed as such,
        any other open offer is withdrawn."""
        revision = self.revision + 1
        changed = dataclasses.replace(self, waiting=None, offers=self._closing_offers(now, accepted=accepted))
        if self.slot is None:
            return changed._outcome(
                Status.SCHEDULED,
                slot,
                self.sequence,
                BookingScheduledData(**self._about(), slot=slot, sequence=self.sequence, revision=revision),
                cause,
                now,
            )
        sequence = self.sequence + 1
        return changed._outcome(
            Status.SCHEDULED,
            slot,
            sequence,
            BookingRescheduledData(
                **self._about(), slot=slot, previous_slot=self.slot, sequence=sequence, revision=revision
            ),
            cause,
            now,
            also=self._freed(self.slot, "moved", now) if self.slot != slot else (),
        )

    def not_placed(
        self, found: NoPlacement, *, cause: UUID, now: datetime, wanted: tuple[datetime, ...] = ()
    ) -> Outcome:
        """No time fits: alternatives are offered. A talk that holds a slot keeps it (a move that
        cannot be made changes nothing but the revision); one without becomes ``needs_alternative``
        and, unless its workplace said no, waits for the times it ``wanted``."""
        status = self.status if self.slot is not None else Status.NEEDS_ALTERNATIVE
        changed = self
        mode = self.booking.waitlist
        if self.slot is None and mode != "off" and wanted:
            since = self.waiting.since if self.waiting is not None else now
            waiting = Waiting(mode, since, starts=wanted, window=self.booking.waitlist_window)
            changed = dataclasses.replace(self, waiting=waiting)
        return changed._outcome(
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
        """Cancelled; a held slot is given up (its time announced as freed), and its invite withdrawn
        with the next sequence. It leaves the waitlist."""
        sequence = self.sequence + (1 if self.slot is not None else 0)
        changed = dataclasses.replace(self, waiting=None, offers=self._closing_offers(now))
        return changed._outcome(
            Status.CANCELLED,
            None,
            sequence,
            BookingCancelledData(
                **self._about(), slot=self.slot, sequence=sequence, reason=reason, revision=self.revision + 1
            ),
            cause,
            now,
            also=self._freed(self.slot, "cancelled", now) if self.slot is not None else (),
        )

    # --- the waitlist -----------------------------------------------------------------------------

    def with_waitlist(self, mode: WaitlistMode, window: WaitWindow | None, *, cause: UUID, now: datetime) -> Placement:
        """The workplace's new choice (no event: the booking service recorded it already). A talk without
        a time waits for its desired times (and the window); a scheduled one for any earlier time; ``off``
        leaves the waitlist and withdraws an open offer."""
        booking = self.booking.model_copy(update={"waitlist": mode, "waitlist_window": window})
        changed = dataclasses.replace(
            self, booking=booking, applied=(*self.applied, str(cause)), updated_at=now
        )
        if mode == "off" or self.status in (Status.CANCELLED, Status.PLACING):
            return dataclasses.replace(changed, waiting=None, offers=self._closing_offers(now))
        since = self.waiting.since if self.waiting is not None else now
        if self.slot is not None:
            return dataclasses.replace(changed, waiting=Waiting(mode, since, window=window, before=self.slot.start))
        starts = self.waiting.starts if self.waiting is not None else self.booking.preferred_starts
        return dataclasses.replace(changed, waiting=Waiting(mode, since, starts=starts, window=window))

    def offered(self, offer: OfferRecord, *, now: datetime) -> Outcome:
        """A freed time offered to this waiting workplace (``booking.offer_made``)."""
        changed = dataclasses.replace(self, offers=(*self.offers, offer))
        data = BookingOfferMadeData(**self._about(), offer=offer.public(), revision=self.revision + 1)
        return changed._outcome(self.status, self.slot, self.sequence, data, None, now)

    def offer_expired(self, offer: OfferRecord, *, now: datetime) -> Outcome:
        """The offer ran out: closed, announced (``booking.offer_expired``), and its time announced as
        freed, so it passes to the next in line. The workplace keeps its place for other times."""
        offers = tuple(o.closed(OfferState.EXPIRED, now) if o.id == offer.id else o for o in self.offers)
        changed = dataclasses.replace(self, offers=offers)
        data = BookingOfferExpiredData(booking_id=self.booking_id, offer_id=offer.id, revision=self.revision + 1)
        freed = BookingTimeFreedData(
            booking_id=self.booking_id,
            consultant_id=offer.consultant_id,
            start=offer.start,
            end=offer.end,
            cause="offer_expired",
        )
        also = (new_event(freed, now=now),)
        return changed._outcome(self.status, self.slot, self.sequence, data, None, now, also=also)

    def offer_taken(self, offer: OfferRecord, found: NoPlacement, *, cause: UUID, now: datetime) -> Outcome:
        """The offer was accepted, but the time had been taken meanwhile: fresh choices are given
        (``booking.offer_taken``); the workplace stays on the waitlist, a scheduled talk keeps its time."""
        expired = not offer.is_open or offer.expires_at <= now
        state = OfferState.EXPIRED if offer.state is OfferState.EXPIRED else OfferState.TAKEN
        offers = tuple(o.closed(state, now) if o.id == offer.id and o.is_open else o for o in self.offers)
        changed = dataclasses.replace(self, offers=offers)
        data = BookingOfferTakenData(
            **self._about(),
            offer_id=offer.id,
            expired=expired,
            alternatives=found.alternatives,
            current_slot=self.slot,
            revision=self.revision + 1,
        )
        return changed._outcome(self.status, self.slot, self.sequence, data, cause, now)

    def erased(self, now: datetime) -> Placement:
        """The placement without the booking's personal data, off the waitlist (erasure)."""
        return dataclasses.replace(
            self,
            booking=self.booking.anonymised(),
            waiting=None,
            offers=self._closing_offers(now),
            updated_at=now,
        )

    def _closing_offers(self, now: datetime, *, accepted: str | None = None) -> tuple[OfferRecord, ...]:
        return tuple(
            o.closed(OfferState.ACCEPTED if o.id == accepted else OfferState.WITHDRAWN, now) if o.is_open else o
            for o in self.offers
        )

    def _freed(self, slot: Slot, cause: str, now: datetime) -> tuple[Event, ...]:
        data = BookingTimeFreedData.model_validate(
            {
                "booking_id": self.booking_id,
                "consultant_id": slot.consultant.id,
                "start": slot.start,
                "end": slot.end,
                "cause": cause,
            }
        )
        return (new_event(data, now=now),)

    def _about(self) -> _About:
        return {"booking_id": self.booking_id, "booking": self.booking, "status_url": self.status_url}

    def _outcome(
        self,
        status: Status,
        slot: Slot | None,
        sequence: int,
        data: _OutcomeData,
        cause: UUID | None,
        now: datetime,
        *,
        also: tuple[Event, ...] = (),
    ) -> Outcome:
        """``cause``: the event that brought the outcome (None: the waitlist's own work, kept from
        happening twice by the offers themselves)."""
        placement = dataclasses.replace(
            self,
            status=status,
            slot=slot,
            sequence=sequence,
            revision=data.revision,
            applied=(*self.applied, str(cause)) if cause is not None else self.applied,
            updated_at=now,
        )
        return Outcome(placement, new_event(data, now=now), also)


_OutcomeData = (
    BookingScheduledData
    | BookingRescheduledData
    | BookingNeedsAlternativeData
    | BookingCancelledData
    | BookingOfferMadeData
    | BookingOfferExpiredData
    | BookingOfferTakenData
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The placement after an event, the event that announces it and, when a time was given up, the
    ``booking.time_freed`` that offers it to the waitlist (all stored together)."""

    placement: Placement
    event: Event
    also: tuple[Event, ...] = ()

    @property
    def events(self) -> tuple[Event, ...]:
        return (self.event, *self.also)
