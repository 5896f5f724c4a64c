"""The back office's reads of the ``bookings`` collection (the booking service's own data): search with
filters and paging, what needs attention, the talks of a period, what statistics count, and a
consultant's coming talks. Read-only: every change goes through the use cases in ``handlers``."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Protocol

from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from services.booking.backoffice.queries import BookingFilter, local_range
from services.booking.domain import Booking
from services.booking.store import COLLECTION, booking_of
from shared.infra.mongo import Document

# Added to the bookings collection's indexes: the calendar, statistics and a consultant's talks.
# The calendar, the statistics and the consultant's page read talks by their start. (Every index costs
# each booking write; one consultant's talks are found within the range of starts.)
INDEXES = {COLLECTION: [IndexModel([("slot.start", 1)])]}
WITHOUT = {"outbox": 0, "request_hash": 0}
SEARCHED = ("_id", "details.workplace.name", "details.workplace.city", "details.contact.name",
            "details.contact.email", "details.contact.phone")


class BackOfficeReads(Protocol):
    async def search(self, where: BookingFilter, *, skip: int, limit: int) -> tuple[list[Booking], int]:
        """The matching bookings, newest first, from ``skip`` on; and how many match in all."""

    async def needing_attention(self, waiting_before: datetime, limit: int) -> list[Booking]:
        """Open bookings offered alternatives before ``waiting_before`` and not answered, or offered none."""

    async def talks_between(self, first: datetime, last: datetime) -> list[Booking]:
        """Scheduled bookings whose talk starts in ``first``..``last`` (UTC), in time order."""

    async def for_statistics(self, first: datetime, last: datetime) -> list[Booking]:
        """Bookings requested, or with a talk, in ``first``..``last`` (UTC)."""

    async def upcoming_for(self, consultant_id: str, now: datetime, limit: int) -> list[Booking]:
        """The consultant's scheduled talks from ``now`` on, in time order."""


class MongoBackOfficeReads:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._bookings = collection

    async def search(self, where: BookingFilter, *, skip: int, limit: int) -> tuple[list[Booking], int]:
        query = filter_query(where)
        cursor = self._bookings.find(query, WITHOUT).sort([("created_at", -1), ("_id", 1)]).skip(skip).limit(limit)
        found = [booking_of(doc) async for doc in cursor]
        return found, await self._bookings.count_documents(query)

    async def needing_attention(self, waiting_before: datetime, limit: int) -> list[Booking]:
        query = {
            "status": "needs_alternative",
            "cancel_requested_at": None,
            "$or": [{"status_at": {"$lt": waiting_before}}, {"alternatives": {"$size": 0}}],
        }
        return await self._find(query, [("status_at", 1)], limit)

    async def talks_between(self, first: datetime, last: datetime) -> list[Booking]:
        query = {"status": "scheduled", "slot.start": {"$gte": first, "$lt": last}}
        return await self._find(query, [("slot.start", 1)], 5000)

    async def for_statistics(self, first: datetime, last: datetime) -> list[Booking]:
        window = {"$gte": first, "$lt": last}
        query = {"$or": [{"created_at": window}, {"slot.start": window}]}
        return await self._find(query, [("created_at", 1)], 50_000)

    async def upcoming_for(self, consultant_id: str, now: datetime, limit: int) -> list[Booking]:
        query = {"status": "scheduled", "slot.consultant.id": consultant_id, "slot.start": {"$gte": now}}
        return await self._find(query, [("slot.start", 1)], limit)

    async def _find(self, query: Document, order: list[tuple[str, int]], limit: int) -> list[Booking]:
        cursor = self._bookings.find(query, WITHOUT).sort(order).limit(limit)
        return [booking_of(doc) async for doc in cursor]


def filter_query(where: BookingFilter) -> Document:
    """The MongoDB query of a filter; the text is matched literally (escaped), in any case."""
    clauses: list[Document] = []
    if where.text:
        pattern: Any = {"$regex": re.escape(where.text), "$options": "i"}
        clauses.append({"$or": [{field: pattern} for field in SEARCHED]})
    if where.status:
        clauses.append({"status": where.status})
    if where.theme:
        clauses.append({"details.theme": where.theme})
    if where.consultant_id:
        clauses.append({"slot.consultant.id": where.consultant_id})
    if where.first or where.last:
        first, last = local_range(where.first or where.last, where.last or where.first)  # type: ignore[arg-type]
        window: Document = {}
        if where.first:
            window["$gte"] = first
        if where.last:
            window["$lt"] = last
        clauses.append({"$or": [{"slot.start": window}, {"slot": None, "details.preferred_starts.0": window}]})
    if not clauses:
        return {}
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
