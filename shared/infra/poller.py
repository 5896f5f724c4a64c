"""The loop every background worker runs: a pass, then the next one at once while there is work,
else after a pause or as soon as someone calls ``wake``; ``stop`` ends it (after one last pass, if
asked for)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from shared.infra.faults import is_unavailable

log = logging.getLogger(__name__)

Pause = float | Callable[[], Awaitable[float]]


class Poller:
    def __init__(
        self,
        name: str,
        one_pass: Callable[[], Awaitable[int]],
        *,
        interval: Pause,
        gather: float = 0.0,
        last_pass: bool = True,
        fallback: float = 5.0,
    ) -> None:
        """``one_pass`` does some work and returns how much. ``interval`` is the pause when it found none
        (seconds, or a coroutine that works it out; ``fallback`` if that fails). ``gather`` is a short
        pause between passes that did find work (lets a batch build up). ``last_pass``: one more pass
        after ``stop``, so what was stored before shutdown is handled now."""
        self.name = name
        self._pass = one_pass
        self._interval = interval
        self._gather = gather
        self._last_pass = last_pass
        self._fallback = fallback
        self._wakeup = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Something was just stored: do a pass now instead of at the end of the pause."""
        self._wakeup.set()

    def stop(self) -> None:
        """End ``run`` after the pass under way (and the last pass)."""
        self._stopping = True
        self._wakeup.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                done = await self._pass()
            except Exception as exc:
                if is_unavailable(exc):  # an outage or a slow database, not a bug: no stack trace
                    log.warning("%s: pass failed, %s; will try again", self.name, type(exc).__name__)
                else:
                    log.exception("%s: pass failed; will try again", self.name)
                done = 0
            if done == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), await self._pause())
                self._wakeup.clear()
            elif self._gather:
                await asyncio.sleep(self._gather)
        if self._last_pass:
            with contextlib.suppress(Exception):
                await self._pass()

    async def _pause(self) -> float:
        if not callable(self._interval):
            return self._interval
        try:
            return await self._interval()
        except Exception:
            log.exception("%s: could not work out the next pause", self.name)
            return self._fallback
