"""The scheduler's admin API (DESIGN §3): consultants, and each consultant's calendar feed."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from services.scheduler.calendars.service import EXTERNAL_CALENDARS, sources_of
from services.scheduler.calendars.sources import with_kept_passwords, without_password
from services.scheduler.consultants import ConsultantIn, errors_of
from services.scheduler.context import STORE
from services.scheduler.feed import calendar_feed
from services.scheduler.store import Document
from shared.infra.auth import require_admin
from shared.infra.errors import json_errors, language, read_json
from shared.infra.resources import SETTINGS
from shared.text.localtime import to_local

routes = web.RouteTableDef()
FEED_HISTORY = timedelta(days=90)


def consultant_view(request: web.Request, doc: Document, calendars: list[dict[str, Any]]) -> dict[str, Any]:
    """``calendars``: the external calendars as shown (never a password), from ``_calendar_views``."""
    view = {k: v for k, v in doc.items() if k not in ("_id", "feed_token", "updated_at")}
    view["id"] = doc["_id"]
    view["external_calendars"] = calendars
    base = request.app[SETTINGS].scheduler_public_url or str(request.url.origin())
    view["calendar_url"] = f"{base.rstrip('/')}/api/v1/consultants/{doc['_id']}/calendar.ics?token={doc['feed_token']}"
    return view


async def _views(request: web.Request, docs: list[Document]) -> list[dict[str, Any]]:
    calendars = await request.app[EXTERNAL_CALENDARS].views(docs)
    return [consultant_view(request, doc, calendars[doc["_id"]]) for doc in docs]


def _validate(request: web.Request, body: Any, previous: Document | None = None) -> ConsultantIn | web.Response:
    """The consultant of the body with its CalDAV passwords sealed (one given again without its
    password keeps the stored one), or the 422 response."""
    try:
        consultant = ConsultantIn.model_validate(body, context=request.app[EXTERNAL_CALENDARS].input_context())
    except ValidationError as exc:
        return json_errors(422, errors_of(exc, language(request)))
    sources = with_kept_passwords(consultant.external_calendars, sources_of(previous))
    missing = without_password(sources)
    if missing:
        return json_errors(
            422,
            [{"field": f"external_calendars.{i}.password", "message": "a CalDAV calendar needs its password"}
             for i in missing],
        )
    return consultant.model_copy(update={"external_calendars": sources})


async def _saved(request: web.Request, consultant: ConsultantIn) -> tuple[Document, bool]:
    """Store the consultant and have its calendars read now. Returns (document, created)."""
    saved = await request.app[STORE].upsert_consultant(consultant)
    await request.app[EXTERNAL_CALENDARS].consultant_saved(consultant.id, consultant.external_calendars)
    return saved


def _not_found(consultant_id: str) -> web.Response:
    return json_errors(404, [{"field": "id", "message": f"no consultant {consultant_id!r}"}])


@routes.get("/api/v1/consultants")
async def list_consultants(request: web.Request) -> web.Response:
    require_admin(request)
    docs = await request.app[STORE].list_consultants()
    return web.json_response({"consultants": await _views(request, docs)})


@routes.post("/api/v1/consultants")
async def create_consultant(request: web.Request) -> web.Response:
    require_admin(request)
    consultant = _validate(request, await read_json(request))
    if isinstance(consultant, web.Response):
        return consultant
    if await request.app[STORE].get_consultant(consultant.id) is not None:
        return json_errors(409, [{"field": "id", "message": f"consultant {consultant.id!r} exists; use PUT"}])
    doc, _ = await _saved(request, consultant)
    return web.json_response((await _views(request, [doc]))[0], status=201)


@routes.get("/api/v1/consultants/{id}")
async def get_consultant(request: web.Request) -> web.Response:
    require_admin(request)
    doc = await request.app[STORE].get_consultant(request.match_info["id"])
    if doc is None:
        return _not_found(request.match_info["id"])
    return web.json_response((await _views(request, [doc]))[0])


@routes.put("/api/v1/consultants/{id}")
async def put_consultant(request: web.Request) -> web.Response:
    require_admin(request)
    body = await read_json(request)
    if isinstance(body, dict):
        body.setdefault("id", request.match_info["id"])
    previous = await request.app[STORE].get_consultant(request.match_info["id"])
    consultant = _validate(request, body, previous)
    if isinstance(consultant, web.Response):
        return consultant
    if consultant.id != request.match_info["id"]:
        return json_errors(422, [{"field": "id", "message": "the id in the body differs from the one in the URL"}])
    doc, created = await _saved(request, consultant)
    return web.json_response((await _views(request, [doc]))[0], status=201 if created else 200)


@routes.delete("/api/v1/consultants/{id}")
async def delete_consultant(request: web.Request) -> web.Response:
    require_admin(request)
    consultant_id = request.match_info["id"]
    store = request.app[STORE]
    if await store.has_future_talks(consultant_id, to_local(datetime.now(UTC)).date()):
        return json_errors(
            409, [{"field": "id", "message": "the consultant has talks ahead; move or cancel them first"}]
        )
    if not await store.delete_consultant(consultant_id):
        return _not_found(consultant_id)
    await request.app[EXTERNAL_CALENDARS].consultant_deleted(consultant_id)
    return web.Response(status=204)


@routes.get("/api/v1/consultants/{id}/calendar.ics")
async def consultant_calendar(request: web.Request) -> web.Response:
    """Subscribable feed; the secret token in the URL is the only credential calendar apps can send."""
    consultant_id, token = request.match_info["id"], request.query.get("token", "")
    store = request.app[STORE]
    doc = await store.consultant_by_feed_token(consultant_id, token) if token else None
    if doc is None or not secrets.compare_digest(doc["feed_token"], token):
        return json_errors(404, [{"field": "token", "message": "unknown calendar"}])
    now = datetime.now(UTC)
    talks = await store.talks_of(consultant_id, since=to_local(now - FEED_HISTORY).date())
    return web.Response(
        body=calendar_feed(doc["name"], talks, now=now),
        content_type="text/calendar",
        charset="utf-8",
        headers={
            "Content-Disposition": f'inline; filename="{consultant_id}.ics"',
            "Cache-Control": "private, max-age=300",
        },
    )
