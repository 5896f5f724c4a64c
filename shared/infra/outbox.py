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
the relay publishes them from memory, with no query to find them, and clears them a little later
(``clear_after``), a few documents a write, beside the publishing. The claim is the same lease as
above, so if the process dies first, any relay publishes them once the lease runs out.

Where a document's next write usually follows soon (a booking's outcome), that write takes the clear
along (``OutboxRelay.update_and_clear``): the clear then costs no statement of its own.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from prometheus_client import Gauge
from pymongo.asynchronous.collection import AsyncCollection

from shared.contracts.events import Event, event_to_document
from shared.infra.poller import Poller

log = logging.getLogger(__name__)

# Documents cleared in one write at most: a longer write holds up the database's other work (SecantusDB
# serves one write at a time, and each document a write changes takes it about half a millisecond). At
# shutdown nobody waits, but a longer list of ids costs SecantusDB more per document (0.8 ms at 200).
CLEAR_AT_MOST = 8
CLEAR_AT_SHUTDOWN = 50

# What clears a document whose events all went out.
CLEARED: dict[str, Any] = {
    "$set": {"outbox": []},
    "$unset": {"outbox_pending": "", "outbox_due": "", "outbox_owner": ""},
}

OUTBOX_BACKLOG = Gauge("inspiration_outbox_backlog", "Documents with events waiting to be published", ["collection"])
OUTBOX_UNCLEARED = Gauge(
    "inspiration_outbox_uncleared", "Documents whose events went out, not yet cleared from them", ["collection"]
)


class EventPublisher(Protocol):
    async def publish(self, event: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Handoff:
    """One write's events, claimed for the writer's relay, to be handed to it once the write is stored."""

    owner: str  # the claim token the write sets
    until: datetime  # the lease: the relay publishes them before, or any relay after
    events: list[dict[str, Any]]


class Sent(NamedTuple):
    """What publishing one hand-over came to, and all that clearing its document needs: not the events
    themselves, which are many objects each, and thousands of these may wait to be cleared (every full
    garbage collection goes over them: the service pauses longer the more there are)."""

    document_id: Any
    owner: str  # the hand-over's claim token
    size: int  # events handed over
    sent: tuple[str, ...]  # the ids of those that went out, in order
    error: BaseException | None = None  # why the rest did not

    @property
    def whole(self) -> bool:
        return len(self.sent) == self.size

    @property
    def only_these(self) -> dict[str, Any]:
        """The condition for clearing the document: it holds exactly these events, still claimed as
        they were written (a write that adds events drops or changes the claim)."""
        return {"outbox_owner": self.owner, "outbox": {"$size": self.size}}


def only_these_of(published: Iterable[Sent]) -> list[dict[str, Any]]:
    """``Sent.only_these`` of several documents in one condition per number of events (almost always
    one): a statement over them costs SecantusDB a third less than a statement per document. A claim
    token is its hand-over's own, so the two lists cannot pair one document's id with another's token."""
    by_size: dict[int, list[Sent]] = {}
    for sent in published:
        by_size.setdefault(sent.size, []).append(sent)
    return [
        {
            "_id": {"$in": [sent.document_id for sent in same_size]},
            "outbox_owner": {"$in": [sent.owner for sent in same_size]},
            "outbox": {"$size": size},
        }
        for size, same_size in by_size.items()
    ]


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
        """``clear_after``: how long a document whose events went out waits for its next write to take
        the clear along (``update_and_clear``) before the relay clears it itself; at most a quarter of the
        lease, since until the clear the document stays claimed."""
        self._collection = collection
        self._publisher = publisher
        self._lease = lease
        self._batch_size = batch_size
        self._retry_after = retry_after
        self._poll_interval = poll_interval
        self._poll_at = 0.0  # when the next pass looks for due documents (the event loop's clock)
        self._handed: list[tuple[Any, Handoff]] = []
        # Went out, not yet cleared: by document, when (the event loop's clock), oldest first.
        self._published: dict[Any, tuple[float, tuple[Sent, ...]]] = {}
        self._given_back: list[Sent] = []  # to be cleared now
        self._clear_after = min(clear_after, lease.total_seconds() / 4)
        self._stopping = False
        self._poller = Poller(f"outbox relay {collection.name}", self._one_pass, interval=poll_interval, gather=gather)
        self._clearer = Poller(f"outbox relay {collection.name} clears", self._clear_pass, interval=self._clear_pause)

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

    async def update_and_clear(self, query: dict[str, Any], update: dict[str, Any]) -> bool:
        """``update_one`` of the document ``query`` names by ``_id``, which also clears its published
        events when that is all the relay still owes it: one write instead of two, and the relay leaves
        the document alone. Where the clear's condition does not hold, the update is made alone and the
        relay clears as usual. Returns whether the document was modified."""
        taken = self._take_clear(query["_id"])
        if taken is not None:
            try:
                cleared = merge_updates(update, CLEARED)
                result = await self._collection.update_one({**query, **taken.only_these}, cleared)
            except BaseException:
                self._give_back(taken)
                raise
            if result.modified_count == 1:
                return True
            self._give_back(taken)  # the document holds more, or the write's own condition failed
        result = await self._collection.update_one(query, update)
        return result.modified_count == 1

    def _take_clear(self, document_id: Any) -> Sent | None:
        """The one hand-over of ``document_id`` that went out whole, if that is all the relay owes it."""
        _, published = self._published.get(document_id, (0.0, ()))
        if len(published) != 1 or not published[0].whole:
            return None
        del self._published[document_id]
        return published[0]

    def _give_back(self, sent: Sent) -> None:
        """A write that took a clear did not make it: the relay clears the document itself, now."""
        self._given_back.append(sent)
        self._clearer.wake()

    async def run(self) -> None:
        """Publish until ``stop``; under load a batch may gather (``gather``): a pass costs the database
        about the same for one event as for a hundred, so passes back to back would spend it on bookkeeping.
        Clearing published documents runs beside it, and ends after it."""
        clearing = asyncio.create_task(self._clearer.run(), name=f"{self._poller.name} clears")
        try:
            await self._poller.run()
        finally:
            self._clearer.stop()
            await clearing

    def stop(self) -> None:
        """Let ``run`` end after one last pass, so what was stored before shutdown goes out now (and,
        after it, one last clear)."""
        self._poll_at = 0.0
        self._stopping = True
        self._poller.stop()

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
        """Publish the events handed over since the last pass; returns how many went out. Their
        documents are cleared by ``_clear_pass``, apart, so that publishing never waits for it."""
        handed, self._handed = self._handed, []
        results = await asyncio.gather(*(self._publish_events(doc_id, handoff) for doc_id, handoff in handed))
        now = asyncio.get_running_loop().time()
        if results and not self._published:
            self._clearer.wake()  # it waits for the next poll: now it has a time to wait for
        for result in results:  # a document keeps its place (and time) if it was handed over before
            at, earlier = self._published.get(result.document_id, (now, ()))
            self._published[result.document_id] = (at, (*earlier, result))
        self._count_uncleared()
        return sum(len(result.sent) for result in results)

    async def _clear_pass(self) -> int:
        """One write's worth (``CLEAR_AT_MOST``) of the documents to clear: those given back, then those
        published ``clear_after`` ago or longer; at shutdown all of them, in larger writes
        (``CLEAR_AT_SHUTDOWN``). Returns how many."""
        limit = CLEAR_AT_SHUTDOWN if self._stopping else CLEAR_AT_MOST
        cleared = 0
        try:
            while due := self._take_due(limit):
                await self._clear_published(due)
                cleared += len(due)
                if not self._stopping:
                    break
        finally:
            self._count_uncleared()
        return cleared

    def _take_due(self, limit: int) -> list[Sent]:
        due, self._given_back = self._given_back[:limit], self._given_back[limit:]
        cutoff = asyncio.get_running_loop().time() - self._clear_after
        while self._published and len(due) < limit:  # oldest first: stop at the first that may still wait
            doc_id, (at, published) = next(iter(self._published.items()))
            if not self._stopping and at > cutoff:
                break
            del self._published[doc_id]
            due.extend(published)
        return due

    async def _clear_pause(self) -> float:
        """Until the oldest published document has waited half as long again as it must (or the next
        poll): a pass then clears all published meanwhile together, not one write each."""
        if self._given_back:
            return 0.0
        if not self._published:
            return self._poll_interval
        oldest, _ = next(iter(self._published.values()))
        due_in = oldest + self._clear_after * 1.5 - asyncio.get_running_loop().time()
        return max(0.0, min(self._poll_interval, due_in))

    def _count_uncleared(self) -> None:
        OUTBOX_UNCLEARED.labels(self._collection.name).set(len(self._published) + len(self._given_back))

    async def _clear_published(self, published: list[Sent]) -> None:
        """One write for the documents whose events went out (one per number of events, so almost always
        one), which removes a document's events only if they are all it holds and it is still claimed as
        they were written. Where that is not so (another write added events meanwhile, or the broker
        failed), exactly the published events are taken out and the rest is left due for the claiming path.
        Until this write, a document stays claimed by this relay: should the process die first, its events
        go out again once the lease runs out (at least once, as always)."""
        whole = [sent for sent in published if sent.whole]
        cleared = 0
        for condition in only_these_of(whole):
            result = await self._collection.update_many(condition, CLEARED)
            cleared += result.modified_count
        failed = [sent for sent in published if not sent.whole]
        if cleared == len(whole) and not failed:
            return
        sent_ids = [event_id for sent in published for event_id in sent.sent]
        ids = [sent.document_id for sent in published]
        if sent_ids:
            await self._collection.update_many(
                {"_id": {"$in": ids}}, {"$pull": {"outbox": {"event_id": {"$in": sent_ids}}}}
            )
        due = datetime.now(UTC) + (self._retry_after if failed else timedelta(0))
        await self._collection.update_many(
            {"_id": {"$in": ids}, "outbox_owner": {"$in": [sent.owner for sent in published]}},
            {"$set": {"outbox_due": due}, "$unset": {"outbox_owner": ""}},
        )
        self.wake()  # the publishing pass takes over what is left
        if failed:
            error = next(sent.error for sent in failed)
            log.warning("publishing %d handed-over document(s) failed; retrying soon: %r", len(failed), error)

    async def _publish_events(self, document_id: Any, handoff: Handoff) -> Sent:
        """Publish one hand-over's events in order (one document's events keep their order), up to the
        first that fails."""
        sent: list[str] = []
        for event in handoff.events:
            try:
                await self._publisher.publish(event)
            except Exception as error:
                if sent:
                    log.warning("publishing stopped after %d of a document's events", len(sent), exc_info=True)
                return Sent(document_id, handoff.owner, len(handoff.events), tuple(sent), error)
            sent.append(event["event_id"])
        return Sent(document_id, handoff.owner, len(handoff.events), tuple(sent))

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
                CLEARED,
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
