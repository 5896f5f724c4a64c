"""Admin: what the scheduler stores about one e-mail address (the booking service's export gathers it):
the placements of that contact's bookings, and their talks in the consultants' days (the calendar feed)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.scheduler.context import CALENDAR, DEPS
from shared.infra.auth import require_admin
from shared.infra.errors import email_of

routes = web.RouteTableDef()


@routes.get("/api/v1/personal-data")
async def personal_data(request: web.Request) -> web.Response:
    require_admin(request)
    email = email_of(request, request.query.get("email", ""))
    placements = await request.app[DEPS].placements.with_contact_email(email)
    talks: list[dict[str, Any]] = []
    for placement in placements:
        for day in await request.app[CALENDAR].days_holding(placement.booking_id):
            talks += [
                {"consultant_id": day.consultant_id, "day": day.day.isoformat(), **_talk(talk)}
                for talk in day.talks
                if talk.booking_id == placement.booking_id
            ]
    return web.json_response(
        {
            "placements": [
                {
                    "booking_id": p.booking_id,
                    "status": p.status.value,
                    "booking": p.booking.model_dump(mode="json"),
                    "slot": p.slot.model_dump(mode="json") if p.slot else None,
                }
                for p in placements
            ],
            "talks": talks,
        },
        headers={"Cache-Control": "no-store"},
    )


def _talk(talk: Any) -> dict[str, Any]:
    return {
        "booking_id": talk.booking_id,
        "start": talk.start.isoformat(),
        "end": talk.end.isoformat(),
        "location": talk.location,
        "contact": talk.contact,
        "notes": talk.notes,
    }
