"""The scheduler's routing table: what it does with each request about a booking."""

from __future__ import annotations

from services.scheduler.planner import Planner
from shared.infra.routing import Route

HANDLERS: dict[str, Route[Planner]] = {
    "booking.requested": Planner.on_requested,
    "booking.cancel_requested": Planner.on_cancel_requested,
    "booking.reschedule_requested": Planner.on_reschedule_requested,
}
