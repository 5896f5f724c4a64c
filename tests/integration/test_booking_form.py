"""The booking form round trip, as a browser without JavaScript sees it: the form, its
errors, the receipt, the private status page and its cancel form.

The pages are read with the standard library's HTML parser: enough to find elements by id, tag and
attribute, and the text inside them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from yarl import URL

from services.booking.app import create_app
from shared.contracts.catalogue import content
from shared.infra.settings import Settings
from tests.dates import closed

pytestmark = pytest.mark.integration

Document = dict[str, Any]

# --- reading HTML ------------------------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join("".join(self.parts).split())

    def inside(self, element_id: str) -> bool:
        node = self.parent
        while node is not None:
            if node.attrs.get("id") == element_id:
                return True
            node = node.parent
        return False


class Page(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self._open[-1] if self._open else None)
        self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(e.text for e in self.elements if e.tag == "body")

    def find_all(self, tag: str, **attrs: str) -> list[Element]:
        return [
            e for e in self.elements if e.tag == tag and all(e.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]

    def by_id(self, element_id: str) -> Element:
        found = [e for e in self.elements if e.attrs.get("id") == element_id]
        assert len(found) == 1, f"expected one element with id {element_id!r}, found {len(found)}"
        return found[0]

    def has_id(self, element_id: str) -> bool:
        return any(e.attrs.get("id") == element_id for e in self.elements)

    def value(self, name: str) -> str:
        (element,) = [e for e in self.elements if e.attrs.get("name") == name and e.tag in ("input", "textarea")]
        return element.text if element.tag == "textarea" else element.attrs.get("value", "")


# --- helpers and fixtures ----------------------------------------------------------------------------------


def weekday_ahead(days: int, hour: int = 10) -> str:
    """A datetime-local value on the first weekday at least ``days`` days from today."""
    day = date.today() + timedelta(days=days)
    while closed(day):
        day += timedelta(days=1)
    return f"{day.isoformat()}T{hour:02d}:00"


def filled_form(**changes: str) -> dict[str, str]:
    form = {
        "idempotency_key": str(uuid.uuid4()),
        "language": "da",
        "theme": "alene-arbejde",
        "setting": "work_environment_group",
        "duration_minutes": "90",
        "participants": "12",
        "preferred_start_1": weekday_ahead(21),
        "preferred_start_2": weekday_ahead(28, 13),
        "preferred_start_3": "",
        "workplace_name": "Bostedet Lindely",
        "workplace_address": "Skovvej 12",
        "workplace_postcode": "8000",
        "workplace_city": "Aarhus C",
        "contact_name": "Mette Hansen",
        "contact_email": "mette@example.dk",
        "contact_phone": "20 30 40 50",
        "notes": "Vi holder mødet i fællesrummet.",
    }
    form.update(changes)
    return form


@pytest_asyncio.fixture
async def client(settings: Settings, clean_queues: None) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(settings))) as test_client:
        yield test_client


@pytest.fixture
def bookings(db: AsyncDatabase[Document]) -> AsyncCollection[Document]:
    return db.bookings


async def get_page(client: TestClient[Any, Any], path: str, status: int = 200) -> Page:
    response = await client.get(path)
    assert response.status == status, await response.text()
    assert response.content_type == "text/html"
    return Page(await response.text())


async def post_form(client: TestClient[Any, Any], form: dict[str, str], status: int, path: str = "/") -> Page:
    response = await client.post(path, data=form)
    assert response.status == status, await response.text()
    return Page(await response.text())


def local_link(url: str) -> str:
    """The path and query of an absolute link (the test server listens on another port)."""
    return str(URL(url).relative())


# --- the form ---------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_form_shows_the_six_themes_and_the_note_on_agreements(client: TestClient[Any, Any]) -> None:
    page = await get_page(client, "/")

    assert page.find_all("html")[0].attrs["lang"] == "da"
    radios = page.find_all("input", type="radio", name="theme")
    assert [r.attrs["value"] for r in radios] == [t.id for t in content().themes]
    for theme in content().themes:
        assert theme.title.da in page.text
    assert "løn- og arbejdstidsaftaler" in page.by_id("not-negotiation").text
    assert page.find_all("form", method="post")[0].attrs["action"] == "/"


@pytest.mark.asyncio
async def test_form_is_accessible_fieldsets_legends_and_labels(client: TestClient[Any, Any]) -> None:
    page = await get_page(client, "/")

    fieldsets = page.find_all("fieldset")
    legends = page.find_all("legend")
    assert len(fieldsets) >= 5  # theme, the talk, setting, desired times, workplace, contact
    assert len(legends) == len(fieldsets)
    assert all(legend.parent is not None and legend.parent.tag == "fieldset" for legend in legends)
    legend_texts = [legend.text for legend in legends]
    for expected in ("Tema – vælg ét", "Ønskede tidspunkter", "Arbejdspladsen", "Kontaktperson"):
        assert expected in legend_texts

    labelled = {label.attrs.get("for") for label in page.find_all("label")}
    controls = [
        e
        for e in page.elements
        if e.tag in ("select", "textarea") or (e.tag == "input" and e.attrs.get("type") != "hidden")
    ]
    assert len(controls) >= 20
    unlabelled = [c.attrs.get("name") for c in controls if c.attrs.get("id") not in labelled]
    assert unlabelled == []


@pytest.mark.asyncio
async def test_form_in_english(client: TestClient[Any, Any]) -> None:
    page = await get_page(client, "/?lang=en")

    assert page.find_all("html")[0].attrs["lang"] == "en"
    assert "Book a free inspiration talk" in page.text
    for theme in content().themes:
        assert theme.title.en in page.text
    assert "pay and working-time agreements" in page.text
    assert page.find_all("input", name="language")[0].attrs["value"] == "en"


# --- errors -------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_form_with_errors_comes_back_with_a_linked_summary_messages_and_the_values_kept(
    client: TestClient[Any, Any], bookings: AsyncCollection[Document]
) -> None:
    form = filled_form(
        participants="0",
        workplace_postcode="800",
        contact_email="mette@",
        preferred_start_1="2099-01-03T10:00",  # a Saturday
    )
    del form["theme"]  # no theme chosen

    page = await post_form(client, form, 422)

    summary = page.by_id("error-summary")
    assert summary.attrs["role"] == "alert"
    links = [a for a in page.find_all("a") if a.inside("error-summary")]
    targets = [a.attrs["href"] for a in links]
    assert all(href.startswith("#") and page.has_id(href[1:]) for href in targets), targets
    assert set(targets) == {
        "#theme-smidighed",
        "#participants",
        "#workplace_postcode",
        "#contact_email",
        "#preferred_start_1",
    }

    messages = {
        "theme": "Vælg præcis ét tema",
        "participants": "Antal deltagere skal være et helt tal fra 1 til 500.",
        "workplace_postcode": "Postnummeret skal være 4 cifre.",
        "contact_email": "Ugyldig e-mailadresse",
        "preferred_start_1": "Oplæg holdes på hverdage",
    }
    for name, message in messages.items():
        assert message in page.by_id(f"{name}-error").text
        if page.has_id(name) and page.by_id(name).tag == "input":
            control = page.by_id(name)
            assert control.attrs.get("aria-invalid") == "true"
            assert f"{name}-error" in control.attrs.get("aria-describedby", "")

    # What was typed is kept, the wrong values too, so they can be corrected.
    for name in ("participants", "workplace_postcode", "contact_email", "workplace_name", "contact_phone", "notes"):
        assert page.value(name) == form[name]
    assert page.find_all("input", name="setting", value="work_environment_group")[0].attrs.get("checked") == ""
    assert page.value("idempotency_key") == form["idempotency_key"]
    assert await bookings.count_documents({}) == 0


@pytest.mark.asyncio
async def test_two_themes_are_refused_with_one_theme_per_talk(client: TestClient[Any, Any]) -> None:
    form = [*filled_form().items(), ("theme", "smidighed")]
    response = await client.post("/", data=form)
    assert response.status == 422
    page = Page(await response.text())
    assert "book et oplæg mere" in page.by_id("theme-error").text


@pytest.mark.asyncio
async def test_errors_in_english_when_the_form_is_english(client: TestClient[Any, Any]) -> None:
    page = await post_form(client, filled_form(language="en", participants="0"), 422, path="/?lang=en")
    assert "There are errors in the form" in page.text
    assert "whole number from 1 to 500" in page.by_id("participants-error").text


# --- receipt, status page, cancel -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_valid_form_gives_a_receipt_and_a_working_status_link(
    client: TestClient[Any, Any], bookings: AsyncCollection[Document]
) -> None:
    receipt = await post_form(client, filled_form(), 200)

    reference = receipt.by_id("reference").text
    stored = await bookings.find_one({"_id": reference})
    assert stored is not None
    assert stored["details"]["theme"] == "alene-arbejde"
    assert stored["details"]["contact"]["phone"] == "+4520304050"
    status_url = receipt.by_id("status-link").attrs["href"]
    assert status_url == stored["status_url"]
    assert f"/bookings/{reference}?token=" in status_url
    assert "Tak – vi har modtaget jeres forespørgsel" in receipt.text

    status_page = await get_page(client, local_link(status_url))

    status = status_page.by_id("status")
    assert status.attrs["data-status"] == "received"
    assert status.text.startswith("Modtaget")
    assert reference in status_page.text
    assert "Alene-arbejde og psykisk arbejdsmiljø" in status_page.text


@pytest.mark.asyncio
async def test_the_same_form_posted_twice_makes_one_booking(
    client: TestClient[Any, Any], bookings: AsyncCollection[Document]
) -> None:
    form = filled_form()

    first = await post_form(client, form, 200)
    second = await post_form(client, form, 200)

    assert first.by_id("reference").text == second.by_id("reference").text
    assert await bookings.count_documents({}) == 1


@pytest.mark.asyncio
async def test_cancel_from_the_status_page(client: TestClient[Any, Any], bookings: AsyncCollection[Document]) -> None:
    receipt = await post_form(client, filled_form(), 200)
    reference = receipt.by_id("reference").text
    status_page = await get_page(client, local_link(receipt.by_id("status-link").attrs["href"]))
    cancel_form = next(f for f in status_page.find_all("form") if f.attrs["action"].endswith("/cancel"))
    token = next(i for i in status_page.find_all("input", name="token") if i.parent is cancel_form)

    response = await client.post(
        cancel_form.attrs["action"],
        data={"token": token.attrs["value"], "reason": "Mødet er flyttet."},
        allow_redirects=False,
    )

    assert response.status == 303
    after = await get_page(client, response.headers["Location"])
    assert "Afbestillingen er modtaget og behandles." in after.text
    assert "Ændringen er modtaget." in after.text
    assert not any(f.attrs["action"].endswith("/cancel") for f in after.find_all("form"))  # nothing to cancel twice
    stored = await bookings.find_one({"_id": reference})
    assert stored is not None and stored["cancel_requested_at"] is not None

    # The same cancel form sent again (a second tab, a back button) changes nothing and says why.
    again = await client.post(cancel_form.attrs["action"], data={"token": token.attrs["value"]}, allow_redirects=False)
    assert again.status == 409
    assert "Bookingen er aflyst eller ved at blive aflyst og kan ikke ændres." in await again.text()
    assert "Ændringen er modtaget." not in await again.text()


@pytest.mark.asyncio
async def test_status_page_with_a_wrong_token_is_a_danish_404(client: TestClient[Any, Any]) -> None:
    receipt = await post_form(client, filled_form(), 200)
    reference = receipt.by_id("reference").text

    for path in (f"/bookings/{reference}?token=wrong", f"/bookings/{reference}", "/bookings/XXXX-XXXX?token=x"):
        page = await get_page(client, path, status=404)
        assert page.find_all("html")[0].attrs["lang"] == "da"
        assert "Bookingen blev ikke fundet" in page.text
        assert reference not in page.text
