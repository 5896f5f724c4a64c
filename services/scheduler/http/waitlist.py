"""Admin: the waitlist per theme and period, with its offers and how each ended.

``GET /api/v1/waitlist?theme=ID&from=YYYY-MM-DD&to=YYYY-MM-DD`` (all optional): every booking that
waits or waited, or was offered a time, in the order they asked, kept to those whose wanted times or
offers touch the period. No personal data: the booking service joins its own bookings for the names.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from services.scheduler.context import PLACEMENTS
from services.scheduler.placement import Placement
from services.scheduler.waitlist import Waiting
from shared.contracts.catalogue import content
from shared.contracts.models import utc_iso
from shared.infra.auth import require_admin
from shared.infra.errors import json_errors
from shared.text.localtime import to_local

routes = web.RouteTableDef()


@routes.get("/api/v1/waitlist")
async def waitlist(request: web.Request) -> web.Response:
    require_admin(request)
    theme = request.query.get("theme") or None
    errors: list[dict[str, str]] = []
    if theme is not None and theme not in content().theme_ids:
        errors.append({"field": "theme", "message": f"unknown theme; known: {sorted(content().theme_ids)}"})
    period: dict[str, date] = {}
    for name in ("from", "to"):
        if request.query.get(name):
            try:
                period[name] = date.fromisoformat(request.query[name])
            except ValueError:
                errors.append({"field": name, "message": "a date, YYYY-MM-DD"})
    if errors:
        return json_errors(422, errors)
    first, last = period.get("from", date.min), period.get("to", date.max)
    placements = await request.app[PLACEMENTS].waitlist(theme)
    entries = [entry(p) for p in placements if touches(p, first, last)]
    return web.json_response({"entries": entries}, headers={"Cache-Control": "no-store"})


def touches(placement: Placement, first: date, last: date) -> bool:
    """Whether the placement's wanted times or its offers lie in ``first``..``last`` (local dates)."""
    days = [to_local(offer.start).date() for offer in placement.offers]
    waiting = placement.waiting
    if waiting is not None:
        days += [to_local(start).date() for start in waiting.starts]
        if waiting.window is not None and waiting.window.first <= last and waiting.window.last >= first:
            return True
        if waiting.before is not None and to_local(waiting.before).date() >= first:
            return True
    return any(first <= day <= last for day in days)


def entry(placement: Placement) -> dict[str, Any]:
    return {
        "booking_id": placement.booking_id,
        "theme": placement.booking.theme,
        "status": placement.status.value,
        "duration_minutes": placement.booking.duration_minutes,
        "waitlist": placement.booking.waitlist,
        "waiting": _waiting(placement.waiting) if placement.waiting else None,
        "offers": [
            {
                "id": offer.id,
                "consultant_id": offer.consultant_id,
                "start": utc_iso(offer.start),
                "end": utc_iso(offer.end),
                "made_at": utc_iso(offer.made_at),
                "expires_at": utc_iso(offer.expires_at),
                "state": offer.state.value,
                "closed_at": utc_iso(offer.closed_at) if offer.closed_at else None,
            }
            for offer in placement.offers
        ],
    }


def _waiting(waiting: Waiting) -> dict[str, Any]:
    window = waiting.window
    return {
        "mode": waiting.mode,
        "since": utc_iso(waiting.since),
        "starts": [utc_iso(start) for start in waiting.starts],
        "window": (
            {"from": window.first.isoformat(), "to": window.last.isoformat(), "part_of_day": window.part_of_day}
            if window
            else None
        ),
        "earlier_than": utc_iso(waiting.before) if waiting.before else None,
    }
