"""Which failures are the infrastructure's, not the work's.

An unreachable or slow MongoDB or RabbitMQ is nobody's input at fault: a message waits and is tried
again (without using up its retries), an HTTP request gets 503 with ``Retry-After``. Every other
exception is a fault of the work itself (a bug, or input no handler can use).
"""

from __future__ import annotations

from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from pymongo.errors import ConnectionFailure, PyMongoError


def is_unavailable(exc: BaseException) -> bool:
    """The database or the broker could not be reached, or did not answer in time."""
    if isinstance(exc, PyMongoError):
        # ConnectionFailure: server selection, network errors, no primary; ``timeout``: any
        # client-side or server-side time limit (timeoutMS, maxTimeMS, wtimeout).
        return isinstance(exc, ConnectionFailure) or exc.timeout
    return isinstance(exc, AMQPError | ChannelInvalidStateError | ConnectionError | TimeoutError)
