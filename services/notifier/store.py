"""Where deliveries and reminders are kept: the ``DeliveryStore`` protocol the handlers and the sender
use, and its MongoDB adapter (collections ``deliveries`` and ``reminders``).

A sender claims due deliveries (and a due reminder) with a lease (``domain.LEASE``), so several
notifiers never send the same one at once, and one that dies mid-way hands it over when the lease runs
out. An outcome is recorded only under the claim that sent it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from pymongo import IndexModel, UpdateMany, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.notifier.domain import (
    LEASE,
    Delivery,
    DeliverySummary,
    Email,
    Outcome,
    Outgoing,
    Reminder,
    ReminderStatus,
    Retry,
    Sent,
    Sms,
    Status,
)
from shared.contracts.models import BookingDetails, Slot
from shared.infra.grouped import GroupedInserts, GroupedWrites
from shared.infra.mongo import Document

log = logging.getLogger(__name__)

INDEXES = {
    "deliveries": [
        IndexModel([("status", 1), ("next_attempt_at", 1)]),
        IndexModel([("booking_id", 1)]),
    ],
    "reminders": [IndexModel([("status", 1), ("due_at", 1)])],
}


@dataclass(frozen=True)
class Batch:
    """Due deliveries claimed by one sender; ``claim`` records their outcomes."""

    claim: str
    deliveries: list[Delivery]
    claimed_at: datetime | None = None  # when the claim's lease began


@dataclass(frozen=True)
class Attempt:
    """What came of one attempt at a claimed delivery."""

    delivery: Delivery
    claim: str
    outcome: Outcome


class DeliveryStore(Protocol):
    # --- deliveries

    async def add(self, deliveries: list[Delivery]) -> int:
        """Store new deliveries; those stored before (same id) are left alone. Returns how many are new."""
        ...

    async def claim_due(self, now: datetime, limit: int = 50) -> Batch:
        """Lease up to ``limit`` pending deliveries due by ``now`` to the caller."""
        ...

    async def record(self, attempts: Sequence[Attempt]) -> None:
        """Store what came of each attempt (one attempt more), each only if its claim still holds the
        delivery, each on its own: one that cannot be stored does not keep the others from it."""
        ...

    async def release(self, ids: Iterable[str], claim: str, now: datetime) -> None:
        """Hand claimed deliveries back unsent (shutdown): due again at once, for any sender."""
        ...

    async def list(self, status: Status | None, booking_id: str | None, limit: int) -> list[DeliverySummary]:
        """The newest deliveries first, optionally only those with ``status`` or for one booking."""
        ...

    async def retry(self, delivery_id: str, now: datetime) -> bool:
        """Make a failed delivery due again at once; False when there is no failed delivery with that id."""
        ...

    # --- reminders

    async def schedule_reminder(self, reminder: Reminder) -> None:
        """Set (or move) the booking's reminder, unless a newer event's reminder is stored."""
        ...

    async def drop_reminder(self, booking_id: str, sequence: int) -> None:
        """The talk is cancelled: its reminder is never sent."""
        ...

    async def claim_reminder(self, now: datetime) -> Reminder | None:
        """One due reminder, leased to the caller (or one whose sender died mid-way)."""
        ...

    async def erase_booking(self, booking_id: str) -> None:
        """Erase what is stored about the booking: its pending messages are dropped (never sent), every
        message's text and recipient is removed, its reminder is cancelled for good."""

    async def erase_sent_bodies(self, sent_before: datetime) -> int:
        """Remove the texts of messages sent before ``sent_before`` (the list of what was sent stays)."""

    async def to_recipient(self, address: str) -> Sequence[DeliverySummary]:
        """Every delivery to this address (the export of one person's data)."""

    async def reminder_done(self, reminder: Reminder, status: ReminderStatus) -> None:
        """The claimed reminder's messages are stored (``sent``) or it came too late (``skipped``)."""
        ...


class MongoDeliveryStore:
    """``DeliveryStore`` on MongoDB. ``on_stored`` callbacks run after new deliveries are written or a
    failed one is made due again (the sender's ``wake``): the one way to "send now"."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.deliveries = db["deliveries"]
        self.reminders = db["reminders"]
        self._listeners: list[Callable[[], None]] = []
        self._hand_to: Callable[[Batch], None] | None = None
        self._inserts = GroupedInserts(self.deliveries)
        self._reminder_writes = GroupedWrites(self.reminders)

    def on_stored(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def hand_new_to(self, sender: Callable[[Batch], None]) -> None:
        """Store new deliveries claimed for ``sender`` and hand them to it (the sender's ``hand``)."""
        self._hand_to = sender

    def _stored(self) -> None:
        for listener in self._listeners:
            listener()

    # --- deliveries ----------------------------------------------------------------------------------

    async def add(self, deliveries: list[Delivery]) -> int:
        """With a sender to hand them to (``hand_new_to``), the new deliveries are stored claimed for it
        and handed over: sent at once, without a query to find them. Those stored before stay as they are."""
        if not deliveries:
            return 0
        claim = uuid.uuid4().hex
        claimed_at = min(d.next_attempt_at for d in deliveries)
        lease = {"claim": claim, "next_attempt_at": claimed_at + LEASE} if self._hand_to is not None else {}
        # Written together with the deliveries of the events handled at the same time: one write for many.
        added = await self._inserts.insert([{**_to_document(d), **lease} for d in deliveries])
        new = [delivery for delivery, duplicate in zip(deliveries, added, strict=True) if duplicate is None]
        if self._hand_to is not None:
            self._hand_to(Batch(claim, new, claimed_at))
        else:
            self._stored()
        return len(new)

    async def claim_due(self, now: datetime, limit: int = 50) -> Batch:
        claim = uuid.uuid4().hex
        due = {"status": "pending", "next_attempt_at": {"$lte": now}}
        ids = [d["_id"] async for d in self.deliveries.find(due, {"_id": 1}).limit(limit)]
        if not ids:
            return Batch(claim, [])
        await self.deliveries.update_many(
            {"_id": {"$in": ids}, **due}, {"$set": {"next_attempt_at": now + LEASE, "claim": claim}}
        )
        docs = await self.deliveries.find({"_id": {"$in": ids}, "claim": claim}).to_list()
        return Batch(claim, [_to_delivery(doc) for doc in docs], now)

    async def record(self, attempts: Sequence[Attempt]) -> None:
        """One round trip, its writes unordered, so one that fails holds up no other. The sends that went
        out are one statement (a server's cost is per statement more than per document), each delivery
        matched only while still claimed by one of these sends' claims, with the latest of their times as
        ``sent_at``; a retry or a failure is a statement of its own."""
        if not attempts:
            return
        sent = [a for a in attempts if isinstance(a.outcome, Sent)]
        writes: list[tuple[UpdateOne | UpdateMany, list[Attempt]]] = [
            (UpdateOne({"_id": a.delivery.id, "claim": a.claim}, _outcome_update(a.outcome)), [a])
            for a in attempts
            if not isinstance(a.outcome, Sent)
        ]
        if sent:
            still_claimed = {
                "_id": {"$in": [a.delivery.id for a in sent]},
                "claim": {"$in": list({a.claim for a in sent})},
            }
            latest = Sent(max(a.outcome.at for a in sent))
            writes.append((UpdateMany(still_claimed, _outcome_update(latest)), sent))
        try:
            await self.deliveries.bulk_write([write for write, _ in writes], ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                for attempt in writes[error["index"]][1]:
                    log.error(
                        "could not record a delivery's outcome: %s",
                        error.get("errmsg"),
                        extra={"delivery": attempt.delivery.id},
                    )

    async def release(self, ids: Iterable[str], claim: str, now: datetime) -> None:
        await self.deliveries.update_many(
            {"_id": {"$in": list(ids)}, "claim": claim}, {"$set": {"claim": None, "next_attempt_at": now}}
        )

    async def list(self, status: Status | None, booking_id: str | None, limit: int) -> list[DeliverySummary]:
        query: Document = {}
        if status:
            query["status"] = status
        if booking_id:
            query["booking_id"] = booking_id
        projection = {"message.html": 0, "message.calendar": 0}
        docs = await self.deliveries.find(query, projection).sort("created_at", -1).limit(limit).to_list()
        return [DeliverySummary(**_summary_fields(doc)) for doc in docs]

    async def retry(self, delivery_id: str, now: datetime) -> bool:
        result = await self.deliveries.update_one(
            {"_id": delivery_id, "status": "failed"}, {"$set": {"status": "pending", "next_attempt_at": now}}
        )
        if result.modified_count != 1:
            return False
        self._stored()
        return True

    # --- reminders ------------------------------------------------------------------------------------

    async def schedule_reminder(self, reminder: Reminder) -> None:
        fields = {
            "booking": reminder.booking.model_dump(mode="python"),
            "slot": reminder.slot.model_dump(mode="python"),
            "status_url": reminder.status_url,
            "sequence": reminder.sequence,
            "due_at": reminder.due_at,
            "status": "pending",
            "lease_until": None,
        }
        # The filter is ``Reminder.replaces``. No match because a newer event's reminder is stored: the
        # upsert then collides on _id, and is dropped (the DuplicateKeyError returned is ignored).
        # Written together with the reminders of the events handled at the same time: one write for many.
        replaces = {"_id": reminder.booking_id, "sequence": {"$lte": reminder.sequence}}
        await self._reminder_writes.write([UpdateOne(replaces, {"$set": fields}, upsert=True)])

    async def drop_reminder(self, booking_id: str, sequence: int) -> None:
        await self._reminder_writes.write(
            [UpdateOne({"_id": booking_id}, {"$set": {"status": "cancelled", "sequence": sequence}}, upsert=True)]
        )

    async def claim_reminder(self, now: datetime) -> Reminder | None:
        candidates = [
            *await self.reminders.find({"status": "pending", "due_at": {"$lte": now}}).limit(20).to_list(),
            *await self.reminders.find({"status": "sending", "lease_until": {"$lt": now}}).limit(20).to_list(),
        ]
        for candidate in candidates:
            taken = await self.reminders.update_one(
                {
                    "_id": candidate["_id"],
                    "sequence": candidate["sequence"],
                    "status": candidate["status"],
                    "lease_until": candidate["lease_until"],
                },
                {"$set": {"status": "sending", "lease_until": now + LEASE}},
            )
            if taken.modified_count == 1:
                return _to_reminder({**candidate, "status": "sending"})
        return None

    async def reminder_done(self, reminder: Reminder, status: ReminderStatus) -> None:
        await self.reminders.update_one(
            {"_id": reminder.booking_id, "sequence": reminder.sequence, "status": "sending"},
            {"$set": {"status": status, "lease_until": None}},
        )

    # --- personal data ---------------------------------------------------------------------------------

    async def erase_booking(self, booking_id: str) -> None:
        await self.deliveries.update_many(
            {"booking_id": booking_id, "status": "pending"}, {"$set": {"status": "dropped", "claim": None}}
        )
        await self.deliveries.update_many({"booking_id": booking_id}, {"$set": {"to": ""}, "$unset": {"message": ""}})
        reminder = await self.reminders.find_one({"_id": booking_id}, {"booking": 1})
        # A tombstone with the highest sequence: no later event brings the reminder (and its data) back.
        fields: Document = {"status": "cancelled", "sequence": ERASED_SEQUENCE, "status_url": ""}
        if reminder is not None and reminder.get("booking"):
            anonymised = BookingDetails.model_validate(reminder["booking"]).anonymised()
            fields["booking"] = anonymised.model_dump(mode="python")
        await self.reminders.update_one({"_id": booking_id}, {"$set": fields}, upsert=True)

    async def erase_sent_bodies(self, sent_before: datetime) -> int:
        result = await self.deliveries.update_many(
            {"status": "sent", "sent_at": {"$lt": sent_before}, "message": {"$exists": True}},
            {"$unset": {"message": ""}},
        )
        return result.modified_count

    async def to_recipient(self, address: str) -> Sequence[DeliverySummary]:
        docs = await self.deliveries.find({"to": address}, {"message.html": 0, "message.calendar": 0}).to_list()
        return [DeliverySummary(**_summary_fields(doc)) for doc in docs]


ERASED_SEQUENCE = 2**31 - 1


def _outcome_update(outcome: Outcome) -> Document:
    return {"$set": {**_outcome_fields(outcome), "claim": None}, "$inc": {"attempts": 1}}


def _outcome_fields(outcome: Outcome) -> Document:
    if isinstance(outcome, Sent):
        return {"status": "sent", "sent_at": outcome.at, "last_error": None}
    if isinstance(outcome, Retry):
        return {"status": "pending", "next_attempt_at": outcome.at, "last_error": outcome.reason}
    return {"status": "failed", "failed_at": outcome.at, "last_error": outcome.reason}


# --- documents ---------------------------------------------------------------------------------------------


def _to_document(delivery: Delivery) -> Document:
    message = delivery.message
    assert message is not None, "a new delivery carries its message"
    payload: Document = {"text": message.text}
    if isinstance(message, Email):
        payload |= {
            "subject": message.subject,
            "html": message.html,
            "calendar": message.calendar,
            "method": message.method,
        }
    return {
        "_id": delivery.id,
        "event_id": delivery.event_id,
        "booking_id": delivery.booking_id,
        "channel": delivery.channel,
        "kind": delivery.kind,
        "to": delivery.to,
        "message": payload,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "created_at": delivery.created_at,
    }


def _summary_fields(doc: Document) -> Document:
    """The bookkeeping of a stored delivery. A document that lacks some of it (one an old version wrote,
    say) still loads, so that sending it fails that delivery alone instead of the whole batch."""
    message = doc.get("message")
    next_attempt_at = doc.get("next_attempt_at") or doc.get("created_at") or datetime.fromtimestamp(0, UTC)
    return {
        "id": doc["_id"],
        "event_id": doc.get("event_id", ""),
        "booking_id": doc.get("booking_id", ""),
        "channel": "sms" if doc.get("channel") == "sms" else "email",
        "kind": doc.get("kind", ""),
        "to": doc.get("to", ""),
        "subject": message.get("subject") if isinstance(message, dict) else None,
        "status": doc.get("status", "pending"),
        "attempts": doc.get("attempts", 0),
        "next_attempt_at": next_attempt_at,
        "created_at": doc.get("created_at") or next_attempt_at,
        "last_error": doc.get("last_error"),
        "sent_at": doc.get("sent_at"),
        "failed_at": doc.get("failed_at"),
    }


def _to_delivery(doc: Document) -> Delivery:
    return Delivery(**_summary_fields(doc), message=_to_message(doc))


def _to_message(doc: Document) -> Outgoing | None:
    """The stored message, or None when it cannot be read back (say, a document an old version wrote)."""
    try:
        payload = doc["message"]
        if doc["channel"] == "sms":
            return Sms(kind=doc["kind"], to=doc["to"], text=payload["text"])
        return Email(
            kind=doc["kind"],
            to=doc["to"],
            subject=payload["subject"],
            text=payload["text"],
            html=payload["html"],
            calendar=payload.get("calendar"),
            method=payload.get("method"),
        )
    except (KeyError, TypeError, AttributeError):
        return None


def _to_reminder(doc: Document) -> Reminder:
    return Reminder(
        booking_id=doc["_id"],
        booking=BookingDetails.model_validate(doc["booking"]),
        slot=Slot.model_validate(doc["slot"]),
        status_url=doc["status_url"],
        sequence=doc["sequence"],
        due_at=doc["due_at"],
        status=doc["status"],
    )
