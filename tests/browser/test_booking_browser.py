"""The booking form in a real browser: a booking made in a browser, and the form's error summary.

The real app listens on a free loopback port; Debian's Chromium (``/usr/bin/chromium``) is driven
headless with Playwright's Python package. No browser is ever downloaded: without
``/usr/bin/chromium`` these tests are skipped. Screenshots of the form and the receipt land in
``/tmp/form.png`` and ``/tmp/receipt.png`` for a human to look at.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import aio_pika
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractQueue
from aiohttp import web
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.booking.app import create_app
from shared.contracts.events import EXCHANGE
from shared.infra.settings import Settings
from tests.backends import free_port
from tests.dates import closed

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian's Chromium is not installed at {CHROMIUM}"),
]

playwright_api = pytest.importorskip("playwright.async_api", reason="the playwright Python package is not installed")
expect = playwright_api.expect


def weekday_ahead(days: int, hour: int = 10) -> str:
    """A datetime-local value on the first weekday at least ``days`` days from today."""
    day = date.today() + timedelta(days=days)
    while closed(day):
        day += timedelta(days=1)
    return f"{day.isoformat()}T{hour:02d}:00"


@pytest_asyncio.fixture
async def base_url(settings: Settings, clean_queues: None) -> AsyncIterator[str]:
    """The real booking service on a free port, its links pointing at itself."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    runner = web.AppRunner(create_app(settings.model_copy(update={"public_base_url": url})))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield url
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture
async def page(base_url: str) -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(
                base_url=base_url,
                locale="da-DK",
                timezone_id="Europe/Copenhagen",
                viewport={"width": 1000, "height": 900},
            )
            context.set_default_timeout(10_000)
            yield await context.new_page()
        finally:
            await browser.close()


@pytest.fixture
def bookings(db: AsyncDatabase[dict[str, Any]]) -> AsyncCollection[dict[str, Any]]:
    return db.bookings


@pytest_asyncio.fixture
async def requested(amqp_url: str) -> AsyncIterator[AbstractQueue]:
    """A private queue bound to the exchange: every ``booking.requested`` from now on."""
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        await queue.bind(EXCHANGE, routing_key="booking.requested")
        yield queue


@pytest.mark.asyncio
async def test_booking_in_the_browser_gives_a_receipt_and_a_status_page(
    page: Any, bookings: AsyncCollection[dict[str, Any]], requested: AbstractQueue
) -> None:
    await page.goto("/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Book et gratis inspirationsoplæg")
    await page.screenshot(path="/tmp/form.png", full_page=True)

    await page.get_by_label("Selvledelse – hvem har ansvaret, og hvor går grænsen?").check()
    await page.get_by_label("Sammen med arbejdsmiljøgruppen").check()
    await page.get_by_label("Varighed").select_option("105")
    await page.get_by_label("Antal deltagere").fill("18")
    await page.get_by_label("Tidspunkt 1").fill(weekday_ahead(15))
    await page.get_by_label("Arbejdspladsens navn").fill("Bostedet Lindely")
    await page.get_by_label("Adresse", exact=True).fill("Skovvej 12")
    await page.get_by_label("Postnummer").fill("8000")
    await page.get_by_label("By", exact=True).fill("Aarhus C")
    await page.get_by_label("Navn", exact=True).fill("Mette Hansen")
    await page.get_by_label("E-mail").fill("mette@example.dk")
    await page.get_by_label("Telefon").fill("20 30 40 50")
    await page.get_by_role("button", name="Send bookingforespørgsel").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Tak – vi har modtaget jeres forespørgsel")
    reference = (await page.locator("#reference").text_content() or "").strip()
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}", reference), reference
    await expect(page.get_by_role("status")).to_contain_text(reference)
    await page.screenshot(path="/tmp/receipt.png", full_page=True)

    await page.get_by_role("link", name="Se status for bookingen").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Booking {reference}")
    await expect(page.locator("#status")).to_contain_text("Modtaget")

    # The booking is stored, and announced once on the exchange.
    stored = await bookings.find_one({"_id": reference})
    assert stored is not None
    assert stored["details"]["theme"] == "selvledelse"
    assert stored["details"]["setting"] == "work_environment_group"
    deadline = asyncio.get_running_loop().time() + 10
    while (await bookings.find_one({"_id": reference}) or {}).get("outbox"):
        assert asyncio.get_running_loop().time() < deadline, "the booking.requested event was not published"
        await asyncio.sleep(0.05)
    announced = []
    while (message := await requested.get(no_ack=True, fail=False)) is not None:
        if json.loads(message.body)["correlation_id"] == reference:
            announced.append(message)
    assert len(announced) == 1


@pytest.mark.asyncio
async def test_empty_form_shows_a_focusable_error_summary_whose_links_move_focus(page: Any) -> None:
    await page.goto("/")
    await page.get_by_role("button", name="Send bookingforespørgsel").click()

    summary = page.get_by_role("alert")
    await expect(summary).to_be_visible()
    await expect(summary.get_by_role("heading")).to_have_text("Der er fejl i formularen")
    await summary.focus()
    await expect(summary).to_be_focused()

    await summary.get_by_role("link", name=re.compile("^Antal deltagere")).click()
    await expect(page.get_by_label("Antal deltagere")).to_be_focused()

    await summary.get_by_role("link", name=re.compile("^Arbejdspladsens navn")).click()
    await expect(page.get_by_label("Arbejdspladsens navn")).to_be_focused()

    await summary.get_by_role("link", name=re.compile("^Tema")).click()
    await expect(page.locator("#theme-smidighed")).to_be_focused()


@pytest.mark.asyncio
async def test_the_pages_are_styled_under_their_content_security_policy(page: Any) -> None:
    """The look comes from the service's own stylesheet: the pages' policy allows no inline style."""
    await page.goto("/")

    await expect(page.locator("header")).to_have_css("background-color", "rgb(138, 21, 56)")
    skip = await page.get_by_role("link", name="Spring til indhold").bounding_box()
    assert skip is not None and skip["x"] < 0, "the skip link stays off-screen until it has focus"
