"""App factory of the scheduler service."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from services.scheduler import api
from services.scheduler.calendars.service import EXTERNAL_CALENDARS, calendars_ctx
from services.scheduler.calendars.store import INDEXES as CALENDAR_INDEXES
from services.scheduler.consultants import load_file
from services.scheduler.context import PLANNER, STORE
from services.scheduler.domain import SearchLimits
from services.scheduler.handlers import HANDLERS
from services.scheduler.planner import Planner
from services.scheduler.store import INDEXES, SchedulerStore
from services.topology import ALL_QUEUES, SCHEDULER_QUEUE
from shared.contracts.events import Event
from shared.infra.messaging import Handler
from shared.infra.ops import add_dead_letter_routes
from shared.infra.resources import DB, RELAYS, SETTINGS, amqp_ctx, consumer_ctx, mongo_ctx, relay_ctx
from shared.infra.routing import dispatcher
from shared.infra.settings import Settings
from shared.infra.web import service_app

log = logging.getLogger(__name__)

PLACEMENTS = "placements"


async def planner_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = SchedulerStore(app[DB])
    calendars = app[EXTERNAL_CALENDARS]
    app[STORE] = store
    app[PLANNER] = Planner(
        store,
        SearchLimits(
            min_notice=timedelta(days=settings.min_notice_days), max_ahead=timedelta(days=settings.max_ahead_days)
        ),
        busy=calendars,
    )
    if settings.consultants_file:
        consultants = load_file(settings.consultants_file, calendars.input_context())
        for consultant in consultants:
            await store.upsert_consultant(consultant)
            await calendars.consultant_saved(consultant.id, consultant.external_calendars)
        log.info("loaded %d consultants from %s", len(consultants), settings.consultants_file)
    yield


def planner_handler(app: web.Application) -> Handler:
    route = dispatcher(HANDLERS, app[PLANNER])

    async def handle(event: Event) -> None:
        await route(event)
        # The outcome and its event were just stored: publish it now, not at the relay's next poll.
        relay = app[RELAYS].get(PLACEMENTS)
        if relay is not None:
            relay.wake()

    return handle


def create_app(settings: Settings) -> web.Application:
    app = service_app("scheduler", settings, max_body=256 * 1024)
    app.cleanup_ctx.extend(
        [
            mongo_ctx({**INDEXES, **CALENDAR_INDEXES}),
            calendars_ctx,
            planner_ctx,
            amqp_ctx(ALL_QUEUES),
            relay_ctx(PLACEMENTS),
            consumer_ctx(SCHEDULER_QUEUE, planner_handler),
        ]
    )
    add_dead_letter_routes(app, SCHEDULER_QUEUE)
    app.add_routes(api.routes)
    return app
