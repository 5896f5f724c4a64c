"""A starting service waits for an unavailable database or broker, for a bounded time, and for nothing else."""

from __future__ import annotations

import pytest
from aiormq.exceptions import AMQPConnectionError

from shared.infra.faults import when_reachable

pytestmark = pytest.mark.asyncio


class Flaky:
    """Fails with ``error`` ``failures`` times, then answers."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "connected"


async def test_an_unreachable_broker_is_tried_again_until_it_answers() -> None:
    attempt = Flaky(2, AMQPConnectionError("connection refused"))
    assert await when_reachable(attempt, "RabbitMQ", within=30) == "connected"
    assert attempt.calls == 3


async def test_a_fault_that_is_not_an_outage_is_raised_at_once() -> None:
    attempt = Flaky(1, ValueError("bad URL"))
    with pytest.raises(ValueError):
        await when_reachable(attempt, "RabbitMQ", within=30)
    assert attempt.calls == 1


async def test_after_the_wait_the_last_failure_is_raised() -> None:
    attempt = Flaky(1_000, AMQPConnectionError("connection refused"))
    with pytest.raises(AMQPConnectionError):
        await when_reachable(attempt, "RabbitMQ", within=0.6)
    assert 1 < attempt.calls < 5
