"""The external calendars' collections (owned by this package).

* ``calendar_sources``: one document per consultant and source (``{consultant}|{source}``): the
  fetch state (validators, last attempt and success, the last error, how far the data was
  expanded), when it is due again, and a lease so one replica at a time fetches it.
* ``calendar_busy``: the busy intervals, one document per consultant, source and Copenhagen month
  (``{consultant}|{source}|YYYY-MM``); an interval is in every month it touches. A refresh
  rewrites only the months that changed; a search reads the months of its days in one query.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from pymongo import DeleteOne, IndexModel, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.scheduler.calendars.expand import Interval
from services.scheduler.calendars.fetching import Validators
from services.scheduler.calendars.status import months_of
from shared.infra.mongo import Document
from shared.text.localtime import LOCAL_TZ

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

INDEXES = {
    "calendar_sources": [IndexModel([("consultant_id", 1)]), IndexModel([("next_due", 1)])],
    "calendar_busy": [IndexModel([("month", 1)]), IndexModel([("consultant_id", 1), ("source_id", 1)])],
}


def state_id(consultant_id: str, source_id: str) -> str:
    return f"{consultant_id}|{source_id}"


def by_month(intervals: Iterable[Interval]) -> dict[str, list[Interval]]:
    """Each interval under every Copenhagen month it touches."""
    months: dict[str, list[Interval]] = defaultdict(list)
    for interval in intervals:
        first = interval.start.astimezone(LOCAL_TZ).date()
        last = interval.end.astimezone(LOCAL_TZ).date()
        year, month = first.year, first.month
        while (year, month) <= (last.year, last.month):
            months[f"{year:04d}-{month:02d}"].append(interval)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


class BusyStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.sources = db["calendar_sources"]
        self.busy = db["calendar_busy"]

    # --- which sources exist -----------------------------------------------------------------------

    async def sync_sources(self, consultant_id: str, sources: Sequence[tuple[str, str]], now: datetime) -> None:
        """Make the consultant's sources exactly ``(source_id, kind)``; every one is due now
        (a consultant created or changed is fetched at once); removed ones are forgotten."""
        wanted = dict(sources)
        existing = await self.sources.find({"consultant_id": consultant_id}, {"source_id": 1}).to_list()
        for doc in existing:
            if doc["source_id"] not in wanted:
                await self.forget(consultant_id, doc["source_id"])
        known = {doc["source_id"] for doc in existing}
        for source_id, kind in wanted.items():
            if source_id in known:
                await self.sources.update_one({"_id": state_id(consultant_id, source_id)}, {"$set": {"next_due": now}})
                continue
            with contextlib.suppress(DuplicateKeyError):  # another replica added it at the same moment
                await self.sources.insert_one(
                    {
                        "_id": state_id(consultant_id, source_id),
                        "consultant_id": consultant_id,
                        "source_id": source_id,
                        "kind": kind,
                        "created_at": now,
                        "next_due": now,
                        "lease_until": EPOCH,
                        "failures": 0,
                        "busy_count": 0,
                    }
                )

    async def forget(self, consultant_id: str, source_id: str | None = None) -> None:
        """Drop a source's (or all the consultant's) state and busy times."""
        query: Document = {"consultant_id": consultant_id}
        if source_id is not None:
            query["source_id"] = source_id
        await self.busy.delete_many(query)
        await self.sources.delete_many(query)

    # --- the refresher's side -------------------------------------------------------------------------

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[Document]:
        """Sources due by ``now`` whose lease this caller took (a free lease is one that ran out)."""
        due = await self.sources.find({"next_due": {"$lte": now}}).sort("next_due", 1).limit(limit).to_list()
        claimed = []
        for doc in due:
            if doc.get("lease_until", EPOCH) >= now:
                continue
            taken = await self.sources.update_one(
                {"_id": doc["_id"], "lease_until": doc.get("lease_until", EPOCH)},
                {"$set": {"lease_until": now + lease}},
            )
            if taken.modified_count == 1:
                claimed.append(doc)
        return claimed

    async def next_due(self) -> datetime | None:
        doc = await self.sources.find({}, {"next_due": 1}).sort("next_due", 1).limit(1).to_list()
        return doc[0]["next_due"] if doc else None

    async def record_fetched(
        self,
        doc: Document,
        *,
        intervals: Sequence[Interval],
        expanded_until: datetime,
        validators: Validators,
        now: datetime,
        next_due: datetime,
    ) -> int:
        """Store new busy times (rewriting only the months that changed) and the success.
        Returns the number of month documents written or deleted."""
        consultant_id, source_id = doc["consultant_id"], doc["source_id"]
        changes = await self._write_months(consultant_id, source_id, by_month(intervals))
        await self.sources.update_one(
            {"_id": doc["_id"]},
            {
                "$set": {
                    "etag": validators.etag,
                    "last_modified": validators.last_modified,
                    "collection_tag": validators.collection_tag,
                    "attempted_at": now,
                    "succeeded_at": now,
                    "changed_at": now,
                    "expanded_until": expanded_until,
                    "error": None,
                    "failures": 0,
                    "busy_count": len(intervals),
                    "next_due": next_due,
                    "lease_until": EPOCH,
                }
            },
        )
        return changes

    async def record_unchanged(self, doc: Document, *, now: datetime, next_due: datetime) -> None:
        await self.sources.update_one(
            {"_id": doc["_id"]},
            {
                "$set": {
                    "attempted_at": now,
                    "succeeded_at": now,
                    "error": None,
                    "failures": 0,
                    "next_due": next_due,
                    "lease_until": EPOCH,
                }
            },
        )

    async def record_failure(self, doc: Document, *, error: str, now: datetime, next_due: datetime) -> None:
        """The last known busy times stay as they are."""
        await self.sources.update_one(
            {"_id": doc["_id"]},
            {
                "$set": {"attempted_at": now, "error": error, "next_due": next_due, "lease_until": EPOCH},
                "$inc": {"failures": 1},
            },
        )

    async def _write_months(self, consultant_id: str, source_id: str, months: dict[str, list[Interval]]) -> int:
        stored = {
            doc["month"]: doc["busy"]
            for doc in await self.busy.find({"consultant_id": consultant_id, "source_id": source_id}).to_list()
        }
        operations: list[ReplaceOne[Document] | DeleteOne] = []
        for month, intervals in months.items():
            busy = [{"start": i.start, "end": i.end} for i in intervals]
            if stored.get(month) != busy:
                key = f"{state_id(consultant_id, source_id)}|{month}"
                document = {"consultant_id": consultant_id, "source_id": source_id, "month": month, "busy": busy}
                operations.append(ReplaceOne({"_id": key}, document, upsert=True))
        for month in stored.keys() - months.keys():
            operations.append(DeleteOne({"_id": f"{state_id(consultant_id, source_id)}|{month}"}))
        if operations:
            await self.busy.bulk_write(operations, ordered=False)
        return len(operations)

    # --- reading ---------------------------------------------------------------------------------------

    async def states(self, consultant_ids: Iterable[str] | None = None) -> list[Document]:
        query: Document = {}
        if consultant_ids is not None:
            query = {"consultant_id": {"$in": sorted(set(consultant_ids))}}
        return await self.sources.find(query).to_list()

    async def load_for_search(
        self, consultant_ids: Iterable[str], days: Iterable[date]
    ) -> tuple[list[Document], list[Document]]:
        """The month buckets holding ``days`` (one query) and the sources' states (another),
        of these consultants, read at the same time."""
        ids = sorted(set(consultant_ids))
        months = months_of(days)
        buckets, states = await asyncio.gather(
            self.busy.find({"month": {"$in": months}, "consultant_id": {"$in": ids}}).to_list(),
            self.states(ids),
        )
        return buckets, states
