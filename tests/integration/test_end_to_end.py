"""The whole system, as a workplace and a consultant meet it.

Booking, scheduler and notifier run in-process on real RabbitMQ and a MongoDB-protocol server, with
one consultant loaded from a YAML file and a real SMTP server (aiosmtpd) on 127.0.0.1. The workplace
fills in the booking form; within a deadline its receipt and confirmation arrive, the consultant's
invite arrives and imports cleanly, and the status page shows the talk as scheduled.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import icalendar
import pytest
import pytest_asyncio
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.controller import Controller
from yarl import URL

from services.booking.app import create_app as create_booking_app
from services.notifier.app import create_app as create_notifier_app
from services.scheduler.app import create_app as create_scheduler_app
from shared.infra.settings import Settings
from shared.text.ical import booking_uid
from shared.text.localtime import LOCAL_TZ
from tests.backends import free_port
from tests.dates import closed
from tests.polling import eventually

pytestmark = pytest.mark.integration

LOOPBACK = "127.0.0.1"
DEADLINE = 30.0  # seconds from the form to the last message before the test gives up
CONSULTANT = {
    "id": "anne-konsulent",
    "name": "Anne Konsulent",
    "email": "anne.konsulent@socialpaedagogerne-oestjylland.example",
    "phone": "+45 20 00 00 01",
    "working_hours": {day: ["08:00", "16:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    "absences": [],
    "travel_buffer_minutes": 60,
    "max_talks_per_day": 2,
}


@dataclass
class Mailbox:
    """An aiosmtpd handler keeping every message it accepts."""

    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def to(self, address: str, subject_starts: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.received if rcpt == [address] and str(m["Subject"]).startswith(subject_starts)]


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname=LOOPBACK, port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


Client = TestClient[web.Request, web.Application]


@dataclass
class System:
    booking: Client
    mailbox: Mailbox


@pytest_asyncio.fixture
async def system(
    settings: Settings, mailbox: tuple[Mailbox, int], tmp_path: Path, clean_queues: None
) -> AsyncIterator[System]:
    box, smtp_port = mailbox
    consultants_file = tmp_path / "consultants.yaml"
    consultants_file.write_text(yaml.safe_dump({"consultants": [CONSULTANT]}, allow_unicode=True), encoding="utf-8")
    booking_port = free_port()
    settings = settings.model_copy(
        update={
            "public_base_url": f"http://{LOOPBACK}:{booking_port}",
            "consultants_file": str(consultants_file),
            "smtp_host": LOOPBACK,
            "smtp_port": smtp_port,
            "delivery_poll_seconds": 0.1,
            "delivery_retry_seconds": (0.2, 0.4, 0.8, 1.6),
        }
    )
    async with (
        TestClient(TestServer(create_scheduler_app(settings), host=LOOPBACK)),
        TestClient(TestServer(create_notifier_app(settings), host=LOOPBACK)),
        TestClient(TestServer(create_booking_app(settings), host=LOOPBACK, port=booking_port)) as booking,
    ):
        yield System(booking, box)


def weekday_ahead(days: int, hour: int) -> datetime:
    day = datetime.now(LOCAL_TZ).date() + timedelta(days=days)
    while closed(day):
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=LOCAL_TZ)


def one(pattern: str, page: str) -> str:
    found = re.search(pattern, page, re.DOTALL)
    assert found, f"{pattern!r} not on the page"
    return html.unescape(found.group(1)).strip()


def invite_calendar(message: EmailMessage) -> icalendar.Calendar:
    """The ``invite.ics`` attachment, as a calendar program would import it."""
    [attachment] = [part for part in message.iter_attachments() if part.get_filename() == "invite.ics"]
    ics = attachment.get_payload(decode=True)
    assert isinstance(ics, bytes)
    return icalendar.Calendar.from_ical(ics)


@pytest.mark.asyncio
async def test_a_booking_from_the_form_reaches_workplace_and_consultant(system: System) -> None:
    start = weekday_ahead(15, hour=10)
    contact = f"mette.{uuid.uuid4().hex[:8]}@example.dk"
    form = {
        "theme": "vaner-og-forandringer",
        "setting": "work_environment_group",
        "duration_minutes": "90",
        "participants": "12",
        "preferred_start_1": start.strftime("%Y-%m-%dT%H:%M"),
        "workplace_name": "Bostedet Åbrinken",
        "workplace_address": "Skovvej 12",
        "workplace_postcode": "8000",
        "workplace_city": "Aarhus C",
        "contact_name": "Mette Hansen",
        "contact_email": contact,
        "contact_phone": "20 30 40 50",
        "idempotency_key": str(uuid.uuid4()),
    }
    response = await system.booking.post("/", data=form)
    assert response.status == 200, await response.text()
    receipt_page = await response.text()
    reference = one(r'id="reference">(.*?)<', receipt_page)
    status_url = URL(one(r'id="status-link" href="([^"]+)"', receipt_page))

    box = system.mailbox
    [receipt] = await eventually(lambda: box.to(contact, "Tak for jeres bestilling"), "the receipt", timeout=DEADLINE)
    [confirmation] = await eventually(lambda: box.to(contact, "Bekræftet:"), "the confirmation", timeout=DEADLINE)
    [invite] = await eventually(
        lambda: box.to(CONSULTANT["email"], "Invitation:"), "the consultant's invite", timeout=DEADLINE
    )

    assert reference in str(receipt["Subject"])
    assert "Anne Konsulent kommer ud til jer" in confirmation.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    calendar = invite_calendar(invite)
    assert str(calendar["METHOD"]) == "REQUEST"
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == booking_uid(reference)
    assert event.decoded("DTSTART").astimezone(UTC) == start.astimezone(UTC)
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(minutes=90)
    assert str(event["ATTENDEE"]).lower() == f"mailto:{CONSULTANT['email']}"

    async def status_page() -> str | None:
        page = await system.booking.get(status_url.path_qs)
        assert page.status == 200
        text = await page.text()
        return text if 'data-status="scheduled"' in text else None

    page = await eventually(status_page, "the status page to show the talk as scheduled", timeout=DEADLINE)
    assert one(r'id="slot-consultant">(.*?)<', page) == "Anne Konsulent"
