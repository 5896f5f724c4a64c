"""The consultants admin API: list, create, show, replace and delete consultants."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from services.scheduler.calendars.service import EXTERNAL_CALENDARS
from services.scheduler.calendars.sources import with_kept_passwords, without_password
from services.scheduler.consultants import ConsultantIn, StoredConsultant, errors_of
from services.scheduler.context import CALENDAR, WAITLIST
from services.scheduler.handlers import remove_consultant, save_consultant
from shared.infra.auth import require_admin
from shared.infra.errors import json_errors, language, read_json
from shared.infra.resources import SETTINGS

routes = web.RouteTableDef()


async def _views(request: web.Request, stored: list[StoredConsultant]) -> list[dict[str, Any]]:
    """The consultants as the API shows them: with their calendar feed URL, and their own
    calendars with each one's read status (never a password)."""
    calendars = await request.app[EXTERNAL_CALENDARS].views(s.consultant for s in stored)
    base = (request.app[SETTINGS].scheduler_public_url or str(request.url.origin())).rstrip("/")
    return [
        {
            **s.consultant.model_dump(mode="json", exclude={"id", "external_calendars"}),
            "external_calendars": calendars[s.consultant.id],
            "id": s.consultant.id,
            "calendar_url": f"{base}/api/v1/consultants/{s.consultant.id}/calendar.ics?token={s.feed_token}",
            "page_token": s.page_token,  # the consultant's private page (served by the booking service)
        }
        for s in stored
    ]


async def view(request: web.Request, stored: StoredConsultant, status: int = 200) -> web.Response:
    return web.json_response((await _views(request, [stored]))[0], status=status)


def _validate(request: web.Request, body: Any, previous: StoredConsultant | None = None) -> ConsultantIn | web.Response:
    """The consultant of the body with its CalDAV passwords sealed (one given again without its
    password keeps the stored one), or the 422 response."""
    try:
        consultant = ConsultantIn.model_validate(body, context=request.app[EXTERNAL_CALENDARS].input_context())
    except ValidationError as exc:
        return json_errors(422, errors_of(exc, language(request)))
    stored_sources = previous.consultant.external_calendars if previous else []
    sources = with_kept_passwords(consultant.external_calendars, stored_sources)
    missing = without_password(sources)
    if missing:
        return json_errors(
            422,
            [{"field": f"external_calendars.{i}.password", "message": "a CalDAV calendar needs its password"}
             for i in missing],
        )
    return consultant.model_copy(update={"external_calendars": sources})


def not_found(consultant_id: str) -> web.Response:
    return json_errors(404, [{"field": "id", "message": f"no consultant {consultant_id!r}"}])


@routes.get("/api/v1/consultants")
async def list_consultants(request: web.Request) -> web.Response:
    require_admin(request)
    stored = await request.app[CALENDAR].list_consultants()
    return web.json_response({"consultants": await _views(request, stored)})


@routes.post("/api/v1/consultants")
async def create_consultant(request: web.Request) -> web.Response:
    require_admin(request)
    consultant = _validate(request, await read_json(request))
    if isinstance(consultant, web.Response):
        return consultant
    store = request.app[CALENDAR]
    if await store.get_consultant(consultant.id) is not None:
        return json_errors(409, [{"field": "id", "message": f"consultant {consultant.id!r} exists; use PUT"}])
    stored, _ = await save_consultant(store, request.app[EXTERNAL_CALENDARS], consultant)
    request.app[WAITLIST].sweep_soon()  # a new consultant's hours may suit a waiting request
    return await view(request, stored, status=201)


@routes.get("/api/v1/consultants/{id}")
async def get_consultant(request: web.Request) -> web.Response:
    require_admin(request)
    stored = await request.app[CALENDAR].get_consultant(request.match_info["id"])
    if stored is None:
        return not_found(request.match_info["id"])
    return await view(request, stored)


@routes.put("/api/v1/consultants/{id}")
async def put_consultant(request: web.Request) -> web.Response:
    require_admin(request)
    body = await read_json(request)
    if isinstance(body, dict):
        body.setdefault("id", request.match_info["id"])
    store = request.app[CALENDAR]
    consultant = _validate(request, body, await store.get_consultant(request.match_info["id"]))
    if isinstance(consultant, web.Response):
        return consultant
    if consultant.id != request.match_info["id"]:
        return json_errors(422, [{"field": "id", "message": "the id in the body differs from the one in the URL"}])
    stored, created = await save_consultant(store, request.app[EXTERNAL_CALENDARS], consultant)
    request.app[WAITLIST].sweep_soon()  # more hours, a shorter absence or a new theme may free times
    return await view(request, stored, status=201 if created else 200)


@routes.delete("/api/v1/consultants/{id}")
async def delete_consultant(request: web.Request) -> web.Response:
    require_admin(request)
    consultant_id = request.match_info["id"]
    removal = await remove_consultant(
        request.app[CALENDAR], request.app[EXTERNAL_CALENDARS], consultant_id, datetime.now(UTC)
    )
    if removal == "has_talks_ahead":
        return json_errors(
            409, [{"field": "id", "message": "the consultant has talks ahead; move or cancel them first"}]
        )
    if removal == "unknown":
        return not_found(consultant_id)
    return web.Response(status=204)
