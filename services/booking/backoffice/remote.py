"""The scheduler and the notifier as the back office asks them, over HTTP with the admin token
(``SCHEDULER_URL``, ``NOTIFIER_URL``): consultants, the verdict on a chosen time, new secrets for a
consultant's links, and the deliveries (messages sent) with their retry.

Anything but an answer in time is ``RemoteUnavailable`` (the page says the service cannot answer just
now and keeps the rest); a refusal of the input is ``RemoteRefused`` with the service's field errors.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web

from shared.infra.resources import SETTINGS

log = logging.getLogger(__name__)
Json = dict[str, Any]


class RemoteUnavailable(Exception):
    """The service did not answer in time, or answered something unexpected."""


class RemoteRefused(Exception):
    """The service refused the input: ``errors`` as it gave them (``[{"field", "message"}]``)."""

    def __init__(self, status: int, errors: list[dict[str, str]]) -> None:
        super().__init__(status, errors)
        self.status = status
        self.errors = errors


class _Service:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str, timeout: float, name: str) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._name = name

    async def call(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, body: Any = None,
        missing_ok: bool = False,
    ) -> Json | None:
        """The JSON answer; None for 404 when ``missing_ok`` (and for 204)."""
        try:
            async with self._session.request(
                method, self._base + path, params=params, json=body, headers=self._headers, timeout=self._timeout
            ) as response:
                if response.status == 204 or (response.status == 404 and missing_ok):
                    return None
                if response.status in (404, 409, 422):
                    answer = await response.json()
                    raise RemoteRefused(response.status, list(answer.get("errors", [])))
                if response.status >= 300:
                    raise RemoteUnavailable(f"{self._name} answered {response.status}")
                answer = await response.json()
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            log.warning("back office: %s did not answer %s %s: %r", self._name, method, path, exc)
            raise RemoteUnavailable(self._name) from exc
        if not isinstance(answer, dict):
            raise RemoteUnavailable(f"{self._name} answered something unexpected")
        return answer


class SchedulerAdmin:
    def __init__(self, service: _Service) -> None:
        self._s = service

    async def consultants(self) -> list[Json]:
        answer = await self._s.call("GET", "/api/v1/consultants")
        return list((answer or {}).get("consultants", []))

    async def consultant(self, consultant_id: str) -> Json | None:
        return await self._s.call("GET", f"/api/v1/consultants/{consultant_id}", missing_ok=True)

    async def create(self, body: Json) -> Json:
        return await self._s.call("POST", "/api/v1/consultants", body=body) or {}

    async def replace(self, consultant_id: str, body: Json) -> Json:
        return await self._s.call("PUT", f"/api/v1/consultants/{consultant_id}", body=body) or {}

    async def delete(self, consultant_id: str) -> None:
        await self._s.call("DELETE", f"/api/v1/consultants/{consultant_id}")

    async def rotate(self, consultant_id: str, which: str) -> Json:
        return await self._s.call("POST", f"/api/v1/consultants/{consultant_id}/{which}-token") or {}

    async def check(
        self, consultant_id: str, start: datetime, duration_minutes: int, booking_id: str, theme: str
    ) -> Json | None:
        """The verdict on placing the booking then with the consultant; None: no such active consultant."""
        params = {"start": start.isoformat(), "duration_minutes": str(duration_minutes), "booking_id": booking_id,
                  "theme": theme}
        return await self._s.call("GET", f"/api/v1/consultants/{consultant_id}/check", params=params,
                                  missing_ok=True)

    async def page_owner(self, consultant_id: str, token: str) -> Json | None:
        return await self._s.call("GET", f"/api/v1/consultants/{consultant_id}/page", params={"token": token},
                                  missing_ok=True)


class NotifierAdmin:
    def __init__(self, service: _Service) -> None:
        self._s = service

    async def deliveries(
        self, *, status: str | None = None, booking_id: str | None = None, limit: int = 200
    ) -> list[Json]:
        params = {"limit": str(limit)}
        if status:
            params["status"] = status
        if booking_id:
            params["booking_id"] = booking_id
        answer = await self._s.call("GET", "/api/v1/deliveries", params=params)
        return list((answer or {}).get("deliveries", []))

    async def retry(self, delivery_id: str) -> bool:
        try:
            await self._s.call("POST", f"/api/v1/deliveries/{delivery_id}/retry")
        except RemoteRefused:
            return False  # not failed (any more): sent again meanwhile
        return True


REMOTE_SCHEDULER = web.AppKey("backoffice_scheduler", SchedulerAdmin)
REMOTE_NOTIFIER = web.AppKey("backoffice_notifier", NotifierAdmin)


async def remote_ctx(app: web.Application) -> AsyncIterator[None]:
    """One HTTP session for the back office's calls to the scheduler and the notifier."""
    settings = app[SETTINGS]
    token = settings.admin_token_value or ""
    timeout = settings.scheduler_timeout_seconds * 2
    async with aiohttp.ClientSession() as session:
        app[REMOTE_SCHEDULER] = SchedulerAdmin(_Service(session, settings.scheduler_url, token, timeout, "scheduler"))
        app[REMOTE_NOTIFIER] = NotifierAdmin(_Service(session, settings.notifier_url, token, timeout, "notifier"))
        yield
