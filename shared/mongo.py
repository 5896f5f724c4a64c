"""MongoDB access with PyMongo's async API (``AsyncMongoClient``; Motor is deprecated)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from shared.settings import Settings

Document = dict[str, Any]
IndexSpec = Mapping[str, Sequence[IndexModel]]  # collection name -> its indexes


def create_client(settings: Settings) -> AsyncMongoClient[Document]:
    """A client that returns aware UTC datetimes; it connects lazily on first use."""
    return AsyncMongoClient(
        settings.mongodb_url, tz_aware=True, uuidRepresentation="standard", serverSelectionTimeoutMS=10_000
    )


async def ensure_indexes(db: AsyncDatabase[Document], indexes: IndexSpec) -> None:
    for collection, models in indexes.items():
        if models:
            await db[collection].create_indexes(list(models))


async def ping(db: AsyncDatabase[Document]) -> bool:
    try:
        await db.command("ping")
    except Exception:
        return False
    return True
