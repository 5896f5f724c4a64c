"""An in-memory ``BookingStore`` for the booking handlers' unit tests.

It keeps the promises of the MongoDB adapter (``services.booking.store``): a new booking and its event
are stored together, a request is stored only while the stored booking is open, an outcome only if it
is newer than the last one stored, and ``on_commit`` is called after every write that carries an event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from services.booking.domain import Booking, HistoryEntry, OutcomeUpdate
from services.booking.store import KeyTaken, ReferenceTaken
from shared.contracts.events import Event


class FakeBookingStore:
    def __init__(self, *, on_commit: Callable[[], None] = lambda: None) -> None:
        self.bookings: dict[str, Booking] = {}
        self.outbox: list[Event] = []  # every event stored with a booking, in order
        self._on_commit = on_commit

    def events(self, booking_id: str) -> list[str]:
        """The types of the events stored for one booking, in order."""
        return [event.type for event in self.outbox if event.correlation_id == booking_id]

    async def add(self, booking: Booking, event: Event) -> None:
        if booking.id in self.bookings:
            raise ReferenceTaken(booking.id)
        if booking.idempotency is not None:
            key = booking.idempotency.key
            for stored in self.bookings.values():
                if stored.idempotency is not None and stored.idempotency.key == key:
                    raise KeyTaken(stored)
        self.bookings[booking.id] = booking
        self._commit(event)

    async def get(self, booking_id: str) -> Booking | None:
        return self.bookings.get(booking_id)

    async def list(self, status: str | None, limit: int) -> list[Booking]:
        newest_first = sorted(self.bookings.values(), key=lambda b: b.created_at, reverse=True)
        return [b for b in newest_first if status is None or b.status == status][:limit]

    async def record_request(self, booking: Booking, event: Event) -> bool:
        stored = self.bookings.get(booking.id)
        if stored is None or not stored.is_open:
            return False
        entry = booking.history[-1]
        if entry.status == "cancel_requested":
            stored = replace(stored, cancel_requested_at=entry.at)
        elif entry.status == "offer_accept_requested":
            stored = replace(stored, offer_accept_requested_at=entry.at)
        elif entry.status == "waitlist_requested":
            stored = replace(stored, details=booking.details, offers=booking.offers)
        else:
            stored = replace(stored, reschedule_requested_at=entry.at)
        self.bookings[booking.id] = replace(stored, updated_at=booking.updated_at, history=(*stored.history, entry))
        self._commit(event)
        return True

    async def record_outcome(self, booking: Booking) -> bool:
        assert booking.revision is not None
        stored = self.bookings.get(booking.id)
        entry = booking.history[-1]
        if stored is None or self._has_outcome(stored, entry, booking.revision):
            return False
        self.bookings[booking.id] = replace(
            booking,
            cancel_requested_at=stored.cancel_requested_at,
            history=(*stored.history, entry),
        )
        return True

    async def record_update(self, update: OutcomeUpdate) -> bool:
        stored = self.bookings.get(update.booking_id)
        if stored is None or self._has_outcome(stored, update.entry, update.changes["revision"]):
            return False
        self.bookings[stored.id] = replace(stored, **update.changes, history=(*stored.history, update.entry))
        return True

    @staticmethod
    def _has_outcome(stored: Booking, entry: HistoryEntry, revision: int) -> bool:
        """The outcome, or a newer one, is applied already."""
        applied = any(e.event_id == entry.event_id for e in stored.history)
        return applied or (stored.revision is not None and stored.revision >= revision)

    async def record_erasure(self, booking: Booking, event: Event) -> bool:
        stored = self.bookings.get(booking.id)
        if stored is None or stored.erased_at is not None:
            return False
        self.bookings[booking.id] = booking
        self._commit(event)
        return True

    async def with_contact_email(self, email: str) -> list[Booking]:
        return [b for b in self.bookings.values() if b.details.contact.email.lower() == email.lower()]

    async def due_for_erasure(self, before: datetime, limit: int) -> list[Booking]:
        def due(b: Booking) -> bool:
            return b.erased_at is None and (b.slot.end < before if b.slot else b.updated_at < before)

        return [b for b in self.bookings.values() if due(b)][:limit]

    def _commit(self, event: Event) -> None:
        self.outbox.append(event)
        self._on_commit()
