"""The JSON API of DESIGN §3. Errors are ``{"errors": [{"field", "message"}]}``, never a 500."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from services.booking.context import RULES, STORE, wake_relay
from services.booking.domain import BookingRules, FieldError, InvalidBooking, check_reason, check_starts, parse_booking
from services.booking.metrics import count_invalid
from services.booking.openapi import OPENAPI
from services.booking.presenter import booking_view
from services.booking.store import Document, IdempotencyConflict
from shared.contracts.catalogue import content
from shared.contracts.events import BookingRescheduleRequestedData
from shared.infra.auth import is_admin, require_admin
from shared.infra.errors import json_errors, language, query_limit, read_json
from shared.text.clean import normalize_newlines
from shared.text.localtime import parse_start

routes = web.RouteTableDef()


def invalid(errors: list[FieldError], lang: str) -> web.Response:
    count_invalid(errors)
    return json_errors(422, [e.as_json(lang) for e in errors])


@routes.get("/api/v1/themes")
async def themes(request: web.Request) -> web.Response:
    lang = language(request)
    return web.json_response(
        {
            "themes": [
                {
                    "id": t.id,
                    "number": t.number,
                    "title": t.title(lang),
                    "title_da": t.title.da,
                    "title_en": t.title.en,
                    "summary": t.summary(lang),
                    "description": t.description(lang),
                }
                for t in content().themes
            ]
        }
    )


@routes.post("/api/v1/bookings")
async def create_booking(request: web.Request) -> web.Response:
    lang = language(request)
    raw = await read_json(request)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 200:
        return invalid([FieldError("Idempotency-Key", "string_too_long", {"max_length": 200})], lang)
    now = datetime.now(UTC)
    try:
        details = parse_booking(raw, now=now, rules=request.app[RULES])
    except InvalidBooking as exc:
        return invalid(exc.errors, lang)
    body_hash = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest() if key else None
    try:
        created = await request.app[STORE].create(details, now=now, idempotency_key=key, request_hash=body_hash)
    except IdempotencyConflict:
        return json_errors(
            409,
            [
                {
                    "field": "Idempotency-Key",
                    "message": (
                        "This Idempotency-Key was already used for a different request."
                        if lang == "en"
                        else "Denne Idempotency-Key er allerede brugt til en anden forespørgsel."
                    ),
                }
            ],
        )
    if not created.replayed:
        wake_relay(request.app)
    booking = created.booking
    return web.json_response(
        {"id": booking["_id"], "status": booking["status"], "status_url": booking["status_url"]},
        status=201,
        headers={
            "Location": f"/api/v1/bookings/{booking['_id']}",
            **({"Idempotent-Replayed": "true"} if created.replayed else {}),
        },
    )


async def authorised_booking(request: web.Request) -> tuple[Document, bool]:
    """The booking named in the path, for its workplace (``?token=``) or an admin; else 404."""
    booking_id = request.match_info["id"]
    store = request.app[STORE]
    if is_admin(request):
        booking = await store.get(booking_id)
        admin = True
    else:
        booking = await store.find_authorised(booking_id, request.query.get("token"))
        admin = False
    if booking is None:
        raise web.HTTPNotFound(
            text=json.dumps({"errors": [{"field": "id", "message": "booking not found"}]}),
            content_type="application/json",
        )
    return booking, admin


@routes.get("/api/v1/bookings/{id}")
async def get_booking(request: web.Request) -> web.Response:
    booking, admin = await authorised_booking(request)
    return web.json_response(booking_view(booking, language(request), admin=admin))


@routes.get("/api/v1/bookings")
async def list_bookings(request: web.Request) -> web.Response:
    require_admin(request)
    status = request.query.get("status")
    bookings = await request.app[STORE].list(status, query_limit(request))
    return web.json_response({"bookings": [booking_view(b, language(request), admin=True) for b in bookings]})


def _not_open(booking: Document, lang: str) -> web.Response:
    message = (
        "The booking is cancelled or being cancelled and cannot be changed."
        if lang == "en"
        else "Bookingen er aflyst eller ved at blive aflyst og kan ikke ændres."
    )
    return json_errors(409, [{"field": "status", "message": message}])


@routes.post("/api/v1/bookings/{id}/cancel")
async def cancel_booking(request: web.Request) -> web.Response:
    booking, admin = await authorised_booking(request)
    lang = language(request)
    raw = await read_json(request) if request.can_read_body else {}
    reason = raw.get("reason", "") if isinstance(raw, dict) else ""
    if (problem := check_reason(reason)) is not None:
        return invalid([problem], lang)
    by = "admin" if admin else "workplace"
    updated = await request.app[STORE].request_cancel(
        booking["_id"], by=by, reason=normalize_newlines(str(reason)), now=datetime.now(UTC)
    )
    if updated is None:
        return _not_open(booking, lang)
    wake_relay(request.app)
    return web.json_response(booking_view(updated, lang, admin=admin), status=202)


@routes.post("/api/v1/bookings/{id}/reschedule")
async def reschedule_booking(request: web.Request) -> web.Response:
    booking, admin = await authorised_booking(request)
    lang = language(request)
    raw = await read_json(request)
    result = parse_reschedule(raw, booking, admin=admin, rules=request.app[RULES], now=datetime.now(UTC))
    if isinstance(result, list):
        return invalid(result, lang)
    updated = await request.app[STORE].request_reschedule(booking["_id"], result, now=datetime.now(UTC))
    if updated is None:
        return _not_open(booking, lang)
    wake_relay(request.app)
    return web.json_response(booking_view(updated, lang, admin=admin), status=202)


def parse_reschedule(
    raw: Any, booking: Document, *, admin: bool, rules: BookingRules, now: datetime
) -> BookingRescheduleRequestedData | list[FieldError]:
    """``{"preferred_starts": [...]}`` for anyone; ``{"start", "consultant_id"}`` for an admin only."""
    by = "admin" if admin else "workplace"
    if not isinstance(raw, dict):
        return [FieldError("body", "model_type")]
    allowed = {"preferred_starts", "start", "consultant_id"} if admin else {"preferred_starts"}
    errors = [FieldError(k, "extra_forbidden") for k in raw if k not in allowed]
    if "start" in raw or "consultant_id" in raw:
        consultant_id = raw.get("consultant_id")
        if not isinstance(consultant_id, str) or not consultant_id:
            errors.append(FieldError("consultant_id", "string_type"))
        fixed = _parse_one_start(raw.get("start"))
        if fixed is None:
            errors.append(FieldError("start", "start_format"))
        if errors or fixed is None or not isinstance(consultant_id, str):
            return errors
        return BookingRescheduleRequestedData(
            booking_id=booking["_id"], requested_by="admin", start=fixed, consultant_id=consultant_id
        )
    starts_raw = raw.get("preferred_starts")
    starts: list[datetime] = []
    if not isinstance(starts_raw, list) or not all(isinstance(s, str) for s in starts_raw):
        errors.append(FieldError("preferred_starts", "starts_type"))
    elif not 1 <= len(starts_raw) <= 3:
        errors.append(FieldError("preferred_starts", "starts_count"))
    else:
        starts, start_errors = check_starts(starts_raw, booking["details"]["duration_minutes"], now=now, rules=rules)
        errors.extend(start_errors)
    if errors:
        return errors
    return BookingRescheduleRequestedData(booking_id=booking["_id"], requested_by=by, preferred_starts=tuple(starts))


def _parse_one_start(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_start(value)
    except ValueError:
        return None


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)
