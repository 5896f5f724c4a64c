"""Writes from concurrent callers, written together ("group commit").

Each caller hands over its items and waits for the write that holds them. A write takes every item
handed over while the write before it was under way, so under load one database write (one commit,
one journal flush) serves many callers, while a lone caller is written at once. Each caller gets the
results of its own items, or the exception of the write that held them.

``GroupedWrites`` is this for the writes to one collection (one unordered bulk write),
``GroupedInserts`` for new documents.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared.infra.mongo import Document

DUPLICATE_KEY = 11000

T = TypeVar("T")
R = TypeVar("R")
WriteOp = InsertOne[Document] | UpdateOne


class Grouped(Generic[T, R]):
    """Hands the items of concurrent callers to ``write`` in groups; ``write`` returns one result per item.
    ``gather``: how long a group waits for company before it is written (none: a lone caller at once)."""

    def __init__(self, write: Callable[[list[T]], Awaitable[list[R]]], *, gather: float = 0.0) -> None:
        self._write = write
        self._gather = gather
        self._waiting: list[tuple[list[T], asyncio.Future[list[R]]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, items: Sequence[T]) -> list[R]:
        if not items:
            return []
        done: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._waiting.append((list(items), done))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_all(), name="grouped-writes")
        return await asyncio.shield(done)

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                if self._gather:
                    await asyncio.sleep(self._gather)
                group, self._waiting = self._waiting, []
                try:
                    results = await self._write([item for items, _ in group for item in items])
                except Exception as exc:  # the database is away, say: every caller of this write learns it
                    for _, done in group:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                first = 0
                for items, done in group:
                    if not done.done():
                        done.set_result(results[first : first + len(items)])
                    first += len(items)
        finally:
            self._writer = None


class GroupedWrites:
    """``Grouped`` for the writes (``InsertOne``, ``UpdateOne`` …) of concurrent callers to one collection:
    one unordered bulk write for many. Each caller learns what became of its own writes: done, or refused
    as a duplicate (of the ``_id`` or another unique key, told by the ``DuplicateKeyError`` it gets back);
    another error of one write fails only the caller it belongs to."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection
        self._grouped: Grouped[WriteOp, BulkWriteError | DuplicateKeyError | None] = Grouped(self._bulk_write)

    async def write(self, operations: Sequence[WriteOp]) -> list[DuplicateKeyError | None]:
        """Carry out ``operations``; for each, None if it is done, or its ``DuplicateKeyError``."""
        results = await self._grouped.submit(operations)
        failure = next((r for r in results if isinstance(r, BulkWriteError)), None)
        if failure is not None:
            raise failure
        return [r if isinstance(r, DuplicateKeyError) else None for r in results]

    async def _bulk_write(self, operations: list[WriteOp]) -> list[BulkWriteError | DuplicateKeyError | None]:
        try:
            await self._collection.bulk_write(operations, ordered=False)
        except BulkWriteError as exc:
            errors = {error["index"]: error for error in exc.details.get("writeErrors", [])}
            return [_failure(errors[n]) if n in errors else None for n in range(len(operations))]
        return [None] * len(operations)


class GroupedInserts:
    """``GroupedWrites`` of new documents."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._writes = GroupedWrites(collection)

    async def insert(self, documents: Sequence[Document]) -> list[DuplicateKeyError | None]:
        """Store ``documents``; for each, None if it is stored, or the ``DuplicateKeyError`` if another
        document has its ``_id`` (or another unique key) already."""
        return await self._writes.write([InsertOne(document) for document in documents])


def _failure(error: dict[str, Any]) -> BulkWriteError | DuplicateKeyError:
    if error.get("code") == DUPLICATE_KEY:
        return DuplicateKeyError(error.get("errmsg", "duplicate key"), DUPLICATE_KEY, error)
    return BulkWriteError({"writeErrors": [error], "nInserted": 0})
