"""A service's resources as aiohttp ``cleanup_ctx`` steps, each under a typed application key.

A service's app factory appends, in order, ``mongo_ctx``, ``amqp_ctx``, then its relays and
consumers; aiohttp tears them down in reverse, so on SIGTERM consumers stop first, then the
outbox gets its last pass, then the connections close — each step bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts.topology import ConsumerQueue, declare_topology
from shared.infra.faults import when_reachable
from shared.infra.messaging import Consumer, Handler, Publisher
from shared.infra.mongo import Document, IndexNames, IndexSpec, create_client, ensure_indexes
from shared.infra.outbox import OutboxRelay
from shared.infra.poller import Poller
from shared.infra.ratelimit import COLLECTION as RATE_LIMIT_COLLECTION
from shared.infra.ratelimit import INDEXES as RATE_LIMIT_INDEXES
from shared.infra.ratelimit import RateLimiter
from shared.infra.settings import Settings

PROCESSED_EVENTS = "processed_events"

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]

SETTINGS = web.AppKey("settings", Settings)
MONGO_CLIENT = web.AppKey("mongo_client", AsyncMongoClient[Document])
DB = web.AppKey("db", AsyncDatabase[Document])
AMQP = web.AppKey("amqp", AbstractRobustConnection)
PUBLISHER = web.AppKey("publisher", Publisher)
RELAYS = web.AppKey("relays", dict[str, OutboxRelay])
CONSUMERS = web.AppKey("consumers", list[Consumer])
RATE_LIMITS = web.AppKey("rate_limits", RateLimiter)


def mongo_ctx(indexes: IndexSpec, retired: IndexNames | None = None) -> CleanupCtx:
    """The database, its indexes (without the ``retired`` ones), and the rate limits counted in it."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        client = create_client(settings)
        db = client[settings.mongodb_db]
        processed = timedelta(days=settings.processed_events_retention_days)
        all_indexes = {**indexes, **RATE_LIMIT_INDEXES, **processed_events_indexes(processed)}
        await when_reachable(lambda: ensure_indexes(db, all_indexes, retired), "MongoDB", settings.startup_wait_seconds)
        app[MONGO_CLIENT] = client
        app[DB] = db
        app[RATE_LIMITS] = RateLimiter(
            db[RATE_LIMIT_COLLECTION],
            {
                "booking_per_address": settings.rate_limit_per_address,
                "booking_per_email": settings.rate_limit_per_email,
                "changes_per_booking": settings.rate_limit_changes_per_booking,
                "availability_per_address": settings.rate_limit_availability_per_address,
                "admin_failures": settings.rate_limit_admin_failures,
                "sign_in_failures": settings.rate_limit_sign_in_failures,
            },
        )
        yield
        await client.close()

    return ctx


def processed_events_indexes(keep: timedelta) -> IndexSpec:
    """The consumers' record of handled event ids expires: a redelivery comes within minutes, not weeks."""
    return {PROCESSED_EVENTS: [IndexModel([("at", 1)], expireAfterSeconds=int(keep.total_seconds()))]}


def amqp_ctx(queues: Sequence[ConsumerQueue]) -> CleanupCtx:
    """One robust connection: after a lost connection aio-pika reconnects and declares again what
    was declared on its channels (the topology, and each consumer's queue and subscription).

    Every service declares every queue (``queues``: the whole system's), so no event is published
    before the queues of all its consumers exist."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        connection = await when_reachable(
            lambda: aio_pika.connect_robust(settings.amqp_url), "RabbitMQ", settings.startup_wait_seconds
        )
        channel = await connection.channel(publisher_confirms=True)
        exchange = await declare_topology(channel, queues, settings.retry_delays_ms)
        app[AMQP] = connection
        app[PUBLISHER] = Publisher(exchange, timeout=settings.publish_timeout_seconds)
        app[RELAYS] = {}
        app[CONSUMERS] = []
        yield
        with contextlib.suppress(Exception):  # bounded even while the broker blocks or is away
            await asyncio.wait_for(connection.close(), settings.shutdown_timeout_seconds)

    return ctx


def relay_ctx(collection: str, *, clear_after: float = 0.5) -> CleanupCtx:
    """Run an outbox relay over ``collection``; on shutdown it publishes what is left, then stops.
    ``clear_after``: how long a published document waits for its next write to take the clear along
    (``OutboxRelay.update_and_clear``) before the relay clears it with a write of its own."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        relay = OutboxRelay(
            app[DB][collection],
            app[PUBLISHER],
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            poll_interval=settings.outbox_poll_seconds,
            clear_after=clear_after,
        )
        app[RELAYS][collection] = relay
        task = asyncio.create_task(relay.run(), name=f"outbox-relay-{collection}")
        yield
        # One last pass publishes what was stored before shutdown; what it cannot publish in time
        # stays in the outbox for the next start (or another replica).
        relay.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task, settings.shutdown_timeout_seconds)

    return ctx


def consumer_ctx(
    queue: ConsumerQueue, make_handler: Callable[[web.Application], Handler], *, records_processed: bool = False
) -> CleanupCtx:
    """Consume ``queue``. The handlers must be idempotent on the event id by their own writes; for
    handlers that are not, ``records_processed`` keeps processed-event records (``processed_events``)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        channel = await app[AMQP].channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=settings.prefetch_count)
        consumer = Consumer(
            channel=channel,
            queue=queue,
            handler=make_handler(app),
            processed=app[DB][PROCESSED_EVENTS] if records_processed else None,
            retry_delays_ms=settings.retry_delays_ms,
            max_wait_seconds=settings.unavailable_max_wait_seconds,
        )
        await consumer.start()
        app[CONSUMERS].append(consumer)
        yield
        await consumer.stop(timeout=settings.shutdown_timeout_seconds)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(channel.close(), 5)

    return ctx


def poller_ctx(make: Callable[[web.Application], Poller]) -> CleanupCtx:
    """Run a background ``Poller`` (built from the app's resources) for the app's life; on shutdown it
    stops, and a pass under way is cut off (what it did not finish is done on the next start)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        poller = make(app)
        task = asyncio.create_task(poller.run(), name=poller.name)
        yield
        poller.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx
