"""Transactional outbox embedded in the aggregate documents.

A service stores an event in the same document write as the change it announces (``outbox`` array,
``outbox_pending`` flag and an ``outbox_due`` time), so the change and its event are one atomic
write: never one without the other. ``OutboxRelay`` publishes what is due, with confirms, then removes it.

Several replicas may relay at once: a relay claims documents with a lease (``outbox_due`` moved
into the future, ``outbox_owner`` set to its claim token), so in normal operation each event is
published once. If a relay dies after publishing and before removing, the lease runs out and the
event is published again: delivery is at least once, and every consumer is idempotent on
``event_id``.

The usual way out is shorter: a store that writes events with a ``Handoff`` (``OutboxRelay.handoff``)
writes them already claimed by its own relay, and after the write hands them over (``OutboxRelay.hand``):
the relay publishes them from memory and clears them, one database write for all the documents handed
over meanwhile, with no query to find them. The claim is the same lease as above, so if the process
dies first, any relay publishes them once the lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from prometheus_client import Gauge
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from shared.contracts.events import Event, event_to_document
from shared.infra.poller import Poller

log = logging.getLogger(__name__)

# Documents cleared in one write at most: a longer write holds up the database's other work (SecantusDB
# serves one write at a time; a few dozen statements take tens of milliseconds).
CLEAR_AT_MOST = 32

# What publishing one document's handed-over events came to: all went out (True), some (those listed),
# or none (the error).
PublishResult = bool | list[dict[str, Any]] | BaseException

OUTBOX_BACKLOG = Gauge("inspiration_outbox_backlog", "Documents with events waiting to be published", ["collection"])


class EventPublisher(Protocol):
    async def publish(self, event: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Handoff:
    """One write's events, claimed for the writer's relay, to be handed to it once the write is stored."""

    owner: str  # the claim token the write sets
    until: datetime  # the lease: the relay publishes them before, or any relay after
    events: list[dict[str, Any]]


def outbox_fields(events: Iterable[Event], now: datetime, handoff: Handoff | None = None) -> dict[str, Any]:
    """Fields for a new document that carries ``events`` (those of ``handoff``, if given)."""
    if handoff is None:
        return {"outbox": [event_to_document(e) for e in events], "outbox_pending": True, "outbox_due": now}
    return {
        "outbox": handoff.events,
        "outbox_pending": True,
        "outbox_due": handoff.until,
        "outbox_owner": handoff.owner,
    }


def outbox_update(events: Iterable[Event], now: datetime, handoff: Handoff | None = None) -> dict[str, Any]:
    """Update operators that append ``events`` (those of ``handoff``, if given) to a document's outbox
    (merge into your update)."""
    if handoff is None:
        return {
            "$push": {"outbox": {"$each": [event_to_document(e) for e in events]}},
            "$set": {"outbox_pending": True, "outbox_due": now},
            "$unset": {"outbox_owner": ""},
        }
    return {
        "$push": {"outbox": {"$each": handoff.events}},
        "$set": {"outbox_pending": True, "outbox_due": handoff.until, "outbox_owner": handoff.owner},
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
        clear_after: float = 0.5,
    ) -> None:
        self._collection = collection
        self._publisher = publisher
        self._lease = lease
        self._batch_size = batch_size
        self._retry_after = retry_after
        self._poll_interval = poll_interval
        self._poll_at = 0.0  # when the next pass looks for due documents (the event loop's clock)
        self._handed: list[tuple[Any, Handoff]] = []
        self._published: list[tuple[Any, Handoff, PublishResult]] = []  # not yet cleared from the documents
        self._clear_after = clear_after
        self._clear_at: float | None = None
        self._stopping = False
        self._poller = Poller(f"outbox relay {collection.name}", self._one_pass, interval=self._pause, gather=gather)

    def wake(self) -> None:
        """Tell the relay that something was just stored (saves waiting for the next poll)."""
        self._poll_at = 0.0
        self._poller.wake()

    def handoff(self, events: Iterable[Event], now: datetime) -> Handoff:
        """Claim ``events`` for this relay, to be written with them (``outbox_fields``, ``outbox_update``)."""
        return Handoff(uuid.uuid4().hex, now + self._lease, [event_to_document(e) for e in events])

    def hand(self, document_id: Any, handoff: Handoff) -> None:
        """The events of ``handoff`` are stored in the document ``document_id``: publish them now."""
        self._handed.append((document_id, handoff))
        self._poller.wake()

    async def run(self) -> None:
        """Publish until ``stop``; under load a batch may gather (``gather``): a pass costs the database
        about the same for one event as for a hundred, so passes back to back would spend it on bookkeeping."""
        await self._poller.run()

    def stop(self) -> None:
        """Let ``run`` end after one last pass, so what was stored before shutdown goes out now."""
        self._poll_at = 0.0
        self._stopping = True
        self._poller.stop()

    async def _pause(self) -> float:
        """Until the next poll, or sooner when published documents are due to be cleared."""
        if self._clear_at is None:
            return self._poll_interval
        return max(0.0, min(self._poll_interval, self._clear_at - asyncio.get_running_loop().time()))

    async def _one_pass(self) -> int:
        """What was handed over; and, once per poll interval (or at once after ``wake``, or while a
        backlog lasts), the due documents."""
        done = await self.publish_handed()
        loop = asyncio.get_running_loop()
        if loop.time() >= self._poll_at:
            found = await self.publish_due()
            done += found
            self._poll_at = loop.time() + (0.0 if found else self._poll_interval)
        return done

    async def publish_handed(self) -> int:
        """Publish the events handed over since the last pass; returns how many went out. Clearing them
        from their documents waits for more (``clear_after``): see ``_clear_published``."""
        handed, self._handed = self._handed, []
        loop = asyncio.get_running_loop()
        sent = 0
        if handed:
            results = await asyncio.gather(
                *(self._publish_events(handoff.events) for _, handoff in handed), return_exceptions=True
            )
            for (doc_id, handoff), result in zip(handed, results, strict=True):
                self._published.append((doc_id, handoff, result))
                sent += len(handoff.events) if result is True else len(result) if isinstance(result, list) else 0
            if self._clear_at is None:
                self._clear_at = loop.time() + self._clear_after
        if self._published and (
            self._stopping or loop.time() >= (self._clear_at or 0.0) or len(self._published) >= CLEAR_AT_MOST
        ):
            published, self._published, self._clear_at = self._published, [], None
            await self._clear_published(published)
        return sent

    async def _clear_published(self, published: list[tuple[Any, Handoff, PublishResult]]) -> None:
        """One write for the documents whose events went out: an update per document that removes its
        events only if they are all it holds and it is still claimed as they were written. Where that
        is not so (another write added events meanwhile, or the broker failed), exactly the published
        events are taken out and the rest is left due for the claiming path. Until this write, a
        document stays claimed by this relay: should the process die first, its events go out again
        once the lease runs out (at least once, as always)."""
        clear = {"$set": {"outbox": []}, "$unset": {"outbox_pending": "", "outbox_due": "", "outbox_owner": ""}}
        whole = [(doc_id, h) for doc_id, h, result in published if result is True]
        cleared = 0
        if whole:
            result = await self._collection.bulk_write(
                [
                    UpdateOne({"_id": doc_id, "outbox_owner": h.owner, "outbox": {"$size": len(h.events)}}, clear)
                    for doc_id, h in whole
                ],
                ordered=False,
            )
            cleared = result.modified_count
        failed = [result for _, _, result in published if result is not True]
        if cleared == len(whole) and not failed:
            return
        sent_ids = [
            event["event_id"]
            for _, h, result in published
            for event in (h.events if result is True else result if isinstance(result, list) else [])
        ]
        ids = [doc_id for doc_id, _, _ in published]
        if sent_ids:
            await self._collection.update_many(
                {"_id": {"$in": ids}}, {"$pull": {"outbox": {"event_id": {"$in": sent_ids}}}}
            )
        due = datetime.now(UTC) + (self._retry_after if failed else timedelta(0))
        await self._collection.update_many(
            {"_id": {"$in": ids}, "outbox_owner": {"$in": [h.owner for _, h, _ in published]}},
            {"$set": {"outbox_due": due}, "$unset": {"outbox_owner": ""}},
        )
        self._poll_at = 0.0
        if failed:
            error = next((r for r in failed if isinstance(r, BaseException)), None)
            log.warning("publishing %d handed-over document(s) failed; retrying soon: %r", len(failed), error)

    async def _publish_events(self, events: list[dict[str, Any]]) -> bool | list[dict[str, Any]]:
        """True when all went out; else raises, or the ones that went out before a failure."""
        for n, event in enumerate(events):  # in order: one document's events keep their order
            try:
                await self._publisher.publish(event)
            except Exception:
                if n == 0:
                    raise
                log.warning("publishing stopped after %d of a document's events", n, exc_info=True)
                return events[:n]
        return True

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
