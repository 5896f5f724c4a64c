"""The scheduler on real RabbitMQ and a MongoDB-protocol server.

The scheduler runs in-process (``aiohttp.test_utils.TestServer``). A test talks to it as the booking
service does: it publishes events to the ``inspiration.events`` exchange, and watches what comes
back on a queue of its own bound to the scheduler's outcome events, and in the scheduler's
collections. The last test drives the whole path from the booking form to the status page.
"""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import icalendar
import pytest
import pytest_asyncio
import yaml
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY
from yarl import URL

from services.booking.app import create_app as create_booking_app
from services.scheduler.app import create_app as create_scheduler_app
from services.topology import SCHEDULER_QUEUE
from shared.contracts.events import (
    EXCHANGE,
    BookingCancelRequestedData,
    BookingRequestedData,
    BookingRescheduleRequestedData,
    Event,
    decode_event,
    encode_event,
    new_event,
)
from shared.contracts.models import BookingDetails, Contact, Workplace
from shared.infra.settings import Settings
from shared.text.ical import booking_uid
from shared.text.localtime import LOCAL_TZ, format_local, to_local
from tests.apps import running
from tests.backends import free_port
from tests.conftest import ADMIN_TOKEN
from tests.dates import closed
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
OUTCOMES = ("booking.scheduled", "booking.needs_alternative", "booking.cancelled", "booking.rescheduled")
DEADLINE = 15.0  # seconds any single outcome may take before a test gives up

# --- building requests ---


def weekday_ahead(days: int, hour: int, minute: int = 0) -> datetime:
    """The first Monday–Friday at least ``days`` ahead (beyond the 14 days' notice), at a local time."""
    day = datetime.now(LOCAL_TZ).date() + timedelta(days=days)
    while closed(day):
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ)


def at(day: date | datetime, hour: int, minute: int = 0) -> datetime:
    """Local time ``hour:minute`` on ``day``."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ)


def next_weekday(after: datetime, hour: int) -> datetime:
    """Local ``hour``:00 on the first Monday–Friday after ``after``'s day."""
    day = after.date() + timedelta(days=1)
    while closed(day):
        day += timedelta(days=1)
    return at(day, hour)


def details(
    *starts: datetime, theme: str = "selvledelse", duration_minutes: int = 120, workplace: str = "Bostedet Lindely"
) -> BookingDetails:
    return BookingDetails(
        workplace=Workplace(name=workplace, address="Skovvej 12", postcode="8000", city="Aarhus C"),
        contact=Contact(name="Mette Hansen", email="mette@example.dk", phone="+4520304050"),
        theme=theme,
        setting="staff_meeting",
        participants=18,
        duration_minutes=duration_minutes,
        preferred_starts=tuple(s.astimezone(UTC) for s in starts),
    )


def new_booking_id() -> str:
    return f"BK-{uuid.uuid4().hex[:10].upper()}"


def requested(booking_id: str, *starts: datetime, **kwargs: Any) -> Event:
    return new_event(
        BookingRequestedData(
            booking_id=booking_id,
            booking=details(*starts, **kwargs),
            status_url=f"http://booking.test/bookings/{booking_id}?token=secret",
        )
    )


def cancel_requested(booking_id: str) -> Event:
    return new_event(BookingCancelRequestedData(booking_id=booking_id, requested_by="workplace", reason="sygdom"))


def reschedule_requested(booking_id: str, *starts: datetime, **fixed: Any) -> Event:
    return new_event(
        BookingRescheduleRequestedData(
            booking_id=booking_id,
            requested_by="admin" if fixed else "workplace",
            preferred_starts=tuple(s.astimezone(UTC) for s in starts),
            **fixed,
        )
    )


def consultant_body(consultant_id: str = "anne", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": consultant_id,
        "name": f"{consultant_id.capitalize()} Konsulent",
        "email": f"{consultant_id}@socialpaedagogerne.example",
        "phone": "+45 20 00 00 01",
        "working_hours": {d: ["08:00", "16:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        "absences": [],
        "travel_buffer_minutes": 60,
        "max_talks_per_day": 2,
    }
    body.update(changes)
    return body


# --- the message bus, seen from outside ---


class Bus:
    """Publishes events like the booking service, and records every outcome the scheduler publishes."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel, exchange: aio_pika.abc.AbstractExchange) -> None:
        self._channel = channel
        self._exchange = exchange
        self.received: list[Event] = []

    async def listen(self) -> None:
        """Bind an exclusive, auto-delete queue to the outcome events (before publishing anything)."""
        queue = await self._channel.declare_queue("", exclusive=True, auto_delete=True)
        for key in OUTCOMES:
            await queue.bind(self._exchange, routing_key=key)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            self.received.append(decode_event(message.body))

        await queue.consume(on_message, no_ack=True)

    async def publish(self, event: Event) -> None:
        await self._exchange.publish(
            aio_pika.Message(
                encode_event(event),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=str(event.event_id),
                type=event.type,
                correlation_id=event.correlation_id,
            ),
            routing_key=event.type,
        )

    async def queue_size(self, name: str, limit: int = 1000) -> int:
        """Messages waiting in a queue, counted by taking them and handing them back. (The count a
        passive declare reports is 0 for a quorum queue on this broker, whatever it holds.)"""
        queue = await self._channel.get_queue(name, ensure=False)
        held = []
        while len(held) < limit and (message := await queue.get(no_ack=False, fail=False)) is not None:
            held.append(message)
        for message in held:
            await message.nack(requeue=True)
        return len(held)

    def of(self, booking_id: str, event_type: str | None = None) -> list[Event]:
        return [
            e for e in self.received if e.correlation_id == booking_id and (event_type is None or e.type == event_type)
        ]

    async def expect(self, booking_id: str, event_type: str, count: int = 1) -> Event:
        """Wait for the ``count``-th ``event_type`` of the booking; returns the latest one."""
        await eventually(
            lambda: len(self.of(booking_id, event_type)) >= count, f"{event_type} #{count} of {booking_id}"
        )
        return self.of(booking_id, event_type)[-1]

    async def outcome(self, booking_id: str) -> Event:
        """The first placement outcome (scheduled or needs_alternative) of a new request."""
        placed = ("booking.scheduled", "booking.needs_alternative")
        await eventually(lambda: any(e.type in placed for e in self.of(booking_id)), f"an outcome for {booking_id}")
        return next(e for e in self.of(booking_id) if e.type in placed)


@pytest_asyncio.fixture(name="bus")
async def bus_fixture(amqp_url: str, clean_queues: None) -> AsyncIterator[Bus]:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        bus = Bus(channel, exchange)
        await bus.listen()
        yield bus


@pytest_asyncio.fixture
async def scheduler(settings: Settings, bus: Bus) -> AsyncIterator[TestClient[Any, Any]]:
    """The scheduler, consuming ``scheduler.requests`` (emptied first) on a fresh database."""
    async with running(create_scheduler_app(settings)) as client:
        yield client


async def add_consultant(client: TestClient[Any, Any], consultant_id: str = "anne", **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/consultants", json=consultant_body(consultant_id, **changes), headers=ADMIN)
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def talks_in_calendar(db: Any, booking_id: str | None = None) -> list[dict[str, Any]]:
    """Every talk in ``consultant_days`` (of one booking, if given), with its consultant."""
    talks = []
    async for day in db["consultant_days"].find({}):
        for talk in day["talks"]:
            if booking_id is None or talk["booking_id"] == booking_id:
                talks.append({**talk, "consultant_id": day["consultant_id"]})
    return talks


def messages_consumed(outcome: str) -> float:
    value = REGISTRY.get_sample_value("inspiration_messages_total", {"queue": SCHEDULER_QUEUE.name, "outcome": outcome})
    return value or 0.0


# --- consultants API ---


async def test_a_new_consultant_gets_a_calendar_url(scheduler: TestClient[Any, Any]) -> None:
    created = await add_consultant(scheduler, "anne", themes=["selvledelse", "smidighed"])

    assert created["id"] == "anne"
    assert created["email"] == "anne@socialpaedagogerne.example"
    assert re.search(r"/api/v1/consultants/anne/calendar\.ics\?token=[\w-]{20,}$", created["calendar_url"])
    assert "feed_token" not in created
    listed = await (await scheduler.get("/api/v1/consultants", headers=ADMIN)).json()
    assert [c["id"] for c in listed["consultants"]] == ["anne"]

    again = await scheduler.post("/api/v1/consultants", json=consultant_body("anne"), headers=ADMIN)
    assert again.status == 409


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"working_hours": {"monday": ["08:00", "16:00"]}}, "working_hours", "monday"),
        ({"working_hours": {"mon": ["16:00", "08:00"]}}, "working_hours", "end after it starts"),
        ({"themes": ["selvledelse", "yoga"]}, "themes", "yoga"),
        ({"email": "anne.example.dk"}, "email", "e-mail"),
        ({"travel_buffer_minutes": -5}, "travel_buffer_minutes", "greater than or equal"),
        ({"absences": [{"start": "2027-07-21", "end": "2027-07-01"}]}, "absences.0", "on or after start"),
    ],
    ids=["bad-weekday", "end-before-start", "unknown-theme", "bad-email", "negative-buffer", "absence-backwards"],
)
async def test_an_invalid_consultant_is_refused_naming_the_field(
    scheduler: TestClient[Any, Any], changes: dict[str, Any], field: str, words: str
) -> None:
    response = await scheduler.post("/api/v1/consultants", json=consultant_body("anne", **changes), headers=ADMIN)

    assert response.status == 422
    errors = (await response.json())["errors"]
    assert [e["field"] for e in errors] == [field]
    assert words in errors[0]["message"]
    assert (await scheduler.get("/api/v1/consultants/anne", headers=ADMIN)).status == 404


async def test_the_consultants_api_needs_the_admin_token(scheduler: TestClient[Any, Any]) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token"}):
        response = await scheduler.post("/api/v1/consultants", json=consultant_body("anne"), headers=headers)
        assert response.status == 401
        assert (await response.json())["errors"][0]["field"] == "Authorization"
        assert (await scheduler.get("/api/v1/consultants", headers=headers)).status == 401
    assert (await scheduler.get("/api/v1/consultants", headers=ADMIN)).status == 200


async def test_put_creates_then_replaces_and_keeps_the_calendar_url(scheduler: TestClient[Any, Any]) -> None:
    created = await scheduler.put("/api/v1/consultants/bo", json=consultant_body("bo"), headers=ADMIN)
    assert created.status == 201
    first = await created.json()

    replaced = await scheduler.put(
        "/api/v1/consultants/bo", json=consultant_body("bo", name="Bo Bonde", max_talks_per_day=1), headers=ADMIN
    )
    assert replaced.status == 200
    shown = await (await scheduler.get("/api/v1/consultants/bo", headers=ADMIN)).json()
    assert (shown["name"], shown["max_talks_per_day"]) == ("Bo Bonde", 1)
    assert shown["calendar_url"] == first["calendar_url"]

    other_id = await scheduler.put("/api/v1/consultants/bo", json=consultant_body("carl"), headers=ADMIN)
    assert other_id.status == 422
    assert (await other_id.json())["errors"][0]["field"] == "id"


async def test_a_consultant_with_talks_ahead_cannot_be_deleted(scheduler: TestClient[Any, Any], bus: Bus) -> None:
    await add_consultant(scheduler, "anne")
    booking_id = new_booking_id()
    await bus.publish(requested(booking_id, weekday_ahead(20, 10)))
    assert (await bus.outcome(booking_id)).type == "booking.scheduled"

    refused = await scheduler.delete("/api/v1/consultants/anne", headers=ADMIN)
    assert refused.status == 409
    assert "talks ahead" in (await refused.json())["errors"][0]["message"]

    await add_consultant(scheduler, "bo")
    assert (await scheduler.delete("/api/v1/consultants/bo", headers=ADMIN)).status == 204
    assert (await scheduler.get("/api/v1/consultants/bo", headers=ADMIN)).status == 404
    assert (await scheduler.delete("/api/v1/consultants/bo", headers=ADMIN)).status == 404


async def test_consultants_file_is_upserted_at_start_and_keeps_the_feed_token(
    settings: Settings, bus: Bus, tmp_path: Path
) -> None:
    path = tmp_path / "consultants.yaml"
    people = [consultant_body("anne"), consultant_body("bo", themes=["smidighed"])]
    path.write_text(yaml.safe_dump({"consultants": people}), encoding="utf-8")
    with_file = settings.model_copy(update={"consultants_file": str(path)})

    async with running(create_scheduler_app(with_file)) as client:
        listed = (await (await client.get("/api/v1/consultants", headers=ADMIN)).json())["consultants"]
        assert [c["id"] for c in listed] == ["anne", "bo"]
        assert listed[1]["themes"] == ["smidighed"]
        feed_before = listed[0]["calendar_url"]

    people[0]["name"] = "Anne Andersen"
    path.write_text(yaml.safe_dump({"consultants": people}), encoding="utf-8")
    async with running(create_scheduler_app(with_file)) as client:
        anne = await (await client.get("/api/v1/consultants/anne", headers=ADMIN)).json()
        assert anne["name"] == "Anne Andersen"
        assert anne["calendar_url"].split("?")[1] == feed_before.split("?")[1]


# --- placing a request ---


async def test_a_request_is_placed_at_the_first_desired_start_that_fits(
    scheduler: TestClient[Any, Any], bus: Bus, db: Any
) -> None:
    first = weekday_ahead(20, 10)
    second = next_weekday(first, 13)
    # Anne is away on the first desired day, so the second desired start is the first that fits.
    away = {"start": first.date().isoformat(), "end": first.date().isoformat(), "note": "kursus"}
    await add_consultant(scheduler, "anne", absences=[away])
    booking_id = new_booking_id()

    await bus.publish(requested(booking_id, first, second, next_weekday(second, 10), duration_minutes=105))

    scheduled = await bus.outcome(booking_id)
    assert scheduled.type == "booking.scheduled"
    slot = scheduled.data.slot
    assert (slot.consultant.id, slot.consultant.name, slot.consultant.email) == (
        "anne",
        "Anne Konsulent",
        "anne@socialpaedagogerne.example",
    )
    assert slot.start == second
    assert slot.end - slot.start == timedelta(minutes=105)
    assert scheduled.data.sequence == 0
    assert scheduled.data.booking_id == booking_id
    talks = await talks_in_calendar(db, booking_id)
    assert [(t["consultant_id"], t["start"], t["end"]) for t in talks] == [("anne", slot.start, slot.end)]


async def test_the_consultant_who_gives_the_theme_is_chosen(scheduler: TestClient[Any, Any], bus: Bus) -> None:
    await add_consultant(scheduler, "anne", themes=["smidighed"])
    await add_consultant(scheduler, "bo", themes=["alene-arbejde"])
    booking_id = new_booking_id()

    await bus.publish(requested(booking_id, weekday_ahead(20, 10), theme="alene-arbejde"))

    assert (await bus.outcome(booking_id)).data.slot.consultant.id == "bo"


def assert_free_weekday_time(start: datetime, duration: timedelta, taken: Iterable[dict[str, Any]]) -> None:
    """``start`` is a weekday time inside 08:00–16:00 with the 60-minute buffers, clear of every talk."""
    local, end = to_local(start), start + duration
    assert local.weekday() < 5, f"{local} is a weekend day"
    assert local.time() >= at(local, 9).time() and to_local(end + timedelta(minutes=60)) <= at(local, 16), local
    assert start - datetime.now(UTC) >= timedelta(days=14), f"{local} is inside the notice period"
    for talk in taken:
        assert end + timedelta(minutes=60) <= talk["start"] or talk["end"] + timedelta(minutes=60) <= start, (
            f"{local} collides with the talk at {to_local(talk['start'])}"
        )


async def test_a_request_that_cannot_be_placed_gets_free_alternatives(
    scheduler: TestClient[Any, Any], bus: Bus, db: Any
) -> None:
    await add_consultant(scheduler, "anne")
    morning = weekday_ahead(21, 10)
    afternoon = at(morning, 13)
    for start in (morning, afternoon):  # Anne's day is full: two talks is her maximum
        booking_id = new_booking_id()
        await bus.publish(requested(booking_id, start))
        assert (await bus.outcome(booking_id)).type == "booking.scheduled"

    late = new_booking_id()
    await bus.publish(requested(late, morning))

    answer = await bus.outcome(late)
    assert answer.type == "booking.needs_alternative"
    assert answer.data.current_slot is None
    alternatives = answer.data.alternatives
    assert 1 <= len(alternatives) <= 3
    assert len(set(alternatives)) == len(alternatives)
    taken = await talks_in_calendar(db)
    assert len(taken) == 2
    for alternative in alternatives:
        assert to_local(alternative).date() != morning.date()
        assert_free_weekday_time(alternative, timedelta(minutes=120), taken)
    # The same time of day on a nearby weekday comes first.
    assert to_local(alternatives[0]).time() == morning.time()

    # An alternative is real: asking for it again gets it.
    await bus.publish(reschedule_requested(late, alternatives[0]))
    taken_now = await bus.expect(late, "booking.scheduled")
    assert taken_now.data.slot.start == alternatives[0]
    assert [t["start"] for t in await talks_in_calendar(db, late)] == [alternatives[0]]


async def test_the_same_event_delivered_twice_reserves_once(scheduler: TestClient[Any, Any], bus: Bus, db: Any) -> None:
    await add_consultant(scheduler, "anne")
    booking_id = new_booking_id()
    event = requested(booking_id, weekday_ahead(22, 10))
    finished_before = messages_consumed("handled") + messages_consumed("duplicate")

    await bus.publish(event)
    await bus.publish(event)  # at once: the two deliveries may race each other
    await bus.expect(booking_id, "booking.scheduled")
    await bus.publish(event)  # later: a redelivery after the outcome is stored

    async def all_settled() -> bool:
        placement = await db["placements"].find_one({"_id": booking_id})
        done = messages_consumed("handled") + messages_consumed("duplicate") - finished_before
        return done >= 3 and placement is not None and not placement.get("outbox")

    await eventually(all_settled, "all three deliveries to be handled and the outbox emptied")
    await asyncio.sleep(0.5)  # let any (wrongly) published second outcome reach our queue
    assert len(bus.of(booking_id)) == 1
    assert len(await talks_in_calendar(db, booking_id)) == 1
    placement = await db["placements"].find_one({"_id": booking_id})
    assert placement["applied"] == [str(event.event_id)]


# --- cancelling and moving ---


async def test_a_cancellation_frees_the_slot_for_a_new_request(
    scheduler: TestClient[Any, Any], bus: Bus, db: Any
) -> None:
    await add_consultant(scheduler, "anne", max_talks_per_day=1)
    start = weekday_ahead(23, 10)
    first = new_booking_id()
    await bus.publish(requested(first, start))
    slot = (await bus.outcome(first)).data.slot

    await bus.publish(cancel_requested(first))

    cancelled = await bus.expect(first, "booking.cancelled")
    assert cancelled.data.slot == slot
    assert cancelled.data.sequence == 1
    assert cancelled.data.reason == "sygdom"
    assert await talks_in_calendar(db) == []

    second = new_booking_id()
    await bus.publish(requested(second, start))
    taken = await bus.outcome(second)
    assert taken.type == "booking.scheduled"
    assert (taken.data.slot.consultant.id, taken.data.slot.start) == ("anne", start)


async def test_a_reschedule_moves_the_talk_and_frees_the_old_time(
    scheduler: TestClient[Any, Any], bus: Bus, db: Any
) -> None:
    await add_consultant(scheduler, "anne", max_talks_per_day=1)
    first_time = weekday_ahead(24, 10)
    second_time = weekday_ahead(31, 13)
    third_time = at(first_time, 13)  # back to the first day: a move within one day works too
    booking_id = new_booking_id()
    await bus.publish(requested(booking_id, first_time))
    original = (await bus.outcome(booking_id)).data.slot

    await bus.publish(reschedule_requested(booking_id, second_time))
    moved = await bus.expect(booking_id, "booking.rescheduled")
    assert moved.data.booking_id == booking_id
    assert moved.data.slot.start == second_time
    assert moved.data.previous_slot == original
    assert moved.data.sequence == 1
    assert [t["start"] for t in await talks_in_calendar(db, booking_id)] == [second_time]

    await bus.publish(reschedule_requested(booking_id, third_time))
    moved_again = await bus.expect(booking_id, "booking.rescheduled", count=2)
    assert moved_again.data.slot.start == third_time
    assert moved_again.data.previous_slot == moved.data.slot
    assert moved_again.data.sequence == 2
    assert [t["start"] for t in await talks_in_calendar(db, booking_id)] == [third_time]

    # The second time is free again (and Anne, with a maximum of one talk a day, takes it).
    other = new_booking_id()
    await bus.publish(requested(other, second_time))
    assert (await bus.outcome(other)).data.slot.start == second_time


async def test_an_admin_move_onto_another_talk_is_refused_and_the_talk_stays(
    scheduler: TestClient[Any, Any], bus: Bus, db: Any
) -> None:
    await add_consultant(scheduler, "anne")
    morning = weekday_ahead(25, 10)
    afternoon = at(morning, 13)
    first, second = new_booking_id(), new_booking_id()
    await bus.publish(requested(first, morning))
    assert (await bus.outcome(first)).type == "booking.scheduled"
    await bus.publish(requested(second, afternoon))
    kept = (await bus.outcome(second)).data.slot

    await bus.publish(reschedule_requested(second, start=at(morning, 11).astimezone(UTC), consultant_id="anne"))

    refused = await bus.expect(second, "booking.needs_alternative")
    assert refused.data.current_slot == kept
    assert "does not fit" in refused.data.reason
    talks = sorted(await talks_in_calendar(db), key=lambda t: t["start"])
    assert [(t["booking_id"], t["start"]) for t in talks] == [(first, morning), (second, afternoon)]
    placement = await db["placements"].find_one({"_id": second})
    assert placement["status"] == "scheduled"
    assert placement["sequence"] == 0


async def test_a_cancel_that_arrives_before_its_request_is_retried_and_wins(
    scheduler: TestClient[Any, Any], bus: Bus, db: Any
) -> None:
    await add_consultant(scheduler, "anne")
    booking_id = new_booking_id()

    await bus.publish(cancel_requested(booking_id))
    await bus.publish(requested(booking_id, weekday_ahead(26, 10)))

    cancelled = await bus.expect(booking_id, "booking.cancelled")
    scheduled = bus.of(booking_id, "booking.scheduled")
    assert cancelled.data.slot == (scheduled[0].data.slot if scheduled else None)
    assert await talks_in_calendar(db) == []
    placement = await db["placements"].find_one({"_id": booking_id})
    assert placement["status"] == "cancelled"


# --- the consultant's calendar feed ---


def feed_day() -> date:
    """Tuesday 2027-03-30, just after the spring DST change, while it can still be booked."""
    day = date(2027, 3, 30)
    while day < date.today() + timedelta(days=15):
        day += timedelta(days=364)  # the same weekday, a year on
    return day


async def test_the_calendar_feed_lists_the_booked_talks_in_copenhagen_time(
    scheduler: TestClient[Any, Any], bus: Bus
) -> None:
    anne = await add_consultant(scheduler, "anne")
    await add_consultant(scheduler, "bo", themes=["smidighed"])
    after_dst = at(feed_day(), 13)
    other_day = weekday_ahead(27, 10)
    booked = {}
    for start in (after_dst, other_day):
        booking_id = new_booking_id()
        await bus.publish(requested(booking_id, start))
        assert (await bus.outcome(booking_id)).data.slot.consultant.id == "anne"
        booked[booking_uid(booking_id)] = start

    response = await scheduler.get(URL(anne["calendar_url"]).path_qs)

    assert response.status == 200
    assert response.content_type == "text/calendar"
    calendar = icalendar.Calendar.from_ical(await response.read())
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Copenhagen"]
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert set(events) == set(booked)
    for uid, start in booked.items():
        dtstart = events[uid]["DTSTART"]
        assert dtstart.params["TZID"] == "Europe/Copenhagen"
        assert dtstart.dt.astimezone(UTC) == start.astimezone(UTC)
        assert (dtstart.dt.hour, dtstart.dt.minute) == (start.hour, start.minute)
        assert events[uid]["DTEND"].dt - dtstart.dt == timedelta(minutes=120)
    spring = events[next(uid for uid, s in booked.items() if s == after_dst)]
    if feed_day() == date(2027, 3, 30):
        assert spring["DTSTART"].dt.astimezone(UTC) == datetime(2027, 3, 30, 11, 0, tzinfo=UTC)
    assert "DTSTART;TZID=Europe/Copenhagen:" in (await response.text()).replace("\r\n ", "")


async def test_the_calendar_feed_needs_the_right_token(scheduler: TestClient[Any, Any]) -> None:
    anne = await add_consultant(scheduler, "anne")
    bo = await add_consultant(scheduler, "bo")
    bo_token = bo["calendar_url"].split("token=")[1]

    for query in ("?token=wrong", f"?token={bo_token}", ""):
        response = await scheduler.get(f"/api/v1/consultants/anne/calendar.ics{query}")
        assert response.status == 404, query
    assert (await scheduler.get(URL(anne["calendar_url"]).path_qs)).status == 200


# --- end to end: the booking form to the status page ---


async def test_a_booking_from_the_form_shows_its_time_and_consultant_on_the_status_page(
    settings: Settings, bus: Bus
) -> None:
    port = free_port()
    booking_settings = settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{port}"})
    start = weekday_ahead(15, 10)
    form = {
        "theme": "kommunikation-og-kultur",
        "setting": "work_environment_group",
        "duration_minutes": "90",
        "participants": "12",
        "preferred_start_1": f"{start:%Y-%m-%dT%H:%M}",
        "workplace_name": "Bostedet Lindely",
        "workplace_address": "Skovvej 12",
        "workplace_postcode": "8000",
        "workplace_city": "Aarhus C",
        "contact_name": "Mette Hansen",
        "contact_email": "mette@example.dk",
        "contact_phone": "20 30 40 50",
        "idempotency_key": str(uuid.uuid4()),
    }
    async with (
        running(create_scheduler_app(settings)) as scheduler,
        running(create_booking_app(booking_settings), port=port) as booking,
        aiohttp.ClientSession() as browser,
    ):
        await add_consultant(scheduler, "anne", name="Anne Kragh")

        receipt = await booking.post("/", data=form)
        assert receipt.status == 200, await receipt.text()
        found = re.search(r'id="status-link" href="([^"]+)"', await receipt.text())
        assert found, "the receipt links to the status page"
        status_link = html.unescape(found.group(1))

        page = ""

        async def status_page_shows_the_talk() -> bool:
            nonlocal page
            async with browser.get(status_link) as response:
                assert response.status == 200
                page = await response.text()
            return 'data-status="scheduled"' in page

        await eventually(status_page_shows_the_talk, "the status page to show the booking as scheduled")
        assert re.search(r'id="slot-consultant">\s*Anne Kragh\s*<', page)
        slot_time = re.search(r'id="slot-time">([^<]+)<', page)
        assert slot_time and slot_time.group(1).startswith(html.escape(format_local(start)))
        assert "kl. 10.00" in slot_time.group(1)
        assert slot_time.group(1).endswith("11.30")  # a 90-minute talk
