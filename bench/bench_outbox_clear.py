"""What an outbox clear costs SecantusDB, against an insert, by the shape of the write.

    python bench/bench_outbox_clear.py [--documents 8000]

One client against a fresh SecantusDB (``retryWrites=false``) with the bookings' indexes: inserts
documents shaped like bookings with a claimed, published request in their outbox, 32 a statement, then
clears them (``shared.infra.outbox.CLEARED``) in the shapes a relay could use: a bulk of one statement
per document (8 a bulk), and one statement over the ids (``only_these_of``) of 8, 50 and 200 documents.
Prints milliseconds per document for each.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient, UpdateOne

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.booking.store import INDEXES  # noqa: E402
from shared.infra.outbox import CLEARED, Sent, only_these_of  # noqa: E402
from tests.backends import secantus_server  # noqa: E402

Document = dict[str, Any]


def booking(number: int, now: datetime) -> Document:
    details = {
        "workplace": {"name": f"Bostedet Lindely {number}", "address": "Skovvej 12", "postcode": "8000",
                      "city": "Aarhus C"},
        "contact": {"name": "Mette Hansen", "email": f"mette{number}@example.dk", "phone": "+4520304050"},
        "theme": "selvledelse", "setting": "staff_meeting", "participants": 18, "duration_minutes": 120,
        "preferred_starts": [now + timedelta(days=40)], "notes": "Personalemøde i fællesrummet.",
    }
    event_id = uuid.uuid4().hex
    return {
        "_id": f"IT-{number:08d}", "secret": uuid.uuid4().hex, "status_url": f"http://x/status/{number}",
        "status": "requested", "details": details, "created_at": now, "updated_at": now,
        "history": [{"at": now, "status": "requested", "event_id": event_id}],
        "idempotency_key": uuid.uuid4().hex, "request_hash": "0" * 64,
        "outbox": [{"event_id": event_id, "type": "booking.requested", "version": 1, "data": details}],
        "outbox_pending": True, "outbox_due": now + timedelta(seconds=30), "outbox_owner": f"claim-{number}",
    }


def sent(number: int) -> Sent:
    return Sent(f"IT-{number:08d}", f"claim-{number}", 1, (f"event-{number}",))


async def per_document(run: Callable[[range], Awaitable[None]], numbers: range, per_write: int) -> float:
    started = time.perf_counter()
    for first in range(numbers.start, numbers.stop, per_write):
        await run(range(first, min(first + per_write, numbers.stop)))
    return (time.perf_counter() - started) / len(numbers) * 1e3


async def measure(documents: int) -> None:
    with secantus_server() as url:
        client: AsyncMongoClient[Document] = AsyncMongoClient(f"{url}&retryWrites=false")
        bookings = client.bench.bookings
        await bookings.create_indexes(INDEXES["bookings"])
        now = datetime.now(UTC)

        async def insert(numbers: range) -> None:
            await bookings.insert_many([booking(n, now) for n in numbers], ordered=False)

        async def bulk(numbers: range) -> None:
            writes = [UpdateOne({"_id": s.document_id, **s.only_these}, CLEARED) for s in map(sent, numbers)]
            await bookings.bulk_write(writes, ordered=False)

        async def one_statement(numbers: range) -> None:
            [condition] = only_these_of(sent(n) for n in numbers)
            await bookings.update_many(condition, CLEARED)

        quarter = documents // 4
        print(f"{documents} bookings, indexes: _id, {', '.join(i.document['name'] for i in INDEXES['bookings'])}")
        inserted = await per_document(insert, range(documents), 32)
        print(f"insert, 32 a statement:            {inserted:.2f} ms a document")
        print(f"clear, a bulk of 8 statements:     {await per_document(bulk, range(quarter), 8):.2f} ms a document")
        for at, per_write in enumerate((8, 50, 200), start=1):
            numbers = range(at * quarter, (at + 1) * quarter)
            cost = await per_document(one_statement, numbers, per_write)
            print(f"clear, one statement over {per_write:>3} ids: {cost:.2f} ms a document")
        assert await bookings.count_documents({"outbox_pending": True}) == 0, "every clear should have matched"
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=8000)
    asyncio.run(measure(parser.parse_args().documents))


if __name__ == "__main__":
    main()
