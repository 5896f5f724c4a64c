"""Where bookings are kept: the ``BookingStore`` protocol the handlers use, and its MongoDB adapter.

Each booking is one document in the ``bookings`` collection that also carries its outbox, so a
booking and the events announcing it are stored in one atomic write. After such a write the store
hands the events to the outbox relay (``relay``), which publishes them at once, and calls ``on_commit``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from services.booking.domain import OPEN_STATUSES, Booking, HistoryEntry, Idempotency, OutcomeUpdate
from shared.contracts.events import Event
from shared.contracts.models import BookingDetails, Offer, Slot
from shared.infra.grouped import GroupedInserts
from shared.infra.mongo import Document
from shared.infra.outbox import OUTBOX_INDEXES, Handoff, OutboxRelay, merge_updates, outbox_fields, outbox_update

COLLECTION = "bookings"
INDEXES = {
    COLLECTION: [
        IndexModel(OUTBOX_INDEXES),
        # Sparse, not partial: a lookup by key (an idempotent replay) can then use it on every server.
        IndexModel([("idempotency_key", 1)], unique=True, sparse=True),
    ],
    "processed_events": [],
}
# Every index costs each write of a booking (three per booking: request, outcome, clear), and the
# lists newest first read a branch's few thousand bookings as fast without these (sorted in memory).
RETIRED_INDEXES = {COLLECTION: ["created_at_-1", "status_1_created_at_-1"]}


class ReferenceTaken(Exception):
    """Another booking already has this reference: draw another."""


class KeyTaken(Exception):
    """Another booking was already requested with this Idempotency-Key."""

    def __init__(self, existing: Booking | None) -> None:
        super().__init__("Idempotency-Key already used")
        self.existing = existing  # None if it was deleted in the meantime


class BookingStore(Protocol):
    async def add(self, booking: Booking, event: Event) -> None:
        """Store a new booking with its event; raises ``ReferenceTaken`` or ``KeyTaken``."""

    async def get(self, booking_id: str) -> Booking | None: ...

    async def list(self, status: str | None, limit: int) -> list[Booking]:
        """The newest bookings first, all or those with ``status``."""

    async def record_request(self, booking: Booking, event: Event) -> bool:
        """Store a request (cancel, reschedule, accept an offer, the waitlist choice: the last entry of
        ``booking.history``) with its event, if the stored booking is still open; False if it is not (it
        was cancelled meanwhile)."""

    async def record_outcome(self, booking: Booking) -> bool:
        """Store the booking after a scheduler's outcome (the last entry of its history), unless the
        stored booking has that outcome, or a newer one, already; False then."""

    async def record_update(self, update: OutcomeUpdate) -> bool:
        """Apply an outcome decided by its event alone, in one write, with the same condition as
        ``record_outcome``; False when the booking does not exist or has it (or a newer one) already."""

    async def record_erasure(self, booking: Booking, event: Event) -> bool:
        """Store the erased booking (its personal data replaced) with its event; False if it was erased
        meanwhile."""

    async def with_contact_email(self, email: str) -> Sequence[Booking]:
        """The bookings whose contact has this e-mail address (any case)."""

    async def due_for_erasure(self, before: datetime, limit: int) -> Sequence[Booking]:
        """Bookings not erased yet whose talk ended before ``before``, or that hold no talk (cancelled,
        or never placed) and last changed before it."""


class MongoBookingStore:
    def __init__(
        self,
        collection: AsyncCollection[Document],
        *,
        relay: OutboxRelay | None = None,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._bookings = collection
        self._inserts = GroupedInserts(collection)
        self._relay = relay
        self._on_commit = on_commit

    def _handoff(self, event: Event, now: datetime) -> Handoff | None:
        return self._relay.handoff([event], now) if self._relay is not None else None

    def _committed(self, booking_id: str, handoff: Handoff | None) -> None:
        if self._relay is not None and handoff is not None:
            self._relay.hand(booking_id, handoff)
        self._on_commit()

    async def add(self, booking: Booking, event: Event) -> None:
        handoff = self._handoff(event, booking.created_at)
        document = {**_new_document(booking), **outbox_fields([event], booking.created_at, handoff)}
        # Written together with the bookings requested at the same time: one write (one commit) for many.
        [duplicate] = await self._inserts.insert([document])
        if duplicate is not None:
            if booking.idempotency is not None and "idempotency_key" in str(duplicate.details or {}):
                existing = await self._bookings.find_one({"idempotency_key": booking.idempotency.key}, {"outbox": 0})
                raise KeyTaken(booking_of(existing) if existing else None) from None
            raise ReferenceTaken(booking.id) from None
        self._committed(booking.id, handoff)

    async def get(self, booking_id: str) -> Booking | None:
        document = await self._bookings.find_one({"_id": booking_id}, {"outbox": 0})
        return booking_of(document) if document else None

    async def list(self, status: str | None, limit: int) -> list[Booking]:
        query = {"status": status} if status else {}
        cursor = self._bookings.find(query, {"outbox": 0}).sort("created_at", -1).limit(limit)
        return [booking_of(document) async for document in cursor]

    async def record_request(self, booking: Booking, event: Event) -> bool:
        entry = booking.history[-1]
        handoff = self._handoff(event, entry.at)
        update = merge_updates(
            {
                "$set": {**_request_fields(booking, entry), "updated_at": booking.updated_at},
                "$push": {"history": _entry(entry)},
            },
            outbox_update([event], entry.at, handoff),
        )
        result = await self._bookings.update_one(
            {"_id": booking.id, "status": {"$in": list(OPEN_STATUSES)}, "cancel_requested_at": None}, update
        )
        if result.modified_count != 1:
            return False
        self._committed(booking.id, handoff)
        return True

    async def record_outcome(self, booking: Booking) -> bool:
        assert booking.revision is not None
        fields = {name: getattr(booking, name) for name in _OUTCOME_FIELDS}
        return await self._apply_outcome(booking.id, booking.revision, booking.history[-1], fields)

    async def record_update(self, update: OutcomeUpdate) -> bool:
        return await self._apply_outcome(update.booking_id, update.changes["revision"], update.entry, update.changes)

    async def _apply_outcome(
        self, booking_id: str, revision: int, entry: HistoryEntry, fields: Mapping[str, Any]
    ) -> bool:
        query = {
            "_id": booking_id,
            "history.event_id": {"$ne": entry.event_id},
            # "before this one": lower, or not set yet (one condition, no $or: an $or makes some
            # servers (SecantusDB) scan the whole collection instead of using the _id)
            "revision": {"$not": {"$gte": revision}},
        }
        update = {"$set": _outcome_document(fields), "$push": {"history": _entry(entry)}}
        if self._relay is not None:  # its request's event went out a moment ago: this write clears it too
            return await self._relay.update_and_clear(query, update)
        result = await self._bookings.update_one(query, update)
        return result.modified_count == 1

    async def record_erasure(self, booking: Booking, event: Event) -> bool:
        entry = booking.history[-1]
        handoff = self._handoff(event, entry.at)
        update = merge_updates(
            {
                "$set": {
                    "details": booking.details.model_dump(mode="python"),
                    "cancel_reason": None,
                    "erased_at": booking.erased_at,
                    "updated_at": booking.updated_at,
                },
                "$unset": {"idempotency_key": "", "request_hash": ""},
                "$push": {"history": _entry(entry)},
            },
            outbox_update([event], entry.at, handoff),
        )
        result = await self._bookings.update_one({"_id": booking.id, "erased_at": None}, update)
        if result.modified_count != 1:
            return False
        self._committed(booking.id, handoff)
        return True

    async def with_contact_email(self, email: str) -> Sequence[Booking]:
        # Stored addresses are normalised (domain lower-cased); the local part is matched as given too.
        cursor = self._bookings.find({"details.contact.email": {"$in": _spellings(email)}}, {"outbox": 0})
        return [booking_of(document) async for document in cursor]

    async def due_for_erasure(self, before: datetime, limit: int) -> Sequence[Booking]:
        query = {
            "erased_at": None,
            "$or": [{"slot.end": {"$lt": before}}, {"slot": None, "updated_at": {"$lt": before}}],
        }
        cursor = self._bookings.find(query, {"outbox": 0}).limit(limit)
        return [booking_of(document) async for document in cursor]


def _spellings(email: str) -> list[str]:
    local, _, domain = email.strip().rpartition("@")
    return sorted({email.strip(), f"{local}@{domain.lower()}", email.strip().lower()})


# Which field a request sets, by the status its history entry records.
_REQUEST_MARKERS = {
    "cancel_requested": "cancel_requested_at",
    "reschedule_requested": "reschedule_requested_at",
    "offer_accept_requested": "offer_accept_requested_at",
}


def _request_fields(booking: Booking, entry: HistoryEntry) -> Document:
    if entry.status == "waitlist_requested":  # the choice itself is what changes
        window = booking.details.waitlist_window
        return {
            "details.waitlist": booking.details.waitlist,
            "details.waitlist_window": window.model_dump(mode="json") if window else None,
            "offers": [_offer(offer) for offer in booking.offers],
        }
    return {_REQUEST_MARKERS[entry.status]: entry.at}


def _offer(offer: Offer) -> Document:
    return offer.model_dump(mode="python")


# --- documents <-> bookings ------------------------------------------------------------------------------


def _new_document(booking: Booking) -> Document:
    document: Document = {
        "_id": booking.id,
        "secret": booking.secret,
        "status_url": booking.status_url,
        "status": booking.status,
        "details": booking.details.model_dump(mode="python"),
        "created_at": booking.created_at,
        "updated_at": booking.updated_at,
        "history": [_entry(entry) for entry in booking.history],
    }
    if booking.idempotency is not None:
        document["idempotency_key"] = booking.idempotency.key
        document["request_hash"] = booking.idempotency.request_hash
    return document


# What the scheduler's outcomes decide of a booking.
_OUTCOME_FIELDS = (
    "status",
    "slot",
    "alternatives",
    "sequence",
    "reason",
    "cancel_reason",
    "reschedule_requested_at",
    "revision",
    "status_at",
    "updated_at",
    "offers",
    "offer_accept_requested_at",
    "offer_taken",
)


def _outcome_document(fields: Mapping[str, Any]) -> Document:
    """Outcome fields (``Booking`` attributes by name) as stored."""
    document = dict(fields)
    if "slot" in document:
        document["slot"] = _slot(document["slot"])
    if "alternatives" in document:
        document["alternatives"] = list(document["alternatives"])
    if "offers" in document:
        document["offers"] = [_offer(offer) for offer in document["offers"]]
    return document


def _slot(slot: Slot | None) -> Document | None:
    return slot.model_dump(mode="python") if slot else None


def _entry(entry: HistoryEntry) -> Document:
    document: Document = {"at": entry.at, "status": entry.status, "event_id": entry.event_id}
    if entry.type is not None:
        document["type"] = entry.type
    if entry.by is not None:
        document["by"] = entry.by
    if entry.preferred_starts is not None:
        document["preferred_starts"] = list(entry.preferred_starts)
    for name in ("start", "consultant_id", "reason"):
        if (value := getattr(entry, name)) is not None:
            document[name] = value
    return document


def booking_of(document: Document) -> Booking:
    """A stored booking; fields that older documents lack take their defaults."""
    key = document.get("idempotency_key")
    return Booking(
        id=document["_id"],
        secret=document["secret"],
        status_url=document["status_url"],
        status=document["status"],
        details=BookingDetails.model_validate(document["details"]),
        created_at=document["created_at"],
        updated_at=document.get("updated_at") or document["created_at"],
        history=tuple(_history_entry(entry) for entry in document.get("history", [])),
        slot=Slot.model_validate(document["slot"]) if document.get("slot") else None,
        alternatives=tuple(document.get("alternatives") or ()),
        sequence=document.get("sequence"),
        reason=document.get("reason"),
        cancel_reason=document.get("cancel_reason"),
        revision=document.get("revision"),
        status_at=document.get("status_at"),
        cancel_requested_at=document.get("cancel_requested_at"),
        reschedule_requested_at=document.get("reschedule_requested_at"),
        idempotency=Idempotency(key, document.get("request_hash") or "") if key is not None else None,
        erased_at=document.get("erased_at"),
        offers=tuple(Offer.model_validate(offer) for offer in document.get("offers") or ()),
        offer_accept_requested_at=document.get("offer_accept_requested_at"),
        offer_taken=bool(document.get("offer_taken")),
    )


def _history_entry(document: Document) -> HistoryEntry:
    starts: Sequence[datetime] | None = document.get("preferred_starts")
    return HistoryEntry(
        at=document["at"],
        status=document["status"],
        event_id=document.get("event_id", ""),
        type=document.get("type"),
        by=document.get("by"),
        preferred_starts=tuple(starts) if starts is not None else None,
        start=document.get("start"),
        consultant_id=document.get("consultant_id"),
        reason=document.get("reason"),
    )
