"""In-memory stand-ins for the notifier's store, mailer and SMS provider, for unit tests of its
handlers and its sender (``services.notifier.store.DeliveryStore``, ``mailer.Mailer``, ``sms.SmsProvider``).

They keep what the MongoDB adapter keeps, by the same rules (``services.notifier.domain``), so a test
can look at what was stored, claimed, sent and recorded.
"""

from __future__ import annotations

import asyncio
import builtins
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from services.notifier.domain import (
    LEASE,
    Delivery,
    DeliverySummary,
    Outgoing,
    Reminder,
    ReminderStatus,
    Status,
)
from services.notifier.handlers import HANDLERS, Deps
from services.notifier.store import Attempt, Batch
from shared.contracts.events import Event


@dataclass(frozen=True)
class Dropped:
    """A cancelled booking's reminder (stored even if no reminder was: an older event must not set one)."""

    sequence: int


class FakeDeliveryStore:
    def __init__(self) -> None:
        self.deliveries: dict[str, Delivery] = {}
        self.claims: dict[str, str] = {}  # delivery id -> the claim that holds it
        self.reminders: dict[str, Reminder | Dropped] = {}
        self.reminder_leases: dict[str, datetime] = {}

    # --- deliveries

    async def add(self, deliveries: list[Delivery]) -> int:
        new = [d for d in deliveries if d.id not in self.deliveries]
        self.deliveries.update((d.id, d) for d in new)
        return len(new)

    async def claim_due(self, now: datetime, limit: int = 50) -> Batch:
        claim = uuid.uuid4().hex
        due = [d for d in self.deliveries.values() if d.status == "pending" and d.next_attempt_at <= now][:limit]
        for delivery in due:
            self.deliveries[delivery.id] = replace(delivery, next_attempt_at=now + LEASE)
            self.claims[delivery.id] = claim
        return Batch(claim, [self.deliveries[d.id] for d in due], now)

    async def record(self, attempts: Sequence[Attempt]) -> None:
        for attempt in attempts:
            delivery_id = attempt.delivery.id
            if self.claims.get(delivery_id) != attempt.claim:
                continue
            del self.claims[delivery_id]
            self.deliveries[delivery_id] = self.deliveries[delivery_id].recorded(attempt.outcome)

    async def release(self, ids: Iterable[str], claim: str, now: datetime) -> None:
        for delivery_id in ids:
            if self.claims.get(delivery_id) == claim:
                del self.claims[delivery_id]
                self.deliveries[delivery_id] = replace(self.deliveries[delivery_id], next_attempt_at=now)

    async def list(self, status: Status | None, booking_id: str | None, limit: int) -> list[DeliverySummary]:
        found: list[DeliverySummary] = [
            d
            for d in self.deliveries.values()
            if (status is None or d.status == status) and (booking_id is None or d.booking_id == booking_id)
        ]
        return sorted(found, key=lambda d: d.created_at, reverse=True)[:limit]

    async def retry(self, delivery_id: str, now: datetime) -> bool:
        delivery = self.deliveries.get(delivery_id)
        if delivery is None or delivery.status != "failed":
            return False
        self.deliveries[delivery_id] = delivery.retried_by_admin(now)
        return True

    # --- reminders

    async def schedule_reminder(self, reminder: Reminder) -> None:
        stored = self.reminders.get(reminder.booking_id)
        if stored is None or reminder.replaces(stored.sequence):
            self.reminders[reminder.booking_id] = replace(reminder, status="pending")
            self.reminder_leases.pop(reminder.booking_id, None)

    async def drop_reminder(self, booking_id: str, sequence: int) -> None:
        self.reminders[booking_id] = Dropped(sequence)

    async def claim_reminder(self, now: datetime) -> Reminder | None:
        for booking_id, reminder in self.reminders.items():
            if not isinstance(reminder, Reminder):
                continue
            due = reminder.status == "pending" and reminder.due_at <= now
            abandoned = reminder.status == "sending" and self.reminder_leases[booking_id] < now
            if due or abandoned:
                self.reminders[booking_id] = claimed = replace(reminder, status="sending")
                self.reminder_leases[booking_id] = now + LEASE
                return claimed
        return None

    async def reminder_done(self, reminder: Reminder, status: ReminderStatus) -> None:
        stored = self.reminders.get(reminder.booking_id)
        if isinstance(stored, Reminder) and stored.sequence == reminder.sequence and stored.status == "sending":
            self.reminders[reminder.booking_id] = replace(stored, status=status)
            self.reminder_leases.pop(reminder.booking_id, None)

    # --- for the tests

    def reminder(self, booking_id: str) -> Reminder:
        reminder = self.reminders[booking_id]
        assert isinstance(reminder, Reminder), reminder
        return reminder

    def messages(self) -> builtins.list[Outgoing]:  # (``list`` here is the method above)
        """The stored messages, in the order they were stored."""
        return [d.message for d in self.deliveries.values() if d.message is not None]


@dataclass
class FakeMailer:
    """Accepts every message, except for recipients with scripted failures (raised one per send).

    With ``hold`` set, each send waits for it (``sending`` tells a send has begun)."""

    sent: list[EmailMessage] = field(default_factory=list)
    failures: dict[str, list[Exception]] = field(default_factory=dict)
    hold: asyncio.Event | None = None
    sending: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, message: EmailMessage) -> None:
        self.sending.set()
        if self.hold is not None:
            await self.hold.wait()
        script = self.failures.get(str(message["To"]))
        if script:
            raise script.pop(0)
        self.sent.append(message)

    def to(self, recipient: str) -> list[EmailMessage]:
        return [m for m in self.sent if str(m["To"]) == recipient]


@dataclass
class FakeSms:
    """Accepts every SMS, except for numbers with scripted failures (raised one per send)."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    failures: dict[str, list[Exception]] = field(default_factory=dict)

    async def send(self, to: str, text: str) -> None:
        script = self.failures.get(to)
        if script:
            raise script.pop(0)
        self.sent.append((to, text))


@dataclass
class Clock:
    """A clock a test moves by hand."""

    now: datetime = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


def messages_stored_for(event: Event, *, mail_from: str, now: datetime) -> list[Outgoing]:
    """What the notifier's routing table stores to send for ``event`` (nothing for an event it is not
    bound to), run to completion outside any running event loop."""
    route = HANDLERS.get(event.type)
    if route is None:
        return []
    store = FakeDeliveryStore()
    deps = Deps(store, mail_from=mail_from, reminder_before=timedelta(hours=72), clock=lambda: now)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(route(deps, event))
    finally:
        loop.close()
    return store.messages()
