"""Inserts of concurrent callers written together (``shared.infra.grouped``), against a real
MongoDB-protocol server: each caller learns what became of its own documents."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.infra.grouped import GroupedInserts

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
