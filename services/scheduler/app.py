"""App factory of the scheduler service."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from services.scheduler.availability import AvailabilityCache
from services.scheduler.calendars.service import EXTERNAL_CALENDARS, calendars_ctx
from services.scheduler.calendars.store import INDEXES as CALENDAR_INDEXES
from services.scheduler.consultants import load_file
from services.scheduler.context import AVAILABILITY, CALENDAR, DEPS, WAITLIST
from services.scheduler.context import PLACEMENTS as PLACEMENT_STORE
from services.scheduler.domain import SearchLimits
from services.scheduler.handlers import HANDLERS, Deps, save_consultant
from services.scheduler.http import api, availability, backoffice, feed, personal_data, waitlist
from services.scheduler.matching import WaitlistWorker
from services.scheduler.store import INDEXES, PLACEMENTS, MongoCalendarStore, MongoLock, MongoPlacementStore
from services.topology import ALL_QUEUES, SCHEDULER_QUEUE
from shared.infra.messaging import Handler
from shared.infra.ops import add_dead_letter_routes
from shared.infra.poller import Poller
from shared.infra.resources import (
    DB,
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

log = logging.getLogger(__name__)


async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    """The stores and the handlers' dependencies; the consultants of ``CONSULTANTS_FILE``, if set."""
    settings = app[SETTINGS]
    calendar = MongoCalendarStore(app[DB], cache_seconds=settings.consultants_cache_seconds)
    calendars = app[EXTERNAL_CALENDARS]
    placements = MongoPlacementStore(app[DB], relay=app[RELAYS][PLACEMENTS])
    app[CALENDAR] = calendar
    app[PLACEMENT_STORE] = placements
    app[DEPS] = Deps(
        placements=placements,
        calendar=calendar,
        busy=calendars,
        limits=SearchLimits(
            min_notice=timedelta(days=settings.min_notice_days),
            max_ahead=timedelta(days=settings.max_ahead_days),
            closed=settings.closed_days,
        ),
        offer_for=timedelta(hours=settings.waitlist_offer_hours),
        locks=MongoLock(app[DB]),
        offer_made=lambda: app[WAITLIST].watch_expiry(),
    )
    app[WAITLIST] = WaitlistWorker(app[DEPS], timedelta(seconds=settings.waitlist_sweep_seconds))
    app[AVAILABILITY] = AvailabilityCache(timedelta(seconds=settings.availability_cache_seconds))
    if settings.consultants_file:
        consultants = load_file(settings.consultants_file, calendars.input_context())
        for consultant in consultants:
            await save_consultant(calendar, calendars, consultant)
        log.info("loaded %d consultants from %s", len(consultants), settings.consultants_file)
    yield


def _consume(app: web.Application) -> Handler:
    return dispatcher(HANDLERS, app[DEPS])


def _waitlist_worker(app: web.Application) -> Poller:
    return app[WAITLIST].poller


def create_app(settings: Settings) -> web.Application:
    app = service_app("scheduler", settings, max_body=256 * 1024)
    app.cleanup_ctx.extend(
        [
            mongo_ctx({**INDEXES, **CALENDAR_INDEXES}),
            calendars_ctx,
            amqp_ctx(ALL_QUEUES),
            relay_ctx(PLACEMENTS),
            scheduler_ctx,  # its store hands each outcome's event to the relay
            consumer_ctx(SCHEDULER_QUEUE, _consume),
            poller_ctx(_waitlist_worker),
        ]
    )
    add_dead_letter_routes(app, SCHEDULER_QUEUE)
    app.add_routes(api.routes)
    app.add_routes(feed.routes)
    app.add_routes(availability.routes)
    app.add_routes(personal_data.routes)
    app.add_routes(waitlist.routes)
    app.add_routes(backoffice.routes)
    return app
