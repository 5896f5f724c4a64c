"""The consumer handles messages at once, except those of one booking, which it handles one after the
other in the order they came (``shared.infra.messaging.Consumer``); and it keeps no processed-event
records unless asked to."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel

from shared.contracts.events import BookingCancelRequestedData, Event, encode_event, new_event
from shared.contracts.topology import ConsumerQueue
from shared.infra.messaging import Consumer

pytestmark = pytest.mark.asyncio


@dataclass
class Message:
    """What the consumer reads of a delivered message."""

    body: bytes
    correlation_id: str
    headers: dict[str, Any] = field(default_factory=dict)
    channel: Any = field(default_factory=lambda: SimpleNamespace(is_closed=False))
    acked: bool = False

    async def ack(self) -> None:
        self.acked = True


def message(booking_id: str) -> tuple[Event, Message]:
    event = new_event(BookingCancelRequestedData(booking_id=booking_id, requested_by="workplace"))
    return event, Message(encode_event(event), booking_id)


class Handler:
    """Records when each event starts and ends; the events in ``held`` wait until released."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.held: dict[str, asyncio.Event] = {}

    async def __call__(self, event: Event) -> None:
        self.log.append(("start", str(event.event_id)))
        if (gate := self.held.get(str(event.event_id))) is not None:
            await gate.wait()
        self.log.append(("end", str(event.event_id)))


def consumer(handler: Handler) -> Consumer:
    return Consumer(
        channel=cast(AbstractRobustChannel, None),  # only used to republish, which these messages never need
        queue=ConsumerQueue("test.queue", ("booking.cancel_requested",)),
        handler=handler,
        retry_delays_ms=(1000,),
    )


async def test_one_bookings_messages_wait_for_each_other_while_another_bookings_go_ahead() -> None:
    handler = Handler()
    first, first_message = message("bk-A")
    second, second_message = message("bk-A")
    other, other_message = message("bk-B")
    gate = handler.held[str(first.event_id)] = asyncio.Event()
    worker = consumer(handler)

    delivered = [
        asyncio.create_task(worker._on_message(cast(AbstractIncomingMessage, m)))
        for m in (first_message, second_message, other_message)
    ]
    while ("end", str(other.event_id)) not in handler.log:
        await asyncio.sleep(0.01)

    # bk-B was handled while bk-A's first message is still under way; bk-A's second waits for it.
    assert ("start", str(second.event_id)) not in handler.log
    gate.set()
    await asyncio.gather(*delivered)

    a_steps = [step for step in handler.log if step[1] in (str(first.event_id), str(second.event_id))]
    assert a_steps == [
        ("start", str(first.event_id)),
        ("end", str(first.event_id)),
        ("start", str(second.event_id)),
        ("end", str(second.event_id)),
    ]
    assert first_message.acked and second_message.acked and other_message.acked


async def test_without_records_a_redelivered_event_goes_to_its_idempotent_handler_again() -> None:
    handler = Handler()
    event, delivered = message("bk-A")
    worker = consumer(handler)

    await worker._on_message(cast(AbstractIncomingMessage, delivered))
    await worker._on_message(cast(AbstractIncomingMessage, Message(delivered.body, "bk-A")))

    assert handler.log.count(("end", str(event.event_id))) == 2  # no database record decides: the handler does
