"""Clean text at the door: every kind of hidden character is refused, field by field, in plain words.

Control characters (C0, DEL, C1 such as NEL), line and paragraph separators and bidirectional
overrides break mail headers, SMS and calendar lines, or make a name read as something it is not.
The booking API, the booking form and the consultants API refuse them with a message naming the
field, in Danish (English on request); a note keeps its ordinary line breaks; nothing is stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from pymongo.asynchronous.database import AsyncDatabase

from services.booking.app import create_app as create_booking_app
from services.scheduler.app import create_app as create_scheduler_app
from shared.infra.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_booking_api import valid_body
from tests.integration.test_booking_form import Page, filled_form
from tests.integration.test_scheduler import consultant_body

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

HIDDEN = {
    "line feed": "\n",
    "carriage return": "\r",
    "vertical tab": "\x0b",
    "NUL": "\x00",
    "escape": "\x1b",
    "DEL": "\x7f",
    "next line (NEL)": "\x85",
    "line separator": "\u2028",
    "paragraph separator": "\u2029",
    "right-to-left override": "\u202e",
    "left-to-right isolate": "\u2066",
    "right-to-left mark": "\u200f",
}
ONE_LINE_DA = "Må kun være én linje uden kontroltegn eller usynlige styretegn"
ONE_LINE_EN = "Must be a single line without control or invisible formatting characters"
NOTE_DA = "Må ikke indeholde kontroltegn eller usynlige styretegn"
# The API's field -> the form's field
ONE_LINE_FIELDS = {
    "workplace.name": "workplace_name",
    "workplace.address": "workplace_address",
    "workplace.city": "workplace_city",
    "contact.name": "contact_name",
}
NOT_IN_A_NOTE = {name: char for name, char in HIDDEN.items() if char not in "\n\r"}

Document = dict[str, Any]


@pytest_asyncio.fixture
async def booking(settings: Settings, clean_queues: None) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_booking_app(settings))) as client:
        yield client


def _with(field: str, value: str) -> dict[str, Any]:
    body = valid_body()
    group, _, key = field.rpartition(".")
    if group:
        body[group] = {**body[group], key: value}
    else:
        body[key] = value
    return body


@pytest.mark.parametrize("char", HIDDEN.values(), ids=HIDDEN.keys())
@pytest.mark.parametrize("field", ONE_LINE_FIELDS)
async def test_the_api_refuses_hidden_characters_in_one_line_fields(
    booking: TestClient[Any, Any], db: AsyncDatabase[Document], field: str, char: str
) -> None:
    response = await booking.post("/api/v1/bookings", json=_with(field, f"Bo{char}stedet"))

    assert response.status == 422
    [error] = (await response.json())["errors"]
    assert error["field"] == field
    assert error["message"].startswith(ONE_LINE_DA)
    assert await db.bookings.count_documents({}) == 0


@pytest.mark.parametrize("char", NOT_IN_A_NOTE.values(), ids=NOT_IN_A_NOTE.keys())
async def test_a_note_refuses_hidden_characters_but_keeps_its_line_breaks(
    booking: TestClient[Any, Any], db: AsyncDatabase[Document], char: str
) -> None:
    refused = await booking.post("/api/v1/bookings", json=_with("notes", f"Første linje{char}"))
    assert refused.status == 422
    [error] = (await refused.json())["errors"]
    assert (error["field"], error["message"].startswith(NOTE_DA)) == ("notes", True)

    accepted = await booking.post("/api/v1/bookings", json=_with("notes", "Første linje\r\nAnden linje\tmed tab"))
    assert accepted.status == 201
    stored = await db.bookings.find_one({"_id": (await accepted.json())["id"]})
    assert stored is not None and stored["details"]["notes"] == "Første linje\nAnden linje\tmed tab"


async def test_the_api_speaks_english_on_request(booking: TestClient[Any, Any]) -> None:
    response = await booking.post("/api/v1/bookings?lang=en", json=_with("contact.name", "Mette\u2028Hansen"))
    [error] = (await response.json())["errors"]
    assert error["message"].startswith(ONE_LINE_EN)


async def test_a_cancellation_reason_refuses_hidden_characters(booking: TestClient[Any, Any]) -> None:
    created = await (await booking.post("/api/v1/bookings", json=valid_body())).json()
    response = await booking.post(
        f"/api/v1/bookings/{created['id']}/cancel",
        json={"reason": "Sygdom\u202e"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status == 422
    [error] = (await response.json())["errors"]
    assert error["field"] == "reason"


@pytest.mark.parametrize("char", HIDDEN.values(), ids=HIDDEN.keys())
@pytest.mark.parametrize("field", ONE_LINE_FIELDS.values())
async def test_the_form_refuses_hidden_characters_and_keeps_what_was_typed(
    booking: TestClient[Any, Any], db: AsyncDatabase[Document], field: str, char: str
) -> None:
    form = filled_form(**{field: f"Bo{char}stedet"})

    response = await booking.post("/", data=form)

    assert response.status == 422
    page = Page(await response.text())
    assert page.by_id(f"{field}-error").text.startswith(ONE_LINE_DA)
    assert page.value("contact_email") == form["contact_email"]
    assert await db.bookings.count_documents({}) == 0


@pytest.mark.parametrize("char", ["\u2028", "\x85", "\u202e", "\n"], ids=["LS", "NEL", "RLO", "LF"])
async def test_the_consultants_api_refuses_hidden_characters(settings: Settings, char: str) -> None:
    async with TestClient(TestServer(create_scheduler_app(settings))) as scheduler:
        response = await scheduler.post(
            "/api/v1/consultants",
            json=consultant_body("anne", name=f"Anne{char}Konsulent"),
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert response.status == 422
        [error] = (await response.json())["errors"]
    assert (error["field"], error["message"].startswith(ONE_LINE_DA)) == ("name", True)
