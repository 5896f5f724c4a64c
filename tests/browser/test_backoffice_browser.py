"""The back office in headless Chromium, as a coordinator uses it: sign in with the admin token (no
account yet), find a request no rule could place under "needs attention", check a time with a
consultant (the scheduler's verdict) and place it there; add an absence to a consultant and see it in
the calendar; read the statistics; open a consultant's private page; sign out. Every page is checked
with axe-core (from the npm registry, ``tests/browser/node_modules``): no serious or critical
violation, in Danish and in English, on a desktop and on a phone.

The booking service and the scheduler run in-process on real RabbitMQ and a MongoDB-protocol server;
the notifier is not running (the pages say its part cannot be shown). Screenshots land in
``/tmp/backoffice-*.png``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet
from pydantic import SecretStr

from services.booking.app import create_app as create_booking_app
from services.scheduler.app import create_app as create_scheduler_app
from shared.infra.settings import Settings
from tests.apps import running
from tests.backends import free_port
from tests.browser.test_booking_browser import CHROMIUM, CHROMIUM_ARGS, expect, playwright_api
from tests.conftest import ADMIN_TOKEN
from tests.dates import closed

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian's Chromium is not installed at {CHROMIUM}"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed: npm ci --prefix tests/browser"),
]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def bookable(days_ahead: int) -> date:
    day = date.today() + timedelta(days=days_ahead)
    while closed(day):
        day += timedelta(days=1)
    return day


@pytest_asyncio.fixture
async def system(settings: Settings, clean_queues: None) -> AsyncIterator[tuple[str, TestClient[Any, Any]]]:
    """The booking service (its URL) and the scheduler (a client), with one consultant."""
    scheduler_port, booking_port = free_port(), free_port()
    url = f"http://127.0.0.1:{booking_port}"
    booking_settings = settings.model_copy(
        update={
            "public_base_url": url,
            "scheduler_url": f"http://127.0.0.1:{scheduler_port}",
            "notifier_url": f"http://127.0.0.1:{free_port()}",  # nobody there
            "session_key": SecretStr(Fernet.generate_key().decode()),
        }
    )
    async with (
        running(create_scheduler_app(settings), scheduler_port) as scheduler,
        running(create_booking_app(booking_settings), booking_port),
    ):
        response = await scheduler.post(
            "/api/v1/consultants",
            json={"id": "anne", "name": "Anne Kragh", "email": "anne@socialpaedagogerne.example"},
            headers=ADMIN,
        )
        assert response.status == 201, await response.text()
        yield url, scheduler


@contextlib.asynccontextmanager
async def browser(base_url: str, *, phone: bool = False) -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await chromium.new_context(
                base_url=base_url,
                locale="da-DK",
                timezone_id="Europe/Copenhagen",
                viewport={"width": 390, "height": 844} if phone else {"width": 1280, "height": 900},
                bypass_csp=True,  # only so that axe-core can be injected; the pages carry their own CSP
            )
            context.set_default_timeout(10_000)
            yield await context.new_page()
        finally:
            await chromium.close()


async def accessible(page: Any, name: str) -> None:
    """axe-core finds no serious or critical violation on the page (WCAG 2.1 A and AA, best practices)."""
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']})"
    )
    bad = [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    RESULTS[name] = {"violations": len(result["violations"]), "serious_or_critical": len(bad),
                     "passes": len(result["passes"])}
    assert bad == [], f"{name}: {json.dumps(bad, indent=1)}"


RESULTS: dict[str, dict[str, int]] = {}


async def sign_in(page: Any) -> None:
    await page.goto("/admin/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Log ind")
    await accessible(page, "sign-in")
    await page.get_by_label("Adgangskode", exact=True).fill("not the token at all")
    await page.get_by_role("button", name="Log ind").click()
    await expect(page.get_by_role("alert")).to_contain_text("Forkert navn eller adgangskode")
    await page.get_by_label("Adgangskode", exact=True).fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Log ind").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Kræver handling")


async def post_booking(base_url: str, start: str) -> str:
    import aiohttp

    body = {
        "workplace": {"name": "Bostedet Lindely", "address": "Skovvej 12", "postcode": "8000", "city": "Aarhus C"},
        "contact": {"name": "Mette Hansen", "email": "mette@example.dk", "phone": "+45 20 30 40 50"},
        "theme": "selvledelse", "setting": "staff_meeting", "participants": 18, "duration_minutes": 120,
        "preferred_starts": [start],
    }
    async with aiohttp.ClientSession() as session, session.post(f"{base_url}/api/v1/bookings", json=body) as r:
        assert r.status == 201, await r.text()
        return str((await r.json())["id"])


@pytest.mark.asyncio
async def test_a_coordinator_places_by_hand_adds_an_absence_reads_statistics_and_signs_out(
    system: tuple[str, TestClient[Any, Any]],
) -> None:
    base_url, scheduler = system
    wanted, later = bookable(20), bookable(48)
    while later.weekday() >= 5 or closed(later):
        later += timedelta(days=1)
    # Anne is away around the desired day: no rule can place the request, and no alternative is near.
    anne = await (await scheduler.get("/api/v1/consultants/anne", headers=ADMIN)).json()
    away = {"start": (wanted - timedelta(days=20)).isoformat(), "end": (wanted + timedelta(days=20)).isoformat()}
    body = {k: v for k, v in anne.items() if k not in ("calendar_url", "page_token")} | {"absences": [away]}
    assert (await scheduler.put("/api/v1/consultants/anne", json=body, headers=ADMIN)).status == 200
    reference = await post_booking(base_url, f"{wanted.isoformat()}T10:00")

    async with browser(base_url) as page:
        await sign_in(page)
        for _ in range(30):  # the scheduler's answer arrives within moments
            if await page.locator(f"#item-{reference}").count():
                break
            await page.wait_for_timeout(300)
            await page.reload()
        item = page.locator("article", has=page.locator(f"#item-{reference}"))
        await expect(item).to_contain_text("Ingen konsulent havde tid")
        await accessible(page, "needs attention")
        await page.screenshot(path="/tmp/backoffice-attention.png", full_page=True)

        # A time inside the absence: the scheduler says why not.
        await item.get_by_label("Tidspunkt", exact=True).fill(f"{wanted.isoformat()}T10:00")
        await item.get_by_role("button", name="Tjek tidspunktet").click()
        verdict = page.locator(f"#verdict-{reference}")
        await expect(verdict).to_contain_text("Passer ikke")
        await expect(verdict).to_contain_text("fraværende")
        await accessible(page, "needs attention with a verdict")
        # A free time: it fits, and is placed.
        item = page.locator("article", has=page.locator(f"#item-{reference}"))
        await item.get_by_label("Tidspunkt", exact=True).fill(f"{later.isoformat()}T10:00")
        await item.get_by_role("button", name="Tjek tidspunktet").click()
        await expect(verdict).to_contain_text("Passer:")
        await verdict.get_by_role("button", name="Placér her").click()
        placed = f"Placeringen er sendt til planlæggeren: {reference}"
        await expect(page.get_by_role("status").first).to_contain_text(placed)

        await page.goto(f"/admin/bookings/{reference}")
        for _ in range(30):
            if "Planlagt" in (await page.locator("h1").text_content() or ""):
                break
            await page.wait_for_timeout(300)
            await page.reload()
        await expect(page.locator("h1")).to_contain_text("Planlagt")
        await expect(page.locator("#slot-consultant")).to_have_text("Anne Kragh")
        await expect(page.locator(".history")).to_contain_text("admin:token")
        await expect(page.get_by_text("Beskedtjenesten svarer ikke lige nu")).to_be_visible()
        await accessible(page, "booking")

        # The bookings list finds it by the workplace, the CSV carries it.
        await page.goto("/admin/bookings")
        await page.get_by_label("Søg (arbejdsplads, kontakt, nr.)").fill("lindely")
        await page.get_by_role("button", name="Søg", exact=True).click()
        await expect(page.get_by_role("link", name=reference)).to_be_visible()
        await expect(page.locator("tbody")).to_contain_text("Planlagt")
        await accessible(page, "bookings")

        # An absence added to Anne shows in the calendar's week.
        await page.goto("/admin/consultants")
        await accessible(page, "consultants")
        await page.get_by_role("link", name="Anne Kragh").click()
        await accessible(page, "consultant")
        absent = later + timedelta(days=7)
        await page.get_by_label("Fra dato").fill(absent.isoformat())
        await page.get_by_label("Til dato").fill(absent.isoformat())
        await page.get_by_label("Note").fill("Kursus")
        await page.get_by_role("button", name="Tilføj fravær").click()
        await expect(page.get_by_role("status").first).to_contain_text("Fraværet er tilføjet")
        page_link = await page.locator("a[href*='/consultants/anne?token=']").text_content()

        await page.goto(f"/admin/calendar?view=week&date={absent.isoformat()}")
        day = page.locator(f"section[aria-labelledby='day-{absent.isoformat()}']")
        await expect(day).to_contain_text("Fravær: Anne Kragh (Kursus)")
        await accessible(page, "calendar week")
        await page.goto(f"/admin/calendar?view=month&date={later.isoformat()}")
        talk_day = page.locator(f"section[aria-labelledby='day-{later.isoformat()}']")
        await expect(talk_day.get_by_role("link")).to_contain_text("10.00–12.00 Anne Kragh")
        await accessible(page, "calendar month")
        await page.screenshot(path="/tmp/backoffice-calendar.png", full_page=True)
        await talk_day.get_by_role("link").click()
        await expect(page.locator("h1")).to_contain_text(reference)

        await page.goto(f"/admin/statistics?from={later.replace(day=1).isoformat()}&to={later.isoformat()}")
        await expect(page.get_by_role("status").first).to_contain_text("1 oplæg i perioden")
        consultants_table = page.locator("table", has=page.get_by_text("Oplæg pr. konsulent", exact=True))
        await expect(consultants_table).to_contain_text("Anne Kragh")
        image = page.locator("img").first
        assert await image.evaluate("img => img.complete && img.naturalWidth > 0")
        await accessible(page, "statistics")
        await page.screenshot(path="/tmp/backoffice-statistics.png", full_page=True)

        await page.get_by_role("link", name="Venteliste").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Venteliste")
        await accessible(page, "waitlist")

        # English with the switch, kept from page to page.
        await page.get_by_role("link", name="English").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Waitlist")
        await page.get_by_role("link", name="Needs attention").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Needs attention")
        await accessible(page, "needs attention (en)")
        await page.get_by_role("link", name="Dansk").click()

        # The consultant's private page, then signing out.
        assert page_link
        await page.goto(page_link.strip())
        await expect(page.get_by_role("heading", level=1)).to_have_text("Dine inspirationsoplæg, Anne Kragh")
        await expect(page.get_by_text("Bostedet Lindely")).to_be_visible()
        await accessible(page, "consultant page")
        await page.goto("/admin/")
        await page.get_by_role("button", name="Log ud").click()
        await expect(page.get_by_role("status")).to_contain_text("Du er logget ud")
        await page.goto("/admin/bookings")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Log ind")

    async with browser(base_url, phone=True) as phone:
        await sign_in(phone)
        for path in ("/admin/", "/admin/bookings", f"/admin/bookings/{reference}", "/admin/calendar?view=month",
                     "/admin/consultants/anne", "/admin/statistics", "/admin/waitlist"):
            await phone.goto(path)
            await accessible(phone, f"phone {path}")
            width = await phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390 + 1, f"{path} is wider than the phone ({width}px)"
        await phone.screenshot(path="/tmp/backoffice-phone.png", full_page=True)
    Path("/tmp/backoffice-axe.json").write_text(json.dumps(RESULTS, indent=1))  # noqa: ASYNC240 - a test's report
