"""What the scheduler and the notifier hold about one e-mail address, for the booking service's export:
``GET {SCHEDULER_URL,NOTIFIER_URL}/api/v1/personal-data?email=…`` with the admin token.

An export must be whole: if either service cannot answer, ``ServicesUnavailable`` (the API answers 503
with ``Retry-After``), never a part presented as everything.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from shared.infra.resources import SETTINGS

log = logging.getLogger(__name__)


class ServicesUnavailable(Exception):
    """A service holding personal data could not answer just now."""


class PersonalDataSources:
    def __init__(self, session: aiohttp.ClientSession, services: dict[str, str], token: str, timeout: float) -> None:
        self._session = session
        self._services = {name: url.rstrip("/") + "/api/v1/personal-data" for name, url in services.items()}
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def about(self, email: str) -> dict[str, Any]:
        """Each service's answer, by service name."""
        found: dict[str, Any] = {}
        for name, url in self._services.items():
            try:
                async with self._session.get(
                    url, params={"email": email}, headers=self._headers, timeout=self._timeout
                ) as response:
                    if response.status != 200:
                        raise ServicesUnavailable(f"{name} answered {response.status}")
                    found[name] = await response.json()
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                log.warning("personal data export: %s did not answer: %r", name, exc)
                raise ServicesUnavailable(name) from exc
        return found


PERSONAL_DATA = web.AppKey("personal_data", PersonalDataSources)


async def personal_data_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    services = {"scheduler": settings.scheduler_url, "notifier": settings.notifier_url}
    async with aiohttp.ClientSession() as session:
        app[PERSONAL_DATA] = PersonalDataSources(
            session, services, settings.admin_token_value or "", settings.scheduler_timeout_seconds * 3
        )
        yield
