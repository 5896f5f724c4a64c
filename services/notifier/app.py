"""App factory of the notifier service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
from aiohttp import web

from services.notifier.deliveries import INDEXES, DeliveryStore
from services.notifier.handlers import HANDLERS
from services.notifier.mailer import SmtpMailer
from services.notifier.sender import Notifier, Sender
from services.notifier.sms import make_sms_provider
from services.topology import ALL_QUEUES, NOTIFIER_QUEUE
from shared.contracts.models import utc_iso
from shared.infra.auth import require_admin
from shared.infra.errors import json_errors, query_limit
from shared.infra.messaging import Handler
from shared.infra.ops import add_dead_letter_routes
from shared.infra.resources import DB, SETTINGS, amqp_ctx, consumer_ctx, mongo_ctx
from shared.infra.routing import dispatcher
from shared.infra.settings import Settings
from shared.infra.web import service_app

STORE = web.AppKey("store", DeliveryStore)
NOTIFIER = web.AppKey("notifier", Notifier)
SENDER = web.AppKey("sender", Sender)


async def sender_ctx(app: web.Application) -> AsyncIterator[None]:
    """The HTTP session (SMS gateway), the mailer and the sending loop."""
    settings = app[SETTINGS]
    store = DeliveryStore(app[DB])
    async with aiohttp.ClientSession() as session:
        sender = Sender(
            store,
            mailer=SmtpMailer.from_settings(settings),
            sms=make_sms_provider(settings, session),
            mail_from=settings.mail_from,
            retry_delays=settings.delivery_retry_seconds,
            poll_seconds=settings.delivery_poll_seconds,
        )
        app[STORE] = store
        app[SENDER] = sender
        app[NOTIFIER] = Notifier(
            store,
            mail_from=settings.mail_from,
            reminder_before=timedelta(hours=settings.reminder_before_hours),
            wake=sender.wake,
        )
        task = asyncio.create_task(sender.run(), name="sender")
        yield
        sender.stop()
        # Sends under way get the grace period to finish; then they are cut off and handed back.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task, settings.shutdown_timeout_seconds)


def notifier_handler(app: web.Application) -> Handler:
    return dispatcher(HANDLERS, app[NOTIFIER])


def _delivery_view(doc: dict[str, object]) -> dict[str, object]:
    view = {k: v for k, v in doc.items() if k not in ("_id", "claim", "message")}
    view["id"] = doc["_id"]
    message = doc.get("message")
    if isinstance(message, dict):
        view["subject"] = message.get("subject")
    return {k: utc_iso(v) if isinstance(v, datetime) else v for k, v in view.items()}


async def list_deliveries(request: web.Request) -> web.Response:
    require_admin(request)
    limit = query_limit(request)
    status = request.query.get("status")
    if status not in (None, "pending", "sent", "failed"):
        return json_errors(422, [{"field": "status", "message": "one of pending, sent, failed"}])
    docs = await request.app[STORE].list(status, request.query.get("booking_id"), limit)
    return web.json_response({"deliveries": [_delivery_view(d) for d in docs]})


async def retry_delivery(request: web.Request) -> web.Response:
    require_admin(request)
    if not await request.app[STORE].retry(request.match_info["id"], datetime.now(UTC)):
        return json_errors(404, [{"field": "id", "message": "no failed delivery with that id"}])
    request.app[SENDER].wake()
    return web.json_response({"id": request.match_info["id"], "status": "pending"}, status=202)


def create_app(settings: Settings) -> web.Application:
    app = service_app("notifier", settings, max_body=64 * 1024)
    app.cleanup_ctx.extend(
        [
            mongo_ctx(INDEXES),
            sender_ctx,
            amqp_ctx(ALL_QUEUES),
            consumer_ctx(NOTIFIER_QUEUE, notifier_handler),
        ]
    )
    add_dead_letter_routes(app, NOTIFIER_QUEUE)
    app.router.add_get("/api/v1/deliveries", list_deliveries)
    app.router.add_post("/api/v1/deliveries/{id}/retry", retry_delivery)
    return app
