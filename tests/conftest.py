"""Shared fixtures: the real backends (see ``tests/backends.py``) and a settings factory."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aio_pika
import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.topology import ALL_QUEUES
from shared.contracts.topology import declare_topology
from shared.infra.settings import Settings
from tests import backends

TEST_RETRY_DELAYS = (100, 300, 600)
# Tests post many bookings from one address; the limits have tests of their own (test_security.py).
NO_RATE_LIMITS = {
    "rate_limit_per_address": "off",
    "rate_limit_per_email": "off",
    "rate_limit_changes_per_booking": "off",
    "rate_limit_availability_per_address": "off",
}
ADMIN_TOKEN = "tests-admin-token-4f6c1e0b9a2d7c83e5f1a6"  # 32+ characters, as the services want


@pytest.fixture(scope="session")
def mongodb_url() -> Iterator[str]:
    with backends.mongodb() as url:
        yield url


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with backends.rabbitmq() as url:
        yield url


@pytest.fixture
def settings(mongodb_url: str, amqp_url: str) -> Settings:
    """Settings for one test: its own database, quick retries and polling."""
    return Settings(
        mongodb_url=mongodb_url,
        mongodb_db=f"test_{uuid.uuid4().hex[:12]}",
        amqp_url=amqp_url,
        admin_token=ADMIN_TOKEN,  # type: ignore[arg-type]
        retry_delays_ms=TEST_RETRY_DELAYS,
        outbox_poll_seconds=0.2,
        outbox_lease_seconds=2.0,
        shutdown_timeout_seconds=5.0,
        **NO_RATE_LIMITS,
    )


@pytest_asyncio.fixture
async def db(settings: Settings) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """The test's own database, read directly to check what the services stored; dropped afterwards."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    yield client[settings.mongodb_db]
    await client.drop_database(settings.mongodb_db)
    await client.close()


@pytest_asyncio.fixture
async def clean_queues(amqp_url: str) -> AsyncIterator[None]:
    """Empty every consumer queue, so no message of an earlier test leaks into this one."""
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        await declare_topology(channel, ALL_QUEUES, TEST_RETRY_DELAYS)
        for queue in ALL_QUEUES:
            for name in (queue.name, queue.parked, *(queue.retry(d) for d in TEST_RETRY_DELAYS)):
                await (await channel.get_queue(name)).purge()
    yield
