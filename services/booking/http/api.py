"""The JSON API (described in ``openapi.py``, served at ``/api/openapi.json``).

Errors are ``{"errors": [{"field", "message"}]}``, never a 500; messages are Danish, or English with
``?lang=en`` or ``Accept-Language: en``.
"""

from __future__ import annotations

from collections.abc import Awaitable

from aiohttp import web

from services.booking import handlers
from services.booking.domain import (
    MESSAGES,
    Booking,
    InvalidBooking,
    NotOpen,
    OfferExpired,
    Requester,
    UnknownOffer,
)
from services.booking.free_times import parse_query
from services.booking.handlers import API, IdempotencyConflict, TooMany
from services.booking.http import DEPS, limited_client
from services.booking.http.openapi import OPENAPI
from services.booking.http.views import booking_view, free_slot_view
from services.booking.scheduler_client import SchedulerUnavailable
from services.booking.texts import translate
from shared.contracts.catalogue import content
from shared.infra.auth import is_admin, require_admin
from shared.infra.errors import RETRY_AFTER_SECONDS, json_error, json_errors, language, query_limit, read_json, too_many
from shared.infra.resources import SETTINGS
from shared.text.i18n import N_

FREE_TIMES_UNAVAILABLE = N_(
    "De ledige tider kan ikke hentes lige nu. Prøv igen om lidt, eller send jeres ønskede tidspunkter."
)
KEY_REUSED = N_("Denne Idempotency-Key er allerede brugt til en anden forespørgsel.")
NOT_FOUND = N_("Bookingen blev ikke fundet")

routes = web.RouteTableDef()


def invalid(exc: InvalidBooking, lang: str) -> web.Response:
    return json_errors(422, [e.as_json(lang) for e in exc.errors])


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


@routes.get("/api/v1/availability")
async def availability(request: web.Request) -> web.Response:
    """The start times still free for a theme and duration in a window of days (see OpenAPI)."""
    lang, deps = language(request), request.app[DEPS]
    longest = request.app[SETTINGS].availability_max_days
    try:
        query = parse_query(request.query, now=deps.clock(), rules=deps.rules, longest_days=longest)
        slots = await handlers.free_times(deps, query, client=limited_client(request))
    except InvalidBooking as exc:
        return invalid(exc, lang)
    except TooMany as exc:
        raise too_many(request, exc.retry_after) from None
    except SchedulerUnavailable:
        message = translate(lang, FREE_TIMES_UNAVAILABLE)
        return json_errors(503, [{"field": "", "message": message}], **{"Retry-After": str(RETRY_AFTER_SECONDS)})
    return web.json_response(
        {
            "from": query.first.isoformat(),
            "to": query.last.isoformat(),
            "slots": [free_slot_view(slot, lang) for slot in slots],
        },
        headers={"Cache-Control": "no-cache"},
    )


@routes.post("/api/v1/bookings")
async def create_booking(request: web.Request) -> web.Response:
    lang = language(request)
    raw = await read_json(request)
    try:
        requested = await handlers.request_booking(
            request.app[DEPS],
            raw,
            channel=API,
            key=request.headers.get("Idempotency-Key"),
            client=limited_client(request),
        )
    except InvalidBooking as exc:
        return invalid(exc, lang)
    except TooMany as exc:
        raise too_many(request, exc.retry_after) from None
    except IdempotencyConflict:
        return json_errors(409, [{"field": "Idempotency-Key", "message": translate(lang, KEY_REUSED)}])
    booking = requested.booking
    return web.json_response(
        {"id": booking.id, "status": booking.status, "status_url": booking.status_url},
        status=201,
        headers={
            "Location": f"/api/v1/bookings/{booking.id}",
            **({"Idempotent-Replayed": "true"} if requested.replayed else {}),
        },
    )


async def authorised_booking(request: web.Request) -> tuple[Booking, bool]:
    """The booking named in the path, for its workplace (``?token=``) or an admin; else 404."""
    admin = is_admin(request)
    booking = await handlers.find_booking(
        request.app[DEPS], request.match_info["id"], token=request.query.get("token"), admin=admin
    )
    if booking is None:
        raise json_error(404, "id", translate(language(request), NOT_FOUND))
    return booking, admin


@routes.get("/api/v1/bookings/{id}")
async def get_booking(request: web.Request) -> web.Response:
    booking, admin = await authorised_booking(request)
    return web.json_response(booking_view(booking, language(request), admin=admin))


@routes.get("/api/v1/bookings")
async def list_bookings(request: web.Request) -> web.Response:
    require_admin(request)
    bookings = await handlers.list_bookings(request.app[DEPS], request.query.get("status"), query_limit(request))
    return web.json_response({"bookings": [booking_view(b, language(request), admin=True) for b in bookings]})


@routes.post("/api/v1/bookings/{id}/cancel")
async def cancel_booking(request: web.Request) -> web.Response:
    booking, admin = await authorised_booking(request)
    raw = await read_json(request) if request.can_read_body else {}
    reason = raw.get("reason", "") if isinstance(raw, dict) else ""
    return await accepted(
        request, admin, handlers.cancel(request.app[DEPS], booking, by=requester(admin), reason=reason)
    )


@routes.post("/api/v1/bookings/{id}/reschedule")
async def reschedule_booking(request: web.Request) -> web.Response:
    booking, admin = await authorised_booking(request)
    raw = await read_json(request)
    return await accepted(request, admin, handlers.reschedule(request.app[DEPS], booking, raw, by=requester(admin)))


@routes.post("/api/v1/bookings/{id}/offers/{offer_id}/accept")
async def accept_offer(request: web.Request) -> web.Response:
    """Take a time offered from the waitlist: 202, then the talk (or, if just taken, fresh choices)."""
    booking, admin = await authorised_booking(request)
    offer_id = request.match_info["offer_id"]
    change = handlers.accept_offer(request.app[DEPS], booking, offer_id, by=requester(admin))
    return await accepted(request, admin, change)


@routes.post("/api/v1/bookings/{id}/waitlist")
async def change_waitlist(request: web.Request) -> web.Response:
    """``{"waitlist": "offer"|"auto"|"off", "window": {...} | null}``: what happens when a time frees."""
    booking, admin = await authorised_booking(request)
    raw = await read_json(request)
    change = handlers.change_waitlist(request.app[DEPS], booking, raw, by=requester(admin))
    return await accepted(request, admin, change)


def requester(admin: bool) -> Requester:
    return "admin" if admin else "workplace"


async def accepted(request: web.Request, admin: bool, change: Awaitable[Booking]) -> web.Response:
    """202 with the booking once ``change`` (a cancel or reschedule request) is stored; else why not."""
    lang = language(request)
    try:
        updated = await change
    except InvalidBooking as exc:
        return invalid(exc, lang)
    except NotOpen:
        return json_errors(409, [{"field": "status", "message": translate(lang, NotOpen.text)}])
    except UnknownOffer:
        return json_errors(404, [{"field": "offer_id", "message": translate(lang, MESSAGES["offer_unknown"])}])
    except OfferExpired:
        return json_errors(409, [{"field": "offer_id", "message": translate(lang, MESSAGES["offer_expired"])}])
    except TooMany as exc:
        raise too_many(request, exc.retry_after) from None
    return web.json_response(booking_view(updated, lang, admin=admin), status=202)


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)
