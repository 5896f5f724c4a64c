"""The booking service over HTTP: the JSON API (``api``), the pages (``pages``), and how a booking is
shown in both (``views``). The views translate between HTTP and the use cases in
``services.booking.handlers``, which the app keeps under ``DEPS`` with what they need."""

from __future__ import annotations

from aiohttp import web

from services.booking.handlers import Deps
from shared.infra.auth import is_admin
from shared.infra.ratelimit import client_address
from shared.infra.resources import SETTINGS

DEPS = web.AppKey("booking", Deps)


def limited_client(request: web.Request) -> str | None:
    """Whose requests count against the limits: the caller's address; None for an admin (no limit)."""
    if is_admin(request):
        return None
    return client_address(request, request.app[SETTINGS].proxies)


def minutes(seconds: int) -> int:
    """A wait in whole minutes, at least one (what the 429 messages say)."""
    return max(1, -(-seconds // 60))
