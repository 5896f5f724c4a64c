"""Free times on the booking form in headless Chromium, with and without JavaScript: the week's free
times after theme and duration, paging through the weeks, one picked and placed at exactly that time
(the receipt says so), and a time another workplace took meanwhile (the receipt offers fresh ones).

The booking service and the scheduler run in-process on real RabbitMQ and a MongoDB-protocol server;
Debian's Chromium is driven by Playwright (skipped without ``/usr/bin/chromium``). Screenshots land
in ``/tmp/free-times-*.png`` for a human to look at.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

from services.booking.app import create_app as create_booking_app
from services.scheduler.app import create_app as create_scheduler_app
from shared.infra.settings import Settings
from shared.text.localtime import LOCAL_TZ, format_local, parse_start
from tests.apps import running
from tests.backends import free_port
from tests.browser.test_booking_browser import CHROMIUM, CHROMIUM_ARGS, expect, playwright_api
from tests.conftest import ADMIN_TOKEN
from tests.dates import closed

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian's Chromium is not installed at {CHROMIUM}"),
]


THEME = "Selvledelse – hvem har ansvaret, og hvor går grænsen?"


@pytest_asyncio.fixture
async def system(settings: Settings, clean_queues: None) -> AsyncIterator[tuple[str, TestClient[Any, Any]]]:
    """The booking service (its URL) and the scheduler (a client), with one consultant giving at most
    one talk a day."""
    scheduler_port, booking_port = free_port(), free_port()
    url = f"http://127.0.0.1:{booking_port}"
    booking_settings = settings.model_copy(
        update={"public_base_url": url, "scheduler_url": f"http://127.0.0.1:{scheduler_port}"}
    )
    async with (
        running(create_scheduler_app(settings), scheduler_port) as scheduler,
        running(create_booking_app(booking_settings), booking_port),
    ):
        response = await scheduler.post(
            "/api/v1/consultants",
            json={"id": "anne", "name": "Anne Kragh", "email": "anne@socialpaedagogerne.example",
                  "max_talks_per_day": 1},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert response.status == 201, await response.text()
        yield url, scheduler


@contextlib.asynccontextmanager
async def browser_page(base_url: str, *, javascript: bool) -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(
                base_url=base_url, locale="da-DK", timezone_id="Europe/Copenhagen", java_script_enabled=javascript,
                viewport={"width": 1000, "height": 900},
            )
            context.set_default_timeout(10_000)
            yield await context.new_page()
        finally:
            await browser.close()


def open_monday() -> str:
    """A Monday beyond the notice whose week has no holiday or closing day."""
    monday = datetime.now(LOCAL_TZ).date() + timedelta(days=21)
    monday -= timedelta(days=monday.weekday())
    while any(closed(monday + timedelta(days=n)) for n in range(5)):
        monday += timedelta(days=7)
    return monday.isoformat()


async def fill_the_rest(page: Any) -> None:
    await page.get_by_label("Antal deltagere").fill("18")
    await page.get_by_label("Arbejdspladsens navn").fill("Bostedet Lindely")
    await page.get_by_label("Adresse", exact=True).fill("Skovvej 12")
    await page.get_by_label("Postnummer").fill("8000")
    await page.get_by_label("By", exact=True).fill("Aarhus C")
    await page.get_by_label("Navn", exact=True).fill("Mette Hansen")
    await page.get_by_label("E-mail").fill("mette@example.dk")
    await page.get_by_label("Telefon").fill("20 30 40 50")


def times_of(page: Any) -> Any:
    return page.locator("#free-times-days input[name=free_start]")


@pytest.mark.asyncio
async def test_with_javascript_the_free_times_update_in_place_and_a_pick_is_placed_at_once(
    system: tuple[str, TestClient[Any, Any]],
) -> None:
    base_url, _ = system
    async with browser_page(base_url, javascript=True) as page:
        await page.goto("/")
        await expect(page.locator("#free-times-status")).to_have_text(re.compile("Vælg tema og varighed"))
        await expect(page.get_by_role("button", name="Vis ledige tidspunkter")).to_be_hidden()
        url_before = page.url

        await page.get_by_label(THEME).check()
        await expect(times_of(page).first).to_be_visible()
        await expect(page.locator("#free-times-status")).to_have_text(re.compile(r"\d+ ledige tidspunkter"))
        assert page.url == url_before, "the list is updated in place, the page is not reloaded"

        # page to a week without holidays, keyboard only: focus the button and press Enter
        target = open_monday()
        for _ in range(10):
            if (await page.locator("input[name=shown_week]").input_value()) >= target:
                break
            await page.get_by_role("button", name="Næste uge →").focus()
            await page.keyboard.press("Enter")
            await expect(page.locator("#free-times-status")).not_to_have_text("Henter ledige tidspunkter …")
        assert page.url == url_before
        await expect(page.get_by_role("heading", name=re.compile(r"^Uge \d+: "))).to_be_visible()
        await expect(times_of(page)).to_have_count(5 * 9)  # a two-hour talk: 09.00 to 13.00 each weekday

        # the shorter talk: the list follows the duration (09.00 to 13.30)
        await page.get_by_label("Varighed").select_option("90")
        await expect(times_of(page)).to_have_count(5 * 10)

        pick = times_of(page).nth(2)
        value = await pick.get_attribute("value")
        await page.get_by_role("group", name=re.compile("^mandag den ")).get_by_label("10.00–11.30").check()
        assert await pick.is_checked()
        await fill_the_rest(page)
        await page.screenshot(path="/tmp/free-times-form.png", full_page=True)
        await page.get_by_role("button", name="Send bookingforespørgsel").last.click()

        await expect(page.get_by_role("heading", level=1)).to_have_text("Tak – oplægget er planlagt")
        await expect(page.locator("#placed")).to_contain_text("kl. 10.00–11.30 med Anne Kragh")
        assert value and value.endswith("T10:00")
        await page.screenshot(path="/tmp/free-times-receipt.png", full_page=True)


@pytest.mark.asyncio
async def test_without_javascript_a_server_rendered_step_and_a_time_taken_meanwhile_gives_fresh_ones(
    system: tuple[str, TestClient[Any, Any]],
) -> None:
    base_url, _ = system
    monday = open_monday()
    async with browser_page(base_url, javascript=False) as page:
        await page.goto("/")
        await page.get_by_label(THEME).check()
        await page.get_by_role("button", name="Vis ledige tidspunkter").click()  # posts the form
        await expect(page.locator("#free-times-status")).to_have_text(re.compile(r"\d+ ledige tidspunkter"))
        await expect(page.get_by_label(THEME)).to_be_checked()  # what was chosen is kept

        # a time ticked in one week stays ticked while paging to another
        first_pick = await times_of(page).first.get_attribute("value")
        await times_of(page).first.check()
        await page.get_by_role("button", name="Næste uge →").click()
        chosen = page.get_by_role("group", name="Valgt i andre uger")
        await expect(chosen.locator("input[name=free_start]")).to_be_checked()
        assert await chosen.locator("input[name=free_start]").get_attribute("value") == first_pick
        await chosen.locator("input[name=free_start]").uncheck()

        # the same step as a plain link: theme, duration and week in the query
        await page.goto(f"/?theme=selvledelse&duration_minutes=120&week={monday}")
        await expect(times_of(page)).to_have_count(5 * 9)
        wanted = await times_of(page).first.get_attribute("value")
        await times_of(page).first.check()
        await fill_the_rest(page)

        # another workplace takes that time first
        async with browser_page(base_url, javascript=False) as other:
            await other.goto(f"/?theme=selvledelse&duration_minutes=120&week={monday}")
            await other.locator(f"input[value='{wanted}']").check()
            await fill_the_rest(other)
            await other.get_by_label("Arbejdspladsens navn").fill("Solsikken")
            await other.get_by_role("button", name="Send bookingforespørgsel").last.click()
            await expect(other.get_by_role("heading", level=1)).to_have_text("Tak – oplægget er planlagt")

        await page.get_by_role("button", name="Send bookingforespørgsel").last.click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Tidspunktet blev taget lige før jer")
        offers = page.locator("#alternatives li")
        await expect(offers.first).to_be_visible()
        assert wanted
        taken_day = format_local(parse_start(wanted)).split(" kl. ")[0]
        assert taken_day not in " ".join(await offers.all_text_contents())  # that day is full
        await page.screenshot(path="/tmp/free-times-taken.png", full_page=True)

        # picking one of them books it
        await offers.first.get_by_role("button", name="Vælg dette tidspunkt").click()
        await expect(page.locator("#status")).to_have_attribute("data-status", re.compile("scheduled|needs_alt"))


@pytest.mark.asyncio
async def test_the_form_in_english_and_without_a_scheduler_falls_back_to_the_free_text_times(
    settings: Settings, clean_queues: None
) -> None:
    port = free_port()
    nowhere = settings.model_copy(update={"scheduler_url": f"http://127.0.0.1:{free_port()}"})
    async with running(create_booking_app(nowhere), port):
        base_url = f"http://127.0.0.1:{port}"
        async with browser_page(base_url, javascript=True) as page:
            await page.goto("/?lang=en")
            await page.get_by_label("Self-management", exact=False).first.check()
            await expect(page.locator("#free-times-status")).to_have_text(
                re.compile("The free times cannot be shown right now")
            )
            await expect(page.get_by_label("Time 1")).to_be_editable()
        async with browser_page(base_url, javascript=False) as page:
            await page.goto("/?theme=selvledelse&duration_minutes=120")
            await expect(page.locator("#free-times-status")).to_have_text(
                re.compile("De ledige tidspunkter kan ikke vises lige nu")
            )
