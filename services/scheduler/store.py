"""The scheduler's collections.

* ``consultants``: one document per consultant (``ConsultantIn`` fields plus a feed token).
* ``consultant_days``: one document per consultant and local day holding that day's talks and a
  ``version``. A reservation rewrites the day only if the version is still the one the search
  read, so two replicas can never both book overlapping time: the loser re-runs the search.
* ``placements``: the scheduler's view of each booking (state, slot, invite sequence), with an
  embedded outbox, and a lease so only one worker handles a booking at a time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pymongo import IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.scheduler.consultants import ConsultantIn, new_feed_token
from services.scheduler.domain import DictCalendar, Talk
from shared.infra.messaging import RetryLater
from shared.infra.outbox import OUTBOX_INDEXES
from shared.text.localtime import to_local

Document = dict[str, Any]
LEASE = timedelta(seconds=30)
FREE = {"lease_until": datetime(1970, 1, 1, tzinfo=UTC), "claim": None}

INDEXES = {
    "consultants": [IndexModel([("feed_token", 1)], unique=True)],
    "consultant_days": [IndexModel([("talks.booking_id", 1)]), IndexModel([("consultant_id", 1), ("day", 1)])],
    "placements": [IndexModel(OUTBOX_INDEXES), IndexModel([("status", 1)])],
    "processed_events": [],
}


def day_id(consultant_id: str, day: date) -> str:
    return f"{consultant_id}|{day.isoformat()}"


def local_day(moment: datetime) -> date:
    return to_local(moment).date()


def date_runs(days: Iterable[date], gap: int = 7) -> list[tuple[date, date]]:
    """Sorted dates as (first, last) runs, a new run wherever more than ``gap`` days are skipped."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and (day - runs[-1][1]).days <= gap:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


class BookingBusy(RetryLater):
    """Another worker holds this booking's lease; the message is retried once it may be free
    (a lease left by a crashed worker runs out after ``LEASE``): this is waiting, not failing."""


@dataclass
class Days:
    """The talks of the loaded days, and the version each day document had when read."""

    calendar: DictCalendar
    versions: dict[str, int]
    talks: dict[str, list[Document]]


class SchedulerStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.consultants = db["consultants"]
        self.days = db["consultant_days"]
        self.placements = db["placements"]

    # --- consultants -------------------------------------------------------------------------------

    async def list_consultants(self) -> list[Document]:
        return await self.consultants.find({}).sort("_id", 1).to_list()

    async def all_consultants(self) -> list[ConsultantIn]:
        return [consultant_of(doc) for doc in await self.list_consultants()]

    async def get_consultant(self, consultant_id: str) -> Document | None:
        return await self.consultants.find_one({"_id": consultant_id})

    async def upsert_consultant(self, consultant: ConsultantIn) -> tuple[Document, bool]:
        """Create or replace; the feed token survives replacement. Returns (document, created)."""
        fields = consultant.model_dump(mode="json", exclude={"id"})
        before = await self.consultants.find_one_and_update(
            {"_id": consultant.id},
            {"$set": {**fields, "updated_at": datetime.now(UTC)}, "$setOnInsert": {"feed_token": new_feed_token()}},
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        after = await self.get_consultant(consultant.id)
        assert after is not None
        return after, before is None

    async def delete_consultant(self, consultant_id: str) -> bool:
        return (await self.consultants.delete_one({"_id": consultant_id})).deleted_count == 1

    async def has_future_talks(self, consultant_id: str, today: date) -> bool:
        query = {"consultant_id": consultant_id, "day": {"$gte": today.isoformat()}, "talks.0": {"$exists": True}}
        return await self.days.find_one(query, {"_id": 1}) is not None

    async def consultant_by_feed_token(self, consultant_id: str, token: str) -> Document | None:
        return await self.consultants.find_one({"_id": consultant_id, "feed_token": token})

    async def talks_of(self, consultant_id: str, since: date) -> list[Document]:
        cursor = self.days.find({"consultant_id": consultant_id, "day": {"$gte": since.isoformat()}})
        return [talk for doc in await cursor.to_list() for talk in doc.get("talks", [])]

    # --- calendar days ------------------------------------------------------------------------------

    async def load_days(self, consultant_ids: Iterable[str], days: Iterable[date]) -> Days:
        """The talks of exactly these days, read per consultant and run of nearby dates (an index
        range each), all at once."""
        wanted = {d.isoformat() for d in days}
        queries = [
            {"consultant_id": consultant_id, "day": {"$gte": first.isoformat(), "$lte": last.isoformat()}}
            for consultant_id in consultant_ids
            for first, last in date_runs(days)
        ]
        results = await asyncio.gather(*(self.days.find(query).to_list() for query in queries))
        calendar = DictCalendar()
        versions: dict[str, int] = {}
        talks: dict[str, list[Document]] = {}
        for doc in (doc for docs in results for doc in docs if doc["day"] in wanted):
            versions[doc["_id"]] = doc["version"]
            talks[doc["_id"]] = doc.get("talks", [])
            for talk in doc.get("talks", []):
                calendar.add(doc["consultant_id"], Talk(talk["booking_id"], talk["start"], talk["end"]))
        return Days(calendar, versions, talks)

    async def write_day(self, consultant_id: str, day: date, expected_version: int, talks: Sequence[Document]) -> bool:
        """Replace a day's talks if nobody changed the day since it was read (optimistic locking)."""
        key = day_id(consultant_id, day)
        if expected_version == 0:
            try:
                await self.days.insert_one(
                    {
                        "_id": key,
                        "consultant_id": consultant_id,
                        "day": day.isoformat(),
                        "version": 1,
                        "talks": list(talks),
                    }
                )
            except DuplicateKeyError:
                return False
            return True
        result = await self.days.update_one(
            {"_id": key, "version": expected_version},
            {"$set": {"talks": list(talks)}, "$inc": {"version": 1}},
        )
        return result.modified_count == 1

    async def days_holding(self, booking_id: str) -> list[Document]:
        return await self.days.find({"talks.booking_id": booking_id}).to_list()

    # --- placements -----------------------------------------------------------------------------------

    async def claim(self, booking_id: str, *, create: Document | None, now: datetime) -> tuple[Document, str] | None:
        """Take this booking's lease. ``create``: the fields of a new placement if none exists.

        Returns the placement and the claim token, or None if there is no placement (and
        ``create`` is None). Raises ``BookingBusy`` while another worker holds the lease.
        """
        token = uuid.uuid4().hex
        lease = {"lease_until": now + LEASE, "claim": token}
        if create is not None:
            try:
                doc = {"_id": booking_id, **create, **lease, "applied": [], "sequence": 0, "created_at": now}
                await self.placements.insert_one(doc)
                # ``fresh`` (not stored): no earlier attempt exists, so nothing of one can be left over.
                return {**doc, "fresh": True}, token
            except DuplicateKeyError:
                pass
        # A free lease is one that ran out: ``release`` sets it to the epoch (no $or needed).
        taken = await self.placements.update_one({"_id": booking_id, "lease_until": {"$lt": now}}, {"$set": lease})
        if taken.modified_count == 1:
            claimed = await self.placements.find_one({"_id": booking_id, "claim": token}, {"outbox": 0})
            if claimed is not None:
                return claimed, token
        if await self.placements.find_one({"_id": booking_id}, {"_id": 1}) is None:
            return None
        raise BookingBusy(booking_id)

    async def release(self, booking_id: str, token: str) -> None:
        await self.placements.update_one({"_id": booking_id, "claim": token}, {"$set": FREE})

    async def finish(self, booking_id: str, token: str, update: Document) -> bool:
        """Apply ``update`` and drop the lease, if we still hold it."""
        update.setdefault("$set", {}).update(FREE)
        result = await self.placements.update_one({"_id": booking_id, "claim": token}, update)
        return result.modified_count == 1


def consultant_of(doc: Document) -> ConsultantIn:
    fields = {k: v for k, v in doc.items() if k in ConsultantIn.model_fields and k != "id"}
    return ConsultantIn.model_validate({"id": doc["_id"], **fields})
