"""The notifier's aggregates and their rules, as pure code: the messages, the deliveries that carry
them, and the reminder before a talk.

A **delivery** is one message to one recipient on one channel for one event; its id is
``event_id|channel|kind``, so storing the same event's messages again adds nothing and a
redelivered event is never sent twice. The rendered message is stored with it: every attempt sends
exactly what was decided when the event arrived. Its life: *pending* (due at ``next_attempt_at``),
then *sent*, or after a passing failure *pending* again a growing delay later, until the delays are
used up or the failure is permanent: *failed*, for an admin to see and send again.

A **reminder** is one per booking, due a configurable time before the talk; moving the talk moves
it, cancelling drops it, and an older event (a lower ``sequence``) never overrides a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from shared.contracts.events import BookingRescheduledData, BookingScheduledData
from shared.contracts.models import BookingDetails, Slot

# How long a sender holds what it claimed (deliveries, a reminder) before another may take it over.
LEASE = timedelta(seconds=60)

Channel = Literal["email", "sms"]
# "dropped": never sent, because the booking's personal data was erased before it went out.
Status = Literal["pending", "sent", "failed", "dropped"]
ReminderStatus = Literal["pending", "sending", "sent", "skipped", "cancelled"]


# --- messages ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Email:
    kind: str
    to: str
    subject: str
    text: str
    html: str
    calendar: bytes | None = None
    method: str | None = None  # "REQUEST" or "CANCEL" when ``calendar`` is set


@dataclass(frozen=True)
class Sms:
    kind: str
    to: str
    text: str


Outgoing = Email | Sms


def channel_of(message: Outgoing) -> Channel:
    return "email" if isinstance(message, Email) else "sms"


class UnreadableMessage(Exception):
    """A stored message cannot be turned back into an e-mail or SMS (a document an older version wrote,
    say): sending it can never succeed."""


# --- what an attempt to send came to ----------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    at: datetime
    name: Literal["sent"] = "sent"


@dataclass(frozen=True)
class Retry:
    """A passing failure: try again at ``at``."""

    at: datetime
    reason: str
    name: Literal["retry"] = "retry"


@dataclass(frozen=True)
class Failed:
    """Retrying will not help (or has not helped): an admin may send it again."""

    at: datetime
    reason: str
    name: Literal["failed"] = "failed"


Outcome = Sent | Retry | Failed


# --- deliveries ----------------------------------------------------------------------------------------


def delivery_id(event_id: str, channel: Channel, kind: str) -> str:
    """One event's message of one kind on one channel (an event has at most one of each). The recipient
    is not part of it: an id outlives an erasure of the recipient's address."""
    return f"{event_id}|{channel}|{kind}"


@dataclass(frozen=True, kw_only=True)
class DeliverySummary:
    """A delivery as an admin lists it: everything but the message's bodies."""

    id: str
    event_id: str
    booking_id: str
    channel: Channel
    kind: str
    to: str
    subject: str | None  # e-mail only
    status: Status
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_error: str | None = None
    sent_at: datetime | None = None
    failed_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Delivery(DeliverySummary):
    """One message to one recipient on one channel for one event, and what became of it.

    ``message`` is None when the stored message cannot be read back: sending it fails it."""

    message: Outgoing | None

    @classmethod
    def new(cls, event_id: str, booking_id: str, message: Outgoing, now: datetime) -> Delivery:
        """A pending delivery, due at once."""
        channel = channel_of(message)
        return cls(
            id=delivery_id(event_id, channel, message.kind),
            event_id=event_id,
            booking_id=booking_id,
            channel=channel,
            kind=message.kind,
            to=message.to,
            subject=message.subject if isinstance(message, Email) else None,
            message=message,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )

    def after_passing_failure(self, reason: str, now: datetime, delays: tuple[float, ...]) -> Retry | Failed:
        """Try again after the next of ``delays`` (growing); once they are used up, give up."""
        if self.attempts >= len(delays):
            return Failed(now, f"gave up after {self.attempts + 1} attempts: {reason}")
        return Retry(now + timedelta(seconds=delays[self.attempts]), reason)

    def recorded(self, outcome: Outcome) -> Delivery:
        """The delivery once ``outcome`` is stored: one attempt more."""
        attempts = self.attempts + 1
        if isinstance(outcome, Sent):
            return replace(self, status="sent", attempts=attempts, sent_at=outcome.at, last_error=None)
        if isinstance(outcome, Retry):
            return replace(
                self, status="pending", attempts=attempts, next_attempt_at=outcome.at, last_error=outcome.reason
            )
        return replace(self, status="failed", attempts=attempts, failed_at=outcome.at, last_error=outcome.reason)

    def retried_by_admin(self, now: datetime) -> Delivery:
        """A failed delivery an admin asks to send again: due at once (it keeps its attempts)."""
        return replace(self, status="pending", next_attempt_at=now)


# --- reminders -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    """The reminders before one booking's talk, due ``due_at``."""

    booking_id: str
    booking: BookingDetails
    slot: Slot
    status_url: str
    sequence: int
    due_at: datetime
    status: ReminderStatus = "pending"

    @classmethod
    def before_talk(cls, data: BookingScheduledData | BookingRescheduledData, ahead: timedelta) -> Reminder:
        return cls(
            booking_id=data.booking_id,
            booking=data.booking,
            slot=data.slot,
            status_url=data.status_url,
            sequence=data.sequence,
            due_at=data.slot.start - ahead,
        )

    def replaces(self, stored_sequence: int) -> bool:
        """An older event never overrides a newer one (the same one again does no harm)."""
        return stored_sequence <= self.sequence

    def too_late(self, now: datetime) -> bool:
        """The talk has begun: a reminder now would only confuse."""
        return self.slot.start <= now

    @property
    def event_id(self) -> str:
        """The reminder's messages are stored as the deliveries of this (made-up) event: once per move."""
        return f"reminder:{self.booking_id}:{self.sequence}"
