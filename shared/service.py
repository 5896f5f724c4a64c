"""What every service has: its resources as aiohttp ``cleanup_ctx`` steps, ops routes, admin auth.

A service's app factory appends, in order, ``mongo_ctx``, ``amqp_ctx``, then its relays and
consumers; aiohttp tears them down in reverse, so on SIGTERM consumers stop first, then the
outbox is flushed, then the connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.faults import is_unavailable
from shared.messaging import Consumer, Handler, Publisher, list_parked, replay_parked
from shared.mongo import Document, IndexSpec, create_client, ensure_indexes, ping
from shared.outbox import OutboxRelay
from shared.settings import Settings
from shared.topology import ConsumerQueue, declare_topology

log = logging.getLogger(__name__)

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]
Middleware = Callable[
    [web.Request, Callable[[web.Request], Awaitable[web.StreamResponse]]], Awaitable[web.StreamResponse]
]

SETTINGS = web.AppKey("settings", Settings)
MONGO_CLIENT = web.AppKey("mongo_client", AsyncMongoClient[Document])
DB = web.AppKey("db", AsyncDatabase[Document])
AMQP = web.AppKey("amqp", AbstractRobustConnection)
PUBLISHER = web.AppKey("publisher", Publisher)
RELAYS = web.AppKey("relays", dict[str, OutboxRelay])
CONSUMERS = web.AppKey("consumers", list[Consumer])

HTTP_REQUESTS = Counter("inspiration_http_requests_total", "HTTP requests", ["service", "route", "status"])


def mongo_ctx(indexes: IndexSpec) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        client = create_client(settings)
        db = client[settings.mongodb_db]
        await ensure_indexes(db, indexes)
        app[MONGO_CLIENT] = client
        app[DB] = db
        yield
        await client.close()

    return ctx


async def amqp_ctx(app: web.Application) -> AsyncIterator[None]:
    """One robust connection: after a lost connection aio-pika reconnects and declares again what
    was declared on its channels (the topology, and each consumer's queue and subscription)."""
    settings = app[SETTINGS]
    connection = await aio_pika.connect_robust(settings.amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await declare_topology(channel, settings.retry_delays_ms)
    app[AMQP] = connection
    app[PUBLISHER] = Publisher(exchange, timeout=settings.publish_timeout_seconds)
    app[RELAYS] = {}
    app[CONSUMERS] = []
    yield
    with contextlib.suppress(Exception):  # bounded even while the broker blocks or is away
        await asyncio.wait_for(connection.close(), settings.shutdown_timeout_seconds)


def relay_ctx(collection: str) -> CleanupCtx:
    """Run an outbox relay over ``collection``; on shutdown it publishes what is left, then stops."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        relay = OutboxRelay(
            app[DB][collection],
            app[PUBLISHER],
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            poll_interval=settings.outbox_poll_seconds,
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


def consumer_ctx(queue: ConsumerQueue, make_handler: Callable[[web.Application], Handler]) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        channel = await app[AMQP].channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=settings.prefetch_count)
        consumer = Consumer(
            channel=channel,
            queue=queue,
            handler=make_handler(app),
            processed=app[DB]["processed_events"],
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


# --- ops routes -----------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready: the database answers, the broker connection is up, and every consumer this service
    should have is being delivered its queue's messages."""
    app = request.app
    checks: dict[str, bool] = {
        "mongodb": DB in app and await ping(app[DB]),
        "rabbitmq": AMQP in app and not app[AMQP].is_closed,
    }
    for consumer in app.get(CONSUMERS, []):
        checks[f"consumer:{consumer.queue.name}"] = await consumer.consuming()
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503
    )


async def metrics(request: web.Request) -> web.Response:
    for consumer in request.app.get(CONSUMERS, []):
        await consumer.consuming()  # refreshes the inspiration_consumer_up gauge
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_ops_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


def request_metrics(service: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            HTTP_REQUESTS.labels(service, name, str(exc.status)).inc()
            raise
        HTTP_REQUESTS.labels(service, name, str(response.status)).inc()
        return response

    return middleware


def language(request: web.Request) -> str:
    """The API's language: English with ``?lang=en`` or ``Accept-Language: en…``, else Danish."""
    if request.query.get("lang") == "en" or request.headers.get("Accept-Language", "").lower().startswith("en"):
        return "en"
    return "da"


# --- errors and admin auth --------------------------------------------------------------------------


def json_errors(status: int, errors: list[dict[str, str]], **headers: str) -> web.Response:
    return web.json_response({"errors": errors}, status=status, headers=headers or None)


# Errors aiohttp raises by itself, in the users' words (Danish first, as every message of the API).
_ERROR_TEXTS = {
    413: ("body", "Forespørgslen er for stor (højst 64 KiB) / the request body is too large (at most 64 KiB)."),
    404: ("", "Siden findes ikke / not found."),
    405: ("", "Metoden er ikke tilladt her / method not allowed."),
}


def json_error_middleware() -> Callable[..., Awaitable[web.StreamResponse]]:
    """API routes answer errors in the DESIGN's JSON shape, never with an HTML page or a trace."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.content_type == "application/json" or exc.status < 400:
                raise
            field, message = _ERROR_TEXTS.get(exc.status, ("", exc.reason))
            return json_errors(
                exc.status,
                [{"field": field, "message": message}],
                **{k: v for k, v in exc.headers.items() if k in ("WWW-Authenticate", "Allow")},
            )

    return middleware


RETRY_AFTER_SECONDS = 5
UNAVAILABLE = {
    "da": "Tjenesten er midlertidigt utilgængelig. Prøv igen om lidt.",
    "en": "The service is temporarily unavailable. Please try again in a moment.",
}
Page = Callable[[web.Request], web.Response]


def unavailable_middleware(page: Page | None = None) -> Callable[..., Awaitable[web.StreamResponse]]:
    """While MongoDB or RabbitMQ is unreachable, a request that needs it gets 503 with
    ``Retry-After`` and a clear message (never a 500): JSON under ``/api/``, else ``page``."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("dependency unavailable for %s %s: %r", request.method, request.path, exc)
            if request.path.startswith("/api/") or page is None:
                response = json_errors(503, [{"field": "", "message": UNAVAILABLE[language(request)]}])
            else:
                response = page(request)
                response.set_status(503)
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response

    return middleware


def is_admin(request: web.Request) -> bool:
    token = request.app[SETTINGS].admin_token_value
    supplied = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode())


def require_admin(request: web.Request) -> None:
    """401 without the right bearer token; 503 when no ADMIN_TOKEN is configured at all."""
    if not request.app[SETTINGS].admin_token_value:
        raise web.HTTPServiceUnavailable(
            text=json.dumps(
                {
                    "errors": [
                        {
                            "field": "Authorization",
                            "message": "admin routes are disabled: ADMIN_TOKEN is not set",
                        }
                    ]
                }
            ),
            content_type="application/json",
        )
    if not is_admin(request):
        raise web.HTTPUnauthorized(
            text=json.dumps(
                {"errors": [{"field": "Authorization", "message": "a valid admin bearer token is required"}]}
            ),
            content_type="application/json",
            headers={"WWW-Authenticate": "Bearer"},
        )


def run(app: web.Application, port: int, host: str, shutdown_timeout: float) -> None:
    """Serve until SIGINT/SIGTERM, then shut down cleanly (aiohttp runs the cleanup contexts)."""
    web.run_app(
        app,
        host=host,
        port=port,
        access_log=None,
        print=None,
        shutdown_timeout=shutdown_timeout,
        handle_signals=True,
    )


def add_dead_letter_routes(app: web.Application, queue: ConsumerQueue) -> None:
    """Admin: see (``GET``) and replay (``POST .../replay``) the messages this service parked."""

    async def list_dead_letters(request: web.Request) -> web.Response:
        require_admin(request)
        channel = await request.app[AMQP].channel()
        try:
            parked = await list_parked(channel, queue, limit=int(request.query.get("limit", "100")))
        finally:
            await channel.close()
        return web.json_response({"queue": queue.parked, "messages": parked})

    async def replay_dead_letters(request: web.Request) -> web.Response:
        require_admin(request)
        channel = await request.app[AMQP].channel(publisher_confirms=True)
        try:
            replayed = await replay_parked(channel, queue)
        finally:
            await channel.close()
        return web.json_response({"queue": queue.parked, "replayed": replayed})

    app.router.add_get("/api/v1/dead-letters", list_dead_letters)
    app.router.add_post("/api/v1/dead-letters/replay", replay_dead_letters)
