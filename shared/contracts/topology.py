"""The RabbitMQ topology: one topic exchange, and for each consumer its queue, retry and parking queues.

Every consumer owns a durable quorum queue bound to the topic exchange ``inspiration.events`` by
event type, plus:

* one delay queue per retry step (``<queue>.retry.<delay>ms``): a message waits there for its TTL and is
  then dead-lettered straight back to the consumer's queue, so retries happen with growing delay;
* a parking queue (``<queue>.parked``) for what keeps failing or cannot be decoded; an admin can
  list and replay it. Messages the broker gives up on (``x-delivery-limit``) land there too, via
  the dead-letter exchange ``inspiration.dlx``. It is a durable *classic* queue: classic queues have
  no delivery limit, so what is parked stays parked however often an admin lists it (listing takes
  each message and hands it back; a quorum queue would count that as a delivery, and RabbitMQ 4
  drops a quorum queue's message after 20).

Which queues exist, and which event types each is bound to, follows from the services' routing tables
(``services/topology.py``). Each service declares all of it at start (declarations are idempotent), so
no service depends on another having started first and no event is published before its queues exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange

from shared.contracts.events import EXCHANGE

DEAD_LETTER_EXCHANGE = "inspiration.dlx"
DELIVERY_LIMIT = 20


@dataclass(frozen=True)
class ConsumerQueue:
    name: str
    routing_keys: tuple[str, ...]

    @property
    def parked(self) -> str:
        return f"{self.name}.parked"

    def retry(self, delay_ms: int) -> str:
        # The delay is in the name: changing the configured delays declares new queues instead of
        # clashing with the arguments of existing ones.
        return f"{self.name}.retry.{delay_ms}ms"


def queue_arguments(consumer: ConsumerQueue) -> dict[str, Any]:
    """The arguments a consumer's queue is declared with (a redeclaration must repeat them)."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": consumer.name,
    }


async def declare_topology(
    channel: AbstractChannel, queues: Sequence[ConsumerQueue], retry_delays_ms: tuple[int, ...]
) -> AbstractExchange:
    """Declare the exchanges and ``queues`` (with their retry and parking queues); returns the events exchange."""
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    dlx = await channel.declare_exchange(DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
    for consumer in queues:
        parked = await channel.declare_queue(consumer.parked, durable=True, arguments={"x-queue-type": "classic"})
        await parked.bind(dlx, routing_key=consumer.name)
        queue = await channel.declare_queue(consumer.name, durable=True, arguments=queue_arguments(consumer))
        for key in consumer.routing_keys:
            await queue.bind(exchange, routing_key=key)
        for delay in retry_delays_ms:
            await channel.declare_queue(
                consumer.retry(delay),
                durable=True,
                arguments={
                    "x-queue-type": "quorum",
                    "x-message-ttl": delay,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": consumer.name,
                },
            )
    return exchange
