"""A person's data, as a data-protection officer asks about it: everything held is exported on request,
erased on request (in every service, every collection, and the parked messages), and nothing of it is
left anywhere afterwards, while the talk itself stays on record.

The three services run in-process on one database (as their collections would sit in one deployment's
MongoDB), real RabbitMQ and a real SMTP server; the test reads every collection of that database.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import pytest
import pytest_asyncio
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pymongo.asynchronous.database import AsyncDatabase

from services.booking.app import create_app as create_booking_app
from services.notifier.app import create_app as create_notifier_app
from services.scheduler.app import create_app as create_scheduler_app
from services.topology import NOTIFIER_QUEUE
from shared.infra.settings import Settings
from tests.backends import free_port
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_booking_api import valid_body
from tests.integration.test_end_to_end import CONSULTANT, DEADLINE, LOOPBACK, weekday_ahead
from tests.mailbox import Mailbox
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Strings that appear nowhere but in this person's booking: after erasure none may be found.
PERSON = {
    "workplace": "Bostedet Zyxwvutsr",
    "address": "Qwertyvej 987",
    "contact": "Xanthippe Quornby",
    "email": "xanthippe.quornby@example.dk",
    "phone_e164": "+4521436587",
    "phone_digits": "21436587",
    "notes": "Hemmelig note om Pkqrzt",
}
Client = TestClient[web.Request, web.Application]
Document = dict[str, Any]


@dataclass
class System:
    booking: Client
    mailbox: Mailbox


@pytest_asyncio.fixture
async def system(settings: Settings, tmp_path: Path, clean_queues: None) -> AsyncIterator[System]:
    mailbox = Mailbox()
    mailbox.start()
    consultants_file = tmp_path / "consultants.yaml"
    consultants_file.write_text(yaml.safe_dump({"consultants": [CONSULTANT]}, allow_unicode=True), encoding="utf-8")
    ports = {"booking": free_port(), "scheduler": free_port(), "notifier": free_port()}
    settings = settings.model_copy(
        update={
            "public_base_url": f"http://{LOOPBACK}:{ports['booking']}",
            "scheduler_url": f"http://{LOOPBACK}:{ports['scheduler']}",
            "notifier_url": f"http://{LOOPBACK}:{ports['notifier']}",
            "consultants_file": str(consultants_file),
            "smtp_host": LOOPBACK,
            "smtp_port": mailbox.port,
            "delivery_poll_seconds": 0.1,
        }
    )
    try:
        async with (
            TestClient(TestServer(create_scheduler_app(settings), host=LOOPBACK, port=ports["scheduler"])),
            TestClient(TestServer(create_notifier_app(settings), host=LOOPBACK, port=ports["notifier"])),
            TestClient(TestServer(create_booking_app(settings), host=LOOPBACK, port=ports["booking"])) as booking,
        ):
            yield System(booking, mailbox)
    finally:
        mailbox.stop()


def the_person_s_booking() -> dict[str, Any]:
    start = weekday_ahead(20, hour=10)
    return valid_body(
        workplace={"name": PERSON["workplace"], "address": PERSON["address"], "postcode": "8000", "city": "Aarhus C"},
        contact={"name": PERSON["contact"], "email": PERSON["email"], "phone": PERSON["phone_e164"]},
        notes=PERSON["notes"],
        preferred_starts=[start.strftime("%Y-%m-%dT%H:%M")],
    )


async def everything_stored(db: AsyncDatabase[Document]) -> str:
    """Every document of every collection, as one (lower-case) text."""
    texts = []
    for name in await db.list_collection_names():
        texts += [json.dumps(doc, default=str, ensure_ascii=False) async for doc in db[name].find({})]
    return "\n".join(texts).lower()


def found_in(text: str) -> list[str]:
    return [key for key, value in PERSON.items() if value.lower() in text]


async def park_a_message_about(amqp_url: str, booking_id: str) -> None:
    """A message that failed and was parked, quoting the person (as a real parked event would)."""
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        body = json.dumps({"type": "booking.requested", "correlation_id": booking_id, "email": PERSON["email"]})
        message = aio_pika.Message(body.encode(), correlation_id=booking_id, headers={"x-parked-reason": "test"})
        await channel.default_exchange.publish(message, routing_key=NOTIFIER_QUEUE.parked)


async def parked(client: Client) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = (await (await client.get("/api/v1/dead-letters", headers=ADMIN)).json())[
        "messages"
    ]
    return messages


async def test_a_person_s_data_is_exported_then_erased_everywhere(
    system: System, db: AsyncDatabase[Document], amqp_url: str
) -> None:
    created = await (await system.booking.post("/api/v1/bookings", json=the_person_s_booking())).json()
    booking_id = created["id"]
    box = system.mailbox
    await eventually(lambda: box.to(PERSON["email"], "Bekræftet:"), "the confirmation", timeout=DEADLINE)
    await eventually(lambda: box.to(CONSULTANT["email"], "Invitation:"), "the consultant's invite", timeout=DEADLINE)
    await park_a_message_about(amqp_url, booking_id)
    assert set(found_in(await everything_stored(db))) >= {"workplace", "contact", "email", "notes"}

    # Access: everything held about the address, from all three services, in one document.
    export = await system.booking.get("/api/v1/personal-data", params={"email": PERSON["email"]}, headers=ADMIN)
    assert export.status == 200
    assert export.headers["Content-Disposition"].startswith("attachment")
    held = await export.json()
    assert [b["id"] for b in held["booking"]["bookings"]] == [booking_id]
    assert [p["booking_id"] for p in held["scheduler"]["placements"]] == [booking_id]
    assert held["scheduler"]["talks"] and PERSON["contact"] in held["scheduler"]["talks"][0]["contact"]
    assert {d["kind"] for d in held["notifier"]["deliveries"]} >= {"receipt", "confirmation"}

    # Erasure of everything about the address.
    erased = await system.booking.post("/api/v1/erasure", json={"email": PERSON["email"].upper()}, headers=ADMIN)
    assert erased.status == 202
    assert (await erased.json())["bookings"] == [booking_id]

    async def nothing_left() -> bool:
        return found_in(await everything_stored(db)) == []

    await eventually(nothing_left, "no collection to hold the person's data", timeout=DEADLINE)
    assert not [m for m in await parked(system.booking) if PERSON["email"] in m["body"]], "parked messages too"

    # The talk stays on record, anonymised.
    view = await (await system.booking.get(f"/api/v1/bookings/{booking_id}", headers=ADMIN)).json()
    assert view["status"] == "scheduled" and view["slot"]["consultant"]["name"] == CONSULTANT["name"]
    assert view["theme"]["id"] == "selvledelse" and view["workplace"]["city"] == "Aarhus C"
    again = await (
        await system.booking.get("/api/v1/personal-data", params={"email": PERSON["email"]}, headers=ADMIN)
    ).json()
    assert again["booking"]["bookings"] == [] and again["notifier"]["deliveries"] == []


async def test_erasing_one_booking_drops_its_mail_not_yet_sent(system: System, db: AsyncDatabase[Document]) -> None:
    box = system.mailbox
    box.stop()  # the mail server is down: the receipt waits to be sent
    try:
        created = await (await system.booking.post("/api/v1/bookings", json=the_person_s_booking())).json()

        async def pending() -> bool:
            return await db.deliveries.count_documents({"booking_id": created["id"], "status": "pending"}) > 0

        await eventually(pending, "the receipt to wait for the mail server", timeout=DEADLINE)
        response = await system.booking.post(f"/api/v1/bookings/{created['id']}/erase", headers=ADMIN)
        assert response.status == 202

        async def dropped() -> bool:
            left = await db.deliveries.count_documents({"booking_id": created["id"], "status": "pending"})
            return left == 0 and await db.deliveries.count_documents({"status": "dropped"}) > 0

        await eventually(dropped, "the waiting mail to be dropped", timeout=DEADLINE)
    finally:
        box.start()
    assert box.to(PERSON["email"]) == []


async def test_the_consumers_record_of_events_expires(system: System, db: AsyncDatabase[Document]) -> None:
    indexes = await db.processed_events.index_information()
    assert any(info.get("expireAfterSeconds") == 30 * 24 * 3600 for info in indexes.values())
