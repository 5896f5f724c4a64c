"""Each consultant's private page, ``/consultants/{id}?token=…``: their coming talks with what they need
about each workplace (address, contact, participants, notes), and the link to subscribe to their feed.

Served here, not by the scheduler: this is the service the public reaches (its port is published, it
is behind TLS with ``PUBLIC_BASE_URL``, its pages have the strict CSP, the language switch and the
templates), and it holds the bookings' details. The secret is the scheduler's, kept with the
consultant beside their feed's (the admin rotates either in the back office); this service asks the
scheduler whose it is (``GET /api/v1/consultants/{id}/page``, with the admin token). A wrong or
rotated secret gets the same 404 as an unknown consultant."""

from __future__ import annotations

from aiohttp import web

from services.booking.backoffice.reads import MongoBackOfficeReads
from services.booking.backoffice.remote import REMOTE_SCHEDULER, RemoteUnavailable
from services.booking.http import DEPS
from services.booking.http.pages import page_language, render, unavailable_page
from services.booking.http.views import booking_view
from services.booking.store import COLLECTION
from shared.infra.resources import DB

routes = web.RouteTableDef()
UPCOMING = 100


@routes.get("/consultants/{id}")
async def consultant_page(request: web.Request) -> web.Response:
    token = request.query.get("token", "")
    if not token:
        return render(request, "not_found.html", status=404)
    try:
        owner = await request.app[REMOTE_SCHEDULER].page_owner(request.match_info["id"], token)
    except RemoteUnavailable:
        response = unavailable_page(request)
        response.set_status(503)
        return response
    if owner is None:
        return render(request, "not_found.html", status=404)
    lang = page_language(request)
    reads = MongoBackOfficeReads(request.app[DB][COLLECTION])
    talks = await reads.upcoming_for(owner["id"], request.app[DEPS].clock(), UPCOMING)
    return render(request, "consultant_page.html", consultant=owner, talks=[booking_view(b, lang) for b in talks])
