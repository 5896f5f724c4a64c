"""The notifier's routing table: the events it turns into e-mail, SMS and invites."""

from __future__ import annotations

from services.notifier.sender import Notifier
from shared.infra.routing import Route

HANDLERS: dict[str, Route[Notifier]] = {
    "booking.requested": Notifier.on_event,
    "booking.scheduled": Notifier.on_event,
    "booking.needs_alternative": Notifier.on_event,
    "booking.cancelled": Notifier.on_event,
    "booking.rescheduled": Notifier.on_event,
}
