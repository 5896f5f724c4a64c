"""App factory of the booking service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import jinja2
from aiohttp import web

from services.booking import api, pages
from services.booking.context import BOOKINGS, RULES, STORE, TEMPLATES
from services.booking.store import INDEXES, BookingStore
from shared.events import Event
from shared.messaging import Handler
from shared.rules import BookingRules
from shared.service import (
    DB,
    SETTINGS,
    add_dead_letter_routes,
    add_ops_routes,
    amqp_ctx,
    consumer_ctx,
    json_error_middleware,
    mongo_ctx,
    relay_ctx,
    request_metrics,
    unavailable_middleware,
)
from shared.settings import Settings
from shared.topology import BOOKING_STATUS_QUEUE

MAX_BODY = 64 * 1024


async def store_ctx(app: web.Application) -> AsyncIterator[None]:
    app[STORE] = BookingStore(app[DB][BOOKINGS], app[SETTINGS].public_base_url)
    yield


def status_projection(app: web.Application) -> Handler:
    """Keep each booking's status in step with the scheduler's events."""

    async def handle(event: Event) -> None:
        await app[STORE].apply(event)

    return handle


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[
            json_error_middleware(),
            request_metrics("booking"),
            unavailable_middleware(pages.unavailable_page),
        ],
    )
    app[SETTINGS] = settings
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
            amqp_ctx,
            relay_ctx(BOOKINGS),
            consumer_ctx(BOOKING_STATUS_QUEUE, status_projection),
        ]
    )
    add_ops_routes(app)
    add_dead_letter_routes(app, BOOKING_STATUS_QUEUE)
    app.add_routes(api.routes)
    app.add_routes(pages.routes)
    return app
