"""MongoDB access with PyMongo's async API (``AsyncMongoClient``; Motor is deprecated)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pymongo
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from shared.infra.dbmetrics import CommandCounter
from shared.infra.settings import Settings

Document = dict[str, Any]
IndexSpec = Mapping[str, Sequence[IndexModel]]  # collection name -> its indexes
IndexNames = Mapping[str, Sequence[str]]  # collection name -> names of indexes
INDEX_NOT_FOUND = 27


def create_client(settings: Settings) -> AsyncMongoClient[Document]:
    """A client that returns aware UTC datetimes; it connects lazily on first use.

    Every operation is bounded (``timeoutMS``, and a shorter wait for a reachable server), so an
    unreachable or hanging database turns into an error (``shared.infra.faults.is_unavailable``) instead of
    a request or a message that waits for ever. With ``MONGODB_COMMAND_METRICS`` every command is
    counted (``shared.infra.dbmetrics``).
    """
    return AsyncMongoClient(
        settings.mongodb_url,
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=settings.mongodb_server_selection_timeout_ms,
        timeoutMS=settings.mongodb_timeout_ms,
        # Acknowledged means on disk: a write is confirmed only once it is in the journal, so a
        # database server that crashes right after confirming a booking still has it when it restarts.
        journal=settings.mongodb_journal,
        event_listeners=[CommandCounter()] if settings.mongodb_command_metrics else [],
    )


async def ensure_indexes(
    db: AsyncDatabase[Document], indexes: IndexSpec, retired: IndexNames | None = None
) -> None:
    """Create the indexes; and drop those an earlier version created that are ``retired`` (collection ->
    index names): each index costs every write of its collection."""
    for collection, names in (retired or {}).items():
        existing = await db[collection].index_information()
        for name in names:
            if name in existing:
                try:
                    await db[collection].drop_index(name)
                except OperationFailure as exc:
                    if exc.code != INDEX_NOT_FOUND:  # else another replica, starting too, dropped it first
                        raise
    for collection, models in indexes.items():
        if models:
            await db[collection].create_indexes(list(models))


async def ping(db: AsyncDatabase[Document], timeout: float = 2.0) -> bool:
    try:
        with pymongo.timeout(timeout):
            await db.command("ping")
    except Exception:
        return False
    return True
