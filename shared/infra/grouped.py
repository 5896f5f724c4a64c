"""Inserts from concurrent callers into one collection, written together ("group commit").

Each caller hands over its documents and waits for the write that holds them. A write takes every
document handed over while the write before it was under way, so under load one database write
(one commit, one journal flush) stores the documents of many callers, while a lone caller is written
at once. Each caller learns what became of its own documents: stored, or refused as a duplicate (of
the ``_id`` or another unique key, told by the ``DuplicateKeyError`` it gets back); another error of one
document fails only the caller it belongs to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared.infra.mongo import Document

DUPLICATE_KEY = 11000


class GroupedInserts:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection
        self._waiting: list[tuple[list[Document], asyncio.Future[list[DuplicateKeyError | None]]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def insert(self, documents: Sequence[Document]) -> list[DuplicateKeyError | None]:
        """Store ``documents``; for each, None if it is stored, or the ``DuplicateKeyError`` if another
        document has its ``_id`` (or another unique key) already."""
        if not documents:
            return []
        stored: asyncio.Future[list[DuplicateKeyError | None]] = asyncio.get_running_loop().create_future()
        self._waiting.append((list(documents), stored))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_all(), name="grouped-inserts")
        return await asyncio.shield(stored)

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                await self._write(group)
        finally:
            self._writer = None

    async def _write(self, group: list[tuple[list[Document], asyncio.Future[list[DuplicateKeyError | None]]]]) -> None:
        documents = [document for docs, _ in group for document in docs]
        errors: dict[int, dict[str, Any]] = {}
        try:
            await self._collection.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            errors = {error["index"]: error for error in exc.details.get("writeErrors", [])}
        except Exception as exc:  # the database is away, say: every caller of this write learns it
            for _, stored in group:
                if not stored.done():
                    stored.set_exception(exc)
            return
        first = 0
        for docs, stored in group:
            mine = [errors.get(first + n) for n in range(len(docs))]
            first += len(docs)
            if stored.done():
                continue
            failure = next((e for e in mine if e is not None and e.get("code") != DUPLICATE_KEY), None)
            if failure is not None:
                stored.set_exception(BulkWriteError({"writeErrors": [failure], "nInserted": 0}))
            else:
                stored.set_result([_duplicate(error) if error is not None else None for error in mine])


def _duplicate(error: dict[str, Any]) -> DuplicateKeyError:
    return DuplicateKeyError(error.get("errmsg", "duplicate key"), DUPLICATE_KEY, error)
