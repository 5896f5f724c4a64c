"""Inserts and updates of concurrent callers written together (``shared.infra.grouped``), against a real
MongoDB-protocol server: each caller learns what became of its own documents."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.infra.grouped import GroupedInserts, GroupedWrites

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

Document = dict[str, Any]


async def test_callers_at_once_each_learn_which_of_their_documents_were_new(db: AsyncDatabase[Document]) -> None:
    collection = db.grouped
    await collection.create_indexes([IndexModel([("key", 1)], unique=True, sparse=True)])
    await collection.insert_one({"_id": "there-before"})
    inserts = GroupedInserts(collection)

    results = await asyncio.gather(
        inserts.insert([{"_id": "a1"}, {"_id": "there-before"}]),
        inserts.insert([{"_id": "b1", "key": "k"}]),
        inserts.insert([{"_id": "c1", "key": "k"}, {"_id": "c2"}]),  # the unique key is b1's
        inserts.insert([]),
    )

    first, second, third, none = results
    assert first[0] is None and isinstance(first[1], DuplicateKeyError)
    assert second == [None]
    assert isinstance(third[0], DuplicateKeyError) and "key" in str(third[0].details) and third[1] is None
    assert none == []
    assert sorted(d["_id"] for d in await collection.find({}).to_list()) == ["a1", "b1", "c2", "there-before"]


async def test_a_write_that_fails_fails_each_of_its_callers(db: AsyncDatabase[Document]) -> None:
    inserts = GroupedInserts(db.grouped_bad)
    bad = {"_id": {"$not-a-field": 1}}  # field names may not start with "$"

    outcomes = await asyncio.gather(
        inserts.insert([{"_id": "fine"}]), inserts.insert([bad]), return_exceptions=True
    )

    assert outcomes[0] == [None] or isinstance(outcomes[0], Exception)
    assert isinstance(outcomes[1], Exception)


async def test_updates_of_callers_at_once_each_learn_their_own_outcome(db: AsyncDatabase[Document]) -> None:
    """Upserts guarded by a version, as the notifier's reminders are: written together, each applied or,
    where a newer version is stored, refused as a duplicate to its own caller only."""
    collection = db.grouped_updates
    await collection.insert_one({"_id": "newer", "sequence": 5})
    writes = GroupedWrites(collection)

    def upsert(key: str, sequence: int) -> UpdateOne:
        return UpdateOne({"_id": key, "sequence": {"$lte": sequence}}, {"$set": {"sequence": sequence}}, upsert=True)

    results = await asyncio.gather(
        writes.write([upsert("new", 1)]),
        writes.write([upsert("newer", 2)]),  # older than what is stored
        writes.write([upsert("newer-still", 3), upsert("new-too", 0)]),
    )

    assert results[0] == [None]
    assert isinstance(results[1][0], DuplicateKeyError)
    assert results[2] == [None, None]
    stored = {d["_id"]: d["sequence"] for d in await collection.find({}).to_list()}
    assert stored == {"new": 1, "newer": 5, "newer-still": 3, "new-too": 0}
