"""What the scheduler's handlers read and write (the Protocols), and the MongoDB adapters.

Collections:

* ``consultants``: one document per consultant (``ConsultantIn`` fields plus a feed token).
* ``consultant_days``: one document per consultant and local day holding that day's talks and a
  ``version``. A reservation rewrites the day only if the version is still the one the search
  read, so two replicas can never both book overlapping time: the loser re-runs the search.
* ``placements``: the scheduler's view of each booking (:class:`~services.scheduler.placement.Placement`)
  with an embedded outbox (its outcome events), and a lease so only one worker handles a booking
  at a time. Its place on the waitlist (``waiting``) and its offers live in it too, with
  ``offer_expires_at``, the expiry of its open offer, for the expiry pass.
* ``locks``: a named lease one replica holds at a time (the waitlist's matching).

Typed objects cross this boundary; MongoDB documents and update operators stay in this module.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol

from pymongo import IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.scheduler.calendars.sources import ExternalCalendar
from services.scheduler.calendars.status import BusyTimes
from services.scheduler.consultants import ConsultantIn, StoredConsultant, new_feed_token, new_page_token
from services.scheduler.days import BookedTalk, Day
from services.scheduler.domain import Consultant
from services.scheduler.placement import Outcome, Placement, Status
from services.scheduler.waitlist import OfferRecord, OfferState, Waiting
from shared.contracts.models import BookingDetails, Slot, WaitWindow
from shared.infra.grouped import GroupedInserts
from shared.infra.messaging import RetryLater
from shared.infra.mongo import Document
from shared.infra.outbox import OUTBOX_INDEXES, OutboxRelay, merge_updates, outbox_update

PLACEMENTS = "placements"
LOCKS = "locks"
LEASE = timedelta(seconds=30)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FREE = {"lease_until": EPOCH, "claim": None}

INDEXES = {
    "consultants": [IndexModel([("feed_token", 1)], unique=True)],
    "consultant_days": [
        IndexModel([("talks.booking_id", 1)]),  # a booking's talks (days_holding)
        IndexModel([("consultant_id", 1), ("day", 1)]),  # one consultant's talks (feed, removal)
        # A placement's days (load_days) and free times' run of days, of all consultants at once.
        IndexModel([("day", 1)]),
    ],
    PLACEMENTS: [
        IndexModel(OUTBOX_INDEXES),
        IndexModel([("waiting.since", 1)], sparse=True),  # the waitlist, in the order they asked
        IndexModel([("offer_expires_at", 1)], sparse=True),  # open offers, soonest to run out first
    ],
    LOCKS: [],
}


class BookingBusy(RetryLater):
    """Another worker holds this booking's lease; the message is retried once it may be free
    (a lease left by a crashed worker runs out after ``LEASE``): this is waiting, not failing."""


@dataclass(frozen=True, slots=True)
class Claim:
    """A booking's lease, taken: the placement as read, and the token that proves the lease."""

    placement: Placement
    token: str
    fresh: bool = False  # the placement was created by this claim: no earlier attempt left anything


# --- the ports ---------------------------------------------------------------------------------------


class PlacementStore(Protocol):
    async def claim(self, booking_id: str, now: datetime, *, new: Placement | None = None) -> Claim | None:
        """Take the booking's lease; ``new``: the placement to create if there is none.

        Returns None if there is no placement (and ``new`` is None). Raises :class:`BookingBusy`
        while another worker holds the lease."""
        ...

    async def release(self, claim: Claim) -> None:
        """Give the lease back, changing nothing."""
        ...

    async def erase(self, claim: Claim, placement: Placement) -> None:
        """Store the erased ``placement`` (its details anonymised, off the waitlist) and give the lease back."""

    async def save(self, claim: Claim, placement: Placement) -> bool:
        """Store ``placement`` without any event (the workplace's waitlist choice) and give the lease back;
        False if the lease was lost meanwhile."""
        ...

    async def waiting(self) -> list[Placement]:
        """The placements on the waitlist, in the order they started waiting."""
        ...

    async def due_offers(self, now: datetime, limit: int) -> list[str]:
        """Ids of bookings whose open offer has run out by ``now``."""
        ...

    async def next_offer_expiry(self) -> datetime | None:
        """When the next open offer runs out, if any is open."""
        ...

    async def with_contact_email(self, email: str) -> Sequence[Placement]:
        """The placements whose booking's contact has this e-mail address."""

    async def finish(self, claim: Claim, outcome: Outcome) -> bool:
        """Store the new placement and its event in one write and give the lease back; False if
        the lease was lost meanwhile (then nothing is stored). The event is published soon after."""
        ...


class Lock(Protocol):
    """A named lease that one worker of all replicas holds at a time."""

    async def acquire(self, name: str, now: datetime, lease: timedelta) -> str | None:
        """The token of the lease, taken; None while another holds it."""
        ...

    async def release(self, name: str, token: str) -> None: ...


class CalendarStore(Protocol):
    """The consultants, and the talks in their days."""

    async def consultants(self) -> list[Consultant]: ...

    async def load_days(self, consultant_ids: Iterable[str], days: Collection[date]) -> list[Day]:
        """These consultants' stored days among ``days`` (a day never written to is missing)."""
        ...

    async def load_run(self, consultant_ids: Iterable[str], first: date, last: date) -> list[Day]:
        """These consultants' stored days from ``first`` to ``last`` (a run of days, as free times want)."""
        ...

    async def run_versions(self, consultant_ids: Iterable[str], first: date, last: date) -> dict[tuple[str, date], int]:
        """The stored version of each of these consultants' days from ``first`` to ``last``, by (consultant,
        day): what tells whether the days changed since they were read (every write raises the version)."""
        ...

    async def write_day(self, day: Day) -> bool:
        """Store the day if its stored version is still ``day.version`` (optimistic locking)."""
        ...

    async def days_holding(self, booking_id: str) -> list[Day]: ...


class BusyTimesSource(Protocol):
    """The busy times of the consultants' own calendars (:mod:`services.scheduler.calendars`)."""

    async def busy_for(self, consultant_ids: Collection[str], days: Collection[date], now: datetime) -> BusyTimes: ...


class OwnCalendars(Protocol):
    """Reads the consultants' own calendars (:mod:`services.scheduler.calendars`)."""

    async def consultant_saved(self, consultant_id: str, sources: Sequence[ExternalCalendar]) -> None:
        """Read the consultant's calendars now, and forget the ones removed."""
        ...

    async def consultant_deleted(self, consultant_id: str) -> None: ...


class ConsultantStore(Protocol):
    """What adding, changing and removing a consultant needs."""

    async def upsert_consultant(self, consultant: ConsultantIn) -> tuple[StoredConsultant, bool]: ...

    async def has_future_talks(self, consultant_id: str, today: date) -> bool: ...

    async def delete_consultant(self, consultant_id: str) -> bool: ...


# --- MongoDB ---------------------------------------------------------------------------------------------


def day_id(consultant_id: str, day: date) -> str:
    return f"{consultant_id}|{day.isoformat()}"


class MongoPlacementStore:
    """:class:`PlacementStore` on MongoDB; after an outcome is committed its event is handed to the
    outbox ``relay`` (published now, not at the next poll), and ``published`` is called."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        published: Callable[[], None] = lambda: None,
        *,
        relay: OutboxRelay | None = None,
    ) -> None:
        self.placements = db[PLACEMENTS]
        self._inserts = GroupedInserts(self.placements)
        self._published = published
        self._relay = relay

    async def claim(self, booking_id: str, now: datetime, *, new: Placement | None = None) -> Claim | None:
        token = uuid.uuid4().hex
        lease = {"lease_until": now + LEASE, "claim": token}
        if new is not None:
            details = {"booking": new.booking.model_dump(mode="python"), "status_url": new.status_url}
            # Written together with the placements requested at the same time: one write for many. A
            # duplicate: the placement exists (an event handled again), so its lease is taken below.
            (duplicate,) = await self._inserts.insert(
                [{"_id": booking_id, **details, **_state_fields(new), **lease, "created_at": now}]
            )
            if duplicate is None:
                return Claim(new, token, fresh=True)
        # A free lease is one that ran out: ``release`` sets it to the epoch (no $or needed).
        taken = await self.placements.update_one({"_id": booking_id, "lease_until": {"$lt": now}}, {"$set": lease})
        if taken.modified_count == 1:
            claimed = await self.placements.find_one({"_id": booking_id, "claim": token}, {"outbox": 0})
            if claimed is not None:
                return Claim(_placement_of(claimed), token)
        if await self.placements.find_one({"_id": booking_id}, {"_id": 1}) is None:
            return None
        raise BookingBusy(booking_id)

    async def release(self, claim: Claim) -> None:
        await self.placements.update_one({"_id": claim.placement.booking_id, "claim": claim.token}, {"$set": FREE})

    async def erase(self, claim: Claim, placement: Placement) -> None:
        anonymised = placement.booking.model_dump(mode="python")
        await self.placements.update_one(
            {"_id": claim.placement.booking_id, "claim": claim.token},
            {"$set": {"booking": anonymised, **_waitlist_fields(placement), **FREE}},
        )

    async def save(self, claim: Claim, placement: Placement) -> bool:
        fields = {**_state_fields(placement), "booking": placement.booking.model_dump(mode="python"), **FREE}
        result = await self.placements.update_one({"_id": placement.booking_id, "claim": claim.token}, {"$set": fields})
        return result.modified_count == 1

    async def waiting(self) -> list[Placement]:
        cursor = self.placements.find({"waiting.since": {"$gt": EPOCH}}, {"outbox": 0}).sort("waiting.since", 1)
        return [_placement_of(doc) async for doc in cursor]

    async def due_offers(self, now: datetime, limit: int) -> list[str]:
        query = {"offer_expires_at": {"$gt": EPOCH, "$lte": now}}
        return [doc["_id"] async for doc in self.placements.find(query, {"_id": 1}).limit(limit)]

    async def next_offer_expiry(self) -> datetime | None:
        cursor = self.placements.find({"offer_expires_at": {"$gt": EPOCH}}, {"offer_expires_at": 1})
        docs = await cursor.sort("offer_expires_at", 1).limit(1).to_list()
        return docs[0]["offer_expires_at"] if docs else None

    async def waitlist(self, theme: str | None) -> list[Placement]:
        """Every placement that waited or was offered a time (of one theme), in the order they asked."""
        query: Document = {"waitlisted": True, **({"booking.theme": theme} if theme else {})}
        cursor = self.placements.find(query, {"outbox": 0}).sort("created_at", 1)
        return [_placement_of(doc) async for doc in cursor]

    async def with_contact_email(self, email: str) -> Sequence[Placement]:
        cursor = self.placements.find({"booking.contact.email": email}, {"outbox": 0})
        return [_placement_of(doc) async for doc in cursor]

    async def finish(self, claim: Claim, outcome: Outcome) -> bool:
        placement, event = outcome.placement, outcome.event
        handoff = self._relay.handoff(outcome.events, event.occurred_at) if self._relay is not None else None
        update = merge_updates(
            {"$set": {**_state_fields(placement), **FREE}}, outbox_update(outcome.events, event.occurred_at, handoff)
        )
        result = await self.placements.update_one({"_id": placement.booking_id, "claim": claim.token}, update)
        if result.modified_count != 1:
            return False
        if self._relay is not None and handoff is not None:
            self._relay.hand(placement.booking_id, handoff)
        self._published()
        return True


def _state_fields(placement: Placement) -> Document:
    """What an outcome changes (the booking's details and status URL never change)."""
    fields: Document = {
        "status": placement.status.value,
        "slot": placement.slot.model_dump(mode="python") if placement.slot else None,
        "sequence": placement.sequence,
        "revision": placement.revision,
        "applied": list(placement.applied),
    }
    if placement.updated_at is not None:
        fields["updated_at"] = placement.updated_at
    return {**fields, **_waitlist_fields(placement)}


def _waitlist_fields(placement: Placement) -> Document:
    waiting, open_offer = placement.waiting, placement.open_offer
    fields: Document = {
        "waiting": _waiting_doc(waiting) if waiting is not None else None,
        "offers": [{**dataclasses.asdict(offer), "state": offer.state.value} for offer in placement.offers],
        "offer_expires_at": open_offer.expires_at if open_offer is not None else None,
    }
    if waiting is not None or placement.offers:
        fields["waitlisted"] = True  # stays set: the admin sees how it ended
    return fields


def _waiting_doc(waiting: Waiting) -> Document:
    return {
        "mode": waiting.mode,
        "since": waiting.since,
        "starts": list(waiting.starts),
        "window": waiting.window.model_dump(mode="json") if waiting.window else None,
        "before": waiting.before,
    }


def _waiting_of(doc: Document | None) -> Waiting | None:
    if not doc:
        return None
    return Waiting(
        mode=doc["mode"],
        since=doc["since"],
        starts=tuple(doc.get("starts") or ()),
        window=WaitWindow.model_validate(doc["window"]) if doc.get("window") else None,
        before=doc.get("before"),
    )


def _offer_of(doc: Document) -> OfferRecord:
    return OfferRecord(**{**doc, "state": OfferState(doc["state"])})


def _placement_of(doc: Document) -> Placement:
    return Placement(
        booking_id=doc["_id"],
        booking=BookingDetails.model_validate(doc["booking"]),
        status_url=doc["status_url"],
        status=Status(doc["status"]),
        slot=Slot.model_validate(doc["slot"]) if doc.get("slot") else None,
        sequence=doc.get("sequence", 0),
        revision=doc.get("revision", 0),
        applied=tuple(doc.get("applied", ())),
        updated_at=doc.get("updated_at"),
        waiting=_waiting_of(doc.get("waiting")),
        offers=tuple(_offer_of(offer) for offer in doc.get("offers") or ()),
    )


class MongoLock:
    """:class:`Lock` on MongoDB: one document per name, taken when its lease has run out."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._locks = db[LOCKS]

    async def acquire(self, name: str, now: datetime, lease: timedelta) -> str | None:
        token = uuid.uuid4().hex
        held = {"$set": {"until": now + lease, "token": token}}
        try:
            result = await self._locks.update_one({"_id": name, "until": {"$lt": now}}, held, upsert=True)
        except DuplicateKeyError:  # it exists and is held: the upsert tried to create it again
            return None
        return token if result.modified_count == 1 or result.upserted_id is not None else None

    async def release(self, name: str, token: str) -> None:
        await self._locks.update_one({"_id": name, "token": token}, {"$set": {"until": EPOCH}})


class MongoCalendarStore:
    """:class:`CalendarStore` and :class:`ConsultantStore` on MongoDB, and what the admin API and
    the calendar feed read."""

    def __init__(self, db: AsyncDatabase[Document], *, cache_seconds: float = 0.0) -> None:
        """``cache_seconds``: how long the placements may use the consultants as read (changes made
        through this store are seen at once; another replica's after at most this long)."""
        self._consultants = db["consultants"]
        self._days = db["consultant_days"]
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, list[Consultant]] | None = None  # (read at, consultants)
        self._reading = asyncio.Lock()

    # --- consultants -------------------------------------------------------------------------------

    async def list_consultants(self) -> list[StoredConsultant]:
        return [_consultant_of(doc) for doc in await self._consultants.find({}).sort("_id", 1).to_list()]

    async def consultants(self) -> list[Consultant]:
        """The active consultants, as the search sees them (a deactivated one is given no new talks)."""
        async with self._reading:  # placements running at once share one read
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self._cache_seconds:
                stored = await self.list_consultants()
                self._cached = (now, [s.consultant.to_domain() for s in stored if s.consultant.active])
            return self._cached[1]

    async def get_consultant(self, consultant_id: str) -> StoredConsultant | None:
        doc = await self._consultants.find_one({"_id": consultant_id})
        return _consultant_of(doc) if doc is not None else None

    async def upsert_consultant(self, consultant: ConsultantIn) -> tuple[StoredConsultant, bool]:
        """Create or replace; the feed token survives replacement. Returns (consultant, created)."""
        fields = consultant.model_dump(mode="json", exclude={"id"})
        before = await self._consultants.find_one_and_update(
            {"_id": consultant.id},
            {
                "$set": {**fields, "updated_at": datetime.now(UTC)},
                "$setOnInsert": {"feed_token": new_feed_token(), "page_token": new_page_token()},
            },
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        self._cached = None
        after = await self.get_consultant(consultant.id)
        assert after is not None
        return after, before is None

    async def delete_consultant(self, consultant_id: str) -> bool:
        self._cached = None
        return (await self._consultants.delete_one({"_id": consultant_id})).deleted_count == 1

    async def has_future_talks(self, consultant_id: str, today: date) -> bool:
        query = {"consultant_id": consultant_id, "day": {"$gte": today.isoformat()}, "talks.0": {"$exists": True}}
        return await self._days.find_one(query, {"_id": 1}) is not None

    async def rotate_token(self, consultant_id: str, which: Literal["feed", "page"]) -> StoredConsultant | None:
        """Give the consultant a new feed or page token (the old link stops working); None if unknown."""
        token = new_feed_token() if which == "feed" else new_page_token()
        doc = await self._consultants.find_one_and_update(
            {"_id": consultant_id}, {"$set": {f"{which}_token": token}}, return_document=ReturnDocument.AFTER
        )
        return _consultant_of(doc) if doc is not None else None

    async def consultant_by_page_token(self, consultant_id: str, token: str) -> StoredConsultant | None:
        doc = await self._consultants.find_one({"_id": consultant_id, "page_token": token})
        return _consultant_of(doc) if doc is not None else None

    async def consultant_by_feed_token(self, consultant_id: str, token: str) -> StoredConsultant | None:
        doc = await self._consultants.find_one({"_id": consultant_id, "feed_token": token})
        return _consultant_of(doc) if doc is not None else None

    async def talks_of(self, consultant_id: str, since: date) -> list[BookedTalk]:
        cursor = self._days.find({"consultant_id": consultant_id, "day": {"$gte": since.isoformat()}})
        return [talk for doc in await cursor.to_list() for talk in _day_of(doc).talks]

    # --- calendar days ------------------------------------------------------------------------------

    async def load_days(self, consultant_ids: Iterable[str], days: Collection[date]) -> list[Day]:
        """One query: the days by date (an index lookup per date), the consultants picked out here."""
        wanted = set(consultant_ids)
        dates = sorted(d.isoformat() for d in days)
        if len(wanted) == 1:
            [only] = wanted
            query: Document = {"consultant_id": only, "day": {"$in": dates}}
        else:
            # A second ``$in`` on the consultant makes some servers (SecantusDB) six times slower.
            query = {"day": {"$in": dates}}
        docs = await self._days.find(query, batch_size=10_000).to_list()  # one round trip, no getMore
        return [_day_of(doc) for doc in docs if doc["consultant_id"] in wanted]

    async def load_run(self, consultant_ids: Iterable[str], first: date, last: date) -> list[Day]:
        return [_day_of(doc) for doc in await self._find_run(consultant_ids, first, last)]

    async def run_versions(self, consultant_ids: Iterable[str], first: date, last: date) -> dict[tuple[str, date], int]:
        docs = await self._find_run(consultant_ids, first, last, {"consultant_id": 1, "day": 1, "version": 1})
        return {(doc["consultant_id"], date.fromisoformat(doc["day"])): doc["version"] for doc in docs}

    async def _find_run(
        self, consultant_ids: Iterable[str], first: date, last: date, projection: Document | None = None
    ) -> list[Document]:
        """One range of the ``day`` index for all consultants (half the time of a query per consultant
        on SecantusDB), then kept to these consultants."""
        ids = set(consultant_ids)
        query = {"day": {"$gte": first.isoformat(), "$lte": last.isoformat()}}
        return [doc for doc in await self._days.find(query, projection).to_list() if doc["consultant_id"] in ids]

    async def write_day(self, day: Day) -> bool:
        key = day_id(day.consultant_id, day.day)
        talks = [dataclasses.asdict(talk) for talk in day.talks]
        if day.version == 0:
            try:
                fields = {"consultant_id": day.consultant_id, "day": day.day.isoformat(), "version": 1, "talks": talks}
                await self._days.insert_one({"_id": key, **fields})
            except DuplicateKeyError:
                return False
            return True
        result = await self._days.update_one(
            {"_id": key, "version": day.version}, {"$set": {"talks": talks}, "$inc": {"version": 1}}
        )
        return result.modified_count == 1

    async def days_holding(self, booking_id: str) -> list[Day]:
        return [_day_of(doc) for doc in await self._days.find({"talks.booking_id": booking_id}).to_list()]


def _consultant_of(doc: Document) -> StoredConsultant:
    fields = {k: v for k, v in doc.items() if k in ConsultantIn.model_fields and k != "id"}
    return StoredConsultant(
        ConsultantIn.model_validate({"id": doc["_id"], **fields}), doc["feed_token"], doc.get("page_token")
    )


def _day_of(doc: Document) -> Day:
    return Day(
        consultant_id=doc["consultant_id"],
        day=date.fromisoformat(doc["day"]),
        version=doc["version"],
        # a talk's document holds exactly the fields of BookedTalk (see ``write_day``)
        talks=tuple(BookedTalk(**talk) for talk in doc.get("talks", ())),
    )
