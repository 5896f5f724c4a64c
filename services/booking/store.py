"""The ``bookings`` collection: each booking is one document that also carries its outbox, so a
booking and the events announcing it are stored in one atomic write."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.contracts.events import (
    BookingCancelledData,
    BookingCancelRequestedData,
    BookingNeedsAlternativeData,
    BookingRequestedData,
    BookingRescheduledData,
    BookingRescheduleRequestedData,
    BookingScheduledData,
    Event,
    new_event,
)
from shared.contracts.models import BookingDetails, Slot
from shared.infra.outbox import OUTBOX_INDEXES, merge_updates, outbox_fields, outbox_update

Document = dict[str, Any]

INDEXES = {
    "bookings": [
        IndexModel(OUTBOX_INDEXES),
        # Sparse, not partial: a lookup by key (an idempotent replay) can then use it on every server.
        IndexModel([("idempotency_key", 1)], unique=True, sparse=True),
        IndexModel([("created_at", -1)]),
        IndexModel([("status", 1), ("created_at", -1)]),
    ],
    "processed_events": [],
}

# Crockford's base 32 without look-alikes: references are read aloud on the phone.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
OPEN_STATUSES = ("received", "scheduled", "needs_alternative")


def new_reference() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def status_url(base_url: str, booking_id: str, secret: str) -> str:
    return f"{base_url.rstrip('/')}/bookings/{booking_id}?token={secret}"


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before for a different request body."""


@dataclass(frozen=True)
class Created:
    booking: Document
    replayed: bool  # True when an earlier identical request (same Idempotency-Key) is answered again


class BookingStore:
    def __init__(self, collection: AsyncCollection[Document], base_url: str) -> None:
        self._bookings = collection
        self._base_url = base_url

    async def create(
        self,
        details: BookingDetails,
        *,
        now: datetime,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> Created:
        """Store a new booking with its ``booking.requested`` event: one insert, one round trip."""
        for _ in range(5):
            booking_id, secret = new_reference(), new_secret()
            url = status_url(self._base_url, booking_id, secret)
            event = new_event(BookingRequestedData(booking_id=booking_id, booking=details, status_url=url), now=now)
            document: Document = {
                "_id": booking_id,
                "secret": secret,
                "status_url": url,
                "status": "received",
                "details": details.model_dump(mode="python"),
                "created_at": now,
                "updated_at": now,
                "history": [{"at": now, "status": "received", "event_id": str(event.event_id)}],
                **outbox_fields([event], now),
            }
            if idempotency_key is not None:
                document["idempotency_key"] = idempotency_key
                document["request_hash"] = request_hash
            try:
                await self._bookings.insert_one(document)
            except DuplicateKeyError as exc:
                if "idempotency_key" in str(exc.details or {}):
                    return await self._replay(idempotency_key, request_hash)
                continue  # the reference was taken: draw another
            return Created(document, replayed=False)
        raise RuntimeError("could not draw a free booking reference")

    async def _replay(self, key: str | None, request_hash: str | None) -> Created:
        existing = await self._bookings.find_one({"idempotency_key": key}, {"outbox": 0})
        if existing is None:  # pragma: no cover - the duplicate was deleted in between
            raise IdempotencyConflict
        if existing.get("request_hash") != request_hash:
            raise IdempotencyConflict
        return Created(existing, replayed=True)

    async def get(self, booking_id: str) -> Document | None:
        return await self._bookings.find_one({"_id": booking_id}, {"outbox": 0})

    async def find_authorised(self, booking_id: str, secret: str | None) -> Document | None:
        """The booking if ``secret`` is its status secret; None otherwise (unknown or wrong)."""
        if not secret:
            return None
        booking = await self.get(booking_id)
        if booking is None or not secrets.compare_digest(booking["secret"].encode(), secret.encode()):
            return None
        return booking

    async def list(self, status: str | None, limit: int) -> list[Document]:
        query = {"status": status} if status else {}
        cursor = self._bookings.find(query, {"outbox": 0}).sort("created_at", -1).limit(limit)
        return await cursor.to_list()

    async def request_cancel(self, booking_id: str, *, by: str, reason: str, now: datetime) -> Document | None:
        """Record the wish to cancel and announce it; None if the booking is not open any more."""
        event = new_event(BookingCancelRequestedData(booking_id=booking_id, requested_by=by, reason=reason), now=now)
        return await self._record_request(booking_id, event, "cancel_requested_at", {"by": by}, now)

    async def request_reschedule(
        self, booking_id: str, data: BookingRescheduleRequestedData, *, now: datetime
    ) -> Document | None:
        """Record the wish for a new time and announce it; None if the booking is not open any more."""
        event = new_event(data, now=now)
        details = {"by": data.requested_by, "preferred_starts": list(data.preferred_starts)}
        return await self._record_request(booking_id, event, "reschedule_requested_at", details, now)

    async def _record_request(
        self, booking_id: str, event: Event, marker: str, details: Document, now: datetime
    ) -> Document | None:
        """Store a workplace's or admin's request on an open booking together with its event."""
        history = {"at": now, "status": marker.removesuffix("_at"), "event_id": str(event.event_id), **details}
        update = merge_updates(
            {"$set": {marker: now, "updated_at": now}, "$push": {"history": history}},
            outbox_update([event], now),
        )
        result = await self._bookings.update_one(
            {"_id": booking_id, "status": {"$in": list(OPEN_STATUSES)}, "cancel_requested_at": None}, update
        )
        return await self.get(booking_id) if result.modified_count == 1 else None

    async def apply(self, event: Event) -> None:
        """Project a scheduler event onto the booking (idempotent; an older event never wins).

        "Older" is by the placement's revision, which the scheduler raises with every outcome it
        stores for the booking: not by a clock, which may differ between replicas."""
        changes = _projection(event)
        if changes is None:
            return
        revision = getattr(event.data, "revision", 0)
        at = event.occurred_at
        entry = {"at": at, "status": changes["status"], "event_id": str(event.event_id), "type": event.type}
        await self._bookings.update_one(
            {
                "_id": event.correlation_id,
                "history.event_id": {"$ne": str(event.event_id)},
                # "before this one": lower, or not set yet (one condition, no $or: an $or makes some
                # servers (SecantusDB) scan the whole collection instead of using the _id)
                "revision": {"$not": {"$gte": revision}},
            },
            {
                "$set": {**changes, "revision": revision, "status_at": at, "updated_at": at},
                "$push": {"history": entry},
            },
        )


def _slot_document(slot: Slot) -> Document:
    return slot.model_dump(mode="python")


def _projection(event: Event) -> Document | None:
    data = event.data
    if isinstance(data, BookingScheduledData | BookingRescheduledData):
        return {
            "status": "scheduled",
            "slot": _slot_document(data.slot),
            "sequence": data.sequence,
            "alternatives": [],
            "reschedule_requested_at": None,
        }
    if isinstance(data, BookingNeedsAlternativeData):
        # A scheduled talk that could not be moved stays scheduled; the alternatives are offered.
        kept = data.current_slot
        return {
            "status": "scheduled" if kept else "needs_alternative",
            "slot": _slot_document(kept) if kept else None,
            "alternatives": list(data.alternatives),
            "reason": data.reason,
            "reschedule_requested_at": None,
        }
    if isinstance(data, BookingCancelledData):
        return {"status": "cancelled", "slot": None, "alternatives": [], "cancel_reason": data.reason}
    return None
