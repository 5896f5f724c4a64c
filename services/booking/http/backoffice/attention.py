"""The back office's first page: what a person must act on, each with its action in place.

* requests offered other times and not answered for ``ATTENTION_AFTER_DAYS`` days;
* requests no rule could place (no alternative at all);
* deliveries that failed for good (from the notifier), to send again;
* messages parked after failing, in every service's parking queue, to replay.

Parked messages are read over this service's own RabbitMQ connection, as the erasure drops them: every
service declares the whole topology, and with ``OPS_PORT`` set the services' dead-letter routes are
not reachable on the port the back office knows.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from services.booking.backoffice.remote import REMOTE_NOTIFIER, RemoteUnavailable
from services.booking.http.backoffice.bookings import check_context, consultants_or_none, reads, row
from services.booking.http.backoffice.common import back_to, deps, flash, language, render
from services.topology import ALL_QUEUES
from shared.infra.messaging import list_parked, replay_parked
from shared.infra.resources import AMQP, SETTINGS
from shared.text.i18n import N_
from shared.text.localtime import format_local

log = logging.getLogger(__name__)
LISTED = 100

RETRIED = N_("Beskeden sendes igen.")
NOT_RETRIED = N_("Beskeden var ikke længere fejlet – den er ikke sendt igen.")
REPLAYED = N_("{count} parkeret(e) besked(er) sendt til behandling igen.")

routes = web.RouteTableDef()


@routes.get("/")
async def attention(request: web.Request) -> web.Response:
    lang = language(request)
    settings = request.config_dict[SETTINGS]
    now = deps(request).clock()
    waiting_before = now - timedelta(days=settings.attention_after_days)
    found = await reads(request).needing_attention(waiting_before, LISTED)
    waiting = [b for b in found if b.alternatives]
    unplaced = [b for b in found if not b.alternatives]
    check = None
    if check_id := request.query.get("check"):
        target = next((b for b in found if b.id == check_id), None)
        if target is not None:
            check = await check_context(request, target, request.query.get("consultant", ""),
                                        request.query.get("start", ""))
    return await render(
        request,
        "admin/attention.html",
        current="attention",
        waiting=[{**row(b, lang), "waiting_since": format_local(b.status_at or b.updated_at, lang)} for b in waiting],
        unplaced=[row(b, lang) for b in unplaced],
        days=settings.attention_after_days,
        failed=await _failed(request),
        parked=await _parked(request),
        consultants=await consultants_or_none(request),
        check=check,
    )


async def _failed(request: web.Request) -> list[dict[str, Any]] | None:
    lang = language(request)
    try:
        failed = await request.config_dict[REMOTE_NOTIFIER].deliveries(status="failed", limit=LISTED)
    except RemoteUnavailable:
        return None
    for delivery in failed:
        when = delivery.get("failed_at") or delivery.get("created_at")
        delivery["when"] = format_local(datetime.fromisoformat(when), lang) if when else ""
    return failed


async def _parked(request: web.Request) -> list[dict[str, Any]] | None:
    """Each parking queue that holds messages, with the messages (they stay parked)."""
    try:
        channel = await request.config_dict[AMQP].channel()
    except Exception as exc:  # the broker away: the page says so, the rest still shows
        log.warning("back office: parked messages not readable: %r", exc)
        return None
    try:
        queues = []
        for queue in ALL_QUEUES:
            messages = await list_parked(channel, queue, limit=LISTED)
            for message in messages:
                message["booking_id"] = message.get("correlation_id") or _booking_of(message.get("body", ""))
                message.pop("body", None)  # personal data: not shown
            if messages:
                queues.append({"queue": queue.name, "parked": queue.parked, "messages": messages})
        return queues
    finally:
        await channel.close()


def _booking_of(body: str) -> str:
    try:
        return str(json.loads(body).get("correlation_id", ""))
    except (ValueError, AttributeError):
        return ""


@routes.post("/deliveries/{id}/retry")
async def retry_delivery(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    retried = await request.config_dict[REMOTE_NOTIFIER].retry(request.match_info["id"])
    await flash(request, RETRIED if retried else NOT_RETRIED)
    raise back_to(request, form, "/admin/")


@routes.post("/parked/replay")
async def replay(request: web.Request) -> web.StreamResponse:
    """Replay one parked message (``message_id``) or every message parked in one queue."""
    form = await request.post()
    queue = next((q for q in ALL_QUEUES if q.name == form.get("queue")), None)
    if queue is None:
        raise web.HTTPNotFound()
    message_id = str(form.get("message_id", ""))
    channel = await request.config_dict[AMQP].channel(publisher_confirms=True)
    try:
        count = await replay_parked(channel, queue, message_ids={message_id} if message_id else None)
    finally:
        await channel.close()
    await flash(request, REPLAYED, count=count)
    raise back_to(request, form, "/admin/")
