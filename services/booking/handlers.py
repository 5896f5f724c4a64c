"""The booking service's routing table: the scheduler's outcomes, projected onto the booking."""

from __future__ import annotations

from services.booking.store import BookingStore
from shared.contracts.events import Event
from shared.infra.routing import Route


async def apply_outcome(store: BookingStore, event: Event) -> None:
    await store.apply(event)


HANDLERS: dict[str, Route[BookingStore]] = {
    "booking.scheduled": apply_outcome,
    "booking.needs_alternative": apply_outcome,
    "booking.cancelled": apply_outcome,
    "booking.rescheduled": apply_outcome,
}
