"""``GET /api/v1/availability``: the free starts for a theme and duration in a window of days.

Not an admin route: it tells only which times are free, which the booking service shows anyone, and
the scheduler's port is not published. Errors are ``{"errors": [{"field", "message"}]}`` (English:
the caller is the booking service, which checks the public's input in Danish or English first).
"""

from __future__ import annotations

from datetime import date, timedelta

from aiohttp import web

from services.scheduler.availability import FreeQuery, free_starts
from services.scheduler.context import AVAILABILITY, DEPS
from shared.contracts.catalogue import content
from shared.contracts.models import utc_iso
from shared.infra.errors import json_errors
from shared.infra.resources import SETTINGS
from shared.text.numbers import whole_number

routes = web.RouteTableDef()
SHORTEST, LONGEST = 15, 8 * 60  # minutes a talk may last, as far as the search is concerned


@routes.get("/api/v1/availability")
async def availability(request: web.Request) -> web.Response:
    query = _query(request)
    if isinstance(query, web.Response):
        return query
    starts = await free_starts(request.app[DEPS], request.app[AVAILABILITY], query)
    return web.json_response(
        {"slots": [{"start": utc_iso(choice.start), "end": utc_iso(choice.end)} for choice in starts]}
    )


def _query(request: web.Request) -> FreeQuery | web.Response:
    """The query of the request, or the 422 listing what is wrong with it."""
    errors: list[dict[str, str]] = []
    theme = request.query.get("theme", "")
    if theme not in content().theme_ids:
        errors.append({"field": "theme", "message": f"unknown theme; known: {sorted(content().theme_ids)}"})
    text = request.query.get("duration_minutes", "")
    minutes = whole_number(text) or 0
    if not SHORTEST <= minutes <= LONGEST:
        errors.append({"field": "duration_minutes", "message": f"a whole number from {SHORTEST} to {LONGEST}"})
    days: dict[str, date] = {}
    for name in ("from", "to"):
        try:
            days[name] = date.fromisoformat(request.query.get(name, ""))
        except ValueError:
            errors.append({"field": name, "message": "a date, YYYY-MM-DD"})
    longest = request.app[SETTINGS].availability_max_days
    if len(days) == 2 and not 0 <= (days["to"] - days["from"]).days < longest:
        errors.append({"field": "to", "message": f"from 0 to {longest - 1} days after from"})
    if errors:
        return json_errors(422, errors)
    return FreeQuery(theme, timedelta(minutes=minutes), days["from"], days["to"])
