"""Free times end to end: the booking service's ``GET /api/v1/availability`` answered by the real
scheduler (in-process, on real RabbitMQ and a MongoDB-protocol server), a free time booked at exactly
that start and then gone from the list, two workplaces racing for one offered time across two
scheduler replicas (one placed, one given fresh alternatives, never a double booking), the question
checked, and 503 with ``Retry-After`` while the scheduler cannot be reached."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pymongo.asynchronous.database import AsyncDatabase

from services.booking.app import create_app as create_booking_app
from services.scheduler.app import create_app as create_scheduler_app
from shared.contracts.closed_days import DENMARK
from shared.infra.settings import Settings
from shared.text.localtime import LOCAL_TZ
from tests.apps import running
from tests.backends import free_port
from tests.conftest import ADMIN_TOKEN
from tests.dates import closed
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
Client = TestClient[Any, Any]


@contextlib.asynccontextmanager
async def system(settings: Settings, schedulers: int = 1) -> AsyncIterator[tuple[Client, list[Client]]]:
    """The booking service and ``schedulers`` scheduler replicas on one database and broker."""
    port = free_port()
    booking_settings = settings.model_copy(update={"scheduler_url": f"http://127.0.0.1:{port}"})
    async with contextlib.AsyncExitStack() as stack:
        replicas = [await stack.enter_async_context(running(create_scheduler_app(settings), port=port))]
        for _ in range(schedulers - 1):
            replicas.append(await stack.enter_async_context(running(create_scheduler_app(settings))))
        booking = await stack.enter_async_context(running(create_booking_app(booking_settings)))
        yield booking, replicas


async def add_consultant(scheduler: Client, **changes: Any) -> None:
    body = {
        "id": "anne",
        "name": "Anne Kragh",
        "email": "anne@socialpaedagogerne.example",
        "working_hours": {d: ["08:00", "16:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        "travel_buffer_minutes": 60,
        "max_talks_per_day": 2,
        **changes,
    }
    response = await scheduler.post("/api/v1/consultants", json=body, headers=ADMIN)
    assert response.status == 201, await response.text()


def open_week() -> tuple[date, date]:
    """Monday to Sunday of a week beyond the notice with no holiday or closing day in it."""
    monday = datetime.now(LOCAL_TZ).date() + timedelta(days=21)
    monday -= timedelta(days=monday.weekday())
    while any(closed(monday + timedelta(days=n)) for n in range(5)):
        monday += timedelta(days=7)
    return monday, monday + timedelta(days=6)


async def free_times(booking: Client, first: date, last: date, **query: str) -> list[dict[str, Any]]:
    params = {"theme": "selvledelse", "duration_minutes": "120", "from": first.isoformat(), "to": last.isoformat()}
    response = await booking.get("/api/v1/availability", params={**params, **query})
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-cache"
    return list((await response.json())["slots"])


def body(start: str, workplace: str = "Bostedet Lindely") -> dict[str, Any]:
    return {
        "workplace": {"name": workplace, "address": "Skovvej 12", "postcode": "8000", "city": "Aarhus C"},
        "contact": {"name": "Mette Hansen", "email": "mette@example.dk", "phone": "+45 20 30 40 50"},
        "theme": "selvledelse",
        "setting": "staff_meeting",
        "participants": 18,
        "duration_minutes": 120,
        "preferred_starts": [start],
    }


async def book(booking: Client, start: str, workplace: str = "Bostedet Lindely") -> dict[str, Any]:
    response = await booking.post("/api/v1/bookings", json=body(start, workplace))
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def outcome(booking: Client, created: dict[str, Any]) -> dict[str, Any]:
    token = created["status_url"].split("token=")[1]

    async def placed() -> dict[str, Any] | None:
        view = await (await booking.get(f"/api/v1/bookings/{created['id']}", params={"token": token})).json()
        return view if view["status"] != "received" else None

    return dict(await eventually(placed, f"the outcome of {created['id']}"))


async def test_free_times_are_the_working_days_of_the_week_on_the_half_hour(settings: Settings) -> None:
    first, last = open_week()
    async with system(settings) as (booking, (scheduler,)):
        await add_consultant(scheduler)
        slots = await free_times(booking, first, last)
        # five working days, 09:00 to 13:00 (a two-hour talk with an hour's travel on both sides)
        assert len(slots) == 5 * 9
        first_slot = slots[0]
        assert first_slot["start"]["local"].startswith(f"{first.isoformat()}T09:00:00+0")
        assert first_slot["start"]["utc"].endswith("Z")
        assert first_slot["start"]["text"].endswith("kl. 09.00")
        assert first_slot["start"]["day"].startswith("mandag den ")
        assert first_slot["end"]["clock"] == "11.00"
        english = await free_times(booking, first, last, lang="en")
        assert english[0]["start"]["text"].endswith("at 09:00")


async def test_a_free_time_is_booked_at_exactly_that_start_and_then_gone(settings: Settings) -> None:
    first, last = open_week()
    async with system(settings) as (booking, (scheduler,)):
        await add_consultant(scheduler, max_talks_per_day=1)
        before = await free_times(booking, first, last)
        chosen = before[12]
        view = await outcome(booking, await book(booking, chosen["start"]["local"][:16]))
        assert view["status"] == "scheduled"
        assert view["slot"]["start"]["utc"] == chosen["start"]["utc"]

        after = await free_times(booking, first, last)
        chosen_day = chosen["start"]["local"][:10]
        assert all(slot["start"]["local"][:10] != chosen_day for slot in after), "the daily maximum is reached"
        assert len(after) == len(before) - 9


async def test_two_workplaces_racing_for_one_offered_time_one_placed_one_given_alternatives(
    settings: Settings, db: AsyncDatabase[dict[str, Any]]
) -> None:
    first, last = open_week()
    async with system(settings, schedulers=2) as (booking, (scheduler, _)):
        await add_consultant(scheduler, max_talks_per_day=1)
        offered = (await free_times(booking, first, last))[0]
        start = offered["start"]["local"][:16]
        racing = await asyncio.gather(book(booking, start, "Bostedet Lindely"), book(booking, start, "Solsikken"))
        views = [await outcome(booking, created) for created in racing]

        assert sorted(view["status"] for view in views) == ["needs_alternative", "scheduled"]
        placed = next(view for view in views if view["status"] == "scheduled")
        other = next(view for view in views if view["status"] == "needs_alternative")
        assert placed["slot"]["start"]["utc"] == offered["start"]["utc"]
        alternatives = [alt["utc"] for alt in other["alternatives"]]
        assert alternatives and offered["start"]["utc"] not in alternatives
        free_now = {slot["start"]["utc"] for slot in await free_times(booking, first, last)}
        assert set(alternatives) <= free_now | {a for a in alternatives if a[:10] > last.isoformat()}

        talks = [talk async for day in db["consultant_days"].find({}) for talk in day["talks"]]
        assert len(talks) == 1, "never a double booking"


async def test_holidays_and_closing_days_offer_no_free_times(settings: Settings) -> None:
    today = datetime.now(LOCAL_TZ).date()
    holiday = next(
        today + timedelta(days=n)
        for n in range(15, 365)
        if (today + timedelta(days=n)).weekday() < 5 and DENMARK.is_closed(today + timedelta(days=n))
    )
    async with system(settings) as (booking, (scheduler,)):
        await add_consultant(scheduler)
        assert await free_times(booking, holiday, holiday) == []
        around = await free_times(booking, holiday - timedelta(days=1), holiday + timedelta(days=1))
        assert all(slot["start"]["local"][:10] != holiday.isoformat() for slot in around)


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({"theme": "yoga"}, {"theme"}),
        ({"duration_minutes": "60"}, {"duration_minutes"}),
        ({"from": "2027-13-01"}, {"from"}),
        ({"from": "2027-03-10", "to": "2027-03-01"}, {"to"}),
        ({"from": "2027-03-01", "to": "2027-06-01"}, {"to"}),
        ({"from": "2020-03-01", "to": "2020-03-07"}, {"to"}),
        ({}, {"theme", "duration_minutes", "from", "to"}),
    ],
)
async def test_a_wrong_question_is_422_naming_each_field(
    settings: Settings, query: dict[str, str], fields: set[str]
) -> None:
    first, last = open_week()
    base = {"theme": "selvledelse", "duration_minutes": "120", "from": first.isoformat(), "to": last.isoformat()}
    params = {**base, **query} if query else {}
    async with system(settings) as (booking, _):
        response = await booking.get("/api/v1/availability", params=params)
        assert response.status == 422
        errors = (await response.json())["errors"]
        assert {error["field"] for error in errors} == fields
        english = await booking.get("/api/v1/availability", params={**params, "lang": "en"})
        assert all(error["message"] for error in (await english.json())["errors"])


async def test_without_the_scheduler_the_answer_is_503_with_retry_after(settings: Settings) -> None:
    first, last = open_week()
    nowhere = settings.model_copy(update={"scheduler_url": f"http://127.0.0.1:{free_port()}"})
    async with running(create_booking_app(nowhere)) as booking:
        response = await booking.get(
            "/api/v1/availability",
            params={"theme": "selvledelse", "duration_minutes": "90", "from": first.isoformat(),
                    "to": last.isoformat()},
        )
        assert response.status == 503
        assert response.headers["Retry-After"]
        assert (await response.json())["errors"][0]["message"].startswith("De ledige tider kan ikke hentes")


async def test_the_window_is_kept_to_the_bookable_days(settings: Settings) -> None:
    today = datetime.now(LOCAL_TZ).date()
    async with system(settings) as (booking, (scheduler,)):
        await add_consultant(scheduler)
        response = await booking.get(
            "/api/v1/availability",
            params={"theme": "selvledelse", "duration_minutes": "90", "from": today.isoformat(),
                    "to": (today + timedelta(days=20)).isoformat()},
        )
        answer = await response.json()
        notice = datetime.now(UTC) + timedelta(days=14)
        assert date.fromisoformat(answer["from"]) == notice.astimezone(LOCAL_TZ).date()
        assert all(datetime.fromisoformat(slot["start"]["utc"]) >= notice for slot in answer["slots"])
