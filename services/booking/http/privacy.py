"""The admin's duties about personal data (docs/security.md): erase one booking's, erase everything about
one e-mail address, and export everything stored about one e-mail address."""

from __future__ import annotations

from aiohttp import web

from services.booking import handlers
from services.booking.http import DEPS
from services.booking.http.api import NOT_FOUND
from services.booking.http.views import booking_view
from services.booking.personal_data import PERSONAL_DATA, ServicesUnavailable
from services.booking.texts import translate
from services.topology import ALL_QUEUES
from shared.infra.auth import require_admin
from shared.infra.errors import RETRY_AFTER_SECONDS, UNAVAILABLE, email_of, json_error, language, read_json, text
from shared.infra.messaging import drop_parked
from shared.infra.resources import AMQP

routes = web.RouteTableDef()


@routes.post("/api/v1/bookings/{id}/erase")
async def erase_booking(request: web.Request) -> web.Response:
    require_admin(request)
    deps = request.app[DEPS]
    booking = await handlers.find_booking(deps, request.match_info["id"], token=None, admin=True)
    if booking is None:
        raise json_error(404, "id", translate(language(request), NOT_FOUND))
    await handlers.erase(deps, booking, by="admin")
    await _drop_parked(request, {booking.id})
    return web.json_response({"id": booking.id, "erased": True}, status=202)


@routes.post("/api/v1/erasure")
async def erase_contact(request: web.Request) -> web.Response:
    """``{"email": "…"}``: every booking of that contact e-mail address is erased everywhere."""
    require_admin(request)
    body = await read_json(request)
    email = email_of(request, body.get("email") if isinstance(body, dict) else None)
    erased = await handlers.erase_contact(request.app[DEPS], email)
    await _drop_parked(request, set(erased))
    return web.json_response({"email": email, "bookings": erased}, status=202)


@routes.get("/api/v1/personal-data")
async def personal_data(request: web.Request) -> web.Response:
    """Everything the three services store about one e-mail address, as one JSON document."""
    require_admin(request)
    email = email_of(request, request.query.get("email", ""))
    bookings = await request.app[DEPS].store.with_contact_email(email)
    try:
        elsewhere = await request.app[PERSONAL_DATA].about(email)
    except ServicesUnavailable:
        raise json_error(
            503, "", text(request, UNAVAILABLE), **{"Retry-After": str(RETRY_AFTER_SECONDS)}
        ) from None
    export = {
        "email": email,
        "booking": {"bookings": [booking_view(b, "da", admin=True) for b in bookings]},
        **elsewhere,
    }
    download = {"Content-Disposition": 'attachment; filename="personal-data.json"', "Cache-Control": "no-store"}
    return web.json_response(export, headers=download)


async def _drop_parked(request: web.Request, booking_ids: set[str]) -> None:
    """Parked messages carry personal data too: those about the erased bookings go."""
    if not booking_ids:
        return
    channel = await request.app[AMQP].channel()
    try:
        for queue in ALL_QUEUES:
            await drop_parked(channel, queue, booking_ids)
    finally:
        await channel.close()
