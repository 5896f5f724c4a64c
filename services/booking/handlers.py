"""The booking service's use cases, one function each, called by the JSON API, the pages and the
consumer alike; and its routing table, ``HANDLERS``: the scheduler's outcomes, applied to the booking.

Every function takes ``Deps`` first: the store, the rules and the clock. A use case that refuses its
input raises ``InvalidBooking`` (every wrong field at once, counted in the metrics); one that finds
the booking closed raises ``NotOpen``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from services.booking.domain import (
    Booking,
    BookingRules,
    Eraser,
    Idempotency,
    InvalidBooking,
    NotOpen,
    Outcome,
    Recorded,
    Requester,
    check_idempotency_key,
    new_reference,
    new_secret,
    outcome_update,
    parse_booking,
    parse_reason,
    parse_reschedule,
    parse_waitlist,
)
from services.booking.free_times import FreeSlot, FreeTimesQuery, acceptable
from services.booking.metrics import BOOKINGS_CREATED, LIMITED, count_invalid
from services.booking.scheduler_client import FreeSlots, NoScheduler
from services.booking.store import BookingStore, KeyTaken, ReferenceTaken
from shared.contracts.models import BookingDetails
from shared.infra.ratelimit import Verdict
from shared.infra.routing import Route

REFERENCE_ATTEMPTS = 5


def utc_now() -> datetime:
    return datetime.now(UTC)


class OutcomeSignals:
    """Wakes a page waiting for the scheduler's outcome of a booking when this replica's projection
    stores it (another replica's is found by reading the booking again)."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Event] = {}

    def arrived(self, booking_id: str) -> None:
        event = self._waiting.get(booking_id)
        if event is not None:
            event.set()

    @contextmanager
    def watch(self, booking_id: str) -> Iterator[asyncio.Event]:
        event = self._waiting.setdefault(booking_id, asyncio.Event())
        try:
            yield event
        finally:
            self._waiting.pop(booking_id, None)


class Limits(Protocol):
    """Counts what an anonymous caller triggers (``shared.infra.ratelimit.RateLimiter``)."""

    async def hit(self, name: str, *identifiers: str) -> Verdict: ...


class NoLimits:
    async def hit(self, name: str, *identifiers: str) -> Verdict:
        return Verdict(True)


class TooMany(Exception):
    """A limit is reached: try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Deps:
    store: BookingStore
    rules: BookingRules
    base_url: str  # where the workplace's private link points (PUBLIC_BASE_URL)
    clock: Callable[[], datetime] = utc_now
    scheduler: FreeSlots = field(default_factory=NoScheduler)  # asked for free times (SCHEDULER_URL)
    outcomes: OutcomeSignals = field(default_factory=OutcomeSignals)
    limits: Limits = field(default_factory=NoLimits)  # RATE_LIMIT_* (per address, per e-mail, per booking)


@dataclass(frozen=True)
class Channel:
    """Where a booking request comes from, and how that channel treats a reused Idempotency-Key."""

    name: str  # the label of the created-bookings metric
    key_prefix: str  # keeps one channel's keys apart from another's
    # The same key with another body: refused (an API client's mistake), or a new booking (a form
    # sent again after being changed, in the same page).
    reused_key_is_conflict: bool


API = Channel("api", key_prefix="", reused_key_is_conflict=True)
FORM = Channel("form", key_prefix="form:", reused_key_is_conflict=False)


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before for a different request body."""


@dataclass(frozen=True)
class Requested:
    booking: Booking
    replayed: bool  # True when an earlier identical request (same Idempotency-Key) is answered again


# --- use cases -----------------------------------------------------------------------------------------------


async def request_booking(
    deps: Deps, raw: object, *, channel: Channel, key: str | None = None, client: str | None = None
) -> Requested:
    """Validate a booking request and store it with its ``booking.requested`` event.

    With an Idempotency-Key, the same request sent again gets the booking stored the first time
    (``replayed``), nothing is stored twice; the same key with another body is up to the ``channel``.
    Every valid request counts against the limits per ``client`` address and per contact e-mail
    (``TooMany`` past them); ``client=None`` (an admin) is not limited."""
    now = deps.clock()
    with _counting_refusals():
        check_idempotency_key(key)
        details = parse_booking(raw, now=now, rules=deps.rules)
    if client is not None:
        await _within(deps, "booking_per_address", client)
        await _within(deps, "booking_per_email", details.contact.email.lower())
    idempotency = Idempotency(channel.key_prefix + key, request_hash(raw)) if key is not None else None
    try:
        booking = await _store_new(deps, details, now, idempotency)
    except KeyTaken as taken:
        earlier = taken.existing
        if earlier is not None and earlier.idempotency == idempotency:  # the same key and the same body
            return Requested(earlier, replayed=True)
        if channel.reused_key_is_conflict:
            raise IdempotencyConflict from None
        booking = await _store_new(deps, details, now, idempotency=None)
    BOOKINGS_CREATED.labels(channel.name).inc()
    return Requested(booking, replayed=False)


def request_hash(raw: object) -> str:
    """A fingerprint of a request body: the same JSON, whatever the order of its keys."""
    return hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()


async def _store_new(deps: Deps, details: BookingDetails, now: datetime, idempotency: Idempotency | None) -> Booking:
    for _ in range(REFERENCE_ATTEMPTS):
        recorded = Booking.request(
            details,
            reference=new_reference(),
            secret=new_secret(),
            base_url=deps.base_url,
            now=now,
            idempotency=idempotency,
        )
        try:
            await deps.store.add(recorded.booking, recorded.event)
        except ReferenceTaken:
            continue  # drawn before: draw another
        return recorded.booking
    raise RuntimeError("could not draw a free booking reference")


async def await_outcome(deps: Deps, booking: Booking, *, wait: float, poll: float = 0.5) -> Booking:
    """The booking once the scheduler's next outcome for it (after the one ``booking`` shows) is stored,
    or as it stands after ``wait`` seconds. Woken at once when this replica stores the outcome; read
    again every ``poll`` seconds for one another replica stored."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    before = booking.revision if booking.revision is not None else -1
    with deps.outcomes.watch(booking.id) as arrived:
        while (remaining := deadline - loop.time()) > 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), min(poll, remaining))
            arrived.clear()
            current = await deps.store.get(booking.id)
            if current is not None and current.revision is not None and current.revision > before:
                return current
    return booking


async def free_times(deps: Deps, query: FreeTimesQuery, *, client: str | None = None) -> list[FreeSlot]:
    """The free times for the query, as the scheduler finds them, that the intake would accept as desired
    starts; raises ``SchedulerUnavailable`` when the scheduler cannot tell. Each look counts against
    the limit per ``client`` address (``TooMany`` past it)."""
    if client is not None:
        await _within(deps, "availability_per_address", client)
    slots = await deps.scheduler.free_slots(query)
    return acceptable(slots, query.duration_minutes, now=deps.clock(), rules=deps.rules)


async def find_booking(deps: Deps, booking_id: str, *, token: str | None, admin: bool = False) -> Booking | None:
    """The booking for its workplace (``token``: the secret of its private link) or an admin; None
    when it does not exist or the token is wrong (the two look the same from outside)."""
    booking = await deps.store.get(booking_id)
    if booking is None or not (admin or booking.opens_with(token)):
        return None
    return booking


async def list_bookings(deps: Deps, status: str | None, limit: int) -> list[Booking]:
    return await deps.store.list(status, limit)


async def cancel(
    deps: Deps, booking: Booking, *, by: Requester, reason: object, actor: str | None = None
) -> Booking:
    """Ask the scheduler to cancel (``booking.cancel_requested``); refused once cancelled or cancelling.
    ``actor`` names who in the history (``admin:NAME``)."""
    with _counting_refusals():
        text = parse_reason(reason)
    if by == "workplace":
        await _within(deps, "changes_per_booking", booking.id)
    return await _record(deps, booking.request_cancel(by=by, reason=text, now=deps.clock(), actor=actor))


async def reschedule(
    deps: Deps, booking: Booking, raw: object, *, by: Requester, actor: str | None = None
) -> Booking:
    """Ask the scheduler for a new time (``booking.reschedule_requested``): desired starts from anyone,
    or a fixed start and consultant from an admin. ``actor`` names who in the history (``admin:NAME``)."""
    now = deps.clock()
    with _counting_refusals():
        request = parse_reschedule(
            raw, duration_minutes=booking.details.duration_minutes, by=by, now=now, rules=deps.rules
        )
    if by == "workplace":
        await _within(deps, "changes_per_booking", booking.id)
    return await _record(deps, booking.request_reschedule(request, now=now, actor=actor))


async def accept_offer(deps: Deps, booking: Booking, offer_id: str, *, by: Requester) -> Booking:
    """Accept an offer from the waitlist (``booking.offer_accept_requested``): the scheduler places the
    talk at its time if still free, else gives fresh choices. Raises ``NotOpen``, ``UnknownOffer`` or
    ``OfferExpired``."""
    if by == "workplace":
        await _within(deps, "changes_per_booking", booking.id)
    return await _record(deps, booking.request_offer_accept(offer_id, by=by, now=deps.clock()))


async def change_waitlist(deps: Deps, booking: Booking, raw: object, *, by: Requester) -> Booking:
    """What happens when a wanted (or, for a scheduled talk, an earlier) time frees:
    ``{"waitlist": "offer"|"auto"|"off", "window": {"from", "to", "part_of_day"} | null}``."""
    now = deps.clock()
    with _counting_refusals():
        request = parse_waitlist(raw, now=now, rules=deps.rules)
    if by == "workplace":
        await _within(deps, "changes_per_booking", booking.id)
    return await _record(deps, booking.request_waitlist(request, by=by, now=now))


async def _within(deps: Deps, limit: str, identifier: str) -> None:
    verdict = await deps.limits.hit(limit, identifier)
    if not verdict.allowed:
        LIMITED.labels(limit).inc()
        raise TooMany(verdict.retry_after)


@contextmanager
def _counting_refusals() -> Iterator[None]:
    """Count the fields of refused input in the metrics (then let the refusal go on)."""
    try:
        yield
    except InvalidBooking as exc:
        count_invalid(exc.errors)
        raise


async def _record(deps: Deps, recorded: Recorded) -> Booking:
    if not await deps.store.record_request(recorded.booking, recorded.event):
        raise NotOpen  # closed since it was read
    return recorded.booking


# --- personal data: erasure and retention -----------------------------------------------------------------------


async def erase(deps: Deps, booking: Booking, *, by: Eraser) -> bool:
    """Erase the booking's personal data here and (through ``booking.erased``) in every service; the talk
    stays on record, anonymised. False when it was erased before (nothing more to do)."""
    erased = booking.erase(by=by, now=deps.clock())
    return erased is not None and await deps.store.record_erasure(erased.booking, erased.event)


async def erase_contact(deps: Deps, email: str) -> list[str]:
    """Erase every booking of one contact e-mail address; returns their references."""
    bookings = await deps.store.with_contact_email(email)
    for booking in bookings:
        await erase(deps, booking, by="admin")
    return [booking.id for booking in bookings]


async def erase_expired(deps: Deps, keep: timedelta, batch: int = 100) -> int:
    """The retention rule: erase the personal data of bookings whose talk took place, or that hold no talk
    (cancelled, never placed), more than ``keep`` ago. Returns how many were erased."""
    due = await deps.store.due_for_erasure(deps.clock() - keep, batch)
    erased = [await erase(deps, booking, by="retention") for booking in due]
    return sum(erased)


# --- the scheduler's outcomes ----------------------------------------------------------------------------------


async def apply_outcome(deps: Deps, event: Outcome) -> None:
    """Keep the booking in step with the scheduler: in the order of the outcomes' revisions, each once.
    An outcome decided by its event alone is one conditional write; the waitlist's offers, which depend
    on the offers the booking holds, read it first."""
    update = outcome_update(event)
    if update is not None:
        if await deps.store.record_update(update):
            deps.outcomes.arrived(update.booking_id)
        return
    booking = await deps.store.get(event.data.booking_id)
    if booking is None:
        return
    changed = booking.apply_outcome(event)
    if changed is not None and await deps.store.record_outcome(changed):
        deps.outcomes.arrived(booking.id)


HANDLERS: dict[str, Route[Deps]] = {
    "booking.scheduled": apply_outcome,
    "booking.needs_alternative": apply_outcome,
    "booking.cancelled": apply_outcome,
    "booking.rescheduled": apply_outcome,
    "booking.offer_made": apply_outcome,
    "booking.offer_expired": apply_outcome,
    "booking.offer_taken": apply_outcome,
}
