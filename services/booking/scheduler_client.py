"""The scheduler as the booking service asks it for free times: ``GET {SCHEDULER_URL}/api/v1/availability``,
and, for the admin's waitlist page, ``GET {SCHEDULER_URL}/api/v1/waitlist`` (with the admin token).

Anything but a good answer in time (the scheduler down, slow, or answering something unexpected)
is ``SchedulerUnavailable``: the API answers 503 with ``Retry-After``, and the form falls back to the
free-text desired times.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ValidationError

from services.booking.free_times import FreeSlot, FreeTimesQuery
from shared.infra.resources import SETTINGS

log = logging.getLogger(__name__)


class SchedulerUnavailable(Exception):
    """The scheduler could not tell the free times just now."""


class FreeSlots(Protocol):
    async def free_slots(self, query: FreeTimesQuery) -> list[FreeSlot]: ...


class NoScheduler:
    """Where no scheduler is configured (unit tests of other use cases): never any free times."""

    async def free_slots(self, query: FreeTimesQuery) -> list[FreeSlot]:
        raise SchedulerUnavailable("no scheduler")


class _Slot(BaseModel):
    start: AwareDatetime
    end: AwareDatetime


class _Answer(BaseModel):
    slots: list[_Slot]


class _Waitlist(BaseModel):
    entries: list[dict[str, Any]]


class SchedulerClient:
    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, timeout: float, admin_token: str | None = None
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/api/v1/availability"
        self._waitlist_url = base_url.rstrip("/") + "/api/v1/waitlist"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._admin_token = admin_token

    async def waitlist(self, theme: str | None, first: date | None, last: date | None) -> list[dict[str, Any]]:
        """The scheduler's waitlist entries (see its ``GET /api/v1/waitlist``); ``SchedulerUnavailable``
        when it cannot tell."""
        params = {
            key: value
            for key, value in (
                ("theme", theme),
                ("from", first.isoformat() if first else None),
                ("to", last.isoformat() if last else None),
            )
            if value
        }
        headers = {"Authorization": f"Bearer {self._admin_token}"} if self._admin_token else {}
        try:
            async with self._session.get(
                self._waitlist_url, params=params, headers=headers, timeout=self._timeout
            ) as response:
                if response.status != 200:
                    raise SchedulerUnavailable(f"the scheduler answered {response.status}")
                return _Waitlist.model_validate_json(await response.read()).entries
        except (TimeoutError, aiohttp.ClientError, ValidationError) as exc:
            log.warning("waitlist not available from the scheduler: %r", exc)
            raise SchedulerUnavailable(str(exc)) from exc

    async def free_slots(self, query: FreeTimesQuery) -> list[FreeSlot]:
        params = {
            "theme": query.theme,
            "duration_minutes": str(query.duration_minutes),
            "from": query.first.isoformat(),
            "to": query.last.isoformat(),
        }
        try:
            async with self._session.get(self._url, params=params, timeout=self._timeout) as response:
                if response.status != 200:
                    raise SchedulerUnavailable(f"the scheduler answered {response.status}")
                answer = _Answer.model_validate_json(await response.read())
        except (TimeoutError, aiohttp.ClientError, ValidationError) as exc:
            log.warning("free times not available from the scheduler: %r", exc)
            raise SchedulerUnavailable(str(exc)) from exc
        return [FreeSlot(_utc(slot.start), _utc(slot.end)) for slot in answer.slots]


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


SCHEDULER = web.AppKey("scheduler", SchedulerClient)


async def scheduler_client_ctx(app: web.Application) -> AsyncIterator[None]:
    """One HTTP client session to the scheduler (``SCHEDULER_URL``) for the app's life."""
    settings = app[SETTINGS]
    async with aiohttp.ClientSession() as session:
        app[SCHEDULER] = SchedulerClient(
            session, settings.scheduler_url, settings.scheduler_timeout_seconds, settings.admin_token_value
        )
        yield
