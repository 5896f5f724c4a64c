"""Limits on what an anonymous caller can trigger, shared by every replica of a service.

The counting is the ``limits`` package's fixed-window strategy; the counters live in MongoDB (one
small document per key and window, removed by a TTL index when the window is over), so three
booking replicas behind a load balancer count one client's requests together. ``limits``' own
MongoDB storage needs Motor (deprecated); ``MongoCounters`` is the same storage on PyMongo's async API.

A limit is written in the ``limits`` notation, ``N/second|minute|hour|day`` (``"20/hour"``), or
``off``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Network, IPv6Network, ip_address

from aiohttp import web
from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from pymongo import IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from shared.infra.mongo import Document

COLLECTION = "rate_limits"
INDEXES = {COLLECTION: [IndexModel([("expire_at", 1)], expireAfterSeconds=0)]}


class MongoCounters(Storage):
    """``limits`` storage on a MongoDB collection: ``{_id: key, count, expire_at}``."""

    STORAGE_SCHEME = ["inspiration+mongodb"]  # noqa: RUF012 - the base class declares it so

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        super().__init__()
        self._counters = collection

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return PyMongoError

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = datetime.now(UTC)
        ends = now + timedelta(seconds=expiry)
        # A window that is over starts again; the TTL index removes it later anyway.
        await self._counters.update_one(
            {"_id": key, "expire_at": {"$lte": now}}, {"$set": {"count": 0, "expire_at": ends}}
        )
        counter = await self._counters.find_one_and_update(
            {"_id": key},
            {"$inc": {"count": amount}, "$setOnInsert": {"expire_at": ends}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert counter is not None  # upserted
        return int(counter["count"])

    async def get(self, key: str) -> int:
        counter = await self._counters.find_one({"_id": key})
        if counter is None or counter["expire_at"] <= datetime.now(UTC):
            return 0
        return int(counter["count"])

    async def get_expiry(self, key: str) -> float:
        counter = await self._counters.find_one({"_id": key}, {"expire_at": 1})
        return counter["expire_at"].timestamp() if counter else datetime.now(UTC).timestamp()

    async def check(self) -> bool:
        try:
            await self._counters.database.command("ping")
        except PyMongoError:
            return False
        return True

    async def reset(self) -> int | None:
        return (await self._counters.delete_many({})).deleted_count

    async def clear(self, key: str) -> None:
        await self._counters.delete_one({"_id": key})


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # seconds until the window that refused is over


class RateLimiter:
    """Named limits (``{"booking_per_address": "20/hour", …}``) over one shared store."""

    def __init__(self, collection: AsyncCollection[Document], limits: dict[str, str]) -> None:
        self._strategy = FixedWindowRateLimiter(MongoCounters(collection))
        self._items: dict[str, RateLimitItem | None] = {name: parse_limit(value) for name, value in limits.items()}

    async def hit(self, name: str, *identifiers: str) -> Verdict:
        """Count one more of ``name`` for ``identifiers``; refused once the limit is reached."""
        item = self._items[name]
        if item is None:
            return Verdict(True)
        if await self._strategy.hit(item, name, *identifiers):
            return Verdict(True)
        stats = await self._strategy.get_window_stats(item, name, *identifiers)
        return Verdict(False, max(1, math.ceil(stats.reset_time - datetime.now(UTC).timestamp())))

    async def peek(self, name: str, *identifiers: str) -> Verdict:
        """Whether one more of ``name`` would be allowed, without counting it."""
        item = self._items[name]
        if item is None or await self._strategy.test(item, name, *identifiers):
            return Verdict(True)
        stats = await self._strategy.get_window_stats(item, name, *identifiers)
        return Verdict(False, max(1, math.ceil(stats.reset_time - datetime.now(UTC).timestamp())))


def parse_limit(value: str) -> RateLimitItem | None:
    """``"20/hour"`` → the limit; ``"off"`` → None. Raises ``ValueError`` for anything else."""
    if value.strip().lower() == "off":
        return None
    return parse(value)


def client_address(request: web.Request, trusted_proxies: Sequence[IPv4Network | IPv6Network]) -> str:
    """The caller's address: the peer's, or, when the peer is one of ``trusted_proxies``, the last
    address in ``X-Forwarded-For`` that is not one of them (a client cannot forge its way past
    a proxy it does not control; it can only prepend addresses, which are skipped)."""
    peer = request.remote or ""
    if not _trusted(peer, trusted_proxies):
        return peer
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
    for address in reversed(forwarded):
        if not _trusted(address, trusted_proxies):
            return address
    return peer


def _trusted(address: str, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
