"""Events to handlers: each consuming service has one routing table, ``HANDLERS``, from event type to
handler. Its queue is bound to exactly the table's event types, and an event the table does not know
fails loudly (it is parked, with the reason) instead of falling through.

A handler is ``async def handler(deps, event)``: ``deps`` is what the service gives all its handlers
(its store, its clock, …), ``event`` the decoded event of the type it is registered for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from shared.contracts.events import EVENT_TYPES, Event
from shared.contracts.topology import ConsumerQueue
from shared.infra.messaging import Handler, PermanentError

D = TypeVar("D")
Route = Callable[[D, Any], Awaitable[None]]


def consumer_queue(name: str, handlers: Mapping[str, Route[Any]]) -> ConsumerQueue:
    """The queue ``name`` bound to the event types of ``handlers``; every one must be a known type."""
    unknown = sorted(set(handlers) - EVENT_TYPES)
    if unknown:
        raise ValueError(f"{name}: no such event types {unknown}; known: {sorted(EVENT_TYPES)}")
    return ConsumerQueue(name, tuple(handlers))


def dispatcher(handlers: Mapping[str, Route[D]], deps: D) -> Handler:
    """One handler for the consumer: finds the event's route, or parks an event nobody handles."""

    async def handle(event: Event) -> None:
        route = handlers.get(event.type)
        if route is None:
            raise PermanentError(f"no handler for event type {event.type!r} here")
        await route(deps, event)

    return handle
