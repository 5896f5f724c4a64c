"""Signing in to the back office over real HTTP: named accounts (argon2) and the token only as a
bootstrap, the session cookie's flags, CSRF on every form, throttled failures, a disabled account
signed out, the pages' security headers, and the charts served as SVG that runs nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet
from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase

from services.booking.app import create_app
from services.booking.backoffice.accounts import COLLECTION, MongoAccounts
from shared.infra.settings import Settings
from tests.apps import running
from tests.backends import free_port
from tests.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery staple"


@pytest_asyncio.fixture
async def client(settings: Settings, clean_queues: None) -> AsyncIterator[TestClient[Any, Any]]:
    nobody = f"http://127.0.0.1:{free_port()}"
    app = create_app(settings.model_copy(update={
        "session_key": SecretStr(Fernet.generate_key().decode()), "scheduler_url": nobody, "notifier_url": nobody,
        "rate_limit_sign_in_failures": "3/15 minutes",
    }))
    async with running(app) as client:
        yield client


async def csrf(client: TestClient[Any, Any], path: str = "/admin/sign-in") -> str:
    html = await (await client.get(path)).text()
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def sign_in(client: TestClient[Any, Any], name: str, password: str) -> Any:
    token = await csrf(client)
    return await client.post("/admin/sign-in", data={"csrf_token": token, "name": name, "password": password},
                             allow_redirects=False)


@pytest.mark.asyncio
async def test_an_account_signs_in_and_the_token_stops_working_once_one_exists(
    client: TestClient[Any, Any], db: AsyncDatabase[dict[str, Any]]
) -> None:
    assert (await client.get("/admin/bookings", allow_redirects=False)).status == 303
    signed = await sign_in(client, "", ADMIN_TOKEN)  # no account yet: the bootstrap
    assert signed.status == 303
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/admin" in cookie
    page = await client.get("/admin/bookings")
    assert page.status == 200
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"

    await MongoAccounts(db[COLLECTION]).add("mette", PASSWORD)
    stored = await db[COLLECTION].find_one({"_id": "mette"})
    assert stored is not None and stored["hash"].startswith("$argon2id$") and PASSWORD not in str(stored)
    # The token's session ends, and the token no longer signs in.
    assert (await client.get("/admin/bookings", allow_redirects=False)).status == 303
    assert (await sign_in(client, "", ADMIN_TOKEN)).status == 401
    assert (await sign_in(client, "mette", PASSWORD)).status == 303
    assert "mette" in await (await client.get("/admin/")).text()

    await MongoAccounts(db[COLLECTION]).set_active("mette", False)
    assert (await client.get("/admin/", allow_redirects=False)).status == 303


@pytest.mark.asyncio
async def test_a_form_without_the_sessions_csrf_token_is_refused(client: TestClient[Any, Any]) -> None:
    assert (await sign_in(client, "", ADMIN_TOKEN)).status == 303
    refused = await client.post("/admin/bookings/ABCD-EFGH/cancel", data={"reason": "x"}, allow_redirects=False)
    assert refused.status == 403
    forged = await client.post("/admin/sign-out", data={"csrf_token": "guess"}, allow_redirects=False)
    assert forged.status == 403
    assert (await client.get("/admin/", allow_redirects=False)).status == 200  # still signed in


@pytest.mark.asyncio
async def test_failed_sign_ins_are_throttled_per_address(
    client: TestClient[Any, Any], db: AsyncDatabase[dict[str, Any]]
) -> None:
    await MongoAccounts(db[COLLECTION]).add("mette", PASSWORD)
    for _ in range(3):
        assert (await sign_in(client, "mette", "wrong password!")).status == 401
    throttled = await sign_in(client, "mette", PASSWORD)  # even the right one is not checked now
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) > 0


@pytest.mark.asyncio
async def test_charts_are_svg_that_runs_nothing(client: TestClient[Any, Any]) -> None:
    assert (await sign_in(client, "", ADMIN_TOKEN)).status == 303
    chart = await client.get("/admin/statistics/themes.svg")
    assert chart.status == 200 and chart.content_type == "image/svg+xml"
    assert chart.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert b"<script" not in await chart.read()
    csv = await client.get("/admin/bookings.csv")
    assert csv.status == 200 and csv.headers["Content-Disposition"].startswith("attachment")


@pytest.mark.asyncio
async def test_without_a_session_key_the_back_office_says_it_is_off(settings: Settings, clean_queues: None) -> None:
    async with running(create_app(settings)) as client:
        response = await client.get("/admin/")
        assert response.status == 503
        assert "SESSION_KEY" in await response.text()
