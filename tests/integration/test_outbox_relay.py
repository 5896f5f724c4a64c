"""The transactional outbox (``shared.infra.outbox``, see docs/architecture.md): a stored booking is
never lost and, in normal operation, never published twice, even with several relays, and even if a
relay dies half-way.

The bookings are stored with the ``MongoBookingStore`` directly, with no relay running: exactly the state a
booking service leaves behind when it dies between storing and publishing. Relays are then run by
hand over the same collection with a real ``Publisher`` on a real exchange, and a private queue
bound to ``booking.requested`` counts what reaches the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractChannel, AbstractQueue
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.booking.domain import (
    Booking,
    BookingRules,
    OutcomeUpdate,
    new_reference,
    new_secret,
    outcome_update,
    parse_booking,
)
from services.booking.store import INDEXES, MongoBookingStore
from shared.contracts.events import EXCHANGE, BookingScheduledData, new_event
from shared.contracts.models import BookingDetails, ConsultantRef, Slot
from shared.infra.messaging import Publisher
from shared.infra.mongo import ensure_indexes
from shared.infra.outbox import OutboxRelay, outbox_fields, outbox_update
from tests.dates import closed
from tests.polling import eventually

pytestmark = pytest.mark.integration

Document = dict[str, Any]
LONG_LEASE = timedelta(seconds=60)  # longer than any test: a held claim never runs out by accident


# --- fixtures -------------------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def bookings(db: AsyncDatabase[Document]) -> AsyncCollection[Document]:
    await ensure_indexes(db, INDEXES)
    return db.bookings


@pytest_asyncio.fixture
async def channel(amqp_url: str) -> AsyncIterator[AbstractChannel]:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        yield await connection.channel(publisher_confirms=True)


@pytest_asyncio.fixture
async def requested(channel: AbstractChannel) -> AbstractQueue:
    """A private queue that gets a copy of every ``booking.requested`` published from now on."""
    await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
    await queue.bind(EXCHANGE, routing_key="booking.requested")
    return queue


@pytest_asyncio.fixture
async def publisher(channel: AbstractChannel) -> Publisher:
    """The real publisher (persistent messages, publisher confirms) on the real exchange."""
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    return Publisher(exchange)


@pytest.fixture
def store(bookings: AsyncCollection[Document]) -> MongoBookingStore:
    return MongoBookingStore(bookings)


# --- helpers --------------------------------------------------------------------------------------------------


def details() -> BookingDetails:
    now = datetime.now(UTC)
    start = (now + timedelta(days=30)).date()
    while closed(start):
        start += timedelta(days=1)
    raw = {
        "workplace": {"name": "Bostedet Lindely", "address": "Skovvej 12", "postcode": "8000", "city": "Aarhus C"},
        "contact": {"name": "Mette Hansen", "email": "mette@example.dk", "phone": "20304050"},
        "theme": "vaner-og-forandringer",
        "setting": "staff_meeting",
        "participants": 25,
        "duration_minutes": 105,
        "preferred_starts": [f"{start.isoformat()}T10:00"],
    }
    return parse_booking(raw, now=now, rules=BookingRules())


async def store_bookings(store: MongoBookingStore, count: int) -> dict[str, str]:
    """Store ``count`` bookings (no relay running); returns event id -> booking id."""
    booking = details()
    created = [
        Booking.request(
            booking,
            reference=new_reference(),
            secret=new_secret(),
            base_url="http://127.0.0.1:8080",
            now=datetime.now(UTC),
        )
        for _ in range(count)
    ]
    await asyncio.gather(*(store.add(c.booking, c.event) for c in created))
    return {str(c.event.event_id): c.booking.id for c in created}


async def received(queue: AbstractQueue, event_ids: Mapping[str, str]) -> Counter[str]:
    """How often each of ``event_ids`` is in the queue now (other events are not counted)."""
    counts: Counter[str] = Counter()
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        event = json.loads(message.body)
        if event["event_id"] in event_ids:
            assert message.message_id == event["event_id"]
            assert event["correlation_id"] == event_ids[event["event_id"]]
            counts[event["event_id"]] += 1
    return counts


async def each_received_once(queue: AbstractQueue, event_ids: Mapping[str, str], *, what: str) -> None:
    """Wait until every one of ``event_ids`` has reached the queue, each exactly once so far."""
    seen: Counter[str] = Counter()

    async def all_received() -> bool:
        seen.update(await received(queue, event_ids))
        return seen == Counter(dict.fromkeys(event_ids, 1))

    await eventually(all_received, what=what)


async def pending(bookings: AsyncCollection[Document]) -> int:
    """Bookings whose outbox still holds an event."""
    return await bookings.count_documents({"outbox.0": {"$exists": True}})


class DiesAfterPublishing:
    """A relay's publisher whose process dies right after the broker confirmed: the outbox is never cleared."""

    def __init__(self, inner: Publisher) -> None:
        self.inner = inner

    async def publish(self, event: dict[str, Any]) -> None:
        await self.inner.publish(event)
        raise ConnectionResetError("relay died after publishing, before clearing its outbox")


class Gated:
    """A relay's publisher that holds every event until ``opened`` is set."""

    def __init__(self, inner: Publisher) -> None:
        self.inner = inner
        self.opened = asyncio.Event()

    async def publish(self, event: dict[str, Any]) -> None:
        await self.opened.wait()
        await self.inner.publish(event)


class DiesBeforePublishing:
    """A relay's publisher whose process dies after claiming, before anything reached the broker."""

    async def publish(self, event: dict[str, Any]) -> None:
        raise ConnectionResetError("relay died before publishing")


# --- tests ----------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_booking_stored_while_no_relay_runs_is_published_once_when_one_starts(
    store: MongoBookingStore, bookings: AsyncCollection[Document], publisher: Publisher, requested: AbstractQueue
) -> None:
    events = await store_bookings(store, 1)

    # The service "died" right after storing: nothing is on the broker, the event waits in the outbox.
    assert await received(requested, events) == Counter()
    assert await pending(bookings) == 1

    relay = OutboxRelay(bookings, publisher, lease=LONG_LEASE, poll_interval=0.05)
    running = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _none_pending(bookings), what="the relay to publish the stored event")
    finally:
        relay.stop()
        await running
    assert await received(requested, events) == Counter({event_id: 1 for event_id in events})

    # Another pass (another replica, or the same one later) finds nothing left to publish.
    assert await OutboxRelay(bookings, publisher, lease=LONG_LEASE).publish_due() == 0
    assert await received(requested, events) == Counter()
    stored = await bookings.find_one({})
    assert stored is not None
    assert stored["outbox"] == [] and "outbox_due" not in stored and "outbox_owner" not in stored


@pytest.mark.asyncio
async def test_relay_that_dies_before_publishing_leaves_the_event_for_the_next_relay(
    store: MongoBookingStore, bookings: AsyncCollection[Document], publisher: Publisher, requested: AbstractQueue
) -> None:
    events = await store_bookings(store, 1)
    lease = timedelta(seconds=0.5)

    assert await OutboxRelay(bookings, DiesBeforePublishing(), lease=lease).publish_due() == 0
    assert await received(requested, events) == Counter()

    restarted = OutboxRelay(bookings, publisher, lease=LONG_LEASE)
    assert await restarted.publish_due() == 0  # the dead relay's claim holds until its lease runs out
    await eventually(restarted.publish_due, what="the lease of the dead relay to run out")

    assert await received(requested, events) == Counter({event_id: 1 for event_id in events})
    assert await pending(bookings) == 0


@pytest.mark.asyncio
async def test_relay_that_dies_after_publishing_is_followed_by_a_republish_at_least_once(
    store: MongoBookingStore, bookings: AsyncCollection[Document], publisher: Publisher, requested: AbstractQueue
) -> None:
    events = await store_bookings(store, 1)
    (event_id,) = events
    lease = timedelta(seconds=0.5)

    assert await OutboxRelay(bookings, DiesAfterPublishing(publisher), lease=lease).publish_due() == 0
    assert await received(requested, events) == Counter({event_id: 1})
    assert await pending(bookings) == 1  # the outbox was not cleared

    restarted = OutboxRelay(bookings, publisher, lease=LONG_LEASE)
    assert await restarted.publish_due() == 0  # not while the dead relay's lease holds
    await eventually(restarted.publish_due, what="the lease of the dead relay to run out")

    # Published a second time, with the same event id (at least once; consumers deduplicate on it).
    assert await received(requested, events) == Counter({event_id: 1})
    assert await pending(bookings) == 0
    assert await restarted.publish_due() == 0


@pytest.mark.asyncio
async def test_two_relays_running_at_once_publish_each_event_exactly_once(
    store: MongoBookingStore, bookings: AsyncCollection[Document], publisher: Publisher, requested: AbstractQueue
) -> None:
    events = await store_bookings(store, 200)
    assert len(events) == 200
    relays = [OutboxRelay(bookings, publisher, lease=LONG_LEASE, poll_interval=0.01, batch_size=20) for _ in range(2)]

    running = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        await eventually(lambda: _none_pending(bookings), what="all 200 events to be published")
    finally:
        for relay in relays:
            relay.stop()
        await asyncio.gather(*running)

    counts = await received(requested, events)
    assert set(counts) == set(events)
    duplicates = {event_id: n for event_id, n in counts.items() if n != 1}
    assert duplicates == {}


async def _none_pending(bookings: AsyncCollection[Document]) -> bool:
    return await pending(bookings) == 0


# --- handed over by the store that wrote them ---------------------------------------------------------------


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[OutboxRelay]:
    """``relay`` running, past its first poll; stopped (its last pass done) on the way out."""
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.1)
        yield relay
    finally:
        relay.stop()
        await task


@pytest.mark.asyncio
async def test_events_handed_over_by_their_store_are_published_at_once_and_cleared(
    bookings: AsyncCollection[Document], publisher: Publisher, requested: AbstractQueue
) -> None:
    # Polls far apart: only the hand-over can publish within the test.
    async with running(OutboxRelay(bookings, publisher, lease=LONG_LEASE, poll_interval=3600)) as relay:
        events = await store_bookings(MongoBookingStore(bookings, relay=relay), 5)
        await each_received_once(requested, events, what="the handed-over events on the broker")
        await eventually(lambda: _none_pending(bookings), what="the outbox to be cleared")
    assert await bookings.count_documents({"outbox_owner": {"$exists": True}}) == 0


@pytest.mark.asyncio
async def test_an_event_written_after_the_hand_over_is_not_cleared_with_it_but_published(
    bookings: AsyncCollection[Document], publisher: Publisher, requested: AbstractQueue
) -> None:
    gate = Gated(publisher)
    async with running(OutboxRelay(bookings, gate, lease=LONG_LEASE, poll_interval=3600)) as relay:
        now = datetime.now(UTC)
        created = [
            Booking.request(details(), reference=new_reference(), secret=new_secret(), base_url="http://x", now=now)
            for _ in range(4)
        ]
        store = MongoBookingStore(bookings, relay=relay)
        for c in created[:3]:
            await store.add(c.booking, c.event)  # handed over; the relay holds them at the gate
        # Meanwhile another writer (no hand-over) appends an event to the second booking's outbox.
        late = created[3].event
        await bookings.update_one({"_id": created[1].booking.id}, outbox_update([late], now))
        gate.opened.set()

        events = {str(c.event.event_id): c.booking.id for c in created}
        await each_received_once(requested, events, what="the handed-over events and the late one on the broker")
        await eventually(lambda: _none_pending(bookings), what="every outbox to be cleared")


@pytest.mark.asyncio
async def test_documents_handed_over_with_one_event_and_with_two_are_cleared_in_one_pass(
    bookings: AsyncCollection[Document], publisher: Publisher, requested: AbstractQueue
) -> None:
    gate = Gated(publisher)  # all published at once: cleared together, as under load
    async with running(OutboxRelay(bookings, gate, lease=LONG_LEASE, poll_interval=3600)) as relay:
        now = datetime.now(UTC)
        created = [
            Booking.request(details(), reference=new_reference(), secret=new_secret(), base_url="http://x", now=now)
            for _ in range(5)
        ]
        events = {str(c.event.event_id): c.booking.id for c in created}  # by correlation id
        held = {c.booking.id: [c.event] for c in created[:3]}
        held[created[0].booking.id].append(created[3].event)  # two events in one write
        held[created[1].booking.id].append(created[4].event)
        for c in created[:3]:
            handoff = relay.handoff(held[c.booking.id], now)
            await bookings.insert_one({"_id": c.booking.id, **outbox_fields([], now, handoff)})
            relay.hand(c.booking.id, handoff)
        gate.opened.set()

        await each_received_once(requested, events, what="the events of all three documents on the broker")
        await eventually(lambda: _none_pending(bookings), what="all three documents to be cleared")
    assert await bookings.count_documents({"outbox_pending": {"$exists": True}}) == 0


@pytest.mark.asyncio
async def test_events_handed_to_a_relay_that_died_are_published_once_by_another_after_the_lease(
    bookings: AsyncCollection[Document], publisher: Publisher, requested: AbstractQueue
) -> None:
    lease = timedelta(seconds=1)
    dead = OutboxRelay(bookings, DiesBeforePublishing(), lease=lease)  # never runs: its process died
    events = await store_bookings(MongoBookingStore(bookings, relay=dead), 3)
    other = OutboxRelay(bookings, publisher, lease=LONG_LEASE)

    assert await other.publish_due() == 0  # claimed by the writer's relay until its lease runs out
    await eventually(other.publish_due, what="the dead relay's lease to run out")

    assert await received(requested, events) == Counter(dict.fromkeys(events, 1))
    assert await pending(bookings) == 0


# --- the clear taken along by the document's next write ------------------------------------------------------


def scheduled(booking: Booking) -> OutcomeUpdate:
    """The scheduler's answer to ``booking``: placed at its first desired start."""
    start = booking.details.preferred_starts[0]
    consultant = ConsultantRef(id="anne", name="Anne Konsulent", email="anne@example.dk")
    slot = Slot(consultant=consultant, start=start, end=start + timedelta(hours=2))
    data = BookingScheduledData(
        booking_id=booking.id, booking=booking.details, status_url=booking.status_url, slot=slot, revision=1
    )
    update = outcome_update(new_event(data, now=datetime.now(UTC)))
    assert update is not None
    return update


async def requested_through(store: MongoBookingStore, count: int) -> list[Booking]:
    now = datetime.now(UTC)
    created = [
        Booking.request(details(), reference=new_reference(), secret=new_secret(), base_url="http://x", now=now)
        for _ in range(count)
    ]
    for c in created:
        await store.add(c.booking, c.event)
    return [c.booking for c in created]


def now() -> datetime:
    return datetime.now(UTC)


def holding_clears(bookings: AsyncCollection[Document], publisher: Publisher) -> OutboxRelay:
    """A relay that holds its own clears far longer than a test takes: within the test only a document's
    next write can clear it. Stopping it clears what is left."""
    return OutboxRelay(bookings, publisher, lease=LONG_LEASE, poll_interval=3600, clear_after=10)


@pytest.mark.asyncio
async def test_a_bookings_outcome_clears_its_published_request_from_the_outbox_in_the_same_write(
    bookings: AsyncCollection[Document], publisher: Publisher, requested: AbstractQueue
) -> None:
    async with running(holding_clears(bookings, publisher)) as relay:
        store = MongoBookingStore(bookings, relay=relay)
        first, second = await requested_through(store, 2)
        events = {str(b.history[0].event_id): b.id for b in (first, second)}
        await each_received_once(requested, events, what="both requests on the broker")
        assert await pending(bookings) == 2  # published; the relay waits for their next write

        assert await store.record_update(scheduled(first))

        stored = await bookings.find_one({"_id": first.id})
        assert stored is not None and stored["status"] == "scheduled"
        assert stored["outbox"] == []
        assert not {"outbox_pending", "outbox_due", "outbox_owner"} & set(stored)
        assert await pending(bookings) == 1  # the other booking's request still waits for its clear
    assert await pending(bookings) == 0  # cleared as the relay stopped
    assert await received(requested, events) == Counter()  # nothing published again


@pytest.mark.asyncio
async def test_an_outcome_that_finds_another_event_in_the_outbox_is_stored_and_that_event_still_goes_out(
    bookings: AsyncCollection[Document], publisher: Publisher, requested: AbstractQueue
) -> None:
    async with running(holding_clears(bookings, publisher)) as relay:
        store = MongoBookingStore(bookings, relay=relay)
        (booking,) = await requested_through(store, 1)
        request = {str(booking.history[0].event_id): booking.id}
        await each_received_once(requested, request, what="the request on the broker")
        # Meanwhile another writer (another replica: no hand-over) appends an event to the booking's outbox.
        other = Booking.request(details(), reference=new_reference(), secret=new_secret(), base_url="x", now=now())
        await bookings.update_one({"_id": booking.id}, outbox_update([other.event], now()))

        assert await store.record_update(scheduled(booking))  # stored all the same, without the clear

        stored = await bookings.find_one({"_id": booking.id})
        assert stored is not None and stored["status"] == "scheduled"
        late = {str(other.event.event_id): other.booking.id}
        await each_received_once(requested, late, what="the other writer's event on the broker")
        await eventually(lambda: _none_pending(bookings), what="the outbox to be cleared")
    assert await received(requested, {**request, **late}) == Counter()  # each went out once
