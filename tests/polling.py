"""Waiting in tests: poll a condition with a deadline instead of sleeping a guessed time."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any


async def eventually(probe: Callable[[], Any], what: str = "", timeout: float = 15.0) -> Any:
    """Poll ``probe`` (plain or async) until it returns something truthy, and return that.

    Fails the test with ``what`` if ``timeout`` seconds pass first.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = probe()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or probe}")
        await asyncio.sleep(0.05)
