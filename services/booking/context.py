"""Typed application keys of the booking service and small helpers around them."""

from __future__ import annotations

import jinja2
from aiohttp import web

from services.booking.domain import BookingRules
from services.booking.store import BookingStore
from shared.infra.resources import RELAYS

STORE = web.AppKey("store", BookingStore)
RULES = web.AppKey("rules", BookingRules)
TEMPLATES = web.AppKey("templates", jinja2.Environment)

BOOKINGS = "bookings"


def wake_relay(app: web.Application) -> None:
    """A booking and its event were just stored: let the outbox relay publish it now."""
    relay = app[RELAYS].get(BOOKINGS)
    if relay is not None:
        relay.wake()
