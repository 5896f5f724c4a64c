"""The booking service's use cases with an in-memory store: no broker, no database, a fixed clock.

What a workplace or an admin notices: a request becomes one booking announced once, a request sent
again does not make a second one, refused input names every wrong field, a cancelled booking stays
cancelled, and the scheduler's outcomes are applied in their order whatever order they arrive in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.booking import handlers
from services.booking.domain import Booking, BookingRules, InvalidBooking, NotOpen
from services.booking.handlers import API, FORM, Deps, IdempotencyConflict
from shared.contracts.events import (
    BookingCancelledData,
    BookingNeedsAlternativeData,
    BookingScheduledData,
    new_event,
)
from shared.contracts.models import ConsultantRef, Slot
from shared.infra.ratelimit import Verdict
from shared.text.localtime import parse_start
from tests.fakes.booking import FakeBookingStore
from tests.unit.test_rules import NOW
from tests.unit.test_rules import request as body  # the rule tests' valid request, some fields changed

pytestmark = pytest.mark.asyncio

BASE_URL = "https://booking.example.dk"


class Wakes:
    """Stands in for the outbox relay's ``wake``: notes what the store held each time it was called."""

    def __init__(self) -> None:
        self.store: FakeBookingStore | None = None
        self.seen: list[int] = []  # how many events the store held at each wake

    def __call__(self) -> None:
        assert self.store is not None
        self.seen.append(len(self.store.outbox))


@pytest.fixture
def wakes() -> Wakes:
    return Wakes()


@pytest.fixture
def store(wakes: Wakes) -> FakeBookingStore:
    store = FakeBookingStore(on_commit=wakes)
    wakes.store = store
    return store


@pytest.fixture
def deps(store: FakeBookingStore) -> Deps:
    return Deps(store=store, rules=BookingRules(), base_url=BASE_URL, clock=lambda: NOW)


async def booked(deps: Deps) -> Booking:
    return (await handlers.request_booking(deps, body(), channel=API)).booking


def created(channel: str) -> float:
    return REGISTRY.get_sample_value("booking_requests_created_total", {"channel": channel}) or 0.0


# --- requesting a booking -----------------------------------------------------------------------------------


async def test_a_request_is_stored_once_with_its_booking_requested_event(deps: Deps, store: FakeBookingStore) -> None:
    requested = await handlers.request_booking(deps, body(), channel=API)

    booking = requested.booking
    assert not requested.replayed
    assert store.bookings == {booking.id: booking}
    assert booking.status == "received"
    assert booking.details.preferred_starts == (parse_start("2027-03-02T13:00"), parse_start("2027-06-01T13:00"))
    assert booking.status_url == f"{BASE_URL}/bookings/{booking.id}?token={booking.secret}"
    assert store.events(booking.id) == ["booking.requested"]
    [event] = store.outbox
    assert event.data.status_url == booking.status_url  # type: ignore[union-attr]
    assert event.occurred_at == NOW


async def test_the_same_key_and_body_give_the_same_booking_without_a_second_event(
    deps: Deps, store: FakeBookingStore
) -> None:
    first = await handlers.request_booking(deps, body(), channel=API, key="key-1")
    again = await handlers.request_booking(deps, body(), channel=API, key="key-1")

    assert again.replayed
    assert again.booking.id == first.booking.id
    assert len(store.bookings) == 1
    assert store.events(first.booking.id) == ["booking.requested"]


async def test_the_same_key_with_another_body_is_a_conflict_for_the_api(deps: Deps, store: FakeBookingStore) -> None:
    await handlers.request_booking(deps, body(), channel=API, key="key-1")

    with pytest.raises(IdempotencyConflict):
        await handlers.request_booking(deps, body(participants=30), channel=API, key="key-1")
    assert len(store.bookings) == 1


async def test_the_same_key_with_another_body_makes_a_new_booking_from_the_form(
    deps: Deps, store: FakeBookingStore
) -> None:
    first = await handlers.request_booking(deps, body(), channel=FORM, key="form-key")
    # The same form, changed and sent again: a new request, not an error.
    changed = await handlers.request_booking(deps, body(participants=30), channel=FORM, key="form-key")

    assert not changed.replayed
    assert changed.booking.id != first.booking.id
    assert changed.booking.details.participants == 30
    assert [len(store.events(b)) for b in store.bookings] == [1, 1]


async def test_a_form_key_and_an_api_key_never_meet(deps: Deps, store: FakeBookingStore) -> None:
    from_api = await handlers.request_booking(deps, body(), channel=API, key="same")
    from_form = await handlers.request_booking(deps, body(), channel=FORM, key="same")

    assert from_form.booking.id != from_api.booking.id
    assert not from_form.replayed


async def test_invalid_input_lists_every_field_and_stores_nothing(deps: Deps, store: FakeBookingStore) -> None:
    raw = body(participants=0, theme="stress", preferred_starts=["2027-03-06T10:00", "snart"])
    raw["contact"]["email"] = "mette@"

    with pytest.raises(InvalidBooking) as refused:
        await handlers.request_booking(deps, raw, channel=FORM, key="k")

    fields = {error.field for error in refused.value.errors}
    assert fields == {"participants", "theme", "contact.email", "preferred_starts.0", "preferred_starts.1"}
    assert store.bookings == {} and store.outbox == []


async def test_an_over_long_idempotency_key_is_refused(deps: Deps, store: FakeBookingStore) -> None:
    with pytest.raises(InvalidBooking) as refused:
        await handlers.request_booking(deps, body(), channel=API, key="k" * 201)
    assert [error.field for error in refused.value.errors] == ["Idempotency-Key"]
    assert store.bookings == {}


async def test_created_bookings_are_counted_for_both_channels_but_not_a_replay(deps: Deps) -> None:
    before = {channel: created(channel) for channel in ("api", "form")}

    await handlers.request_booking(deps, body(), channel=API, key="a")
    await handlers.request_booking(deps, body(), channel=API, key="a")  # replayed
    await handlers.request_booking(deps, body(), channel=FORM, key="f")

    assert created("api") == before["api"] + 1
    assert created("form") == before["form"] + 1


async def test_a_reference_already_taken_is_drawn_again(
    deps: Deps, store: FakeBookingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await booked(deps)
    references: Iterator[str] = iter([first.id, "NEW0-0001"])
    monkeypatch.setattr(handlers, "new_reference", lambda: next(references))

    second = await booked(deps)

    assert second.id == "NEW0-0001"
    assert store.bookings[first.id] == first


# --- the relay ----------------------------------------------------------------------------------------------


async def test_the_relay_is_woken_after_each_write_that_carries_an_event(
    deps: Deps, store: FakeBookingStore, wakes: Wakes
) -> None:
    booking = await handlers.request_booking(deps, body(), channel=API, key="k")
    assert wakes.seen == [1]  # woken once, with the event already stored

    await handlers.request_booking(deps, body(), channel=API, key="k")  # replayed: nothing new to publish
    assert wakes.seen == [1]

    await handlers.cancel(deps, booking.booking, by="workplace", reason="")
    assert wakes.seen == [1, 2]


# --- finding a booking ------------------------------------------------------------------------------------------


async def test_a_booking_is_found_with_its_secret_or_by_an_admin_only(deps: Deps) -> None:
    booking = await booked(deps)

    assert await handlers.find_booking(deps, booking.id, token=booking.secret) == booking
    assert await handlers.find_booking(deps, booking.id, token=None, admin=True) == booking
    assert await handlers.find_booking(deps, booking.id, token="wrong") is None
    assert await handlers.find_booking(deps, booking.id, token=None) is None
    assert await handlers.find_booking(deps, "XXXX-XXXX", token=booking.secret) is None


# --- cancel and reschedule -----------------------------------------------------------------------------------------


async def test_cancel_of_an_open_booking_is_announced_once_and_a_second_cancel_is_refused(
    deps: Deps, store: FakeBookingStore
) -> None:
    booking = await booked(deps)

    cancelling = await handlers.cancel(deps, booking, by="workplace", reason="Mødet er flyttet.\r\nBeklager.")

    assert cancelling.cancel_pending and not cancelling.is_open
    assert store.events(booking.id) == ["booking.requested", "booking.cancel_requested"]
    event = store.outbox[-1]
    assert event.data.model_dump() == {
        "booking_id": booking.id,
        "requested_by": "workplace",
        "reason": "Mødet er flyttet.\nBeklager.",
    }
    with pytest.raises(NotOpen):
        await handlers.cancel(deps, cancelling, by="workplace", reason="")
    with pytest.raises(NotOpen):  # also with the booking as it was read before the first cancel
        await handlers.cancel(deps, booking, by="admin", reason="")
    assert store.events(booking.id) == ["booking.requested", "booking.cancel_requested"]


async def test_a_cancel_reason_with_hidden_characters_is_refused(deps: Deps, store: FakeBookingStore) -> None:
    booking = await booked(deps)
    with pytest.raises(InvalidBooking) as refused:
        await handlers.cancel(deps, booking, by="workplace", reason="Sygdom\u202e")
    assert [error.field for error in refused.value.errors] == ["reason"]
    assert store.events(booking.id) == ["booking.requested"]


async def test_the_workplace_reschedules_with_desired_starts(deps: Deps, store: FakeBookingStore) -> None:
    booking = await booked(deps)

    moving = await handlers.reschedule(deps, booking, {"preferred_starts": ["2027-04-06T09:00"]}, by="workplace")

    assert moving.reschedule_requested_at == NOW
    event = store.outbox[-1]
    assert event.type == "booking.reschedule_requested"
    assert event.data.model_dump() == {
        "booking_id": booking.id,
        "requested_by": "workplace",
        "preferred_starts": (parse_start("2027-04-06T09:00"),),
        "start": None,
        "consultant_id": None,
    }
    assert store.bookings[booking.id].history[-1].preferred_starts == (parse_start("2027-04-06T09:00"),)


async def test_only_an_admin_may_fix_the_start_and_the_consultant(deps: Deps, store: FakeBookingStore) -> None:
    booking = await booked(deps)
    fixed = {"start": "2027-03-16T10:00", "consultant_id": "anne"}

    with pytest.raises(InvalidBooking) as refused:
        await handlers.reschedule(deps, booking, fixed, by="workplace")
    assert {"start", "consultant_id"} <= {error.field for error in refused.value.errors}
    assert store.events(booking.id) == ["booking.requested"]

    await handlers.reschedule(deps, booking, fixed, by="admin")
    data = store.outbox[-1].data
    assert (data.requested_by, data.start, data.consultant_id) == (  # type: ignore[union-attr]
        "admin",
        parse_start("2027-03-16T10:00"),
        "anne",
    )


async def test_reschedule_with_invalid_starts_lists_them_and_stores_nothing(
    deps: Deps, store: FakeBookingStore
) -> None:
    booking = await booked(deps)
    with pytest.raises(InvalidBooking) as refused:
        await handlers.reschedule(
            deps, booking, {"preferred_starts": ["2027-03-06T10:00", "2027-03-02T16:00"]}, by="workplace"
        )
    assert {error.field: error.code for error in refused.value.errors} == {
        "preferred_starts.0": "start_weekend",
        "preferred_starts.1": "start_hours",  # a two-hour talk would end after 17.00
    }
    assert store.events(booking.id) == ["booking.requested"]


async def test_a_cancelled_booking_cannot_be_rescheduled(deps: Deps) -> None:
    booking = await handlers.cancel(deps, await booked(deps), by="admin", reason="")
    with pytest.raises(NotOpen):
        await handlers.reschedule(deps, booking, {"preferred_starts": ["2027-04-06T09:00"]}, by="workplace")


# --- the scheduler's outcomes ----------------------------------------------------------------------------------------


def slot(start: str) -> Slot:
    begin = parse_start(start)
    return Slot(
        consultant=ConsultantRef(id="anne", name="Anne Konsulent", email="anne@example.dk"),
        start=begin,
        end=begin + timedelta(hours=2),
    )


def scheduled(booking: Booking, *, revision: int, start: str = "2027-03-02T13:00") -> Any:
    data = BookingScheduledData(
        booking_id=booking.id,
        booking=booking.details,
        status_url=booking.status_url,
        slot=slot(start),
        revision=revision,
    )
    return new_event(data, now=NOW)


def needs_alternative(booking: Booking, *, revision: int) -> Any:
    data = BookingNeedsAlternativeData(
        booking_id=booking.id,
        booking=booking.details,
        status_url=booking.status_url,
        alternatives=(parse_start("2027-03-03T10:00"),),
        reason="no consultant free",
        revision=revision,
    )
    return new_event(data, now=NOW)


async def stored(deps: Deps, booking: Booking) -> Booking:
    found = await deps.store.get(booking.id)
    assert found is not None
    return found


async def test_an_outcome_schedules_the_booking(deps: Deps) -> None:
    booking = await booked(deps)

    await handlers.apply_outcome(deps, scheduled(booking, revision=1))

    after = await stored(deps, booking)
    assert after.status == "scheduled"
    assert after.slot == slot("2027-03-02T13:00")
    assert [entry.status for entry in after.history] == ["received", "scheduled"]


async def test_outcomes_apply_in_order_of_revision_an_older_one_changes_nothing(deps: Deps) -> None:
    booking = await booked(deps)
    newer = needs_alternative(booking, revision=2)
    older = scheduled(booking, revision=1)

    await handlers.apply_outcome(deps, newer)
    await handlers.apply_outcome(deps, older)  # arrives late

    after = await stored(deps, booking)
    assert after.status == "needs_alternative"
    assert after.slot is None
    assert after.alternatives == (parse_start("2027-03-03T10:00"),)
    assert [entry.status for entry in after.history] == ["received", "needs_alternative"]

    await handlers.apply_outcome(deps, scheduled(booking, revision=3, start="2027-03-03T10:00"))
    assert (await stored(deps, booking)).status == "scheduled"


async def test_a_duplicate_outcome_changes_nothing(deps: Deps) -> None:
    booking = await booked(deps)
    event = scheduled(booking, revision=0)

    await handlers.apply_outcome(deps, event)
    once = await stored(deps, booking)
    await handlers.apply_outcome(deps, event)  # delivered again

    assert await stored(deps, booking) == once
    assert [entry.event_id for entry in once.history].count(str(event.event_id)) == 1


async def test_a_reschedule_outcome_ends_the_pending_request(deps: Deps) -> None:
    booking = await booked(deps)
    await handlers.apply_outcome(deps, scheduled(booking, revision=1))
    moving = await handlers.reschedule(deps, booking, {"preferred_starts": ["2027-04-06T09:00"]}, by="workplace")
    assert moving.reschedule_requested_at is not None

    await handlers.apply_outcome(deps, scheduled(booking, revision=2, start="2027-04-06T09:00"))

    after = await stored(deps, booking)
    assert after.reschedule_requested_at is None
    assert after.slot == slot("2027-04-06T09:00")
    assert [entry.status for entry in after.history] == ["received", "scheduled", "reschedule_requested", "scheduled"]


async def test_a_cancelled_outcome_closes_the_booking(deps: Deps) -> None:
    booking = await handlers.cancel(deps, await booked(deps), by="workplace", reason="Sygdom")
    data = BookingCancelledData(
        booking_id=booking.id,
        booking=booking.details,
        status_url=booking.status_url,
        slot=None,
        sequence=1,
        reason="Sygdom",
        revision=1,
    )
    cancelled: Any = new_event(data, now=NOW)

    await handlers.apply_outcome(deps, cancelled)

    after = await stored(deps, booking)
    assert (after.status, after.cancel_reason, after.cancel_pending) == ("cancelled", "Sygdom", False)


async def test_an_outcome_for_an_unknown_booking_is_ignored(deps: Deps, store: FakeBookingStore) -> None:
    stranger = await booked(deps)
    store.bookings.clear()
    await handlers.apply_outcome(deps, scheduled(stranger, revision=1))
    assert store.bookings == {}


async def test_every_outcome_has_a_route_and_nothing_else_does() -> None:
    assert set(handlers.HANDLERS) == {
        "booking.scheduled",
        "booking.needs_alternative",
        "booking.cancelled",
        "booking.rescheduled",
        "booking.offer_made",
        "booking.offer_expired",
        "booking.offer_taken",
    }


# --- limits --------------------------------------------------------------------------------------------------


class CountingLimits:
    """At most ``most`` of each limit per identifier, as the MongoDB-backed limiter counts them."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.counts: dict[tuple[str, ...], int] = {}

    async def hit(self, name: str, *identifiers: str) -> Verdict:
        key = (name, *identifiers)
        self.counts[key] = self.counts.get(key, 0) + 1
        return Verdict(self.counts[key] <= self.most, 0 if self.counts[key] <= self.most else 60)


async def test_requests_past_a_limit_are_refused_and_store_nothing(store: FakeBookingStore) -> None:
    limited = Deps(store=store, rules=BookingRules(), base_url=BASE_URL, clock=lambda: NOW, limits=CountingLimits(2))
    for _ in range(2):
        await handlers.request_booking(limited, body(), channel=API, client="203.0.113.9")
    with pytest.raises(handlers.TooMany) as refused:
        await handlers.request_booking(limited, body(), channel=API, client="203.0.113.9")
    assert refused.value.retry_after == 60
    assert len(store.bookings) == 2
    await handlers.request_booking(limited, body(), channel=API, client=None)  # an admin
    assert len(store.bookings) == 3


async def test_invalid_input_does_not_count_against_the_limits(store: FakeBookingStore) -> None:
    limits = CountingLimits(1)
    limited = Deps(store=store, rules=BookingRules(), base_url=BASE_URL, clock=lambda: NOW, limits=limits)
    with pytest.raises(InvalidBooking):
        await handlers.request_booking(limited, body(participants=0), channel=API, client="203.0.113.9")
    assert limits.counts == {}


# --- personal data -------------------------------------------------------------------------------------------


async def test_erasure_keeps_the_talk_and_announces_itself_once(deps: Deps, store: FakeBookingStore) -> None:
    booking = await booked(deps)

    assert await handlers.erase(deps, booking, by="admin")
    erased = store.bookings[booking.id]
    assert not await handlers.erase(deps, erased, by="admin"), "erasing twice does nothing more"

    assert erased.details.contact.email == "" and erased.details.workplace.name == "" and erased.details.notes == ""
    assert erased.details.theme == booking.details.theme
    assert erased.details.workplace.city == booking.details.workplace.city
    assert erased.idempotency is None and erased.erased_at == NOW
    assert store.events(booking.id) == ["booking.requested", "booking.erased"]


async def test_erasing_a_contact_erases_every_booking_of_that_address(deps: Deps, store: FakeBookingStore) -> None:
    first, second = await booked(deps), await booked(deps)
    other = (await handlers.request_booking(deps, body(contact={**body()["contact"], "email": "bo@example.dk"}),
                                            channel=API)).booking

    erased = await handlers.erase_contact(deps, first.details.contact.email.upper())

    assert sorted(erased) == sorted([first.id, second.id])
    assert store.bookings[other.id].erased_at is None


async def test_retention_erases_what_is_older_than_the_period_and_nothing_else(store: FakeBookingStore) -> None:
    deps = Deps(store=store, rules=BookingRules(), base_url=BASE_URL, clock=lambda: NOW)
    old, recent = await booked(deps), await booked(deps)
    store.bookings[recent.id] = replace(recent, updated_at=NOW + timedelta(days=300))  # a request never placed
    a_year_on = Deps(store=store, rules=BookingRules(), base_url=BASE_URL, clock=lambda: NOW + timedelta(days=400))

    assert await handlers.erase_expired(a_year_on, keep=timedelta(days=365)) == 1
    assert store.bookings[old.id].erased_at is not None
    assert store.bookings[recent.id].erased_at is None
    assert await handlers.erase_expired(a_year_on, keep=timedelta(days=365)) == 0
