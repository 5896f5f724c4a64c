"""E-mail over a real SMTP server (aiosmtpd) and SMS against a local stand-in for GatewayAPI.

Everything listens on 127.0.0.1 only, on free ports; nothing leaves the machine.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import aiohttp
import icalendar
import pytest
import pytest_asyncio
from aiohttp import web
from aiosmtpd.controller import Controller
from icalendar import Calendar

from services.notifier import compose
from services.notifier.domain import Email, Sms
from services.notifier.errors import PermanentDeliveryError, TransientDeliveryError
from services.notifier.mailer import SmtpMailer
from services.notifier.mime import build_mime
from services.notifier.sms import GatewayApiSms, LogSms, make_sms_provider
from shared.contracts.events import BookingRequestedData, BookingScheduledData
from shared.contracts.models import BookingDetails, ConsultantRef, Contact, Slot, Workplace
from shared.infra.settings import Settings
from shared.text.localtime import localize

pytestmark = pytest.mark.integration

LOOPBACK = "127.0.0.1"
MAIL_FROM = "booking@socialpaedagogerne-oestjylland.example"
TOKEN = "test-token-0123456789"
SENDER = "SLOestjyl"
NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
REFUSED = "gone@example.dk"
LATER = "busy@example.dk"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def make_booking() -> BookingDetails:
    start = localize(datetime(2027, 3, 30, 13)).astimezone(UTC)
    return BookingDetails(
        workplace=Workplace(name="Bostedet Lindely", address="Skovvej 12", postcode="8000", city="Aarhus C"),
        contact=Contact(name="Mette Hansen", email="mette@example.dk", phone="+4520304050"),
        theme="alene-arbejde",
        setting="staff_meeting",
        participants=18,
        duration_minutes=90,
        preferred_starts=(start,),
        notes="Vi mødes i fællesrummet.",
    )


def make_slot() -> Slot:
    start = localize(datetime(2027, 3, 30, 13)).astimezone(UTC)
    return Slot(
        consultant=ConsultantRef(id="c-1", name="Anna Jensen", email="anna@example.dk"),
        start=start,
        end=start + timedelta(minutes=90),
    )


# --- SMTP --------------------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class Sink:
    """An aiosmtpd handler that keeps what it receives and refuses two addresses (550 and 451)."""

    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if address == REFUSED:
            return "550 5.1.1 No such mailbox here"
        if address == LATER:
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname=LOOPBACK, port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def scheduled_messages() -> list[Email | Sms]:
    data = BookingScheduledData(
        booking_id="bk-1",
        booking=make_booking(),
        status_url="http://127.0.0.1:8080/b/bk-1?s=x",
        slot=make_slot(),
        sequence=0,
    )
    return compose.scheduled(data, mail_from=MAIL_FROM, now=NOW)


def the(kind: str, messages: list[Email | Sms]) -> Email:
    [email] = [m for m in messages if m.kind == kind and isinstance(m, Email)]
    return email


def parsed(received: Received) -> EmailMessage:
    message = message_from_bytes(received.content, policy=default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.mark.asyncio
async def test_invite_arrives_with_its_recipient_and_parses(smtp_server: tuple[Sink, int]) -> None:
    sink, port = smtp_server
    invite = the("invite", scheduled_messages())
    await SmtpMailer(LOOPBACK, port).send(build_mime(invite, mail_from=MAIL_FROM))

    [received] = sink.received
    assert received.mail_from == MAIL_FROM
    assert received.rcpt_tos == ["anna@example.dk"]
    message = parsed(received)
    assert message["Subject"] == invite.subject
    assert message.get_content_type() == "multipart/mixed"
    calendar_part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert calendar_part.get_param("method") == "REQUEST"
    raw_calendar = calendar_part.get_payload(decode=True)
    assert raw_calendar == invite.calendar  # byte for byte: CRLF and folding intact
    vevent = Calendar.from_ical(raw_calendar).walk("VEVENT")[0]
    assert str(vevent["UID"]) == "bk-1@inspiration-booking"
    assert int(vevent["SEQUENCE"]) == 0
    assert str(vevent["ATTENDEE"]) == "mailto:anna@example.dk"
    assert vevent.decoded("DTSTART").astimezone(UTC) == datetime(2027, 3, 30, 11, tzinfo=UTC)
    attachment = next(p for p in message.walk() if p.get_filename() == "invite.ics")
    assert attachment.get_payload(decode=True) == invite.calendar


@pytest.mark.asyncio
async def test_receipt_and_confirmation_arrive_in_danish(smtp_server: tuple[Sink, int]) -> None:
    sink, port = smtp_server
    mailer = SmtpMailer.from_settings(Settings(smtp_host=LOOPBACK, smtp_port=port))
    [receipt] = compose.receipt(
        BookingRequestedData(booking_id="bk-1", booking=make_booking(), status_url="http://127.0.0.1/b/bk-1")
    )
    assert isinstance(receipt, Email)
    confirmation = the("confirmation", scheduled_messages())
    for email in (receipt, confirmation):
        await mailer.send(build_mime(email, mail_from=MAIL_FROM))

    assert [r.rcpt_tos for r in sink.received] == [["mette@example.dk"], ["mette@example.dk"]]
    got_receipt, got_confirmation = (parsed(r) for r in sink.received)
    assert got_receipt["Subject"] == "Tak for jeres bestilling af et inspirationsoplæg (ref. bk-1)"
    assert "Alene-arbejde og psykisk arbejdsmiljø" in got_receipt.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert got_confirmation["Subject"] == "Bekræftet: inspirationsoplæg tirsdag den 30. marts 2027 kl. 13.00"
    body = got_confirmation.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "tirsdag den 30. marts 2027 kl. 13.00–14.30" in body
    assert "Bostedet Lindely, Skovvej 12, 8000 Aarhus C" in body
    # the workplace's own calendar invite travels with the confirmation, as the consultant's does
    assert got_confirmation.get_content_type() == "multipart/mixed"
    invite = next(p for p in got_confirmation.walk() if p.get_filename() == "invite.ics")
    [event] = icalendar.Calendar.from_ical(invite.get_payload(decode=True)).walk("VEVENT")
    assert str(event["ATTENDEE"]) == "mailto:mette@example.dk"


@pytest.mark.asyncio
async def test_smtp_down_is_transient() -> None:
    port = free_port()  # nothing listens here
    invite = the("invite", scheduled_messages())
    with pytest.raises(TransientDeliveryError) as caught:
        await SmtpMailer(LOOPBACK, port, timeout_seconds=5).send(build_mime(invite, mail_from=MAIL_FROM))
    assert str(port) in caught.value.reason


@pytest.mark.asyncio
async def test_recipient_refused_with_550_is_permanent(smtp_server: tuple[Sink, int]) -> None:
    sink, port = smtp_server
    email = Email(kind="receipt", to=REFUSED, subject="Prøve æøå", text="Hej", html="<p>Hej</p>")
    with pytest.raises(PermanentDeliveryError) as caught:
        await SmtpMailer(LOOPBACK, port).send(build_mime(email, mail_from=MAIL_FROM))
    assert "550" in caught.value.reason and REFUSED in caught.value.reason
    assert sink.received == []


@pytest.mark.asyncio
async def test_recipient_deferred_with_451_is_transient(smtp_server: tuple[Sink, int]) -> None:
    sink, port = smtp_server
    email = Email(kind="receipt", to=LATER, subject="Prøve", text="Hej", html="<p>Hej</p>")
    with pytest.raises(TransientDeliveryError) as caught:
        await SmtpMailer(LOOPBACK, port).send(build_mime(email, mail_from=MAIL_FROM))
    assert "451" in caught.value.reason
    assert sink.received == []


# --- SMS through a local GatewayAPI --------------------------------------------------------------------

GATEWAY_SUCCESS = {"ids": [421332671], "usage": {"countries": {"DK": 1}, "currency": "DKK", "total_cost": 0.13}}


@dataclass
class Gateway:
    base_url: str
    requests: list[dict[str, Any]]


def _format_problems(request: web.Request, body: Any) -> list[str]:
    """What a real GatewayAPI would object to in the request."""
    problems = []
    if request.headers.get("Authorization") != f"Token {TOKEN}":
        problems.append("Authorization must be 'Token <token>'")
    if request.content_type != "application/json":
        problems.append("Content-Type must be application/json")
    if not isinstance(body, dict):
        return [*problems, "body must be a JSON object"]
    if not isinstance(body.get("message"), str) or not body["message"]:
        problems.append("message is required")
    if body.get("sender") != SENDER:
        problems.append("sender is missing")
    recipients = body.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        problems.append("recipients is required")
    else:
        for recipient in recipients:
            number = recipient.get("msisdn") if isinstance(recipient, dict) else None
            if not isinstance(number, int) or isinstance(number, bool):
                problems.append("msisdn must be an integer")
    if body.get("encoding", "UCS2") != "UCS2":
        problems.append("encoding, when given, is UCS2 here")
    unknown = set(body) - {"sender", "message", "recipients", "encoding", "class", "userref", "callback_url"}
    if unknown:
        problems.append(f"unknown fields {sorted(unknown)}")
    return problems


@pytest_asyncio.fixture
async def gateway() -> AsyncIterator[Gateway]:
    seen: list[dict[str, Any]] = []

    async def mtsms(request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        seen.append({"headers": dict(request.headers), "body": body})
        problems = _format_problems(request, body)
        if problems:
            return web.json_response({"code": "0x0216", "message": "; ".join(problems)}, status=400)
        return web.json_response(GATEWAY_SUCCESS)

    async def fail(request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        return web.json_response({"code": "0x0000", "message": f"failing with {status}"}, status=status)

    app = web.Application()
    app.router.add_post("/rest/mtsms", mtsms)
    app.router.add_post("/fail/{status}/rest/mtsms", fail)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, LOOPBACK, port)
    await site.start()
    try:
        yield Gateway(f"http://{LOOPBACK}:{port}", seen)
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.mark.asyncio
async def test_gatewayapi_request_format(gateway: Gateway, session: aiohttp.ClientSession) -> None:
    sms = GatewayApiSms(f"{gateway.base_url}/rest/mtsms", TOKEN, SENDER, session)
    [confirmation_sms] = [m for m in scheduled_messages() if isinstance(m, Sms)]
    await sms.send(confirmation_sms.to, confirmation_sms.text)
    await sms.send("20 30 40 50", "Hej – med tankestreg og emoji 🙂")

    first, second = gateway.requests
    assert first["headers"]["Authorization"] == f"Token {TOKEN}"
    assert first["body"] == {
        "sender": SENDER,
        "message": confirmation_sms.text,  # UTF-8 with æøå, which GSM 03.38 has
        "recipients": [{"msisdn": 4520304050}],
    }
    assert "bekræftet" in first["body"]["message"] and "encoding" not in first["body"]
    assert second["body"]["encoding"] == "UCS2"
    assert second["body"]["message"] == "Hej – med tankestreg og emoji 🙂"
    assert second["body"]["recipients"] == [{"msisdn": 4520304050}]


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_gatewayapi_server_errors_and_throttling_are_transient(
    gateway: Gateway, session: aiohttp.ClientSession, status: int
) -> None:
    sms = GatewayApiSms(f"{gateway.base_url}/fail/{status}/rest/mtsms", TOKEN, SENDER, session)
    with pytest.raises(TransientDeliveryError) as caught:
        await sms.send("+4520304050", "Hej")
    assert str(status) in caught.value.reason


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [400, 401, 403, 422])
async def test_gatewayapi_client_errors_are_permanent_with_the_answer_as_reason(
    gateway: Gateway, session: aiohttp.ClientSession, status: int
) -> None:
    sms = GatewayApiSms(f"{gateway.base_url}/fail/{status}/rest/mtsms", TOKEN, SENDER, session)
    with pytest.raises(PermanentDeliveryError) as caught:
        await sms.send("+4520304050", "Hej")
    assert f"failing with {status}" in caught.value.reason


@pytest.mark.asyncio
async def test_gatewayapi_rejecting_a_bad_token_is_permanent(gateway: Gateway, session: aiohttp.ClientSession) -> None:
    sms = GatewayApiSms(f"{gateway.base_url}/rest/mtsms", "wrong-token", SENDER, session)
    with pytest.raises(PermanentDeliveryError) as caught:
        await sms.send("+4520304050", "Hej")
    assert "Authorization" in caught.value.reason


@pytest.mark.asyncio
async def test_gatewayapi_unreachable_is_transient(session: aiohttp.ClientSession) -> None:
    sms = GatewayApiSms(f"http://{LOOPBACK}:{free_port()}/rest/mtsms", TOKEN, SENDER, session)
    with pytest.raises(TransientDeliveryError):
        await sms.send("+4520304050", "Hej")


@pytest.mark.asyncio
async def test_an_invalid_number_is_permanent_and_sends_nothing(
    gateway: Gateway, session: aiohttp.ClientSession
) -> None:
    sms = GatewayApiSms(f"{gateway.base_url}/rest/mtsms", TOKEN, SENDER, session)
    with pytest.raises(PermanentDeliveryError):
        await sms.send("12", "Hej")
    assert gateway.requests == []


@pytest.mark.asyncio
async def test_log_provider_and_settings(caplog: pytest.LogCaptureFixture, session: aiohttp.ClientSession) -> None:
    provider = make_sms_provider(Settings())
    assert isinstance(provider, LogSms)
    with caplog.at_level("INFO", logger="services.notifier.sms"):
        await provider.send("+4520304050", "Hej fra æøå")
    assert "SMS written to the log" in caplog.text
    assert "+4520304050" not in caplog.text and "Hej fra æøå" not in caplog.text, "no personal data at INFO"
    caplog.clear()
    with caplog.at_level("DEBUG", logger="services.notifier.sms"):
        await provider.send("+4520304050", "Hej fra æøå")
    assert "+4520304050" in caplog.text and "Hej fra æøå" in caplog.text, "a developer sees the SMS at DEBUG"
    with pytest.raises(ValueError):
        make_sms_provider(Settings(sms_provider="gatewayapi"), session)
    gateway = make_sms_provider(Settings(sms_provider="gatewayapi", sms_api_token=TOKEN), session)
    assert isinstance(gateway, GatewayApiSms)


# --- the connection pool -----------------------------------------------------------------------------------


@dataclass
class CountingSink(Sink):
    """A ``Sink`` that also notes the client's address and port (one per connection) of each message."""

    peers: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.peers.append(session.peer)
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.asyncio
async def test_messages_reuse_one_connection_and_one_that_failed_is_not_reused() -> None:
    sink = CountingSink()
    port = free_port()
    controller = Controller(sink, hostname=LOOPBACK, port=port)
    controller.start()
    mailer = SmtpMailer(LOOPBACK, port, pool_size=1)
    receipt = the("receipt", receipt_messages())
    try:
        for _ in range(3):
            await mailer.send(build_mime(receipt, mail_from=MAIL_FROM))
        with pytest.raises(PermanentDeliveryError):
            await mailer.send(build_mime(replace_to(receipt, REFUSED), mail_from=MAIL_FROM))
        await mailer.send(build_mime(receipt, mail_from=MAIL_FROM))
        await mailer.close()
    finally:
        controller.stop()

    first, second, third, after_the_failure = sink.peers
    assert first == second == third, "one connection for the messages one after the other"
    assert after_the_failure != first, "a connection whose send raised is closed, a new one opened"
    assert len(sink.received) == 4


def receipt_messages() -> list[Email | Sms]:
    return compose.receipt(BookingRequestedData(booking_id="bk-1", booking=make_booking(), status_url="u"))


def replace_to(email: Email, to: str) -> Email:
    return Email(kind=email.kind, to=to, subject=email.subject, text=email.text, html=email.html)
