"""SIGTERM scales a service down without losing anything.

Real processes, real RabbitMQ and MongoDB-protocol server: a booking service is stopped while
bookings pour in, a scheduler while it works through a queue. Each must exit by itself within a
bounded time, and every stored booking and every queued request must come out the other end once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pytest
import pytest_asyncio
import yaml

from shared.contracts.events import EXCHANGE, BookingRequestedData, decode_event, encode_event, new_event
from shared.contracts.models import BookingDetails, Contact, Workplace
from shared.infra.settings import Settings
from shared.text.localtime import localize
from tests.dates import closed
from tests.processes import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

EXIT_WITHIN = 25.0  # seconds: shutdown_timeout (5 s in tests) plus the consumers' and relay's drain


@pytest_asyncio.fixture
async def channel(settings: Settings, clean_queues: None) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect_robust(settings.amqp_url)
    async with connection:
        yield await connection.channel()


async def watch(channel: aio_pika.abc.AbstractChannel, *routing_keys: str) -> aio_pika.abc.AbstractQueue:
    exchange = await channel.get_exchange(EXCHANGE)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    for key in routing_keys:
        await queue.bind(exchange, key)
    return queue


async def drain(queue: aio_pika.abc.AbstractQueue, quiet_for: float = 1.5) -> list[bytes]:
    """Every message on ``queue`` until none has come for ``quiet_for`` seconds."""
    bodies: list[bytes] = []
    while True:
        message = await queue.get(fail=False, timeout=5)
        if message is None:
            await asyncio.sleep(quiet_for)
            message = await queue.get(fail=False, timeout=5)
            if message is None:
                return bodies
        bodies.append(message.body)
        await message.ack()


def booking_body(n: int) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(days=30 + n % 200)
    while closed(start):
        start += timedelta(days=1)
    return {
        "workplace": {"name": f"Bostedet {n}", "address": "Skovvej 12", "postcode": "8000", "city": "Aarhus C"},
        "contact": {"name": "Mette Hansen", "email": f"mette{n}@example.dk", "phone": "20304050"},
        "theme": "selvledelse",
        "setting": "staff_meeting",
        "participants": 18,
        "duration_minutes": 90,
        "preferred_starts": [f"{start:%Y-%m-%d}T10:00"],
    }


async def test_booking_service_stops_cleanly_and_loses_no_booking(
    settings: Settings, channel: aio_pika.abc.AbstractChannel, db: Any, tmp_path: Path
) -> None:
    announced = await watch(channel, "booking.requested")
    service = ServiceProcess("booking", settings, tmp_path).start()
    accepted: list[str] = []
    try:
        await service.wait_ready()

        async def client(worker: int, session: aiohttp.ClientSession) -> None:
            for n in range(worker, 10_000, 8):
                try:
                    async with session.post(f"{service.url}/api/v1/bookings", json=booking_body(n)) as response:
                        if response.status == 201:
                            accepted.append((await response.json())["id"])
                except aiohttp.ClientError:
                    return  # the service has stopped listening

        async with aiohttp.ClientSession() as session:
            clients = [asyncio.create_task(client(w, session)) for w in range(8)]
            while len(accepted) < 40:
                await asyncio.sleep(0.02)
            service.signal(signal.SIGTERM)
            assert await service.wait_exit(EXIT_WITHIN) == 0, service.log()
            await asyncio.wait_for(asyncio.gather(*clients), timeout=10)
    finally:
        service.stop()

    stored = {doc["_id"]: doc async for doc in db.bookings.find({}, {"outbox": 1})}
    assert set(accepted) <= set(stored), "a booking answered with 201 is missing"
    assert all(not doc.get("outbox") for doc in stored.values()), "the outbox was not flushed before exit"
    published = Counter(decode_event(body).correlation_id for body in await drain(announced))
    assert set(published) == set(stored)
    assert max(published.values()) == 1


async def test_scheduler_stops_mid_queue_and_another_finishes_the_work(
    settings: Settings, channel: aio_pika.abc.AbstractChannel, db: Any, tmp_path: Path
) -> None:
    consultants = tmp_path / "consultants.yaml"
    consultants.write_text(
        yaml.safe_dump(
            {
                "consultants": [
                    {
                        "id": f"konsulent-{i}",
                        "name": f"Konsulent {i}",
                        "email": f"k{i}@example.dk",
                        "max_talks_per_day": 2,
                    }
                    for i in range(3)
                ]
            }
        )
    )
    outcomes = await watch(channel, "booking.scheduled", "booking.needs_alternative")
    exchange = await channel.get_exchange(EXCHANGE)
    total = 120
    booking_ids = [f"SIG-{uuid.uuid4().hex[:8]}" for _ in range(total)]
    for n, booking_id in enumerate(booking_ids):
        day = (datetime.now(UTC) + timedelta(days=20 + n % 60)).date()
        while closed(day):
            day += timedelta(days=1)
        details = BookingDetails(
            workplace=Workplace(name=f"Sted {n}", address="Vej 1", postcode="8000", city="Aarhus"),
            contact=Contact(name="Mette", email="mette@example.dk", phone="+4520304050"),
            theme="smidighed",
            setting="staff_meeting",
            participants=10,
            duration_minutes=90,
            preferred_starts=(localize(datetime(day.year, day.month, day.day, 10)).astimezone(UTC),),
        )
        event = new_event(BookingRequestedData(booking_id=booking_id, booking=details, status_url="http://x/"))
        await exchange.publish(
            aio_pika.Message(encode_event(event), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=event.type,
        )

    first = ServiceProcess("scheduler", settings, tmp_path, CONSULTANTS_FILE=str(consultants)).start()
    second = ServiceProcess("scheduler", settings, tmp_path, CONSULTANTS_FILE=str(consultants))
    try:
        await first.wait_ready()
        while await db.placements.count_documents({"status": {"$in": ["scheduled", "needs_alternative"]}}) < 15:
            await asyncio.sleep(0.05)
        first.signal(signal.SIGTERM)
        assert await first.wait_exit(EXIT_WITHIN) == 0, first.log()

        # Stopped: nothing it held stays unacknowledged; what it did not finish is back in the queue.
        queue = await channel.declare_queue("scheduler.requests", passive=True)
        done = await db.placements.count_documents({"status": {"$in": ["scheduled", "needs_alternative"]}})
        waiting = queue.declaration_result.message_count
        assert done < total, "the scheduler should have been stopped mid-queue"
        assert done + (waiting or 0) >= total

        second.start()
        await second.wait_ready()
        deadline = asyncio.get_running_loop().time() + 60
        while await db.placements.count_documents({"status": {"$in": ["scheduled", "needs_alternative"]}}) < total:
            assert asyncio.get_running_loop().time() < deadline, second.log()
            await asyncio.sleep(0.1)
    finally:
        with contextlib.suppress(Exception):
            first.stop()
        second.stop()

    per_booking = Counter(decode_event(body).correlation_id for body in await drain(outcomes))
    assert set(per_booking) == set(booking_ids)
    assert max(per_booking.values()) == 1, "a booking got two outcomes"
    days = await db.consultant_days.find().to_list()
    talks = Counter(talk["booking_id"] for day in days for talk in day["talks"])
    assert max(talks.values()) == 1, "a booking holds two talks"
