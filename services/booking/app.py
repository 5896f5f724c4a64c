"""App factory of the booking service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import jinja2
from aiohttp import web

from services.booking import api, pages
from services.booking.context import BOOKINGS, RULES, STORE, TEMPLATES
from services.booking.domain import BookingRules
from services.booking.handlers import HANDLERS
from services.booking.store import INDEXES, BookingStore
from services.topology import ALL_QUEUES, BOOKING_STATUS_QUEUE
from shared.infra.messaging import Handler
from shared.infra.ops import add_dead_letter_routes
from shared.infra.resources import DB, SETTINGS, amqp_ctx, consumer_ctx, mongo_ctx, relay_ctx
from shared.infra.routing import dispatcher
from shared.infra.settings import Settings
from shared.infra.web import service_app

MAX_BODY = 64 * 1024


async def store_ctx(app: web.Application) -> AsyncIterator[None]:
    app[STORE] = BookingStore(app[DB][BOOKINGS], app[SETTINGS].public_base_url)
    yield


def status_projection(app: web.Application) -> Handler:
    """Keep each booking's status in step with the scheduler's events."""
    return dispatcher(HANDLERS, app[STORE])


def create_app(settings: Settings) -> web.Application:
    app = service_app("booking", settings, max_body=MAX_BODY, unavailable_page=pages.unavailable_page)
    app[RULES] = BookingRules(
        min_notice=timedelta(days=settings.min_notice_days),
        max_ahead=timedelta(days=settings.max_ahead_days),
        day_start=settings.bookable_from,
        day_end=settings.bookable_until,
    )
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    app.cleanup_ctx.extend(
        [
            mongo_ctx(INDEXES),
            store_ctx,
            amqp_ctx(ALL_QUEUES),
            relay_ctx(BOOKINGS),
            consumer_ctx(BOOKING_STATUS_QUEUE, status_projection),
        ]
    )
    add_dead_letter_routes(app, BOOKING_STATUS_QUEUE)
    app.add_routes(api.routes)
    app.add_routes(pages.routes)
    return app
