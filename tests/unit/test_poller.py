"""A background worker's loop survives a failing pass, and says which kind of failure it was."""

from __future__ import annotations

import asyncio
import logging

import pytest
from pymongo.errors import NetworkTimeout

from shared.infra.poller import Poller

pytestmark = pytest.mark.asyncio


async def run_once_failing(error: Exception, caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    calls = 0

    async def one_pass() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise error
        poller.stop()
        return 0

    poller = Poller("outbox relay bookings", one_pass, interval=0.01, last_pass=False)
    with caplog.at_level(logging.WARNING, logger="shared.infra.poller"):
        await asyncio.wait_for(poller.run(), 5)
    assert calls == 2, "the loop goes on after a failed pass"
    [record] = caplog.records
    return record


async def test_a_database_that_does_not_answer_is_a_warning_without_a_stack_trace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = await run_once_failing(NetworkTimeout("127.0.0.1:27017: timed out"), caplog)
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert record.getMessage() == "outbox relay bookings: pass failed, NetworkTimeout; will try again"


async def test_a_bug_is_an_error_with_its_stack_trace(caplog: pytest.LogCaptureFixture) -> None:
    record = await run_once_failing(KeyError("outbox"), caplog)
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
