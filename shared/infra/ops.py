"""What operators ask every service: alive, ready, metrics, and the parked messages (admin)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from shared.contracts.topology import ConsumerQueue
from shared.infra.auth import require_admin
from shared.infra.errors import query_limit
from shared.infra.messaging import list_parked, replay_parked
from shared.infra.mongo import ping
from shared.infra.resources import AMQP, CONSUMERS, DB

HTTP_REQUESTS = Counter("inspiration_http_requests_total", "HTTP requests", ["service", "route", "status"])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
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


def add_dead_letter_routes(app: web.Application, queue: ConsumerQueue) -> None:
    """Admin: see (``GET``) and replay (``POST .../replay``) the messages this service parked."""

    async def list_dead_letters(request: web.Request) -> web.Response:
        require_admin(request)
        channel = await request.app[AMQP].channel()
        try:
            parked = await list_parked(channel, queue, limit=query_limit(request))
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
