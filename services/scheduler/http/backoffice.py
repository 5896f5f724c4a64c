"""Admin routes the booking service's back office asks: whether a chosen time with a chosen consultant
fits (before it sends the placement), new secrets for a consultant's feed and private page, and who a
private page's secret belongs to."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Literal

from aiohttp import web

from services.scheduler.context import CALENDAR, DEPS
from services.scheduler.domain import Talk
from services.scheduler.handlers import check_fixed
from services.scheduler.http.api import not_found, view
from shared.contracts.models import utc_iso
from shared.infra.auth import require_admin
from shared.infra.errors import json_errors
from shared.infra.resources import SETTINGS

routes = web.RouteTableDef()


@routes.get("/api/v1/consultants/{id}/check")
async def check(request: web.Request) -> web.Response:
    """``?start=ISO&duration_minutes=N&booking_id=…[&theme=…]``: the verdict on placing that booking's
    talk then with this consultant, nothing reserved."""
    require_admin(request)
    errors: list[dict[str, str]] = []
    try:
        start = datetime.fromisoformat(request.query.get("start", ""))
        if start.tzinfo is None:
            raise ValueError("naive")
    except ValueError:
        errors.append({"field": "start", "message": "an ISO 8601 time with its offset"})
    text = request.query.get("duration_minutes", "")
    if not (text.isdigit() and 15 <= int(text) <= 480):
        errors.append({"field": "duration_minutes", "message": "a whole number from 15 to 480"})
    booking_id = request.query.get("booking_id", "")
    if errors:
        return json_errors(422, errors)
    verdict = await check_fixed(
        request.app[DEPS],
        request.match_info["id"],
        start,
        timedelta(minutes=int(text)),
        booking_id=booking_id,
        theme=request.query.get("theme") or None,
    )
    if verdict is None:
        return not_found(request.match_info["id"])
    return web.json_response(
        {
            "fits": verdict.fits,
            "code": verdict.code,
            "reason": verdict.reason,
            "warnings": list(verdict.warnings),
            "conflicts": [_talk(t) for t in verdict.conflicts],
            "busy": [{"start": utc_iso(b.start), "end": utc_iso(b.end)} for b in verdict.busy],
            "day": [_talk(t) for t in verdict.day],
        }
    )


def _talk(talk: Talk) -> dict[str, str]:
    return {"booking_id": talk.booking_id, "start": utc_iso(talk.start), "end": utc_iso(talk.end)}


async def _rotate(request: web.Request, which: Literal["feed", "page"]) -> web.Response:
    require_admin(request)
    stored = await request.app[CALENDAR].rotate_token(request.match_info["id"], which)
    if stored is None:
        return not_found(request.match_info["id"])
    return await view(request, stored)


@routes.post("/api/v1/consultants/{id}/feed-token")
async def rotate_feed_token(request: web.Request) -> web.Response:
    """A new secret in the consultant's feed URL: the old URL stops working."""
    return await _rotate(request, "feed")


@routes.post("/api/v1/consultants/{id}/page-token")
async def rotate_page_token(request: web.Request) -> web.Response:
    """A new secret in the consultant's private page link: the old link stops working."""
    return await _rotate(request, "page")


@routes.get("/api/v1/consultants/{id}/page")
async def page_owner(request: web.Request) -> web.Response:
    """``?token=``: the consultant whose private page this is (name and feed URL), or 404."""
    require_admin(request)
    consultant_id, token = request.match_info["id"], request.query.get("token", "")
    stored = await request.app[CALENDAR].consultant_by_page_token(consultant_id, token) if token else None
    if stored is None or stored.page_token is None or not secrets.compare_digest(stored.page_token, token):
        return json_errors(404, [{"field": "token", "message": "unknown page"}])
    base = (request.app[SETTINGS].scheduler_public_url or str(request.url.origin())).rstrip("/")
    return web.json_response(
        {
            "id": stored.consultant.id,
            "name": stored.consultant.name,
            "active": stored.consultant.active,
            "calendar_url": f"{base}/api/v1/consultants/{stored.consultant.id}/calendar.ics?token={stored.feed_token}",
        },
        headers={"Cache-Control": "no-store"},
    )
