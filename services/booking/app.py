"""App factory of the booking service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from services.booking import handlers
from services.booking.backoffice.reads import INDEXES as BACK_OFFICE_INDEXES
from services.booking.backoffice.remote import remote_ctx
from services.booking.domain import BookingRules
from services.booking.handlers import HANDLERS, Deps
from services.booking.http import DEPS, api, consultant_page, pages, privacy
from services.booking.http.backoffice import add_back_office
from services.booking.personal_data import personal_data_ctx
from services.booking.scheduler_client import SCHEDULER, scheduler_client_ctx
from services.booking.store import COLLECTION, INDEXES, RETIRED_INDEXES, MongoBookingStore
from services.topology import ALL_QUEUES, BOOKING_STATUS_QUEUE
from shared.infra.messaging import Handler
from shared.infra.ops import add_dead_letter_routes
from shared.infra.poller import Poller
from shared.infra.resources import (
    DB,
    RATE_LIMITS,
    RELAYS,
    SETTINGS,
    amqp_ctx,
    consumer_ctx,
    mongo_ctx,
    poller_ctx,
    relay_ctx,
)
from shared.infra.routing import dispatcher
from shared.infra.settings import Settings
from shared.infra.web import service_app

MAX_BODY = 64 * 1024


def booking_rules(settings: Settings) -> BookingRules:
    return BookingRules(
        min_notice=timedelta(days=settings.min_notice_days),
        max_ahead=timedelta(days=settings.max_ahead_days),
        day_start=settings.bookable_from,
        day_end=settings.bookable_until,
        closed=settings.closed_days,
        phone_countries=settings.sms_countries,
    )


async def deps_ctx(app: web.Application) -> AsyncIterator[None]:
    """What the use cases need: the store (which hands its events to the outbox relay), rules, links,
    the scheduler (for free times)."""
    settings = app[SETTINGS]
    store = MongoBookingStore(app[DB][COLLECTION], relay=app[RELAYS][COLLECTION])
    app[DEPS] = Deps(
        store=store,
        rules=booking_rules(settings),
        base_url=settings.public_base_url,
        scheduler=app[SCHEDULER],
        limits=app[RATE_LIMITS],
    )
    yield


def retention(app: web.Application) -> Poller:
    """The retention rule, run periodically: personal data of old bookings is erased by itself
    (RETENTION_DAYS after the talk, or after the booking was cancelled or last changed without one)."""
    settings, deps = app[SETTINGS], app[DEPS]
    keep = timedelta(days=settings.retention_days)
    return Poller(
        "retention",
        lambda: handlers.erase_expired(deps, keep),
        interval=settings.retention_check_seconds,
        last_pass=False,
    )


def status_projection(app: web.Application) -> Handler:
    """Keep each booking's status in step with the scheduler's events."""
    return dispatcher(HANDLERS, app[DEPS])


OUTCOME_WITHIN_SECONDS = 2.0


def create_app(settings: Settings) -> web.Application:
    app = service_app("booking", settings, max_body=MAX_BODY, unavailable_page=pages.unavailable_page)
    app.cleanup_ctx.extend(
        [
            mongo_ctx(
                {**INDEXES, COLLECTION: [*INDEXES[COLLECTION], *BACK_OFFICE_INDEXES[COLLECTION]]}, RETIRED_INDEXES
            ),
            amqp_ctx(ALL_QUEUES),
            # A new booking's outcome (the scheduler's answer) usually comes within a second and takes
            # the clear of its published request along: one write fewer per booking.
            relay_ctx(COLLECTION, clear_after=OUTCOME_WITHIN_SECONDS),
            scheduler_client_ctx,
            personal_data_ctx,
            remote_ctx,
            deps_ctx,
            poller_ctx(retention),
            consumer_ctx(BOOKING_STATUS_QUEUE, status_projection),
        ]
    )
    add_dead_letter_routes(app, BOOKING_STATUS_QUEUE)
    app.add_routes(api.routes)
    app.add_routes(privacy.routes)
    app.add_routes(pages.routes)
    app.add_routes(consultant_page.routes)
    add_back_office(app, settings)
    return app
