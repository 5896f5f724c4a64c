"""The deliveries admin API: ``GET /api/v1/deliveries`` (newest first, ``?status=pending|sent|failed``,
``?booking_id=``, ``?limit=``) and ``POST /api/v1/deliveries/{id}/retry`` (send a failed one again)."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any, cast

from aiohttp import web

from services.notifier import handlers
from services.notifier.domain import DeliverySummary, Status
from shared.contracts.models import utc_iso
from shared.infra.auth import require_admin
from shared.infra.errors import email_of, json_errors, query_limit

DEPS = web.AppKey("deps", handlers.Deps)
STATUSES = ("pending", "sent", "failed", "dropped")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/deliveries", list_deliveries)
    app.router.add_post("/api/v1/deliveries/{id}/retry", retry_delivery)
    app.router.add_get("/api/v1/personal-data", personal_data)


async def personal_data(request: web.Request) -> web.Response:
    """Admin: every delivery to one e-mail address (the booking service's export gathers it)."""
    require_admin(request)
    email = email_of(request, request.query.get("email", ""))
    deliveries = await request.app[DEPS].store.to_recipient(email)
    return web.json_response(
        {"deliveries": [delivery_json(d) for d in deliveries]}, headers={"Cache-Control": "no-store"}
    )


def delivery_json(delivery: DeliverySummary) -> dict[str, Any]:
    """The delivery's bookkeeping (never its message's bodies), times in UTC ISO 8601."""
    values = {field.name: getattr(delivery, field.name) for field in fields(DeliverySummary)}
    return {k: utc_iso(v) if isinstance(v, datetime) else v for k, v in values.items()}


async def list_deliveries(request: web.Request) -> web.Response:
    require_admin(request)
    limit = query_limit(request)
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        return json_errors(422, [{"field": "status", "message": "one of pending, sent, failed"}])
    found = await handlers.list_deliveries(
        request.app[DEPS], cast(Status | None, status), request.query.get("booking_id"), limit
    )
    return web.json_response({"deliveries": [delivery_json(d) for d in found]})


async def retry_delivery(request: web.Request) -> web.Response:
    require_admin(request)
    delivery_id = request.match_info["id"]
    if not await handlers.retry_delivery(request.app[DEPS], delivery_id):
        return json_errors(404, [{"field": "id", "message": "no failed delivery with that id"}])
    return web.json_response({"id": delivery_id, "status": "pending"}, status=202)
