"""The booking service while its database is away, and what a consumer does with messages meanwhile.

The service runs in-process on a SecantusDB server of the test's own, which the test SIGKILLs and
starts again on the same data. Requests that need the database get 503 with ``Retry-After`` (the
form keeps what was typed), readiness says so, and an event that arrives meanwhile waits for the
database without using up its retries, instead of being parked. Also: the parking queue keeps what
it holds however often it is listed, and a late-arriving older outcome never overwrites a newer one.
A service started before its database and broker answer waits for them instead of exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from services.booking.app import create_app
from services.booking.domain import BookingRules, parse_booking
from services.topology import BOOKING_STATUS_QUEUE
from shared.contracts.events import (
    EXCHANGE,
    BookingNeedsAlternativeData,
    BookingScheduledData,
    Event,
    encode_event,
    new_event,
)
from shared.contracts.models import ConsultantRef, Slot
from shared.infra.settings import Settings
from shared.text.localtime import parse_start
from tests.backends import SecantusProcess, free_port
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_booking_api import valid_body
from tests.integration.test_booking_form import Page, filled_form
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
Client = TestClient[Any, Any]


@pytest.fixture
def database() -> Iterator[SecantusProcess]:
    with tempfile.TemporaryDirectory(prefix="secantus-") as storage:
        server = SecantusProcess(storage)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest_asyncio.fixture
async def booking(settings: Settings, database: SecantusProcess, clean_queues: None) -> AsyncIterator[Client]:
    own = settings.model_copy(
        update={"mongodb_url": database.url, "mongodb_server_selection_timeout_ms": 1000, "mongodb_timeout_ms": 2000}
    )
    async with TestClient(TestServer(create_app(own))) as client:
        yield client


class LateBroker:
    """A loopback port that refuses connections until ``open()``, then forwards them to the real
    RabbitMQ: a broker that is still starting (as after a host or Compose stack restart)."""

    def __init__(self, amqp_url: str) -> None:
        parts = urllib.parse.urlsplit(amqp_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5672)
        self.port = free_port()
        self.url = parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{self.port}").geturl()
        self._server: asyncio.Server | None = None

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        broker_reader, broker_writer = await asyncio.open_connection(*self._target)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        await asyncio.gather(pipe(client_reader, broker_writer), pipe(broker_reader, client_writer))


async def publish(amqp_url: str, event: Event | bytes, routing_key: str | None = None) -> None:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        body = event if isinstance(event, bytes) else encode_event(event)
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        if routing_key is not None:  # straight into a queue
            await channel.default_exchange.publish(message, routing_key=routing_key)
        else:
            assert not isinstance(event, bytes)
            exchange = await channel.get_exchange(EXCHANGE)
            await exchange.publish(message, routing_key=event.type)


async def create_booking(client: Client) -> dict[str, Any]:
    response = await client.post("/api/v1/bookings", json=valid_body())
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


def outcome(created: dict[str, Any], *, scheduled: bool, revision: int, at: datetime) -> Event:
    body = valid_body()
    details = parse_booking(body, now=datetime.now(UTC), rules=BookingRules())
    common = {
        "booking_id": created["id"],
        "booking": details,
        "status_url": created["status_url"],
        "revision": revision,
    }
    if scheduled:
        start = parse_start(body["preferred_starts"][0])
        slot = Slot(
            consultant=ConsultantRef(id="anne", name="Anne Konsulent", email="anne@example.dk"),
            start=start,
            end=start + timedelta(minutes=120),
        )
        return new_event(BookingScheduledData(**common, slot=slot), now=at)
    return new_event(BookingNeedsAlternativeData(**common, alternatives=(), reason="test"), now=at)


async def status_of(client: Client, booking_id: str) -> str:
    response = await client.get(f"/api/v1/bookings/{booking_id}", headers=ADMIN)
    assert response.status == 200, await response.text()
    return str((await response.json())["status"])


async def parked(client: Client) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/dead-letters", headers=ADMIN)
    assert response.status == 200, await response.text()
    messages: list[dict[str, Any]] = (await response.json())["messages"]
    return messages


async def test_without_its_database_the_service_answers_503_and_keeps_the_form(
    booking: Client, database: SecantusProcess
) -> None:
    database.kill()

    api = await booking.post("/api/v1/bookings", json=valid_body())
    assert api.status == 503
    assert api.headers["Retry-After"].isdigit()
    [error] = (await api.json())["errors"]
    assert "midlertidigt utilgængelig" in error["message"]

    form = filled_form(workplace_name="Bostedet Solsikken")
    page_response = await booking.post("/", data=form)
    assert page_response.status == 503
    assert page_response.headers["Retry-After"].isdigit()
    page = Page(await page_response.text())
    assert "send den igen om lidt" in page.by_id("notice").text
    assert page.value("workplace_name") == "Bostedet Solsikken"
    assert page.value("idempotency_key") == form["idempotency_key"]  # sending it again makes one booking

    ready = await booking.get("/readyz")
    assert ready.status == 503
    assert (await ready.json())["checks"]["mongodb"] is False

    database.start()
    again = await booking.post("/", data=form)
    assert again.status == 200
    assert (await booking.get("/readyz")).status == 200


async def test_an_event_waits_for_the_database_without_using_up_its_retries(
    booking: Client, database: SecantusProcess, amqp_url: str
) -> None:
    created = await create_booking(booking)
    database.kill()
    await publish(amqp_url, outcome(created, scheduled=True, revision=1, at=datetime.now(UTC)))

    # Longer than the whole retry ladder (0.1 + 0.3 + 0.6 s in the tests): a message that counted
    # the outage as its own failure would be parked by now.
    async def waiting() -> bool:
        metrics = await booking.get("/metrics", headers=ADMIN)
        return f'outcome="waiting",queue="{BOOKING_STATUS_QUEUE.name}"'.encode() in await metrics.read()

    await eventually(waiting, "the event to wait for the database")
    database.start()

    async def scheduled() -> bool:
        return await status_of(booking, created["id"]) == "scheduled"

    await eventually(scheduled, "the event applied once the database is back", timeout=30)
    assert await parked(booking) == []


async def test_listing_parked_messages_never_loses_them(booking: Client, amqp_url: str) -> None:
    await publish(amqp_url, b'{"not": "an event"}', routing_key=BOOKING_STATUS_QUEUE.name)
    [first] = await eventually(lambda: parked(booking), "the undecodable message to be parked")
    assert first["reason"].startswith("undecodable")

    for _ in range(25):  # more than a quorum queue's delivery limit (20 on RabbitMQ 4)
        assert [m["body"] for m in await parked(booking)] == [first["body"]]

    replayed = await booking.post("/api/v1/dead-letters/replay", headers=ADMIN)
    assert (await replayed.json())["replayed"] == 1
    [again] = await eventually(lambda: parked(booking), "the replayed message to be parked again")
    assert json.loads(again["body"]) == {"not": "an event"}


async def test_an_older_outcome_never_overwrites_a_newer_one_whatever_the_clocks_say(
    booking: Client, amqp_url: str
) -> None:
    created = await create_booking(booking)
    now = datetime.now(UTC)
    await publish(amqp_url, outcome(created, scheduled=True, revision=2, at=now))

    async def scheduled() -> bool:
        return await status_of(booking, created["id"]) == "scheduled"

    await eventually(scheduled, "the newer outcome applied")
    # The older outcome, stamped by a replica whose clock runs an hour ahead, arrives late.
    stale = outcome(created, scheduled=False, revision=1, at=now + timedelta(hours=1))
    await publish(amqp_url, stale)
    newer = outcome(created, scheduled=False, revision=3, at=now - timedelta(hours=1))
    await publish(amqp_url, newer)

    async def alternatives() -> bool:
        return await status_of(booking, created["id"]) == "needs_alternative"

    await eventually(alternatives, "the newest outcome applied, whatever its clock said")
    response = await booking.get(f"/api/v1/bookings/{created['id']}", headers=ADMIN)
    history = [h["status"] for h in (await response.json())["history"]]
    assert history == ["received", "scheduled", "needs_alternative"], "the stale outcome left no trace"


async def test_a_service_started_before_its_database_and_broker_waits_for_them(
    settings: Settings, clean_queues: None, amqp_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.infra.faults")

    def waited_for(what: str) -> bool:
        return any(record.getMessage() == f"{what} not reachable yet, trying again" for record in caplog.records)

    broker = LateBroker(amqp_url)
    with tempfile.TemporaryDirectory(prefix="secantus-") as storage:
        database = SecantusProcess(storage)  # not started yet
        own = settings.model_copy(
            update={
                "mongodb_url": database.url,
                "amqp_url": broker.url,
                "mongodb_server_selection_timeout_ms": 300,
                "startup_wait_seconds": 60,
            }
        )
        client: Client = TestClient(TestServer(create_app(own)))
        starting = asyncio.create_task(client.start_server())
        try:
            await eventually(lambda: waited_for("MongoDB"), "the service to wait for its database")
            await asyncio.to_thread(database.start)
            await eventually(lambda: waited_for("RabbitMQ"), "the service to wait for its broker")
            assert not starting.done()
            await broker.open()
            await asyncio.wait_for(starting, 30)

            created = await create_booking(client)
            assert await status_of(client, created["id"]) == "received"
            assert (await client.get("/readyz")).status == 200
        finally:
            starting.cancel()
            await client.close()
            await broker.close()
            database.stop()
