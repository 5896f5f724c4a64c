"""The ``deliveries`` and ``reminders`` collections.

A delivery is one message to one recipient on one channel for one event, keyed by
``event_id|channel|recipient``: storing the same event's messages again adds nothing, so a
redelivered event is never sent twice. The rendered message is stored with it, so a retry sends
exactly what was decided when the event arrived. A sender claims due deliveries with a lease.

A reminder is one per booking, due a configurable time before the talk; moving the talk moves it,
cancelling drops it, and it is claimed atomically so several notifiers send it once.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.notifier.compose import Email, Outgoing, Sms
from shared.contracts.models import BookingDetails, Slot

Document = dict[str, Any]
LEASE = timedelta(seconds=60)

INDEXES = {
    "deliveries": [
        IndexModel([("status", 1), ("next_attempt_at", 1)]),
        IndexModel([("booking_id", 1)]),
    ],
    "reminders": [IndexModel([("status", 1), ("due_at", 1)])],
    "processed_events": [],
}


def delivery_id(event_id: str, channel: str, recipient: str) -> str:
    return f"{event_id}|{channel}|{recipient}"


def to_document(event_id: str, booking_id: str, message: Outgoing, now: datetime) -> Document:
    channel = "email" if isinstance(message, Email) else "sms"
    payload: Document = {"text": message.text}
    if isinstance(message, Email):
        payload |= {
            "subject": message.subject,
            "html": message.html,
            "calendar": message.calendar,
            "method": message.method,
        }
    return {
        "_id": delivery_id(event_id, channel, message.to),
        "event_id": event_id,
        "booking_id": booking_id,
        "channel": channel,
        "kind": message.kind,
        "to": message.to,
        "message": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def to_message(doc: Document) -> Outgoing:
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


class DeliveryStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.deliveries = db["deliveries"]
        self.reminders = db["reminders"]

    # --- deliveries ----------------------------------------------------------------------------------

    async def add(self, event_id: str, booking_id: str, messages: list[Outgoing], now: datetime) -> int:
        """Store the messages of one event; those stored before are left alone. Returns how many are new."""
        if not messages:
            return 0
        docs = [to_document(event_id, booking_id, m, now) for m in messages]
        try:
            result = await self.deliveries.insert_many(docs, ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as exc:
            if any(error.get("code") != 11000 for error in exc.details.get("writeErrors", [])):
                raise
            return int(exc.details.get("nInserted", 0))

    async def claim_due(self, now: datetime, limit: int = 50) -> tuple[list[Document], str]:
        token = uuid.uuid4().hex
        due = {"status": "pending", "next_attempt_at": {"$lte": now}}
        ids = [d["_id"] async for d in self.deliveries.find(due, {"_id": 1}).limit(limit)]
        if not ids:
            return [], token
        await self.deliveries.update_many(
            {"_id": {"$in": ids}, **due}, {"$set": {"next_attempt_at": now + LEASE, "claim": token}}
        )
        return await self.deliveries.find({"_id": {"$in": ids}, "claim": token}).to_list(), token

    async def mark_sent(self, doc: Document, token: str, now: datetime) -> None:
        await self._finish(doc, token, {"status": "sent", "sent_at": now, "last_error": None})

    async def release(self, ids: Iterable[str], token: str, now: datetime) -> None:
        """Hand claimed deliveries back unsent (shutdown): due again at once."""
        await self.deliveries.update_many(
            {"_id": {"$in": list(ids)}, "claim": token}, {"$set": {"claim": None, "next_attempt_at": now}}
        )

    async def mark_retry(self, doc: Document, token: str, reason: str, at: datetime) -> None:
        await self._finish(doc, token, {"status": "pending", "next_attempt_at": at, "last_error": reason})

    async def mark_failed(self, doc: Document, token: str, reason: str, now: datetime) -> None:
        await self._finish(doc, token, {"status": "failed", "failed_at": now, "last_error": reason})

    async def _finish(self, doc: Document, token: str, fields: Document) -> None:
        await self.deliveries.update_one(
            {"_id": doc["_id"], "claim": token}, {"$set": {**fields, "claim": None}, "$inc": {"attempts": 1}}
        )

    async def list(self, status: str | None, booking_id: str | None, limit: int) -> list[Document]:
        query: Document = {}
        if status:
            query["status"] = status
        if booking_id:
            query["booking_id"] = booking_id
        projection = {"message.html": 0, "message.calendar": 0}
        return await self.deliveries.find(query, projection).sort("created_at", -1).limit(limit).to_list()

    async def retry(self, delivery: str, now: datetime) -> bool:
        """An admin asks to send a failed delivery again."""
        result = await self.deliveries.update_one(
            {"_id": delivery, "status": "failed"}, {"$set": {"status": "pending", "next_attempt_at": now}}
        )
        return result.modified_count == 1

    # --- reminders ------------------------------------------------------------------------------------

    async def schedule_reminder(
        self, booking_id: str, booking: BookingDetails, slot: Slot, status_url: str, sequence: int, due_at: datetime
    ) -> None:
        """Set (or move) the booking's reminder; an older event never overrides a newer one."""
        fields = {
            "booking": booking.model_dump(mode="python"),
            "slot": slot.model_dump(mode="python"),
            "status_url": status_url,
            "sequence": sequence,
            "due_at": due_at,
            "status": "pending",
            "lease_until": None,
        }
        # No match because a newer move is stored: the upsert then collides on _id, and is dropped.
        with contextlib.suppress(DuplicateKeyError):
            await self.reminders.update_one(
                {"_id": booking_id, "sequence": {"$lte": sequence}}, {"$set": fields}, upsert=True
            )

    async def drop_reminder(self, booking_id: str, sequence: int) -> None:
        await self.reminders.update_one(
            {"_id": booking_id}, {"$set": {"status": "cancelled", "sequence": sequence}}, upsert=True
        )

    async def claim_reminder(self, now: datetime) -> Document | None:
        """One due reminder, leased to this worker (or one whose worker died mid-way)."""
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
                return {**candidate, "status": "sending", "lease_until": now + LEASE}
        return None

    async def reminder_done(self, doc: Document, status: str) -> None:
        await self.reminders.update_one(
            {"_id": doc["_id"], "sequence": doc["sequence"], "status": "sending"},
            {"$set": {"status": status, "lease_until": None}},
        )
