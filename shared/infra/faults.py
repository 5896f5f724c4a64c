"""Which failures are the infrastructure's, not the work's.

An unreachable or slow MongoDB or RabbitMQ is nobody's input at fault: a message waits and is tried
again (without using up its retries), an HTTP request gets 503 with ``Retry-After``. Every other
exception is a fault of the work itself (a bug, or input no handler can use).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from pymongo.errors import ConnectionFailure, PyMongoError

T = TypeVar("T")

log = logging.getLogger(__name__)


def is_unavailable(exc: BaseException) -> bool:
    """The database or the broker could not be reached, or did not answer in time."""
    if isinstance(exc, PyMongoError):
        # ConnectionFailure: server selection, network errors, no primary; ``timeout``: any
        # client-side or server-side time limit (timeoutMS, maxTimeMS, wtimeout).
        return isinstance(exc, ConnectionFailure) or exc.timeout
    return isinstance(exc, AMQPError | ChannelInvalidStateError | ConnectionError | TimeoutError)


async def when_reachable(attempt: Callable[[], Awaitable[T]], what: str, within: float) -> T:
    """``attempt()``, tried again while ``what`` (the database, the broker) is unavailable, for up to
    ``within`` seconds; then the last failure is raised.

    A service that starts before its database or broker answers (a host booting, a Compose stack
    started, a broker that accepts connections only after recovering its queues) waits for them
    instead of exiting: a crash loop is slower to recover and makes the container unhealthy."""
    deadline = time.monotonic() + within
    pause = 0.5
    while True:
        try:
            return await attempt()
        except Exception as exc:
            left = deadline - time.monotonic()
            if not is_unavailable(exc) or left <= 0:
                raise
            log.warning(
                "%s not reachable yet, trying again", what, extra={"error": type(exc).__name__, "retry_in": pause}
            )
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 5.0)
