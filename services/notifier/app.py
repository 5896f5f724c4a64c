"""App factory of the notifier service: the store, the sending loop, the consumer and the admin API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
from aiohttp import web

from services.notifier import handlers
from services.notifier.handlers import HANDLERS, Deps
from services.notifier.http import api
from services.notifier.mailer import SmtpMailer
from services.notifier.sender import Sender
from services.notifier.sms import make_sms_provider
from services.notifier.store import INDEXES, MongoDeliveryStore
from services.topology import ALL_QUEUES, NOTIFIER_QUEUE
from shared.infra.messaging import Handler
from shared.infra.ops import add_dead_letter_routes
from shared.infra.poller import Poller
from shared.infra.resources import DB, SETTINGS, amqp_ctx, consumer_ctx, mongo_ctx, poller_ctx
from shared.infra.routing import dispatcher
from shared.infra.settings import Settings
from shared.infra.web import service_app


async def sender_ctx(app: web.Application) -> AsyncIterator[None]:
    """The store, the HTTP session (SMS gateway), the mailer and the sending loop."""
    settings = app[SETTINGS]
    store = MongoDeliveryStore(app[DB])
    mailer = SmtpMailer.from_settings(settings)
    async with aiohttp.ClientSession() as session:
        sender = Sender(
            store,
            mailer=mailer,
            sms=make_sms_provider(settings, session),
            mail_from=settings.mail_from,
            retry_delays=settings.delivery_retry_seconds,
            poll_seconds=settings.delivery_poll_seconds,
            concurrency=settings.delivery_concurrency,
        )
        # What is stored to be sent goes out now, not at the next poll: new deliveries are handed to the
        # sender as they are stored; an admin's retry wakes it.
        store.hand_new_to(sender.hand)
        store.on_stored(sender.wake)
        app[api.DEPS] = Deps(
            store, mail_from=settings.mail_from, reminder_before=timedelta(hours=settings.reminder_before_hours)
        )
        task = asyncio.create_task(sender.run(), name="sender")
        yield
        sender.stop()
        # Sends under way get the grace period to finish; then they are cut off and handed back.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task, settings.shutdown_timeout_seconds)
        await mailer.close()


def mail_retention(app: web.Application) -> Poller:
    """The texts of sent mail are removed MAIL_BODY_RETENTION_DAYS after sending (the list stays)."""
    settings, deps = app[SETTINGS], app[api.DEPS]
    keep = timedelta(days=settings.mail_body_retention_days)
    return Poller(
        "mail retention",
        lambda: handlers.erase_old_bodies(deps, keep),
        interval=settings.retention_check_seconds,
        last_pass=False,
    )


def notifier_handler(app: web.Application) -> Handler:
    return dispatcher(HANDLERS, app[api.DEPS])


def create_app(settings: Settings) -> web.Application:
    app = service_app("notifier", settings, max_body=64 * 1024)
    app.cleanup_ctx.extend(
        [
            mongo_ctx(INDEXES),
            sender_ctx,
            poller_ctx(mail_retention),
            amqp_ctx(ALL_QUEUES),
            consumer_ctx(NOTIFIER_QUEUE, notifier_handler),
        ]
    )
    add_dead_letter_routes(app, NOTIFIER_QUEUE)
    api.add_routes(app)
    return app
