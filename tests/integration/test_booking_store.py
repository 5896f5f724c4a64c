"""The MongoDB adapter of the booking store against a real MongoDB-protocol server: a booking comes back
as it was stored, a write with an event wakes the relay after it is stored, and the guards that keep
concurrent writers apart hold in the database too (a booking closed meanwhile, an outcome already there).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.booking.domain import (
    Booking,
    BookingRules,
    Idempotency,
    RescheduleRequest,
    new_reference,
    new_secret,
    outcome_update,
    parse_booking,
)
from services.booking.store import INDEXES, RETIRED_INDEXES, KeyTaken, MongoBookingStore, ReferenceTaken
from shared.contracts.events import BookingCancelledData, BookingScheduledData, Event, new_event
from shared.contracts.models import ConsultantRef, Slot
from shared.infra.mongo import ensure_indexes
from tests.integration.test_booking_api import valid_body

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

Document = dict[str, Any]


class Store:
    """The adapter, and what its collection held each time it woke the relay."""

    def __init__(self, bookings: AsyncCollection[Document]) -> None:
        self.bookings = bookings
        self.wakes = 0
        self.adapter = MongoBookingStore(bookings, on_commit=self._woken)

    def _woken(self) -> None:
        self.wakes += 1


@pytest_asyncio.fixture
async def store(db: AsyncDatabase[Document]) -> Store:
    await ensure_indexes(db, INDEXES)
    return Store(db.bookings)


def new_booking(key: str | None = None, *, reference: str | None = None) -> tuple[Booking, Event]:
    now = datetime.now(UTC).replace(microsecond=0)  # as MongoDB keeps it (milliseconds)
    details = parse_booking(valid_body(), now=now, rules=BookingRules())
    recorded = Booking.request(
        details,
        reference=reference or new_reference(),
        secret=new_secret(),
        base_url="http://127.0.0.1:8080",
        now=now,
        idempotency=Idempotency(key, "hash") if key else None,
    )
    return recorded.booking, recorded.event


async def test_a_booking_comes_back_as_it_was_stored_and_its_event_waits_in_the_outbox(store: Store) -> None:
    booking, event = new_booking("key-1")

    await store.adapter.add(booking, event)

    assert await store.adapter.get(booking.id) == booking
    document = await store.bookings.find_one({"_id": booking.id})
    assert document is not None
    assert [e["event_id"] for e in document["outbox"]] == [str(event.event_id)]
    assert store.wakes == 1


async def test_a_taken_reference_and_a_taken_key_are_told_apart(store: Store) -> None:
    first, event = new_booking("key-1")
    await store.adapter.add(first, event)

    with pytest.raises(ReferenceTaken):
        await store.adapter.add(*new_booking(reference=first.id))
    with pytest.raises(KeyTaken) as taken:
        await store.adapter.add(*new_booking("key-1"))
    assert taken.value.existing == first
    assert store.wakes == 1
    assert await store.bookings.count_documents({}) == 1


async def test_a_request_is_stored_only_while_the_stored_booking_is_open(store: Store) -> None:
    booking, event = new_booking()
    await store.adapter.add(booking, event)
    now = booking.created_at + timedelta(minutes=1)

    cancelling = booking.request_cancel(by="workplace", reason="", now=now)
    assert await store.adapter.record_request(cancelling.booking, cancelling.event)
    assert store.wakes == 2

    # Another replica read the booking before the cancel and now asks for a new time: refused.
    late = booking.request_reschedule(RescheduleRequest(by="workplace", preferred_starts=(now,)), now=now)
    assert not await store.adapter.record_request(late.booking, late.event)
    assert store.wakes == 2
    assert await store.adapter.get(booking.id) == cancelling.booking


async def test_an_outcome_is_stored_once_and_never_over_a_newer_one(store: Store) -> None:
    booking, event = new_booking()
    await store.adapter.add(booking, event)
    start = booking.details.preferred_starts[0]
    slot = Slot(
        consultant=ConsultantRef(id="anne", name="Anne Konsulent", email="anne@example.dk"),
        start=start,
        end=start + timedelta(hours=2),
    )

    def outcome(revision: int) -> Any:
        data = BookingScheduledData(
            booking_id=booking.id,
            booking=booking.details,
            status_url=booking.status_url,
            slot=slot,
            revision=revision,
        )
        return new_event(data, now=booking.created_at + timedelta(minutes=revision))

    newer = booking.apply_outcome(outcome(2))
    older = booking.apply_outcome(outcome(1))  # decided on the same read, written later
    assert newer is not None and older is not None

    assert await store.adapter.record_outcome(newer)
    assert not await store.adapter.record_outcome(newer)  # the same outcome again
    assert not await store.adapter.record_outcome(older)
    assert await store.adapter.get(booking.id) == newer
    assert store.wakes == 1  # an outcome carries no event of the booking service


async def test_an_outcome_written_without_reading_the_booking_gives_the_same_booking(store: Store) -> None:
    """The one-write path (``record_update``, decided by the event alone) stores what reading the booking
    and applying the outcome would have: for a placement, and for a cancellation after it; and it keeps
    the same guards (an outcome once, never over a newer one, nothing for an unknown booking)."""
    booking, event = new_booking()
    await store.adapter.add(booking, event)
    start = booking.details.preferred_starts[0]
    consultant = ConsultantRef(id="anne", name="Anne Konsulent", email="anne@example.dk")
    slot = Slot(consultant=consultant, start=start, end=start + timedelta(hours=2))
    at = booking.created_at + timedelta(minutes=1)
    placed = new_event(
        BookingScheduledData(
            booking_id=booking.id, booking=booking.details, status_url=booking.status_url, slot=slot, revision=1
        ),
        now=at,
    )
    cancelled = new_event(
        BookingCancelledData(
            booking_id=booking.id,
            booking=booking.details,
            status_url=booking.status_url,
            slot=slot,
            sequence=1,
            reason="Lukket",
            revision=2,
        ),
        now=at + timedelta(minutes=1),
    )

    expected = booking.apply_outcome(placed)
    update = outcome_update(placed)
    assert expected is not None and update is not None
    assert await store.adapter.record_update(update)
    assert await store.adapter.get(booking.id) == expected
    assert not await store.adapter.record_update(update)  # the same outcome again

    expected = expected.apply_outcome(cancelled)
    update = outcome_update(cancelled)
    assert expected is not None and update is not None
    assert await store.adapter.record_update(update)
    assert await store.adapter.get(booking.id) == expected
    assert not await store.adapter.record_update(outcome_update(placed) or update)  # older: not over it
    assert (await store.adapter.get(booking.id)) == expected

    # An outcome for a booking that does not exist (erased, say) writes nothing.
    stranger = outcome_update(new_event(placed.data.model_copy(update={"booking_id": "GONE-0000"}), now=at))
    assert stranger is not None and not await store.adapter.record_update(stranger)


async def test_a_database_of_an_earlier_version_loses_the_indexes_this_one_retired(db: AsyncDatabase[Document]) -> None:
    """Each index costs every booking write: those no longer declared are dropped when the service starts."""
    await db.bookings.create_index([("created_at", -1)])
    await db.bookings.create_index([("status", 1), ("created_at", -1)])

    await ensure_indexes(db, INDEXES, RETIRED_INDEXES)
    await ensure_indexes(db, INDEXES, RETIRED_INDEXES)  # a second start (another replica) finds nothing to drop

    names = set(await db.bookings.index_information())
    assert not names & set(RETIRED_INDEXES["bookings"])
    assert {"_id_", "idempotency_key_1"} <= names
