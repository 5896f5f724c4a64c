"""The booking JSON API against a real RabbitMQ and a real MongoDB-protocol server.

Every test runs the real app (``create_app``) in-process with the aiohttp test server. To see what
goes out on the exchange, a test binds its own exclusive queue to ``inspiration.events`` before it
acts, and reads it once the booking's outbox is empty: the relay clears the outbox only after the
broker confirmed the publish, so at that point every published copy is already in the queue.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import aio_pika
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from yarl import URL

from services.booking.app import create_app
from services.booking.domain import BookingRules, parse_booking
from shared.contracts.catalogue import content
from shared.contracts.events import EXCHANGE, BookingScheduledData, encode_event, new_event
from shared.contracts.models import ConsultantRef, Slot
from shared.infra.settings import Settings
from shared.text.localtime import parse_start
from tests.conftest import ADMIN_TOKEN
from tests.dates import closed
from tests.polling import eventually

pytestmark = pytest.mark.integration

T = TypeVar("T")
Document = dict[str, Any]


# --- helpers ---------------------------------------------------------------------------------------------


def weekday_ahead(days: int, hour: int = 10) -> str:
    """A local (Copenhagen) start time on the first weekday at least ``days`` days from today."""
    day = date.today() + timedelta(days=days)
    while closed(day):
        day += timedelta(days=1)
    return f"{day.isoformat()}T{hour:02d}:00"


def valid_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "workplace": {"name": "Bostedet Lindely", "address": "Skovvej 12", "postcode": "8000", "city": "Aarhus C"},
        "contact": {"name": "Mette Hansen", "email": "mette@example.dk", "phone": "+45 20 30 40 50"},
        "theme": "selvledelse",
        "setting": "staff_meeting",
        "participants": 18,
        "duration_minutes": 120,
        "preferred_starts": [weekday_ahead(21, 13), weekday_ahead(28, 10)],
        "notes": "Vi holder personalemøde i fællesrummet.",
    }
    body.update(changes)
    return body


def with_nested(group: str, **changes: Any) -> dict[str, Any]:
    body = valid_body()
    body[group] = {**body[group], **changes}
    return body


def token_of(status_url: str) -> str:
    return URL(status_url).query["token"]


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


# --- fixtures --------------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def client(settings: Settings, clean_queues: None) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(settings))) as test_client:
        yield test_client


@pytest.fixture
def bookings(db: AsyncDatabase[Document]) -> AsyncCollection[Document]:
    return db.bookings


@pytest_asyncio.fixture
async def channel(amqp_url: str) -> AsyncIterator[AbstractChannel]:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        yield channel


async def tap(channel: AbstractChannel, routing_key: str) -> AbstractQueue:
    """A private queue that receives a copy of every event with ``routing_key`` from now on."""
    queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
    await queue.bind(EXCHANGE, routing_key=routing_key)
    return queue


async def drain(queue: AbstractQueue, correlation_id: str) -> list[AbstractIncomingMessage]:
    """Everything in the queue now that belongs to ``correlation_id`` (the broker may be shared)."""
    messages = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        if message.correlation_id == correlation_id:
            messages.append(message)
    return messages


async def outbox_sent(collection: AsyncCollection[Document], booking_id: str) -> bool:
    async def empty() -> bool:
        doc = await collection.find_one({"_id": booking_id}, {"outbox": 1, "outbox_due": 1})
        return doc is not None and doc["outbox"] == [] and "outbox_due" not in doc

    return await eventually(empty, what=f"the outbox of {booking_id} to be published")


async def published(
    queue: AbstractQueue, collection: AsyncCollection[Document], booking_id: str
) -> list[AbstractIncomingMessage]:
    await outbox_sent(collection, booking_id)
    return await drain(queue, booking_id)


async def create(client: TestClient[Any, Any], body: dict[str, Any] | None = None, **headers: str) -> Document:
    response = await client.post("/api/v1/bookings", json=body or valid_body(), headers=headers)
    assert response.status == 201, await response.text()
    created: Document = await response.json()
    return created


async def assert_errors(response: Any, status: int) -> list[dict[str, str]]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    payload = await response.json()
    assert set(payload) == {"errors"}
    assert payload["errors"], "an error response must list at least one error"
    for error in payload["errors"]:
        assert set(error) == {"field", "message"}
        assert isinstance(error["field"], str) and isinstance(error["message"], str) and error["message"]
    errors: list[dict[str, str]] = payload["errors"]
    return errors


# --- creating a booking -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_valid_booking_is_stored_and_announced_exactly_once(
    client: TestClient[Any, Any], bookings: AsyncCollection[Document], channel: AbstractChannel
) -> None:
    requested = await tap(channel, "booking.requested")
    body = valid_body()

    response = await client.post("/api/v1/bookings", json=body)

    assert response.status == 201
    created = await response.json()
    assert set(created) == {"id", "status", "status_url"}
    booking_id = created["id"]
    assert created["status"] == "received"
    assert f"/bookings/{booking_id}?token=" in created["status_url"]

    stored = await bookings.find_one({"_id": booking_id})
    assert stored is not None
    assert stored["status"] == "received"
    assert stored["details"]["theme"] == "selvledelse"
    assert stored["details"]["contact"]["phone"] == "+4520304050"
    expected_starts = [parse_start(s) for s in body["preferred_starts"]]
    assert stored["details"]["preferred_starts"] == expected_starts

    messages = await published(requested, bookings, booking_id)
    assert len(messages) == 1
    message = messages[0]
    event = json.loads(message.body)
    assert uuid.UUID(event["event_id"]).version == 4
    assert event["type"] == "booking.requested"
    assert event["version"] == 1
    occurred_at = datetime.fromisoformat(event["occurred_at"])
    assert occurred_at.utcoffset() == timedelta(0)
    assert event["correlation_id"] == booking_id
    data = event["data"]
    assert data["booking_id"] == booking_id
    assert data["status_url"] == created["status_url"]
    assert data["booking"]["theme"] == "selvledelse"
    assert data["booking"]["participants"] == 18
    assert data["booking"]["duration_minutes"] == 120
    assert data["booking"]["workplace"] == body["workplace"]
    assert [datetime.fromisoformat(s) for s in data["booking"]["preferred_starts"]] == expected_starts
    # Message properties: persistent, routed by type, identified by the event id.
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.routing_key == "booking.requested"
    assert message.message_id == event["event_id"]
    assert message.content_type == "application/json"

    after = await bookings.find_one({"_id": booking_id})
    assert after is not None and after["outbox"] == []


THEME_MESSAGE = "ét tema pr. oplæg"

INVALID_CASES: list[tuple[str, Callable[[], Any], str, str]] = [
    ("theme-list", lambda: valid_body(theme=["selvledelse", "smidighed"]), "theme", THEME_MESSAGE),
    ("theme-unknown", lambda: valid_body(theme="stress"), "theme", THEME_MESSAGE),
    ("theme-object", lambda: valid_body(theme={"id": "selvledelse"}), "theme", THEME_MESSAGE),
    ("duration-89", lambda: valid_body(duration_minutes=89), "duration_minutes", "90 til 120 minutter"),
    ("duration-121", lambda: valid_body(duration_minutes=121), "duration_minutes", "90 til 120 minutter"),
    ("duration-string", lambda: valid_body(duration_minutes="120"), "duration_minutes", "90 til 120 minutter"),
    ("participants-0", lambda: valid_body(participants=0), "participants", "1 til 500"),
    ("participants-501", lambda: valid_body(participants=501), "participants", "1 til 500"),
    ("participants-float", lambda: valid_body(participants=18.5), "participants", "1 til 500"),
    ("setting-unknown", lambda: valid_body(setting="cafe"), "setting", "personalemøde"),
    ("no-starts", lambda: valid_body(preferred_starts=[]), "preferred_starts", "1 til 3"),
    (
        "four-starts",
        lambda: valid_body(preferred_starts=[weekday_ahead(20 + i) for i in range(0, 28, 7)]),
        "preferred_starts",
        "1 til 3",
    ),
    (
        "duplicate-starts",
        lambda: valid_body(preferred_starts=[weekday_ahead(21), weekday_ahead(21)]),
        "preferred_starts.1",
        "to gange",
    ),
    ("start-garbage", lambda: valid_body(preferred_starts=["snart"]), "preferred_starts.0", "Ugyldigt tidspunkt"),
    (
        "start-nonexistent",
        lambda: valid_body(preferred_starts=["2027-03-28T02:30"]),
        "preferred_starts.0",
        "findes ikke",
    ),
    ("start-weekend", lambda: valid_body(preferred_starts=["2099-01-03T10:00"]), "preferred_starts.0", "hverdage"),
    ("start-too-early", lambda: valid_body(preferred_starts=[weekday_ahead(21, 7)]), "preferred_starts.0", "08.00"),
    ("end-too-late", lambda: valid_body(preferred_starts=[weekday_ahead(21, 16)]), "preferred_starts.0", "17.00"),
    ("start-too-soon", lambda: valid_body(preferred_starts=["2020-01-06T10:00"]), "preferred_starts.0", "14 dage"),
    ("start-too-far", lambda: valid_body(preferred_starts=["2099-01-05T10:00"]), "preferred_starts.0", "365 dage"),
    ("email", lambda: with_nested("contact", email="mette@"), "contact.email", "e-mailadresse"),
    ("phone", lambda: with_nested("contact", phone="1234"), "contact.phone", "8 cifre"),
    ("postcode-3", lambda: with_nested("workplace", postcode="800"), "workplace.postcode", "4 cifre"),
    ("postcode-5", lambda: with_nested("workplace", postcode="80000"), "workplace.postcode", "4 cifre"),
    ("name-too-long", lambda: with_nested("workplace", name="x" * 201), "workplace.name", "200 tegn"),
    ("unknown-field", lambda: valid_body(priority="high"), "priority", "Ukendt felt"),
    ("where-operator", lambda: valid_body(**{"$where": "sleep(1000)"}), "$where", "Ukendt felt"),
    ("gt-in-workplace", lambda: with_nested("workplace", **{"$gt": ""}), "workplace.$gt", "Ukendt felt"),
    ("operator-as-value", lambda: with_nested("contact", name={"$ne": 1}), "contact.name", "tekst"),
    ("list-body", lambda: [valid_body()], "body", "objekt"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("make_body", "field", "message"), [case[1:] for case in INVALID_CASES], ids=[case[0] for case in INVALID_CASES]
)
async def test_invalid_booking_is_refused_with_422_naming_the_field(
    client: TestClient[Any, Any],
    bookings: AsyncCollection[Document],
    make_body: Callable[[], Any],
    field: str,
    message: str,
) -> None:
    response = await client.post("/api/v1/bookings", json=make_body())

    errors = await assert_errors(response, 422)
    by_field = {e["field"]: e["message"] for e in errors}
    assert field in by_field, errors
    assert message in by_field[field]
    assert await bookings.count_documents({}) == 0


@pytest.mark.asyncio
async def test_error_messages_are_english_when_asked_for(client: TestClient[Any, Any]) -> None:
    response = await client.post(
        "/api/v1/bookings", json=valid_body(theme=["selvledelse", "smidighed"]), headers={"Accept-Language": "en"}
    )
    errors = await assert_errors(response, 422)
    assert "one theme per talk" in errors[0]["message"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "body", [b'{"theme": "selvledelse",', b"", b"\xff\xfe not json"], ids=["cut", "empty", "bytes"]
)
async def test_malformed_json_is_400(client: TestClient[Any, Any], body: bytes) -> None:
    response = await client.post("/api/v1/bookings", data=body, headers={"Content-Type": "application/json"})
    await assert_errors(response, 400)


@pytest.mark.asyncio
async def test_body_over_64_kib_is_413_in_the_json_error_shape(
    client: TestClient[Any, Any], bookings: AsyncCollection[Document]
) -> None:
    response = await client.post("/api/v1/bookings", json=valid_body(notes="x" * (65 * 1024)))

    await assert_errors(response, 413)
    assert (await response.json())["errors"][0]["field"] == "body"
    assert "for stor" in (await response.json())["errors"][0]["message"]
    assert await bookings.count_documents({}) == 0


# --- idempotency ------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_same_idempotency_key_and_body_gives_the_same_booking_once(
    client: TestClient[Any, Any], bookings: AsyncCollection[Document], channel: AbstractChannel
) -> None:
    requested = await tap(channel, "booking.requested")
    body = valid_body()
    key = str(uuid.uuid4())

    first = await create(client, body, **{"Idempotency-Key": key})
    second = await create(client, copy.deepcopy(body), **{"Idempotency-Key": key})

    assert second["id"] == first["id"]
    assert second["status_url"] == first["status_url"]
    assert await bookings.count_documents({}) == 1
    assert len(await published(requested, bookings, first["id"])) == 1


@pytest.mark.asyncio
async def test_same_idempotency_key_with_another_body_is_a_conflict(
    client: TestClient[Any, Any], bookings: AsyncCollection[Document]
) -> None:
    key = str(uuid.uuid4())
    await create(client, valid_body(), **{"Idempotency-Key": key})

    response = await client.post("/api/v1/bookings", json=valid_body(participants=30), headers={"Idempotency-Key": key})

    errors = await assert_errors(response, 409)
    assert errors[0]["field"] == "Idempotency-Key"
    assert await bookings.count_documents({}) == 1


# --- reading a booking ----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_booking_is_readable_with_its_status_token_or_the_admin_token_only(
    client: TestClient[Any, Any], bookings: AsyncCollection[Document]
) -> None:
    created = await create(client)
    booking_id, token = created["id"], token_of(created["status_url"])
    path = f"/api/v1/bookings/{booking_id}"

    workplace_view = await client.get(path, params={"token": token})
    assert workplace_view.status == 200
    view = await workplace_view.json()
    assert view["id"] == booking_id
    assert view["status"] == "received"
    assert view["theme"]["id"] == "selvledelse"
    assert "status_url" not in view  # the secret is not echoed to whoever holds the link

    await assert_errors(await client.get(path), 404)
    await assert_errors(await client.get(path, params={"token": "not-the-token"}), 404)
    await assert_errors(await client.get(path, headers={"Authorization": "Bearer wrong"}), 404)
    await assert_errors(await client.get("/api/v1/bookings/XXXX-XXXX", params={"token": token}), 404)

    admin_view = await client.get(path, headers=admin())
    assert admin_view.status == 200
    assert (await admin_view.json())["status_url"] == created["status_url"]


# --- cancel and reschedule -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cancel_is_accepted_once_and_announced(
    client: TestClient[Any, Any], bookings: AsyncCollection[Document], channel: AbstractChannel
) -> None:
    cancel_requested = await tap(channel, "booking.cancel_requested")
    created = await create(client)
    booking_id, token = created["id"], token_of(created["status_url"])
    path = f"/api/v1/bookings/{booking_id}/cancel"

    response = await client.post(path, params={"token": token}, json={"reason": "Personalemødet er aflyst."})

    assert response.status == 202
    assert (await response.json())["cancel_requested"] is True
    messages = await published(cancel_requested, bookings, booking_id)
    assert len(messages) == 1
    event = json.loads(messages[0].body)
    assert event["type"] == "booking.cancel_requested"
    assert event["data"] == {
        "booking_id": booking_id,
        "requested_by": "workplace",
        "reason": "Personalemødet er aflyst.",
    }

    again = await client.post(path, params={"token": token})
    errors = await assert_errors(again, 409)
    assert errors[0]["field"] == "status"


@pytest.mark.asyncio
async def test_cancel_needs_the_token(client: TestClient[Any, Any]) -> None:
    created = await create(client)
    await assert_errors(await client.post(f"/api/v1/bookings/{created['id']}/cancel"), 404)


@pytest.mark.asyncio
async def test_reschedule_with_valid_starts_is_accepted_and_announced(
    client: TestClient[Any, Any], bookings: AsyncCollection[Document], channel: AbstractChannel
) -> None:
    reschedule_requested = await tap(channel, "booking.reschedule_requested")
    created = await create(client)
    booking_id, token = created["id"], token_of(created["status_url"])
    new_start = weekday_ahead(40, 9)

    response = await client.post(
        f"/api/v1/bookings/{booking_id}/reschedule", params={"token": token}, json={"preferred_starts": [new_start]}
    )

    assert response.status == 202
    assert (await response.json())["reschedule_requested"] is True
    messages = await published(reschedule_requested, bookings, booking_id)
    assert len(messages) == 1
    event = json.loads(messages[0].body)
    assert event["type"] == "booking.reschedule_requested"
    assert event["data"]["requested_by"] == "workplace"
    assert [datetime.fromisoformat(s) for s in event["data"]["preferred_starts"]] == [parse_start(new_start)]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"preferred_starts": ["2099-01-03T10:00"]}, "preferred_starts.0"),
        ({"preferred_starts": []}, "preferred_starts"),
        ({"preferred_starts": "2099-01-05T10:00"}, "preferred_starts"),
        ([], "body"),
    ],
    ids=["weekend", "none", "not-a-list", "not-an-object"],
)
async def test_reschedule_with_invalid_starts_is_422(client: TestClient[Any, Any], body: Any, field: str) -> None:
    created = await create(client)
    response = await client.post(
        f"/api/v1/bookings/{created['id']}/reschedule", params={"token": token_of(created["status_url"])}, json=body
    )
    errors = await assert_errors(response, 422)
    assert field in {e["field"] for e in errors}


@pytest.mark.asyncio
async def test_only_an_admin_may_fix_time_and_consultant(
    client: TestClient[Any, Any], bookings: AsyncCollection[Document], channel: AbstractChannel
) -> None:
    reschedule_requested = await tap(channel, "booking.reschedule_requested")
    created = await create(client)
    booking_id = created["id"]
    path = f"/api/v1/bookings/{booking_id}/reschedule"
    fixed = {"start": weekday_ahead(30, 10), "consultant_id": "anne"}

    as_workplace = await client.post(path, params={"token": token_of(created["status_url"])}, json=fixed)
    errors = await assert_errors(as_workplace, 422)
    assert {"start", "consultant_id"} <= {e["field"] for e in errors}

    as_admin = await client.post(path, headers=admin(), json=fixed)
    assert as_admin.status == 202
    messages = await published(reschedule_requested, bookings, booking_id)
    assert len(messages) == 1
    data = json.loads(messages[0].body)["data"]
    assert data["requested_by"] == "admin"
    assert data["consultant_id"] == "anne"
    assert datetime.fromisoformat(data["start"]) == parse_start(fixed["start"])


# --- catalogue, description and operations ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_themes_lists_the_six_themes(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/v1/themes")
    assert response.status == 200
    themes = (await response.json())["themes"]
    assert [t["id"] for t in themes] == [t.id for t in content().themes]
    assert len(themes) == 6
    assert themes[0]["title"] == "Smidighed på arbejdspladsen"
    assert all(t["description"] for t in themes)


@pytest.mark.asyncio
async def test_openapi_describes_the_api(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    spec = await response.json()
    assert spec["openapi"].startswith("3.")
    assert {
        "/api/v1/themes",
        "/api/v1/bookings",
        "/api/v1/bookings/{id}",
        "/api/v1/bookings/{id}/cancel",
        "/api/v1/bookings/{id}/reschedule",
        "/api/v1/availability",
    } <= set(spec["paths"])


@pytest.mark.asyncio
async def test_health_and_readiness(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"] == {"mongodb": True, "rabbitmq": True, "consumer:booking.status": True}


@pytest.mark.asyncio
async def test_metrics_count_validation_failures_and_outbox_backlog(client: TestClient[Any, Any]) -> None:
    await client.post("/api/v1/bookings", json=valid_body(participants=0))
    unknown = f"field_{uuid.uuid4().hex}"
    await client.post("/api/v1/bookings", json=valid_body(**{unknown: 1}))

    async def metrics_text() -> str | None:
        text = await (await client.get("/metrics", headers=admin())).text()
        return text if "inspiration_outbox_backlog{" in text else None

    text = await eventually(metrics_text, what="the outbox backlog gauge")
    assert 'booking_validation_failures_total{field="participants"}' in text
    # A client-chosen field name must not become a label: that would let anyone grow the metrics without end.
    assert unknown not in text
    assert 'booking_validation_failures_total{field="unknown_field"}' in text
    assert 'inspiration_outbox_backlog{collection="bookings"}' in text


# --- status projection -------------------------------------------------------------------------------------------


def processed_status_events() -> float:
    """How many events the booking service's status consumer has finished (handled or recognised as duplicate)."""
    return sum(
        REGISTRY.get_sample_value("inspiration_messages_total", {"queue": "booking.status", "outcome": outcome}) or 0.0
        for outcome in ("handled", "duplicate")
    )


@pytest.mark.asyncio
async def test_scheduled_event_updates_the_status_once(
    client: TestClient[Any, Any], bookings: AsyncCollection[Document], channel: AbstractChannel
) -> None:
    body = valid_body()
    created = await create(client, body)
    booking_id, token = created["id"], token_of(created["status_url"])
    start = parse_start(body["preferred_starts"][0])
    slot = Slot(
        consultant=ConsultantRef(id="anne", name="Anne Konsulent", email="anne@example.dk"),
        start=start,
        end=start + timedelta(minutes=120),
    )
    details = parse_booking(body, now=datetime.now(UTC), rules=BookingRules())
    event = new_event(
        BookingScheduledData(booking_id=booking_id, booking=details, status_url=created["status_url"], slot=slot)
    )
    message = aio_pika.Message(
        encode_event(event),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(event.event_id),
        correlation_id=booking_id,
        type=event.type,
    )
    exchange = await channel.get_exchange(EXCHANGE)

    async def view() -> Document:
        response = await client.get(f"/api/v1/bookings/{booking_id}", params={"token": token})
        assert response.status == 200
        result: Document = await response.json()
        return result

    async def scheduled() -> Document | None:
        current = await view()
        return current if current["status"] == "scheduled" else None

    before = processed_status_events()
    await exchange.publish(message, routing_key=event.type)
    booking = await eventually(scheduled, what="the booking to become scheduled")
    assert booking["slot"]["consultant"] == {"id": "anne", "name": "Anne Konsulent"}
    assert datetime.fromisoformat(booking["slot"]["start"]["utc"]) == start

    # The broker delivers at least once: the same event again changes nothing.
    await exchange.publish(message, routing_key=event.type)

    async def both_processed() -> bool:
        return processed_status_events() >= before + 2

    await eventually(both_processed, what="the duplicate to be processed")
    after = await view()
    assert after["status"] == "scheduled"
    assert [h["status"] for h in after["history"]] == ["received", "scheduled"]
    stored = await bookings.find_one({"_id": booking_id})
    assert stored is not None
    assert [h["event_id"] for h in stored["history"]].count(str(event.event_id)) == 1
