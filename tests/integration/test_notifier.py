"""The notifier service end to end on its own.

The notifier runs in-process (``aiohttp.test_utils.TestServer``) on real RabbitMQ and a MongoDB-protocol
server. A test plays the other services: it publishes events to the ``inspiration.events`` exchange,
and looks at what reaches a real SMTP server (aiosmtpd) and a local stand-in for the GatewayAPI SMS
gateway, both on 127.0.0.1, and at the notifier's deliveries admin API.

Nothing waits for a fixed time: every wait polls for an outcome until a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import aio_pika
import icalendar
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from services.notifier.app import create_app
from services.notifier.store import MongoDeliveryStore
from services.topology import NOTIFIER_QUEUE
from shared.contracts.events import (
    EXCHANGE,
    BookingCancelledData,
    BookingRequestedData,
    BookingRescheduledData,
    BookingScheduledData,
    Event,
    encode_event,
    new_event,
)
from shared.contracts.models import BookingDetails, ConsultantRef, Contact, Slot, Workplace
from shared.infra.settings import Settings
from shared.text.ical import booking_uid
from shared.text.localtime import LOCAL_TZ
from tests.backends import free_port
from tests.conftest import ADMIN_TOKEN
from tests.dates import closed
from tests.mailbox import Mailbox, Received
from tests.polling import eventually

pytestmark = pytest.mark.integration

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
MAIL_FROM = "booking@socialpaedagogerne-oestjylland.example"
SMS_TOKEN = "gatewayapi-test-token"
SMS_SENDER = "SLOestjyl"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DEADLINE = 20.0  # seconds any awaited outcome may take before a test gives up
THEME = "alene-arbejde"
THEME_TITLE = "Alene-arbejde og psykisk arbejdsmiljø"


# --- a real SMTP server ---------------------------------------------------------------------------------


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    try:
        yield box
    finally:
        box.stop()


# --- a local stand-in for GatewayAPI ---------------------------------------------------------------------


@dataclass
class Gateway:
    """Speaks GatewayAPI's ``POST /rest/mtsms`` contract and refuses requests that break it.

    ``answers`` scripts the HTTP status for a recipient (MSISDN), one per request, then 200.
    """

    url: str = ""
    answers: dict[int, list[int]] = field(default_factory=dict)
    calls: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Token {SMS_TOKEN}":
            self.problems.append(f"bad Authorization header: {request.headers.get('Authorization')!r}")
            return web.json_response({"code": "0x0213", "message": "Unauthorized"}, status=401)
        if request.content_type != "application/json":
            self.problems.append(f"content type {request.content_type}")
            return web.json_response({"message": "JSON expected"}, status=415)
        body = await request.json()
        problem = self._check(body)
        if problem:
            self.problems.append(problem)
            return web.json_response({"message": problem}, status=422)
        msisdn = body["recipients"][0]["msisdn"]
        script = self.answers.get(msisdn, [])
        status = script.pop(0) if script else 200
        self.calls.append((body, status))
        if status != 200:
            return web.json_response({"code": "0x0000", "message": f"scripted {status}"}, status=status)
        return web.json_response({"ids": [len(self.calls)], "usage": {"total_cost": 0.0}})

    @staticmethod
    def _check(body: Any) -> str | None:
        if not isinstance(body, dict):
            return "body must be a JSON object"
        if body.get("sender") != SMS_SENDER:
            return f"sender {body.get('sender')!r}"
        if not isinstance(body.get("message"), str) or not body["message"]:
            return "message must be a non-empty string"
        recipients = body.get("recipients")
        if not isinstance(recipients, list) or len(recipients) != 1:
            return "one recipient expected"
        msisdn = recipients[0].get("msisdn") if isinstance(recipients[0], dict) else None
        if type(msisdn) is not int or not 10**7 <= msisdn < 10**15:
            return f"msisdn must be an integer MSISDN, got {msisdn!r}"
        if "encoding" in body and body["encoding"] != "UCS2":
            return f"encoding {body['encoding']!r}"
        return None

    def texts_to(self, msisdn: int, status: int = 200) -> list[str]:
        return [b["message"] for b, s in self.calls if b["recipients"][0]["msisdn"] == msisdn and s == status]


@pytest_asyncio.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gateway = Gateway()
    app = web.Application()
    app.router.add_post("/rest/mtsms", gateway.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, LOOPBACK, port).start()
    gateway.url = f"http://{LOOPBACK}:{port}/rest/mtsms"
    try:
        yield gateway
    finally:
        await runner.cleanup()
    assert gateway.problems == [], "the notifier broke GatewayAPI's request format"


# --- the notifier and the events it hears ---------------------------------------------------------------


@pytest.fixture
def notifier_settings(settings: Settings, mailbox: Mailbox, gateway: Gateway) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": LOOPBACK,
            "smtp_port": mailbox.port,
            "mail_from": MAIL_FROM,
            "sms_provider": "gatewayapi",
            "sms_api_url": gateway.url,
            "sms_api_token": SecretStr(SMS_TOKEN),
            "sms_sender": SMS_SENDER,
            "delivery_retry_seconds": (0.2, 0.4, 0.8, 1.6),
            "delivery_poll_seconds": 0.1,
        }
    )


@contextlib.asynccontextmanager
async def notifier(settings: Settings) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The notifier app, serving on a free loopback port; the client talks to its admin API."""
    async with TestClient(TestServer(create_app(settings), host=LOOPBACK)) as client:
        yield client


Publish = Callable[[Event], Awaitable[None]]


@pytest_asyncio.fixture
async def publish(amqp_url: str, clean_queues: None) -> AsyncIterator[Publish]:
    """Publish an event as the other services do: persistent, confirmed, routing key = its type."""
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)

        async def publish(event: Event) -> None:
            message = aio_pika.Message(
                encode_event(event),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=str(event.event_id),
                type=event.type,
                correlation_id=event.correlation_id,
            )
            await exchange.publish(message, routing_key=event.type, mandatory=True)

        yield publish


@pytest_asyncio.fixture
async def reminders(settings: Settings) -> AsyncIterator[MongoDeliveryStore]:
    """The notifier's collections, read directly (reminders have no API)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    try:
        yield MongoDeliveryStore(client[settings.mongodb_db])
    finally:
        await client.close()


async def deliveries(client: TestClient[web.Request, web.Application], **query: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/deliveries", params=query, headers=ADMIN)
    assert response.status == 200, await response.text()
    found: list[dict[str, Any]] = (await response.json())["deliveries"]
    return found


async def settled(
    client: TestClient[web.Request, web.Application], booking_id: str, count: int
) -> list[dict[str, Any]]:
    """Wait until the booking has ``count`` deliveries, none of them still pending."""

    async def probe() -> list[dict[str, Any]] | None:
        found = await deliveries(client, booking_id=booking_id)
        done = len(found) == count and all(d["status"] in ("sent", "failed") for d in found)
        return found if done else None

    found: list[dict[str, Any]] = await eventually(
        probe, f"{count} settled deliveries for {booking_id}", timeout=DEADLINE
    )
    return found


def consumed() -> float:
    """Events the notifier's consumer has finished with (handled or recognised as duplicates)."""
    return sum(
        REGISTRY.get_sample_value("inspiration_messages_total", {"queue": NOTIFIER_QUEUE.name, "outcome": o}) or 0
        for o in ("handled", "duplicate")
    )


# --- the bookings in the events ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One booking, with addresses of its own so tests never see each other's messages."""

    booking_id: str
    contact_email: str
    phone: str
    msisdn: int
    consultant: ConsultantRef

    @classmethod
    def new(cls, phone_tail: int = 50) -> Case:
        tag = uuid.uuid4().hex[:8]
        return cls(
            booking_id=f"BK-{tag.upper()}",
            contact_email=f"mette.{tag}@example.dk",
            phone=f"20 30 40 {phone_tail:02d}",
            msisdn=int(f"45203040{phone_tail:02d}"),
            consultant=ConsultantRef(id="anna", name="Anna Jensen", email=f"anna.{tag}@socialpaedagogerne.example"),
        )

    @property
    def status_url(self) -> str:
        return f"http://127.0.0.1:8080/bookings/{self.booking_id}?token=secret"

    def booking(self) -> BookingDetails:
        return BookingDetails(
            workplace=Workplace(name="Bostedet Lindely", address="Skovvej 12", postcode="8000", city="Aarhus C"),
            contact=Contact(name="Mette Hansen", email=self.contact_email, phone=self.phone),
            theme=THEME,
            setting="staff_meeting",
            participants=18,
            duration_minutes=120,
            preferred_starts=(datetime(2027, 3, 30, 13, tzinfo=LOCAL_TZ).astimezone(UTC),),
            notes="Vi mødes i fællesrummet på 1. sal.",
        )

    def slot(self, local_start: datetime) -> Slot:
        start = local_start.astimezone(UTC)
        return Slot(consultant=self.consultant, start=start, end=start + timedelta(minutes=120))

    def requested(self) -> Event:
        return new_event(
            BookingRequestedData(booking_id=self.booking_id, booking=self.booking(), status_url=self.status_url)
        )

    def scheduled(self, local_start: datetime) -> Event:
        return new_event(
            BookingScheduledData(
                booking_id=self.booking_id,
                booking=self.booking(),
                status_url=self.status_url,
                slot=self.slot(local_start),
                sequence=0,
            )
        )

    def rescheduled(self, local_start: datetime, previous: datetime, sequence: int) -> Event:
        return new_event(
            BookingRescheduledData(
                booking_id=self.booking_id,
                booking=self.booking(),
                status_url=self.status_url,
                slot=self.slot(local_start),
                previous_slot=self.slot(previous),
                sequence=sequence,
            )
        )

    def cancelled(self, local_start: datetime, sequence: int) -> Event:
        return new_event(
            BookingCancelledData(
                booking_id=self.booking_id,
                booking=self.booking(),
                status_url=self.status_url,
                slot=self.slot(local_start),
                sequence=sequence,
                reason="Vi har fået sygdom i personalegruppen.",
            )
        )


def local(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=LOCAL_TZ)


def weekday_ahead(days: int, hour: int = 13) -> datetime:
    day = datetime.now(LOCAL_TZ).date() + timedelta(days=days)
    while closed(day):
        day += timedelta(days=1)
    return local(day.year, day.month, day.day, hour)


# --- reading invites --------------------------------------------------------------------------------------


def calendar_of(mail: Received) -> icalendar.Calendar:
    """The invite's calendar, checking the iMIP structure on the way:
    multipart/mixed > (multipart/alternative > text/plain, text/html, text/calendar) + invite.ics."""
    message = mail.message
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = list(message.iter_parts())
    assert alternative.get_content_type() == "multipart/alternative"
    plain, html, inline = list(alternative.iter_parts())
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert inline.get_content_type() == "text/calendar"
    method = inline.get_param("method")
    assert isinstance(method, str)
    assert str(inline.get_param("charset")).upper() == "UTF-8"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "invite.ics"
    ics = attachment.get_payload(decode=True)
    assert isinstance(ics, bytes)
    assert ics == inline.get_payload(decode=True), "the attachment differs from the inline calendar"
    assert b"\r\n" in ics and b"\n" not in ics.replace(b"\r\n", b"")
    calendar = icalendar.Calendar.from_ical(ics)
    assert str(calendar["METHOD"]) == method, "the MIME method parameter disagrees with the calendar's METHOD"
    return calendar


def the_event(calendar: icalendar.Calendar) -> icalendar.Event:
    [event] = calendar.walk("VEVENT")
    return event


def utc(event: icalendar.Event, name: str) -> datetime:
    moment = event.decoded(name)
    assert isinstance(moment, datetime) and moment.tzinfo is not None
    return moment.astimezone(UTC)


def invites(mailbox: Mailbox, case: Case) -> list[icalendar.Calendar]:
    """The calendars mailed to the case's consultant, in the order they arrived (reminders left out)."""
    return [calendar_of(m) for m in mailbox.to(case.consultant.email) if not m.subject.startswith("Påmindelse")]


# --- what is sent for each event ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_request_gets_a_danish_receipt(notifier_settings: Settings, mailbox: Mailbox, publish: Publish) -> None:
    case = Case.new()
    async with notifier(notifier_settings):
        await publish(case.requested())
        [receipt] = await eventually(lambda: mailbox.to(case.contact_email), "the receipt", timeout=DEADLINE)

    assert receipt.mail_from == MAIL_FROM
    assert receipt.subject == f"Tak for jeres bestilling af et inspirationsoplæg (ref. {case.booking_id})"
    assert "Tak for jeres bestilling af et inspirationsoplæg" in receipt.text
    assert f"Reference: {case.booking_id}" in receipt.text
    assert f"Tema: {THEME_TITLE}" in receipt.text
    assert case.status_url in receipt.text
    assert "tirsdag den 30. marts 2027 kl. 13.00" in receipt.text  # the desired time, in local time


@pytest.mark.asyncio
async def test_scheduled_confirms_to_the_workplace_and_invites_the_consultant(
    notifier_settings: Settings, mailbox: Mailbox, gateway: Gateway, publish: Publish
) -> None:
    case = Case.new()
    start = local(2027, 3, 30, 13)
    async with notifier(notifier_settings) as client:
        await publish(case.scheduled(start))
        found = await settled(client, case.booking_id, 3)
    assert {(d["channel"], d["kind"], d["status"]) for d in found} == {
        ("email", "confirmation", "sent"),
        ("sms", "confirmation_sms", "sent"),
        ("email", "invite", "sent"),
    }

    [confirmation] = mailbox.to(case.contact_email)
    assert confirmation.subject == "Bekræftet: inspirationsoplæg tirsdag den 30. marts 2027 kl. 13.00"
    assert "Anna Jensen kommer ud til jer tirsdag den 30. marts 2027 kl. 13.00–15.00" in confirmation.text
    assert "Bostedet Lindely, Skovvej 12, 8000 Aarhus C" in confirmation.text
    assert THEME_TITLE in confirmation.text

    [sms] = gateway.texts_to(case.msisdn)
    assert sms.startswith("Jeres inspirationsoplæg er bekræftet: tirsdag den 30. marts 2027 kl. 13.00")
    assert "Anna Jensen" in sms

    [invite] = mailbox.to(case.consultant.email)
    assert invite.subject == "Invitation: Inspirationsoplæg hos Bostedet Lindely, tirsdag den 30. marts 2027 kl. 13.00"
    calendar = calendar_of(invite)
    assert str(calendar["METHOD"]) == "REQUEST"
    event = the_event(calendar)
    assert str(event["UID"]) == booking_uid(case.booking_id)
    assert event["SEQUENCE"] == 0
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["SUMMARY"]) == f"Inspirationsoplæg: {THEME_TITLE}"
    assert str(event["LOCATION"]) == "Bostedet Lindely, Skovvej 12, 8000 Aarhus C"
    assert "Vi mødes i fællesrummet på 1. sal." in str(event["DESCRIPTION"])
    assert str(event["ORGANIZER"]).lower() == f"mailto:{MAIL_FROM}"
    attendee = event["ATTENDEE"]
    assert str(attendee).lower() == f"mailto:{case.consultant.email}"
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    assert attendee.params["RSVP"] == "TRUE"
    assert utc(event, "DTSTAMP").tzinfo is not None


@pytest.mark.asyncio
async def test_invite_times_are_right_on_both_sides_of_daylight_saving(
    notifier_settings: Settings, mailbox: Mailbox, publish: Publish
) -> None:
    summer, winter = Case.new(), Case.new()
    async with notifier(notifier_settings):
        await publish(summer.scheduled(local(2027, 3, 30, 13)))
        await publish(winter.scheduled(local(2027, 11, 2, 13)))
        [summer_invite] = await eventually(lambda: invites(mailbox, summer), "the summer-time invite", timeout=DEADLINE)
        [winter_invite] = await eventually(lambda: invites(mailbox, winter), "the winter-time invite", timeout=DEADLINE)

    summer_event, winter_event = the_event(summer_invite), the_event(winter_invite)
    assert utc(summer_event, "DTSTART") == datetime(2027, 3, 30, 11, 0, tzinfo=UTC)
    assert utc(summer_event, "DTEND") == datetime(2027, 3, 30, 13, 0, tzinfo=UTC)
    assert utc(winter_event, "DTSTART") == datetime(2027, 11, 2, 12, 0, tzinfo=UTC)
    assert utc(winter_event, "DTEND") == datetime(2027, 11, 2, 14, 0, tzinfo=UTC)
    for calendar in (summer_invite, winter_invite):
        dtstart = the_event(calendar)["DTSTART"]
        if "TZID" in dtstart.params:  # local time: then the calendar must define the zone it names
            [timezone] = calendar.walk("VTIMEZONE")
            assert str(timezone["TZID"]) == dtstart.params["TZID"] == "Europe/Copenhagen"


@pytest.mark.asyncio
async def test_moves_keep_the_uid_and_raise_the_sequence_and_cancelling_removes_the_talk(
    notifier_settings: Settings, mailbox: Mailbox, publish: Publish
) -> None:
    case = Case.new()
    first, second, third = local(2027, 3, 30, 13), local(2027, 4, 6, 9), local(2027, 4, 13, 10)
    async with notifier(notifier_settings):
        await publish(case.scheduled(first))
        await eventually(lambda: len(invites(mailbox, case)) == 1, "the first invite", timeout=DEADLINE)
        await publish(case.rescheduled(second, previous=first, sequence=1))
        await eventually(lambda: len(invites(mailbox, case)) == 2, "the invite after the first move", timeout=DEADLINE)
        await publish(case.rescheduled(third, previous=second, sequence=2))
        await eventually(lambda: len(invites(mailbox, case)) == 3, "the invite after the second move", timeout=DEADLINE)
        await publish(case.cancelled(third, sequence=3))
        await eventually(lambda: len(invites(mailbox, case)) == 4, "the cancellation of the invite", timeout=DEADLINE)
        [cancelled] = await eventually(
            lambda: mailbox.to(case.contact_email, "Aflyst:"), "the workplace's notice", timeout=DEADLINE
        )

    calendars = invites(mailbox, case)
    events = [the_event(c) for c in calendars]
    assert [str(c["METHOD"]) for c in calendars] == ["REQUEST", "REQUEST", "REQUEST", "CANCEL"]
    assert {str(e["UID"]) for e in events} == {booking_uid(case.booking_id)}
    assert [e["SEQUENCE"] for e in events] == [0, 1, 2, 3]
    assert [utc(e, "DTSTART") for e in events] == [t.astimezone(UTC) for t in (first, second, third, third)]
    assert [str(e["STATUS"]) for e in events] == ["CONFIRMED", "CONFIRMED", "CONFIRMED", "CANCELLED"]
    assert mailbox.to(case.consultant.email)[1].subject.startswith("Opdateret invitation:")

    assert cancelled.subject == "Aflyst: inspirationsoplæg tirsdag den 13. april 2027 kl. 10.00"
    assert "er aflyst" in cancelled.text
    assert "Begrundelse: Vi har fået sygdom i personalegruppen." in cancelled.text


@pytest.mark.asyncio
async def test_an_event_delivered_twice_sends_one_email(
    notifier_settings: Settings, mailbox: Mailbox, publish: Publish
) -> None:
    case = Case.new()
    event = case.requested()
    async with notifier(notifier_settings) as client:
        before = consumed()
        await publish(event)
        await publish(event)
        await eventually(lambda: consumed() >= before + 2, "both copies to be consumed", timeout=DEADLINE)
        await settled(client, case.booking_id, 1)

    per_recipient_and_subject: dict[tuple[str, str], int] = {}
    for mail in mailbox.received:
        key = (mail.rcpt_tos[0], mail.subject)
        per_recipient_and_subject[key] = per_recipient_and_subject.get(key, 0) + 1
    assert per_recipient_and_subject == {
        (case.contact_email, f"Tak for jeres bestilling af et inspirationsoplæg (ref. {case.booking_id})"): 1
    }


# --- failures ------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_mail_waits_while_the_smtp_server_is_down_and_goes_out_when_it_is_back(
    notifier_settings: Settings, publish: Publish
) -> None:
    case = Case.new()
    later = Mailbox()  # not started: nothing listens on its port yet
    settings = notifier_settings.model_copy(
        update={"smtp_port": later.port, "delivery_retry_seconds": (0.2, 0.4, 0.8, 1.6, 3.2, 6.4)}
    )
    try:
        async with notifier(settings) as client:
            await publish(case.requested())

            async def failed_twice() -> bool:
                return any(d["attempts"] >= 2 for d in await deliveries(client, booking_id=case.booking_id))

            await eventually(failed_twice, "two failed attempts while the SMTP server is down", timeout=DEADLINE)
            [waiting] = await deliveries(client, booking_id=case.booking_id)
            assert waiting["status"] == "pending"
            assert "unavailable" in waiting["last_error"]

            await asyncio.to_thread(later.start)
            [receipt] = await eventually(
                lambda: later.to(case.contact_email), "the receipt once SMTP is back", timeout=DEADLINE
            )
            [sent] = await settled(client, case.booking_id, 1)
    finally:
        later.stop()

    assert receipt.subject.startswith("Tak for jeres bestilling")
    assert sent["status"] == "sent"
    assert sent["attempts"] >= 3


@pytest.mark.asyncio
async def test_a_refused_recipient_is_listed_as_failed_for_the_admin(
    notifier_settings: Settings, mailbox: Mailbox, publish: Publish
) -> None:
    case = Case.new()
    mailbox.refuse.add(case.contact_email)
    async with notifier(notifier_settings) as client:
        await publish(case.requested())

        async def listed() -> list[dict[str, Any]]:
            return [d for d in await deliveries(client, status="failed") if d["booking_id"] == case.booking_id]

        [failed] = await eventually(listed, "the refused delivery in the failed list", timeout=DEADLINE)

        no_token = await client.get("/api/v1/deliveries", params={"status": "failed"})
        wrong_token = await client.get(
            "/api/v1/deliveries", params={"status": "failed"}, headers={"Authorization": "Bearer not-the-token"}
        )
        assert no_token.status == 401
        assert wrong_token.status == 401
        assert (await no_token.json())["errors"][0]["field"] == "Authorization"

    assert failed["to"] == case.contact_email
    assert failed["channel"] == "email"
    assert failed["kind"] == "receipt"
    assert failed["status"] == "failed"
    assert "550" in failed["last_error"] and case.contact_email in failed["last_error"]
    assert failed["attempts"] == 1  # a permanent refusal is not retried
    assert mailbox.to(case.contact_email) == []


@pytest.mark.asyncio
async def test_sms_is_retried_after_a_server_error_and_failed_after_a_client_error(
    notifier_settings: Settings, gateway: Gateway, publish: Publish
) -> None:
    flaky, rejected = Case.new(phone_tail=51), Case.new(phone_tail=52)
    gateway.answers = {flaky.msisdn: [500], rejected.msisdn: [400]}
    start = local(2027, 3, 30, 13)
    async with notifier(notifier_settings) as client:
        await publish(flaky.scheduled(start))
        await publish(rejected.scheduled(start))
        flaky_deliveries = await settled(client, flaky.booking_id, 3)
        rejected_deliveries = await settled(client, rejected.booking_id, 3)

    [flaky_sms] = [d for d in flaky_deliveries if d["channel"] == "sms"]
    assert flaky_sms["status"] == "sent"
    assert flaky_sms["attempts"] == 2
    assert flaky_sms["to"] == "+4520304051"
    assert len(gateway.texts_to(flaky.msisdn, status=500)) == 1
    assert len(gateway.texts_to(flaky.msisdn, status=200)) == 1

    [rejected_sms] = [d for d in rejected_deliveries if d["channel"] == "sms"]
    assert rejected_sms["status"] == "failed"
    assert "400" in rejected_sms["last_error"]
    assert len(gateway.texts_to(rejected.msisdn, status=400)) == 1  # not retried
    assert gateway.texts_to(rejected.msisdn) == []
    assert {d["status"] for d in rejected_deliveries if d["channel"] == "email"} == {"sent"}


# --- reminders -------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_due_reminder_is_sent_once_by_two_notifiers(
    notifier_settings: Settings, mailbox: Mailbox, gateway: Gateway, publish: Publish, reminders: MongoDeliveryStore
) -> None:
    case = Case.new()
    start = weekday_ahead(30)
    settings = notifier_settings.model_copy(update={"reminder_before_hours": 24 * 400})  # due at once
    async with notifier(settings) as client, notifier(settings):
        await publish(case.scheduled(start))
        # confirmation e-mail and SMS and invite, then the reminders: e-mail and SMS to the workplace,
        # e-mail to the consultant
        found = await settled(client, case.booking_id, 6)
        reminder = await reminders.reminders.find_one({"_id": case.booking_id})

    assert reminder is not None and reminder["status"] == "sent"
    assert {d["status"] for d in found} == {"sent"}
    assert len(mailbox.to(case.contact_email, "Påmindelse: inspirationsoplæg")) == 1
    assert len(mailbox.to(case.consultant.email, "Påmindelse: Inspirationsoplæg hos Bostedet Lindely")) == 1
    [sms] = [text for text in gateway.texts_to(case.msisdn) if text.startswith("Påmindelse")]
    assert "Anna Jensen" in sms
    assert len(mailbox.received) == 4  # confirmation, invite, two reminders


@pytest.mark.asyncio
async def test_cancelling_drops_the_reminder(
    notifier_settings: Settings, mailbox: Mailbox, publish: Publish, reminders: MongoDeliveryStore
) -> None:
    case = Case.new()
    start = weekday_ahead(30)  # the reminder (3 days before) is weeks away
    async with notifier(notifier_settings) as client:
        await publish(case.scheduled(start))
        await eventually(
            lambda: reminders.reminders.find_one({"_id": case.booking_id}), "the stored reminder", timeout=DEADLINE
        )
        await publish(case.cancelled(start, sequence=1))
        # confirmation e-mail and SMS, invite; then the cancellation to the consultant and to the workplace
        found = await settled(client, case.booking_id, 5)

    reminder = await reminders.reminders.find_one({"_id": case.booking_id})
    assert reminder is not None and reminder["status"] == "cancelled"
    assert not any(d["kind"].startswith(("reminder", "consultant_reminder")) for d in found)
    # not even when its time comes
    assert await reminders.claim_reminder(start.astimezone(UTC) - timedelta(hours=1)) is None
    assert [m for m in mailbox.received if m.subject.startswith("Påmindelse")] == []


@pytest.mark.asyncio
async def test_moving_the_talk_moves_the_reminder(
    notifier_settings: Settings, mailbox: Mailbox, publish: Publish, reminders: MongoDeliveryStore
) -> None:
    case = Case.new()
    first, moved = weekday_ahead(30), weekday_ahead(60, hour=9)
    before = timedelta(hours=notifier_settings.reminder_before_hours)
    async with notifier(notifier_settings):
        await publish(case.scheduled(first))

        async def reminder_at(start: datetime) -> bool:
            doc = await reminders.reminders.find_one({"_id": case.booking_id})
            return doc is not None and doc["due_at"] == start.astimezone(UTC) - before

        await eventually(lambda: reminder_at(first), "the reminder before the first time", timeout=DEADLINE)
        await publish(case.rescheduled(moved, previous=first, sequence=1))
        await eventually(lambda: reminder_at(moved), "the reminder before the new time", timeout=DEADLINE)

    reminder = await reminders.reminders.find_one({"_id": case.booking_id})
    assert reminder is not None
    assert reminder["status"] == "pending"
    assert reminder["sequence"] == 1
    assert reminder["slot"]["start"] == moved.astimezone(UTC)


# --- hostile text stored before the intake refused it ------------------------------------------------------


HOSTILE = "Bostedet\u2028Lindely\r\nBcc: attacker@example.com\x0b\x85\u202e"


@pytest.mark.asyncio
async def test_hostile_stored_text_is_cleaned_where_it_goes_out_and_blocks_no_one(
    notifier_settings: Settings, mailbox: Mailbox, gateway: Gateway, publish: Publish
) -> None:
    """An event from before the intake's character rules, with line separators, CR LF and a header
    injection in the workplace's name, goes out cleaned; the bookings beside it are not held up or
    sent twice."""
    poisoned, normal = Case.new(51), Case.new(52)
    hostile = poisoned.booking().model_copy(
        update={"workplace": Workplace(name=HOSTILE, address="Skovvej\n12", postcode="8000", city="Aarhus\u2029C")}
    )
    scheduled = new_event(
        BookingScheduledData(
            booking_id=poisoned.booking_id,
            booking=hostile,
            status_url=poisoned.status_url,
            slot=poisoned.slot(local(2027, 3, 30, 13)),
            sequence=0,
        )
    )
    async with notifier(notifier_settings) as client:
        await publish(scheduled)
        await publish(normal.scheduled(local(2027, 3, 31, 13)))
        await settled(client, normal.booking_id, 3)
        found = await settled(client, poisoned.booking_id, 3)

    assert {d["status"] for d in found} == {"sent"}
    [invite] = mailbox.to(poisoned.consultant.email)
    assert "Bcc" not in invite.message and "attacker@example.com" not in invite.rcpt_tos
    assert invite.subject.startswith("Invitation: Inspirationsoplæg hos Bostedet Lindely Bcc: attacker")
    event = the_event(calendar_of(invite))
    assert not any(c in str(event["location"]) for c in "\r\n\x0b\x85\u2028\u2029\u202e")
    [sms] = gateway.texts_to(poisoned.msisdn)
    assert not any(c in sms for c in "\r\n\x0b\x85\u2028\u2029\u202e")
    assert len(mailbox.to(normal.contact_email)) == 1 and len(mailbox.to(normal.consultant.email)) == 1
    ids = [str(m.message["Message-ID"]) for m in mailbox.received]
    assert len(ids) == len(set(ids)), "no message was sent twice"


@pytest.mark.asyncio
async def test_a_delivery_that_cannot_be_built_fails_alone_and_nothing_is_sent_twice(
    notifier_settings: Settings, mailbox: Mailbox, gateway: Gateway, publish: Publish, reminders: MongoDeliveryStore
) -> None:
    broken, normal = Case.new(53), Case.new(54)
    now = datetime.now(UTC)
    # A stored delivery whose message lost its subject (say, a document an old version wrote).
    await reminders.deliveries.insert_one(
        {
            "_id": "broken|email|confirmation",
            "event_id": "broken",
            "booking_id": broken.booking_id,
            "channel": "email",
            "kind": "confirmation",
            "to": broken.contact_email,
            "message": {"text": "no subject, no html"},
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
    )
    async with notifier(notifier_settings) as client:
        await publish(normal.scheduled(local(2027, 4, 6, 13)))
        await publish(normal.requested())
        await settled(client, normal.booking_id, 4)
        [failed] = await settled(client, broken.booking_id, 1)
        # The sender keeps polling: give it a few more passes to repeat anything it would repeat.
        passes = consumed()
        await publish(Case.new(55).requested())
        await eventually(lambda: consumed() > passes, "one more event handled", DEADLINE)
        listed = await deliveries(client, status="failed")

    assert failed["status"] == "failed" and "could not build the message" in failed["last_error"]
    assert [d["id"] for d in listed if d["booking_id"] == broken.booking_id] == [failed["id"]]
    assert mailbox.to(broken.contact_email) == []
    assert len(mailbox.to(normal.contact_email)) == 2  # receipt and confirmation, once each
    assert len(mailbox.to(normal.consultant.email)) == 1
    assert len(gateway.texts_to(normal.msisdn)) == 1
