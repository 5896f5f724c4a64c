"""Transactional outbox embedded in the aggregate documents.

A service stores an event in the same document write as the change it announces (``outbox`` array,
``outbox_pending`` flag and an ``outbox_due`` time), so the change and its event are one atomic
write: never one without the other. ``OutboxRelay`` publishes what is due, with confirms, then removes it.

Several replicas may relay at once: a relay claims documents with a lease (``outbox_due`` moved
into the future, ``outbox_owner`` set to its claim token), so in normal operation each event is
published once. If a relay dies after publishing and before removing, the lease runs out and the
event is published again: delivery is at least once, and every consumer is idempotent on
``event_id``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from prometheus_client import Gauge
from pymongo.asynchronous.collection import AsyncCollection

from shared.contracts.events import Event, event_to_document
from shared.infra.poller import Poller

log = logging.getLogger(__name__)

OUTBOX_BACKLOG = Gauge("inspiration_outbox_backlog", "Documents with events waiting to be published", ["collection"])


class EventPublisher(Protocol):
    async def publish(self, event: dict[str, Any]) -> None: ...


def outbox_fields(events: Iterable[Event], now: datetime) -> dict[str, Any]:
    """Fields for a new document that carries ``events``."""
    return {"outbox": [event_to_document(e) for e in events], "outbox_pending": True, "outbox_due": now}


def outbox_update(events: Iterable[Event], now: datetime) -> dict[str, Any]:
    """Update operators that append ``events`` to a document's outbox (merge into your update)."""
    return {
        "$push": {"outbox": {"$each": [event_to_document(e) for e in events]}},
        "$set": {"outbox_pending": True, "outbox_due": now},
        "$unset": {"outbox_owner": ""},
    }


def merge_updates(*updates: dict[str, Any]) -> dict[str, Any]:
    """Merge MongoDB update documents operator by operator."""
    merged: dict[str, dict[str, Any]] = {}
    for update in updates:
        for operator, fields in update.items():
            merged.setdefault(operator, {}).update(fields)
    return merged


# The relay's query leads with an equality on the flag: cheap on every MongoDB-protocol server.
OUTBOX_INDEXES = [("outbox_pending", 1), ("outbox_due", 1)]


class OutboxRelay:
    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        publisher: EventPublisher,
        *,
        lease: timedelta = timedelta(seconds=30),
        poll_interval: float = 1.0,
        batch_size: int = 200,
        gather: float = 0.05,
        retry_after: timedelta = timedelta(seconds=2),
    ) -> None:
        self._collection = collection
        self._publisher = publisher
        self._lease = lease
        self._batch_size = batch_size
        self._retry_after = retry_after
        self._poller = Poller(
            f"outbox relay {collection.name}", self.publish_due, interval=poll_interval, gather=gather
        )

    def wake(self) -> None:
        """Tell the relay that something was just stored (saves waiting for the next poll)."""
        self._poller.wake()

    async def run(self) -> None:
        """Publish until ``stop``; under load a batch may gather (``gather``): a pass costs the database
        about the same for one event as for a hundred, so passes back to back would spend it on bookkeeping."""
        await self._poller.run()

    def stop(self) -> None:
        """Let ``run`` end after one last pass, so what was stored before shutdown goes out now."""
        self._poller.stop()

    async def publish_due(self) -> int:
        """Claim, publish and clear one batch of due documents; returns how many events went out."""
        now = datetime.now(UTC)
        # Every query leads with the flag, as the index does. The batch is the oldest due documents up
        # to a cutoff time, claimed by one range write (a long list of ids in ``$in`` is slow on some
        # servers, SecantusDB, and holds their write lock).
        due = {"outbox_pending": True, "outbox_due": {"$lte": now}}
        oldest = (
            await self._collection.find(due, {"outbox_due": 1}).sort("outbox_due", 1).limit(self._batch_size).to_list()
        )
        if not oldest:
            OUTBOX_BACKLOG.labels(self._collection.name).set(0)
            return 0
        cutoff = oldest[-1]["outbox_due"]
        token = uuid.uuid4().hex
        mine = {"outbox_pending": True, "outbox_owner": token}
        await self._collection.update_many(
            {"outbox_pending": True, "outbox_due": {"$lte": cutoff}},
            {"$set": {"outbox_due": now + self._lease, "outbox_owner": token}},
        )
        claimed = await self._collection.find(mine, {"outbox": 1}).to_list()
        backlog = (
            len(oldest)
            if len(oldest) < self._batch_size
            else await self._collection.count_documents({"outbox_pending": True})
        )
        OUTBOX_BACKLOG.labels(self._collection.name).set(backlog)
        results = await asyncio.gather(*(self._publish_document(doc) for doc in claimed), return_exceptions=True)
        done: list[Any] = []
        failed: list[Any] = []
        sent_ids: list[str] = []
        for doc, sent in zip(claimed, results, strict=True):
            if isinstance(sent, BaseException):
                failed.append(doc["_id"])
                continue
            if len(sent) == len(doc.get("outbox", [])):
                done.append(doc["_id"])
            sent_ids.extend(sent)
        all_cleared = True
        if done:
            # One write clears every fully published document that no writer touched since the claim
            # (a writer appending an event also drops the claim, so such a document is not matched).
            cleared = await self._collection.update_many(
                mine if len(done) == len(claimed) else {**mine, "_id": {"$in": done}},
                {"$set": {"outbox": []}, "$unset": {"outbox_pending": "", "outbox_due": "", "outbox_owner": ""}},
            )
            all_cleared = cleared.modified_count == len(done)
        if sent_ids and (not all_cleared or len(done) < len(claimed)):
            # The rest: take out exactly what went out; what is left stays due.
            await self._collection.update_many(
                {"_id": {"$in": [doc["_id"] for doc in claimed]}},
                {"$pull": {"outbox": {"event_id": {"$in": sent_ids}}}},
            )
        if failed:
            # The broker is away or slow: try these again soon (not only when the lease runs out).
            error = next(r for r in results if isinstance(r, BaseException))
            log.warning("publishing %d outbox document(s) failed; retrying soon: %r", len(failed), error)
            await self._collection.update_many(
                {**mine, "_id": {"$in": failed}},
                {"$set": {"outbox_due": datetime.now(UTC) + self._retry_after}, "$unset": {"outbox_owner": ""}},
            )
        return len(sent_ids)

    async def _publish_document(self, doc: dict[str, Any]) -> list[str]:
        sent: list[str] = []
        for event in doc.get("outbox", []):  # in order: one document's events keep their order
            await self._publisher.publish(event)
            sent.append(event["event_id"])
        return sent
