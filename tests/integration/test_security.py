"""Limits an anonymous caller meets, the headers every page carries, and the safe defaults.

Rate limits are counted in MongoDB, so several replicas count together; wrong admin credentials are
throttled per client address; HTML pages carry a strict Content-Security-Policy and are not cached;
``/metrics`` is not public; a service refuses to start with a weak or placeholder admin token.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from pymongo import AsyncMongoClient

from services.booking.app import create_app as create_booking_app
from services.notifier.app import create_app as create_notifier_app
from shared.infra.mongo import ensure_indexes
from shared.infra.ratelimit import COLLECTION, INDEXES, RateLimiter
from shared.infra.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_booking_api import valid_body
from tests.integration.test_booking_form import Page, filled_form
from tests.processes import ROOT, ServiceProcess, service_env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
WRONG = {"Authorization": "Bearer wrong-token-wrong-token-wrong-token-wrong"}


@pytest_asyncio.fixture
async def two_replicas(settings: Settings) -> AsyncIterator[tuple[RateLimiter, RateLimiter]]:
    """Two limiters with clients of their own on one database, as two booking replicas have."""
    clients: list[AsyncMongoClient[dict[str, Any]]] = [
        AsyncMongoClient(settings.mongodb_url, tz_aware=True) for _ in range(2)
    ]
    try:
        await ensure_indexes(clients[0][settings.mongodb_db], INDEXES)
        limits = {"per_address": "3/hour", "unlimited": "off"}
        first, second = (RateLimiter(client[settings.mongodb_db][COLLECTION], limits) for client in clients)
        yield first, second
    finally:
        await clients[0].drop_database(settings.mongodb_db)
        for client in clients:
            await client.close()


async def test_replicas_count_one_client_together(two_replicas: tuple[RateLimiter, RateLimiter]) -> None:
    first, second = two_replicas
    verdicts = [await replica.hit("per_address", "203.0.113.7") for replica in (first, second, first, second)]

    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert 3500 < verdicts[-1].retry_after <= 3600, "the client is told to come back when the hour is over"
    assert (await second.hit("per_address", "198.51.100.1")).allowed, "another client has its own count"
    assert all([(await first.hit("unlimited", "203.0.113.7")).allowed for _ in range(10)])


async def test_wrong_admin_credentials_are_throttled_per_address(settings: Settings) -> None:
    own = settings.model_copy(update={"rate_limit_admin_failures": "3/15 minutes", "trusted_proxies": ("127.0.0.0/8",)})
    attacker, admin = {"X-Forwarded-For": "203.0.113.66"}, {"X-Forwarded-For": "198.51.100.10"}
    async with TestClient(TestServer(create_notifier_app(own))) as client:
        statuses = [(await client.get("/api/v1/deliveries", headers={**WRONG, **attacker})).status for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        blocked = await client.get("/api/v1/deliveries", headers={**ADMIN, **attacker})
        assert blocked.status == 429, "past the limit even the right token is not tried from that address"
        assert int(blocked.headers["Retry-After"]) > 0
        [error] = (await blocked.json())["errors"]
        assert "For mange forsøg" in error["message"]
        assert (await client.get("/api/v1/deliveries", headers={**ADMIN, **admin})).status == 200


async def test_pages_carry_the_security_headers_and_metrics_are_not_public(settings: Settings) -> None:
    async with TestClient(TestServer(create_booking_app(settings))) as client:
        page = await client.get("/")
        api = await client.get("/api/v1/themes")
        metrics, with_token = await client.get("/metrics"), await client.get("/metrics", headers=ADMIN)

        assert page.status == 200
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
        assert page.headers["Cache-Control"] == "no-store"
        for response in (page, api):
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "Strict-Transport-Security" not in page.headers, "HSTS only when served over HTTPS"
        assert metrics.status == 401
        assert with_token.status == 200 and "inspiration_http_requests_total" in await with_token.text()


async def test_with_an_ops_port_metrics_are_only_there(settings: Settings, tmp_path: Path) -> None:
    ops_port = ServiceProcess("notifier", settings, tmp_path).port  # a free port
    service = ServiceProcess("notifier", settings, tmp_path, OPS_PORT=str(ops_port)).start()
    try:
        await service.wait_ready()
        async with aiohttp.ClientSession() as http:
            public = f"{service.url}"
            ops = f"http://127.0.0.1:{ops_port}"
            assert (await http.get(f"{public}/metrics", headers=ADMIN)).status == 404
            assert (await http.get(f"{ops}/metrics")).status == 200
            assert (await http.get(f"{ops}/api/v1/deliveries", headers=ADMIN)).status == 404
            assert (await http.get(f"{public}/api/v1/deliveries", headers=ADMIN)).status == 200
            assert (await http.get(f"{ops}/readyz")).status == 200
    finally:
        service.stop()


@pytest.mark.parametrize(
    "token", ["short-token", "CHANGE-ME-use-openssl-rand-hex-32-xxxxxxxxxxxx"], ids=["short", "placeholder"]
)
async def test_a_service_refuses_to_start_with_a_weak_admin_token(settings: Settings, token: str) -> None:
    env = service_env(settings, ADMIN_TOKEN=token, BOOKING_PORT="0")
    process = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.booking"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert process.returncode == 2
    assert "ADMIN_TOKEN" in process.stderr and "at least 32 characters" in process.stderr


# --- the booking's limits ----------------------------------------------------------------------------------


def _limited(settings: Settings, **limits: str) -> Settings:
    """Settings with the limits under test on (the other tests turn them off)."""
    return settings.model_copy(update={"trusted_proxies": ("127.0.0.0/8",), **limits})


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_a_burst_from_one_address_gets_429_long_before_it_books_out_a_day(settings: Settings) -> None:
    own = _limited(settings, rate_limit_per_address="5/hour")
    async with TestClient(TestServer(create_booking_app(own))) as client:
        statuses = []
        for n in range(8):
            body = valid_body(contact={"name": "Mette", "email": f"mette{n}@example.dk", "phone": "20304050"})
            statuses.append((await client.post("/api/v1/bookings", json=body, headers=_from("203.0.113.9"))).status)
        refused = await client.post("/api/v1/bookings", json=valid_body(), headers=_from("203.0.113.9"))
        [error] = (await refused.json())["errors"]
        other_address = await client.post("/api/v1/bookings", json=valid_body(), headers=_from("198.51.100.4"))
        admin = await client.post("/api/v1/bookings", json=valid_body(), headers={**ADMIN, **_from("203.0.113.9")})

    assert statuses == [201] * 5 + [429] * 3
    assert refused.status == 429 and 0 < int(refused.headers["Retry-After"]) <= 3600
    assert "Prøv igen om" in error["message"]
    assert other_address.status == 201, "another workplace is not held up"
    assert admin.status == 201, "an admin is not limited"


async def test_one_contact_e_mail_may_book_a_few_talks_a_day(settings: Settings) -> None:
    own = _limited(settings, rate_limit_per_email="2/day")
    async with TestClient(TestServer(create_booking_app(own))) as client:
        statuses = [
            (await client.post("/api/v1/bookings?lang=en", json=valid_body(), headers=_from(f"203.0.113.{n}"))).status
            for n in range(3)
        ]
        refused = await client.post("/api/v1/bookings?lang=en", json=valid_body(), headers=_from("203.0.113.50"))
        [error] = (await refused.json())["errors"]
    assert statuses == [201, 201, 429]
    assert error["message"].startswith("Too many attempts")


async def test_the_form_says_when_to_try_again_and_keeps_what_was_typed(settings: Settings) -> None:
    own = _limited(settings, rate_limit_per_address="1/hour")
    async with TestClient(TestServer(create_booking_app(own))) as client:
        first = await client.post("/", data=filled_form(), headers=_from("203.0.113.9"))
        form = filled_form(workplace_name="Bostedet Solsikken")
        second = await client.post("/", data=form, headers=_from("203.0.113.9"))
        page = Page(await second.text())
    assert first.status == 200
    assert second.status == 429 and second.headers["Retry-After"]
    assert "Prøv igen om" in page.by_id("notice").text
    assert page.value("workplace_name") == "Bostedet Solsikken"


async def test_moves_and_cancellations_of_one_booking_are_limited(settings: Settings) -> None:
    own = _limited(settings, rate_limit_changes_per_booking="2/day")
    async with TestClient(TestServer(create_booking_app(own))) as client:
        created = await (await client.post("/api/v1/bookings", json=valid_body())).json()
        token = created["status_url"].split("token=")[1]
        move = {"preferred_starts": valid_body()["preferred_starts"][:1]}
        path = f"/api/v1/bookings/{created['id']}/reschedule?token={token}"
        statuses = [(await client.post(path, json=move)).status for _ in range(3)]
    assert statuses == [202, 202, 429]


async def test_a_robot_filling_the_hidden_field_books_nothing(settings: Settings, db: Any) -> None:
    async with TestClient(TestServer(create_booking_app(settings))) as client:
        response = await client.post("/", data=filled_form(website="https://spam.example"))
        page = Page(await response.text())
    assert response.status == 422
    assert "kunne ikke sendes" in page.by_id("notice").text
    assert await db.bookings.count_documents({}) == 0


async def test_sms_goes_only_to_numbers_of_the_configured_countries(settings: Settings) -> None:
    abroad = valid_body(contact={"name": "Mette", "email": "mette@example.dk", "phone": "+46 70 123 45 67"})
    async with TestClient(TestServer(create_booking_app(settings))) as client:
        refused = await client.post("/api/v1/bookings", json=abroad)
        [error] = (await refused.json())["errors"]
    swedish_too = settings.model_copy(update={"sms_countries": ("DK", "SE")})
    async with TestClient(TestServer(create_booking_app(swedish_too))) as client:
        accepted = await client.post("/api/v1/bookings", json=abroad)
    assert refused.status == 422 and error["field"] == "contact.phone" and "+45 (DK)" in error["message"]
    assert accepted.status == 201
