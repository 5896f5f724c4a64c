"""Publishing with confirms, and a consumer that acks only after the work is stored.

The consumer gives every message one of these outcomes:

* handled: the handler returned and its effect is stored, ack;
* duplicate: the event id was processed before (at-least-once delivery), ack without work; only for a
  consumer that keeps processed-event records (see below);
* retry: the handler raised; a copy waits in the next delay queue and comes back (growing delay);
* deferred: the handler raised ``RetryLater`` (it waits for something that frees itself, such as
  another worker's lease): like a retry, but it uses up no attempt, so it is not parked for that;
* parked: undecodable, ``PermanentError``, or out of retries: a copy goes to the parking queue
  with the reason, for an admin to see and replay;
* waiting: MongoDB or RabbitMQ is unreachable or timed out (``shared.infra.faults``): not the message's
  fault, so it keeps its place and its retries and is tried again after a growing pause, as long
  as it takes; on shutdown (or when its channel is gone) it is left unacknowledged for the broker
  to deliver again.

The original is acknowledged only after its copy is confirmed by the broker, so nothing is lost.

Exactly-once effects: every handler of this project is idempotent on the event's id by its own write
(docs/architecture.md, "Consuming"), so a redelivered event changes nothing and costs no bookkeeping.
A handler that cannot be made so gets a ``processed`` collection: the consumer then skips an event id
recorded there and records each one it handled, two more database round trips per message.

Messages are handled concurrently (as many as the channel's prefetch lets in), except that messages
of one booking (their ``correlation_id``) are handled one after the other, in the order they came.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage, AbstractRobustChannel
from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.contracts.events import Event, decode_event
from shared.contracts.topology import ConsumerQueue, queue_arguments
from shared.infra.faults import is_unavailable

log = logging.getLogger(__name__)

RETRY_HEADER = "x-retry-attempt"
DEFER_HEADER = "x-deferred"
MAX_DEFERRALS = 100  # a safety net: what RetryLater waits for frees itself long before this

MESSAGES = Counter(
    "inspiration_messages_total", "Consumed messages by queue and outcome", ["queue", "outcome"]
)
CONSUMING = Gauge(
    "inspiration_consumer_up", "1 while the broker delivers the queue's messages to this process", ["queue"]
)
PUBLISHED = Counter("inspiration_events_published_total", "Events published (confirmed)", ["type"])


class PermanentError(Exception):
    """The handler can never succeed with this message: park it instead of retrying."""


class RetryLater(Exception):
    """The handler cannot proceed *yet* (e.g. another worker's lease, which expires): retry with
    growing delay without using up one of the message's attempts."""


def _message(
    body: bytes,
    *,
    event_id: str,
    event_type: str,
    correlation_id: str | None,
    headers: Mapping[str, Any] | None = None,
) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=event_id,
        type=event_type,
        correlation_id=correlation_id,
        headers=dict(headers or {}),
    )


class Publisher:
    """Publishes stored events (their JSON form) persistently; returns once the broker confirms.

    Raises (for the outbox to try again) when the broker does not confirm within ``timeout``
    seconds: a blocked or unreachable broker never makes a publisher hang.
    """

    def __init__(self, exchange: AbstractExchange, timeout: float = 10.0) -> None:
        self._exchange = exchange
        self._timeout = timeout

    async def publish(self, event: Mapping[str, Any]) -> None:
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        message = _message(
            body,
            event_id=str(event["event_id"]),
            event_type=str(event["type"]),
            correlation_id=str(event.get("correlation_id") or "") or None,
        )
        await self._exchange.publish(message, routing_key=str(event["type"]), mandatory=True, timeout=self._timeout)
        PUBLISHED.labels(event["type"]).inc()


Handler = Callable[[Event], Awaitable[None]]


class Consumer:
    """Runs ``handler`` for each event on ``queue``; see the module docstring for the outcomes.

    The queue is declared on the consumer's own robust channel, so after a lost connection or
    channel (a broker restart, a network cut, a channel closed by an error) aio-pika declares it
    and consumes from it again by itself; ``consuming`` tells whether that is the case right now.
    """

    def __init__(
        self,
        *,
        channel: AbstractRobustChannel,
        queue: ConsumerQueue,
        handler: Handler,
        processed: AsyncCollection[dict[str, Any]] | None = None,
        retry_delays_ms: tuple[int, ...],
        max_wait_seconds: float = 30.0,
    ) -> None:
        self._channel = channel
        self._queue = queue
        self._handler = handler
        self._processed = processed
        self._delays = retry_delays_ms
        self._max_wait = max_wait_seconds
        self._consumer_tag: str | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._last_of: dict[str, asyncio.Future[None]] = {}  # per booking: the message handled last

    @property
    def queue(self) -> ConsumerQueue:
        return self._queue

    async def start(self) -> None:
        queue = await self._channel.declare_queue(
            self._queue.name, durable=True, arguments=queue_arguments(self._queue)
        )
        self._consumer_tag = await queue.consume(self._on_message)

    async def consuming(self) -> bool:
        """Whether the broker is delivering this queue's messages to this consumer right now."""
        if self._consumer_tag is None or self._channel.is_closed:
            CONSUMING.labels(self._queue.name).set(0)
            return False
        try:
            # The robust channel waits for its connection here: while it is away, that is a "no".
            underlay = await asyncio.wait_for(self._channel.get_underlay_channel(), 0.5)
            # aiormq's channel keeps the subscriptions the broker confirmed (not in its abstract type).
            consumers: Mapping[str, object] = getattr(underlay, "consumers", {})
            up = not underlay.is_closed and self._consumer_tag in consumers
        except (TimeoutError, AMQPError, ChannelInvalidStateError):
            up = False
        CONSUMING.labels(self._queue.name).set(1 if up else 0)
        return up

    async def stop(self, timeout: float) -> None:
        """Take no new messages, let in-flight ones finish; the rest stay unacked and are requeued."""
        self._stopping.set()
        if self._consumer_tag is not None:
            with contextlib.suppress(Exception):
                queue = await self._channel.get_queue(self._queue.name, ensure=False)
                await asyncio.wait_for(queue.cancel(self._consumer_tag), timeout)
            self._consumer_tag = None
        if self._in_flight:
            _, unfinished = await asyncio.wait(self._in_flight, timeout=timeout)
            for task in unfinished:  # their messages are requeued when the channel closes
                task.cancel()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            outcome = await self._in_order(message)
        finally:
            self._in_flight.discard(task)
        MESSAGES.labels(self._queue.name, outcome).inc()

    async def _in_order(self, message: AbstractIncomingMessage) -> str:
        """Handle ``message`` once the messages of its booking that came before it are done."""
        key = message.correlation_id
        if not key:
            return await self._until_done(message)
        before = self._last_of.get(key)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last_of[key] = done
        try:
            if before is not None:
                await before
            return await self._until_done(message)
        finally:
            done.set_result(None)
            if self._last_of.get(key) is done:
                del self._last_of[key]

    async def _until_done(self, message: AbstractIncomingMessage) -> str:
        """Process ``message``; while the database or the broker is away, wait (growing, capped
        pauses) and try again, as long as it takes: that is not the message's fault."""
        wait = 0.5
        while True:
            try:
                return await self._process(message)
            except Exception as exc:
                if not is_unavailable(exc):
                    log.exception("unexpected failure outside the handler", extra={"queue": self._queue.name})
                if message.channel.is_closed or self._stopping.is_set():
                    # Unacknowledged: the broker delivers it again (to this or another consumer).
                    return "released"
                log.warning(
                    "dependency unavailable; message waits %.1f s: %r", wait, exc, extra={"queue": self._queue.name}
                )
                MESSAGES.labels(self._queue.name, "waiting").inc()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), wait)
                wait = min(wait * 2, self._max_wait)

    async def _process(self, message: AbstractIncomingMessage) -> str:
        try:
            event = decode_event(message.body)
        except ValidationError as exc:
            await self._park(message, f"undecodable: {exc.errors(include_url=False)[:3]}")
            return "parked"
        key = f"{self._queue.name}:{event.event_id}"
        if self._processed is not None and await self._processed.find_one({"_id": key}, {"_id": 1}) is not None:
            await message.ack()
            return "duplicate"
        context = {
            "queue": self._queue.name,
            "event_type": event.type,
            "event_id": str(event.event_id),
            "correlation_id": event.correlation_id,
        }
        try:
            await self._handler(event)
        except PermanentError as exc:
            log.warning("permanent failure; parked: %s", exc, extra=context)
            await self._park(message, str(exc))
            return "parked"
        except RetryLater as exc:
            deferrals = int(str((message.headers or {}).get(DEFER_HEADER) or 0))
            if self._delays and deferrals < MAX_DEFERRALS:
                log.info("deferred (%d): %r", deferrals + 1, exc, extra=context)
                delay = self._delays[min(deferrals, len(self._delays) - 1)]
                await self._republish(message, self._queue.retry(delay), {DEFER_HEADER: deferrals + 1})
                return "deferred"
            log.warning("deferred too often; parked: %r", exc, extra=context)
            await self._park(message, f"{type(exc).__name__}: {exc}")
            return "parked"
        except Exception as exc:
            if is_unavailable(exc):
                raise  # not the message's fault: wait for the dependency (``_until_done``)
            attempt = int(str((message.headers or {}).get(RETRY_HEADER) or 0))
            if attempt >= len(self._delays):
                log.exception("out of retries; parked", extra=context)
                await self._park(message, f"{type(exc).__name__}: {exc}")
                return "parked"
            log.warning("handler failed (attempt %d), retrying: %r", attempt + 1, exc, extra=context)
            await self._republish(
                message, self._queue.retry(self._delays[attempt]), {RETRY_HEADER: attempt + 1}
            )
            return "retried"
        if self._processed is not None:
            with contextlib.suppress(DuplicateKeyError):  # another replica got there first
                await self._processed.insert_one({"_id": key, "at": datetime.now(UTC)})
        await message.ack()
        log.debug("handled", extra=context)
        return "handled"

    async def _park(self, message: AbstractIncomingMessage, reason: str) -> None:
        await self._republish(
            message,
            self._queue.parked,
            {
                "x-parked-reason": reason[:1000],
                "x-parked-at": datetime.now(UTC).isoformat(),
                "x-original-routing-key": message.routing_key or "",
            },
        )

    async def _republish(
        self, message: AbstractIncomingMessage, routing_key: str, headers: Mapping[str, Any]
    ) -> None:
        copy = _message(
            message.body,
            event_id=message.message_id or "",
            event_type=message.type or "",
            correlation_id=message.correlation_id,
            headers={**(message.headers or {}), **headers},
        )
        await self._channel.default_exchange.publish(copy, routing_key=routing_key)
        await message.ack()


async def list_parked(
    channel: AbstractChannel, queue: ConsumerQueue, limit: int = 100
) -> list[dict[str, Any]]:
    """Peek at parked messages (they stay parked)."""
    parked = await channel.get_queue(queue.parked, ensure=False)
    held: list[AbstractIncomingMessage] = []
    try:
        while len(held) < limit and (message := await parked.get(no_ack=False, fail=False)) is not None:
            held.append(message)
        return [
            {
                "message_id": m.message_id,
                "type": m.type,
                "correlation_id": m.correlation_id,
                "reason": (m.headers or {}).get("x-parked-reason"),
                "parked_at": (m.headers or {}).get("x-parked-at"),
                "body": m.body.decode(errors="replace"),
            }
            for m in held
        ]
    finally:
        for message in held:
            await message.nack(requeue=True)


async def replay_parked(
    channel: AbstractChannel, queue: ConsumerQueue, limit: int = 1000, message_ids: set[str] | None = None
) -> int:
    """Move the messages parked now back to the consumer's queue, with their retry count reset; with
    ``message_ids``, only those (the others stay parked).

    Only as many as were parked when the replay began: one that fails again and is parked anew
    during the replay waits for the next one, instead of going round in a loop."""
    parked = await channel.declare_queue(queue.parked, passive=True)
    waiting = parked.declaration_result.message_count or 0
    replayed = seen = 0
    kept: list[AbstractIncomingMessage] = []
    try:
        while replayed < limit and seen < waiting and (message := await parked.get(no_ack=False, fail=False)):
            seen += 1
            if message_ids is not None and message.message_id not in message_ids:
                kept.append(message)
                continue
            await _replay(channel, queue, message)
            replayed += 1
    finally:
        for message in kept:
            await message.nack(requeue=True)
    return replayed


async def _replay(channel: AbstractChannel, queue: ConsumerQueue, message: AbstractIncomingMessage) -> None:
    """Publish a copy of the parked ``message`` to the consumer's queue (retry count reset), then drop it."""
    headers = {
        k: v
        for k, v in (message.headers or {}).items()
        if k not in (RETRY_HEADER, DEFER_HEADER, "x-parked-reason", "x-parked-at", "x-death")
    }
    copy = _message(
        message.body,
        event_id=message.message_id or "",
        event_type=message.type or "",
        correlation_id=message.correlation_id,
        headers=headers,
    )
    await channel.default_exchange.publish(copy, routing_key=queue.name)
    await message.ack()


async def drop_parked(channel: AbstractChannel, queue: ConsumerQueue, correlation_ids: set[str]) -> int:
    """Remove the parked messages about these bookings (their personal data is being erased); the others
    stay parked, as they were. Returns how many were removed."""
    parked = await channel.declare_queue(queue.parked, passive=True)
    waiting = parked.declaration_result.message_count or 0
    kept: list[AbstractIncomingMessage] = []
    dropped = 0
    try:
        while len(kept) + dropped < waiting and (message := await parked.get(no_ack=False, fail=False)) is not None:
            if message.correlation_id in correlation_ids:
                await message.ack()
                dropped += 1
            else:
                kept.append(message)
        return dropped
    finally:
        for message in kept:
            await message.nack(requeue=True)
