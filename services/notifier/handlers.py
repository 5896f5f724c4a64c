"""What the notifier does with each event, and its routing table ``HANDLERS``.

A handler only stores: the deliveries its event calls for (composed by ``compose``) and the booking's
reminder, the two writes at once. The sender (``sender.Sender``) sends them. Storing is idempotent, so an
event handled twice stores nothing new. The admin API's use cases are here too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.notifier import compose
from services.notifier.domain import Delivery, DeliverySummary, Outgoing, Reminder, Status
from services.notifier.store import DeliveryStore
from shared.contracts.events import (
    BookingCancelled,
    BookingErased,
    BookingNeedsAlternative,
    BookingOfferMade,
    BookingRequested,
    BookingRescheduled,
    BookingScheduled,
    Event,
)
from shared.infra.routing import Route


@dataclass(frozen=True)
class Deps:
    """What every handler gets."""

    store: DeliveryStore
    mail_from: str  # the sender of every e-mail, and the invites' ORGANIZER
    reminder_before: timedelta  # how long before a talk its reminders are due
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


async def _store(deps: Deps, event: Event, messages: list[Outgoing], now: datetime) -> None:
    """One delivery per message, under the event's id: the same event again adds nothing."""
    booking_id = event.data.booking_id
    await deps.store.add([Delivery.new(str(event.event_id), booking_id, message, now) for message in messages])


# --- events --------------------------------------------------------------------------------------------


async def on_requested(deps: Deps, event: BookingRequested) -> None:
    """The receipt to the workplace."""
    data = event.data
    await _store(deps, event, compose.receipt(data), deps.clock())


async def on_scheduled(deps: Deps, event: BookingScheduled) -> None:
    """The confirmation to the workplace (e-mail and SMS), the invite to the consultant; the reminder."""
    data, now = event.data, deps.clock()
    messages = compose.scheduled(data, mail_from=deps.mail_from, now=now)
    reminder = Reminder.before_talk(data, deps.reminder_before)
    await asyncio.gather(_store(deps, event, messages, now), deps.store.schedule_reminder(reminder))


async def on_needs_alternative(deps: Deps, event: BookingNeedsAlternative) -> None:
    """The alternatives (or a request for new times) to the workplace."""
    data = event.data
    await _store(deps, event, compose.needs_alternative(data), deps.clock())


async def on_rescheduled(deps: Deps, event: BookingRescheduled) -> None:
    """The updated invite (a cancellation to the previous consultant if another takes over), the new time
    to the workplace; the reminder moves with the talk."""
    data, now = event.data, deps.clock()
    messages = compose.rescheduled(data, mail_from=deps.mail_from, now=now)
    reminder = Reminder.before_talk(data, deps.reminder_before)
    await asyncio.gather(_store(deps, event, messages, now), deps.store.schedule_reminder(reminder))


async def on_cancelled(deps: Deps, event: BookingCancelled) -> None:
    """The invite's cancellation to the consultant, the notice to the workplace; the reminder is dropped."""
    data, now = event.data, deps.clock()
    messages = compose.cancelled(data, mail_from=deps.mail_from, now=now)
    await asyncio.gather(_store(deps, event, messages, now), deps.store.drop_reminder(data.booking_id, data.sequence))


async def on_offer_made(deps: Deps, event: BookingOfferMade) -> None:
    """A freed time offered from the waitlist: e-mail and SMS to the workplace, with the link to accept."""
    await _store(deps, event, compose.offer(event.data), deps.clock())


async def on_erased(deps: Deps, event: BookingErased) -> None:
    """The booking's personal data is erased: its pending messages are dropped (already sent ones are not
    recalled), every stored message's text and recipient removed, its reminder cancelled for good."""
    await deps.store.erase_booking(event.data.booking_id)


HANDLERS: dict[str, Route[Deps]] = {
    "booking.requested": on_requested,
    "booking.scheduled": on_scheduled,
    "booking.needs_alternative": on_needs_alternative,
    "booking.rescheduled": on_rescheduled,
    "booking.cancelled": on_cancelled,
    "booking.erased": on_erased,
    "booking.offer_made": on_offer_made,
}


# --- the admin's use cases -------------------------------------------------------------------------------


async def list_deliveries(
    deps: Deps, status: Status | None, booking_id: str | None, limit: int
) -> list[DeliverySummary]:
    return await deps.store.list(status, booking_id, limit)


async def erase_old_bodies(deps: Deps, keep: timedelta) -> int:
    """The retention rule for mail: texts of messages sent more than ``keep`` ago are removed."""
    return await deps.store.erase_sent_bodies(deps.clock() - keep)


async def retry_delivery(deps: Deps, delivery_id: str) -> bool:
    """Send a failed delivery again, at once; False when there is no failed delivery with that id."""
    return await deps.store.retry(delivery_id, deps.clock())
