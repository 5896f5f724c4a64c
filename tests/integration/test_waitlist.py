"""The waitlist on real services: booking, scheduler and notifier in-process on real RabbitMQ, a
MongoDB-protocol server and an SMTP server; one consultant, so a second workplace wanting a time the
first has is told it is taken, and waits.

A cancellation gives the time to an ``auto`` request at once; an ``offer`` request gets the offer by
e-mail and takes the talk with one click; a workplace accepting an offer and another booking the same
time race and one wins; an offer not taken passes to the next in line; a move frees the old time; and
a consultant's newly free days never yield an offer on a holiday or outside the consultant's hours.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet
from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase

from services.booking.app import create_app as create_booking_app
from services.notifier.app import create_app as create_notifier_app
from services.scheduler.app import create_app as create_scheduler_app
from shared.contracts.closed_days import DENMARK
from shared.infra.settings import Settings
from shared.text.localtime import LOCAL_TZ
from tests.apps import running
from tests.backends import free_port
from tests.conftest import ADMIN_TOKEN
from tests.dates import closed
from tests.integration.test_backoffice import sign_in
from tests.mailbox import LOOPBACK, Mailbox
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

SECONDS = 15.0  # "within seconds": the deadline for a freed time to reach the waiting workplace
CONSULTANT: dict[str, Any] = {
    "id": "anne",
    "name": "Anne Konsulent",
    "email": "anne@socialpaedagogerne.example",
    "working_hours": {day: ["08:00", "16:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    "travel_buffer_minutes": 60,
    "max_talks_per_day": 2,
}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@dataclass
class System:
    booking: TestClient[Any, Any]
    scheduler: TestClient[Any, Any]
    mailbox: Mailbox

    async def book(self, start: datetime, waitlist: str = "offer", **extra: Any) -> Booking:
        email = f"kontakt.{uuid.uuid4().hex[:8]}@example.dk"
        body = {
            "workplace": {
                "name": f"Bostedet {email[8:12]}",
                "address": "Skovvej 12",
                "postcode": "8000",
                "city": "Aarhus C",
            },
            "contact": {"name": "Mette Hansen", "email": email, "phone": "+45 20 30 40 50"},
            "theme": "selvledelse",
            "setting": "staff_meeting",
            "participants": 18,
            "duration_minutes": 120,
            "preferred_starts": [start.strftime("%Y-%m-%dT%H:%M")],
            "waitlist": waitlist,
            **extra,
        }
        response = await self.booking.post("/api/v1/bookings", json=body)
        assert response.status == 201, await response.text()
        created = await response.json()
        token = created["status_url"].rsplit("token=", 1)[1]
        return Booking(self, created["id"], token, email)


@dataclass
class Booking:
    system: System
    id: str
    token: str
    email: str

    async def view(self) -> dict[str, Any]:
        response = await self.system.booking.get(f"/api/v1/bookings/{self.id}", params={"token": self.token})
        assert response.status == 200
        return dict(await response.json())

    async def reaches(self, status: str, timeout: float = SECONDS) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            view = await self.view()
            return view if view["status"] == status and not view["reschedule_requested"] else None

        return dict(await eventually(probe, f"{self.id} to be {status}", timeout=timeout))

    async def offered(self, timeout: float = SECONDS) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            offers = (await self.view())["offers"]
            return offers[0] if offers else None

        return dict(await eventually(probe, f"an offer for {self.id}", timeout=timeout))

    async def post(self, action: str, body: dict[str, Any] | None = None) -> int:
        response = await self.system.booking.post(
            f"/api/v1/bookings/{self.id}/{action}", params={"token": self.token}, json=body or {}
        )
        return response.status


@contextlib.asynccontextmanager
async def system_of(settings: Settings, mailbox: Mailbox, tmp_path: Path, **changes: Any) -> AsyncIterator[System]:
    consultants = tmp_path / "consultants.yaml"
    consultants.write_text(yaml.safe_dump({"consultants": [CONSULTANT]}), encoding="utf-8")
    port, scheduler_port = free_port(), free_port()
    settings = settings.model_copy(
        update={
            "public_base_url": f"http://{LOOPBACK}:{port}",
            "scheduler_url": f"http://{LOOPBACK}:{scheduler_port}",
            "consultants_file": str(consultants),
            "smtp_host": LOOPBACK,
            "smtp_port": mailbox.port,
            "delivery_poll_seconds": 0.1,
            "receipt_wait_seconds": 5.0,
            "session_key": SecretStr(Fernet.generate_key().decode()),  # the back office (the waitlist's page)
            **changes,
        }
    )
    async with (
        running(create_scheduler_app(settings), port=scheduler_port) as scheduler,
        running(create_notifier_app(settings)),
        running(create_booking_app(settings), port=port) as booking,
    ):
        yield System(booking, scheduler, mailbox)


@pytest_asyncio.fixture
async def system(settings: Settings, mailbox: Mailbox, tmp_path: Path, clean_queues: None) -> AsyncIterator[System]:
    async with system_of(settings, mailbox, tmp_path) as running_system:
        yield running_system


def bookable(days_ahead: int, hour: int = 10) -> datetime:
    day = datetime.now(LOCAL_TZ).date() + timedelta(days=days_ahead)
    while closed(day):
        day += timedelta(days=1)
    return datetime.combine(day, time(hour), tzinfo=LOCAL_TZ)


async def taken_and_waiting(system: System, start: datetime, *waitlists: str) -> tuple[Booking, list[Booking]]:
    """The first workplace has ``start``; the others asked for it too, in order, and wait."""
    first = await system.book(start, waitlist="off")
    await first.reaches("scheduled")
    waiting = []
    for waitlist in waitlists:
        later = await system.book(start, waitlist=waitlist)
        await later.reaches("needs_alternative")
        waiting.append(later)
    return first, waiting


def local_start(view: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(view["start"]["utc"].replace("Z", "+00:00")).astimezone(LOCAL_TZ)


# --- a freed time reaches the waiting workplace ----------------------------------------------------------------


async def test_a_cancellation_places_an_auto_request_at_that_very_time(system: System) -> None:
    start = bookable(20)
    first, [second] = await taken_and_waiting(system, start, "auto")

    assert await first.post("cancel") == 202
    view = await second.reaches("scheduled")

    assert local_start(view["slot"]) == start
    confirmation = await eventually(lambda: system.mailbox.to(second.email, "Bekræftet:"), "the confirmation")
    assert "Anne Konsulent" in confirmation[0].text
    assert await eventually(lambda: system.mailbox.to(CONSULTANT["email"], "Invitation:"), "the invites")


async def test_an_offer_comes_by_mail_and_one_click_on_the_status_page_takes_the_talk(system: System) -> None:
    start = bookable(21)
    first, [second] = await taken_and_waiting(system, start, "offer")

    assert await first.post("cancel") == 202
    offer = await second.offered()
    assert local_start(offer) == start
    [mail] = await eventually(
        lambda: system.mailbox.to(second.email, "Ledig tid til jeres inspirationsoplæg"), "the offer"
    )
    status_link = re.search(r"(http://\S+/bookings/\S+)", mail.text)
    assert status_link and second.token in status_link.group(1)
    assert offer["start"]["text"] in mail.text

    page = await (await system.booking.get(f"/bookings/{second.id}", params={"token": second.token})).text()
    action = f"/bookings/{second.id}/offers/{offer['id']}/accept"
    assert f'action="{action}"' in page and offer["expires_at"]["text"] in page
    clicked = await system.booking.post(action, data={"token": second.token}, allow_redirects=False)
    assert clicked.status == 303

    view = await second.reaches("scheduled")
    assert local_start(view["slot"]) == start and view["offers"] == []
    assert await eventually(lambda: system.mailbox.to(second.email, "Bekræftet:"), "the confirmation")


async def test_two_workplaces_racing_for_an_offered_time_one_wins(system: System, db: AsyncDatabase[Any]) -> None:
    start = bookable(22)
    first, [waiting] = await taken_and_waiting(system, start, "offer")
    await first.post("cancel")
    offer = await waiting.offered()

    # The waiting workplace accepts while another books the very same time from the form's free times.
    accepted, newcomer = await asyncio.gather(
        waiting.post(f"offers/{offer['id']}/accept"), system.book(start, waitlist="off")
    )
    assert accepted == 202

    async def settled() -> list[dict[str, Any]] | None:
        views = [await waiting.view(), await newcomer.view()]
        if any(v["offer_accept_requested"] or v["status"] == "received" for v in views):
            return None
        return views

    views = await eventually(settled, "both outcomes")
    winners = [v for v in views if v["status"] == "scheduled"]
    assert len(winners) == 1 and local_start(winners[0]["slot"]) == start
    loser = next(v for v in views if v["status"] != "scheduled")
    assert loser["status"] == "needs_alternative"
    if loser["id"] == waiting.id:
        assert loser["offer_taken"] and loser["alternatives"], "the late acceptance gets fresh choices"
    day = await db["consultant_days"].find_one({"_id": f"anne|{start.date().isoformat()}"})
    assert [talk["start"] for talk in day["talks"]] == [start.astimezone(UTC)], "exactly one talk at that time"


async def test_an_offer_not_taken_in_time_passes_to_the_next_in_line(
    settings: Settings, mailbox: Mailbox, tmp_path: Path, clean_queues: None
) -> None:
    async with system_of(settings, mailbox, tmp_path, waitlist_offer_hours=2 / 3600) as system:
        start = bookable(23)
        first, [second, third] = await taken_and_waiting(system, start, "offer", "offer")
        await first.post("cancel")

        offer = await second.offered()
        assert local_start(offer) == start
        assert (await third.view())["offers"] == [], "one workplace at a time"

        passed = await third.offered()
        assert local_start(passed) == start
        view = await second.view()
        assert view["offers"] == [] and view["status"] == "needs_alternative"
        assert "offer_expired" in [step["status"] for step in view["history"]]
        assert await second.post(f"offers/{offer['id']}/accept") == 404


async def test_a_move_frees_the_old_time_for_the_waiting_workplace(system: System) -> None:
    old, new = bookable(24), bookable(31)
    first, [second] = await taken_and_waiting(system, old, "auto")

    assert await first.post("reschedule", {"preferred_starts": [new.strftime("%Y-%m-%dT%H:%M")]}) == 202
    moved = await first.reaches("scheduled")
    assert local_start(moved["slot"]) == new

    view = await second.reaches("scheduled")
    assert local_start(view["slot"]) == old


async def test_nothing_is_offered_on_a_holiday_or_outside_the_consultants_hours(system: System) -> None:
    start = bookable(15)
    holiday = _weekday_holiday(after=start.date())
    after = holiday + timedelta(days=1)
    while closed(after):
        after += timedelta(days=1)
    # The consultant is away over the holiday and the day after; the workplace's own time is taken, and
    # it would take any morning from the holiday to the day after.
    away = {**CONSULTANT, "absences": [{"start": holiday.isoformat(), "end": after.isoformat()}]}
    assert (await system.scheduler.put("/api/v1/consultants/anne", json=away, headers=ADMIN)).status == 200
    _, [waiting] = await taken_and_waiting(system, start, "offer")
    window = {"from": holiday.isoformat(), "to": after.isoformat(), "part_of_day": "morning"}
    assert await waiting.post("waitlist", {"waitlist": "offer", "window": window}) == 202
    await asyncio.sleep(1.0)
    assert (await waiting.view())["offers"] == [], "nothing while the consultant is away"

    # The absence is cut short: the consultant's newly free days are swept for the waiting workplace.
    assert (await system.scheduler.put("/api/v1/consultants/anne", json=CONSULTANT, headers=ADMIN)).status == 200
    offered = local_start(await waiting.offered())

    assert offered.date() == after, "not on the holiday"
    # 08-16 with a 60-minute buffer each side and 120 minutes: 09.00 to 13.00; a morning starts before 12.
    assert time(9) <= offered.time() < time(12)


def _weekday_holiday(after: date) -> date:
    day = after + timedelta(days=1)
    while not (day.weekday() < 5 and (closed_day := DENMARK.on(day)) is not None and closed_day.kind == "holiday"):
        day += timedelta(days=1)
    return day


async def test_an_erased_booking_leaves_the_waitlist(system: System) -> None:
    start = bookable(25)
    first, [second] = await taken_and_waiting(system, start, "auto")
    response = await system.booking.post(f"/api/v1/bookings/{second.id}/erase", headers=ADMIN)
    assert response.status == 202

    async def gone() -> bool:
        listed = await system.scheduler.get("/api/v1/waitlist", headers=ADMIN)
        entries = (await listed.json())["entries"]
        return not any(entry["booking_id"] == second.id and entry["waiting"] for entry in entries)

    await eventually(gone, "the erased booking to leave the waitlist")
    await first.post("cancel")
    await asyncio.sleep(1.0)
    assert (await second.view())["status"] == "needs_alternative"


async def test_the_admin_sees_the_waitlist_per_theme_with_its_offers(system: System) -> None:
    start = bookable(26)
    first, [second] = await taken_and_waiting(system, start, "offer")
    await first.post("cancel")
    await second.offered()

    assert (await system.booking.get("/admin/waitlist", allow_redirects=False)).status == 303, "sign in first"
    assert (await sign_in(system.booking, "", ADMIN_TOKEN)).status == 303
    page = await system.booking.get("/admin/waitlist", params={"theme": "selvledelse"})
    html = await page.text()
    assert page.status == 200
    assert f'id="waitlist-{second.id}"' in html and "Åbent" in html
