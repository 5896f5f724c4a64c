"""The back office under ``/admin``: a sub-application with its own middlewares (the session cookie,
the sign-in guard, CSRF), so nothing of it touches the public pages. See ``session.py`` for signing
in and ``common.py`` for what the views share."""

from __future__ import annotations

from aiohttp import web

from services.booking.http.backoffice import (
    attention,
    bookings,
    calendar,
    consultants,
    session,
    statistics,
    waitlist,
)
from services.booking.http.backoffice.common import remote_away
from shared.infra.settings import Settings


def backoffice_app(settings: Settings) -> web.Application:
    middlewares = session.middlewares(settings)
    if len(middlewares) > 1:  # on: a page whose service cannot answer says so
        middlewares.append(remote_away)
    app = web.Application(middlewares=middlewares)
    for module in (session, attention, bookings, calendar, consultants, statistics, waitlist):
        app.add_routes(module.routes)
    return app


async def _to_back_office(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently("/admin/")


def add_back_office(app: web.Application, settings: Settings) -> None:
    app.router.add_get("/admin", _to_back_office)
    app.add_subapp("/admin", backoffice_app(settings))
