"""The notifier's handlers and its sender on in-memory fakes (``tests/fakes/notifier.py``): what an
event stores to send, what becomes of the reminder, and how each delivery is sent and recorded."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from services.notifier import handlers
from services.notifier.domain import Delivery, Email, Sms
from services.notifier.errors import PermanentDeliveryError, TransientDeliveryError
from services.notifier.handlers import HANDLERS, Deps
from services.notifier.sender import Sender
from shared.contracts.events import (
    BookingCancelledData,
    BookingCancelRequestedData,
    BookingRequestedData,
    BookingRescheduledData,
    BookingScheduledData,
    Event,
    new_event,
)
from shared.contracts.models import BookingDetails, ConsultantRef, Contact, Slot, Workplace
from shared.infra.messaging import PermanentError
from shared.infra.routing import dispatcher
from tests.fakes.notifier import Clock, Dropped, FakeDeliveryStore, FakeMailer, FakeSms

pytestmark = pytest.mark.asyncio

BOOKING_ID = "bk-2027-0042"
MAIL_FROM = "booking@socialpaedagogerne-oestjylland.example"
CONTACT = "mette@example.dk"
PHONE = "+4520304050"
REMINDER_BEFORE = timedelta(hours=72)
RETRY_DELAYS = (10.0, 20.0, 40.0)

ANNA = ConsultantRef(id="c-anna", name="Anna Jensen", email="anna@example.dk")
BO = ConsultantRef(id="c-bo", name="Bo Ærø", email="bo@example.dk")


def booking(**changes: Any) -> BookingDetails:
    values: dict[str, Any] = {
        "workplace": Workplace(name="Bostedet Lindely", address="Skovvej 12", postcode="8000", city="Aarhus C"),
        "contact": Contact(name="Mette Hansen", email=CONTACT, phone=PHONE),
        "theme": "selvledelse",
        "setting": "staff_meeting",
        "participants": 18,
        "duration_minutes": 120,
        "preferred_starts": (Clock().now + timedelta(days=30),),
    }
    return BookingDetails(**{**values, **changes})


def slot(days_ahead: int = 30, consultant: ConsultantRef = ANNA) -> Slot:
    start = Clock().now + timedelta(days=days_ahead)
    return Slot(consultant=consultant, start=start, end=start + timedelta(hours=2))


def scheduled(at: Slot | None = None) -> Event:
    return new_event(
        BookingScheduledData(booking_id=BOOKING_ID, booking=booking(), status_url="u", slot=at or slot(), sequence=0)
    )


def rescheduled(at: Slot, previous: Slot, sequence: int) -> Event:
    return new_event(
        BookingRescheduledData(
            booking_id=BOOKING_ID, booking=booking(), status_url="u", slot=at, previous_slot=previous, sequence=sequence
        )
    )


def cancelled(at: Slot, sequence: int) -> Event:
    return new_event(
        BookingCancelledData(booking_id=BOOKING_ID, booking=booking(), status_url="u", slot=at, sequence=sequence)
    )


class World:
    """The notifier's handlers and sender over fakes, with a clock the test moves."""

    def __init__(self, *, concurrency: int = 8, mailer: FakeMailer | None = None) -> None:
        self.clock = Clock()
        self.store = FakeDeliveryStore()
        self.mailer = mailer or FakeMailer()
        self.sms = FakeSms()
        self.deps = Deps(self.store, mail_from=MAIL_FROM, reminder_before=REMINDER_BEFORE, clock=self.clock)
        self.sender = Sender(
            self.store,
            mailer=self.mailer,
            sms=self.sms,
            mail_from=MAIL_FROM,
            retry_delays=RETRY_DELAYS,
            poll_seconds=60,
            concurrency=concurrency,
            clock=self.clock,
        )

    async def handle(self, event: Event) -> None:
        await dispatcher(HANDLERS, self.deps)(event)

    def deliveries(self, **where: Any) -> list[Delivery]:
        return [d for d in self.store.deliveries.values() if all(getattr(d, k) == v for k, v in where.items())]

    def delivery(self, **where: Any) -> Delivery:
        [found] = self.deliveries(**where)
        return found


# --- what each event stores --------------------------------------------------------------------------------


async def test_a_scheduled_talk_stores_confirmation_sms_and_invite_and_the_reminder() -> None:
    world = World()
    talk = slot()
    event = scheduled(talk)
    await world.handle(event)

    assert [(d.channel, d.kind, d.to, d.status) for d in world.deliveries()] == [
        ("email", "confirmation", CONTACT, "pending"),
        ("sms", "confirmation_sms", PHONE, "pending"),
        ("email", "invite", ANNA.email, "pending"),
    ]
    assert {d.id for d in world.deliveries()} == {
        f"{event.event_id}|email|confirmation",
        f"{event.event_id}|sms|confirmation_sms",
        f"{event.event_id}|email|invite",
    }
    assert all(d.next_attempt_at == world.clock.now and d.booking_id == BOOKING_ID for d in world.deliveries())
    reminder = world.store.reminder(BOOKING_ID)
    assert (reminder.status, reminder.sequence, reminder.slot) == ("pending", 0, talk)
    assert reminder.due_at == talk.start - REMINDER_BEFORE


async def test_the_same_event_twice_stores_nothing_new() -> None:
    world = World()
    event = scheduled()
    await world.handle(event)
    await world.sender.send_due()
    before = dict(world.store.deliveries), world.store.reminders[BOOKING_ID]

    await world.handle(event)

    assert (dict(world.store.deliveries), world.store.reminders[BOOKING_ID]) == before
    assert {d.status for d in world.deliveries()} == {"sent"}  # and nothing is due to go out again
    assert await world.sender.send_due() == 0


async def test_a_move_moves_the_reminder_and_a_cancel_drops_it() -> None:
    world = World()
    first, moved = slot(30), slot(60)
    await world.handle(scheduled(first))
    await world.handle(rescheduled(moved, previous=first, sequence=1))

    reminder = world.store.reminder(BOOKING_ID)
    assert (reminder.slot, reminder.sequence, reminder.due_at) == (moved, 1, moved.start - REMINDER_BEFORE)
    assert [d.kind for d in world.deliveries()][3:] == ["invite", "moved", "moved_sms"]

    await world.handle(cancelled(moved, sequence=2))

    assert world.store.reminders[BOOKING_ID] == Dropped(sequence=2)
    world.clock.advance(timedelta(days=59))  # when the reminder would have been due
    assert await world.sender.remind_due() == 0
    assert [d.kind for d in world.deliveries()][6:] == ["cancel_invite", "cancelled"]


async def test_an_older_move_never_overrides_a_newer_reminder() -> None:
    world = World()
    first, second, third = slot(30), slot(40), slot(50)
    await world.handle(scheduled(first))
    await world.handle(rescheduled(third, previous=second, sequence=2))
    await world.handle(rescheduled(second, previous=first, sequence=1))  # arrives late
    await world.handle(scheduled(first))  # and the first one, once more

    reminder = world.store.reminder(BOOKING_ID)
    assert (reminder.slot, reminder.sequence) == (third, 2)


async def test_a_move_to_another_consultant_cancels_the_first_ones_invite() -> None:
    world = World()
    first, moved = slot(30), slot(31, consultant=BO)
    await world.handle(rescheduled(moved, previous=first, sequence=1))

    assert [(d.kind, d.to) for d in world.deliveries()] == [
        ("cancel_invite", ANNA.email),
        ("invite", BO.email),
        ("moved", CONTACT),
        ("moved_sms", PHONE),
    ]
    cancel = world.delivery(kind="cancel_invite").message
    assert isinstance(cancel, Email) and cancel.method == "CANCEL"


async def test_an_event_the_notifier_has_no_handler_for_is_parked_not_ignored() -> None:
    world = World()
    with pytest.raises(PermanentError, match=r"booking\.cancel_requested"):
        await world.handle(new_event(BookingCancelRequestedData(booking_id=BOOKING_ID, requested_by="workplace")))
    assert world.store.deliveries == {}


# --- sending -------------------------------------------------------------------------------------------------


async def test_the_sender_sends_each_due_delivery_once_and_records_it() -> None:
    world = World()
    await world.handle(scheduled())

    assert await world.sender.send_due() == 3
    assert await world.sender.send_due() == 0

    assert [str(m["To"]) for m in world.mailer.sent] == [CONTACT, ANNA.email]
    assert [to for to, _ in world.sms.sent] == [PHONE]
    for delivery in world.deliveries():
        assert (delivery.status, delivery.attempts, delivery.sent_at, delivery.last_error) == (
            "sent",
            1,
            world.clock.now,
            None,
        )
    assert world.store.claims == {}


async def test_a_passing_failure_is_retried_with_growing_delay_and_finally_fails() -> None:
    world = World()
    world.sms.failures[PHONE] = [TransientDeliveryError("SMS gateway answered HTTP 503")] * 4
    await world.handle(scheduled())
    await world.sender.send_due()

    waits = []
    while (sms := world.delivery(channel="sms")).status == "pending":
        assert sms.last_error == "SMS gateway answered HTTP 503"
        waits.append((sms.next_attempt_at - world.clock.now).total_seconds())
        world.clock.advance(sms.next_attempt_at - world.clock.now)
        assert await world.sender.send_due() == 1  # only the SMS is due again

    assert waits == list(RETRY_DELAYS)
    assert sms.status == "failed" and sms.attempts == len(RETRY_DELAYS) + 1
    assert sms.last_error == "gave up after 4 attempts: SMS gateway answered HTTP 503"
    assert world.sms.sent == []
    assert {d.status for d in world.deliveries(channel="email")} == {"sent"}


async def test_a_passing_failure_that_clears_up_is_sent_on_the_next_attempt() -> None:
    world = World()
    world.mailer.failures[CONTACT] = [TransientDeliveryError("SMTP server answered 451 try later")]
    await world.handle(new_event(BookingRequestedData(booking_id=BOOKING_ID, booking=booking(), status_url="u")))
    await world.sender.send_due()
    world.clock.advance(timedelta(seconds=RETRY_DELAYS[0]))
    await world.sender.send_due()

    receipt = world.delivery(kind="receipt")
    assert (receipt.status, receipt.attempts) == ("sent", 2)
    assert len(world.mailer.to(CONTACT)) == 1


async def test_a_permanent_failure_is_recorded_as_failed_without_retry() -> None:
    world = World()
    world.mailer.failures[CONTACT] = [PermanentDeliveryError(f"{CONTACT} refused: 550 no such user")]
    await world.handle(new_event(BookingRequestedData(booking_id=BOOKING_ID, booking=booking(), status_url="u")))
    await world.sender.send_due()
    world.clock.advance(timedelta(days=1))

    assert await world.sender.send_due() == 0
    receipt = world.delivery(kind="receipt")
    assert (receipt.status, receipt.attempts, receipt.failed_at) == ("failed", 1, world.clock.now - timedelta(days=1))
    assert receipt.last_error == f"{CONTACT} refused: 550 no such user"
    [listed] = await handlers.list_deliveries(world.deps, "failed", BOOKING_ID, limit=10)
    assert listed.id == receipt.id


async def test_a_message_that_cannot_be_built_fails_alone_while_the_others_are_sent() -> None:
    world = World()
    now = world.clock.now
    good = Delivery.new("e1", BOOKING_ID, Email(kind="receipt", to=CONTACT, subject="s", text="t", html="h"), now)
    # A calendar without its METHOD: the MIME message cannot be built.
    broken = Delivery.new(
        "e2", BOOKING_ID, Email(kind="invite", to=ANNA.email, subject="s", text="t", html="h", calendar=b"x"), now
    )
    # What the store gives for a document whose message it cannot read back.
    unreadable = replace(
        Delivery.new("e3", BOOKING_ID, Sms(kind="confirmation_sms", to=PHONE, text="t"), now), message=None
    )
    sms = Delivery.new("e4", BOOKING_ID, Sms(kind="reminder_sms", to=PHONE, text="t"), now)
    await world.store.add([good, broken, unreadable, sms])

    assert await world.sender.send_due() == 4

    assert {d.event_id: d.status for d in world.deliveries()} == {
        "e1": "sent",
        "e2": "failed",
        "e3": "failed",
        "e4": "sent",
    }
    assert world.delivery(event_id="e2").last_error == "could not build the message: ValueError"
    assert world.delivery(event_id="e3").last_error == "could not build the message: UnreadableMessage"
    assert [str(m["To"]) for m in world.mailer.sent] == [CONTACT] and world.sms.sent == [(PHONE, "t")]
    world.clock.advance(timedelta(days=1))
    assert await world.sender.send_due() == 0  # the failed ones are not tried again by themselves


async def test_hostile_stored_text_is_cleaned_where_it_goes_out() -> None:
    world = World()
    hostile = Sms(kind="confirmation_sms", to=PHONE, text="Bostedet\u2028Lindely\r\nkl. 13\x0b")
    await world.store.add([Delivery.new("e1", BOOKING_ID, hostile, world.clock.now)])
    await world.sender.send_due()

    [(to, text)] = world.sms.sent
    assert to == PHONE and not any(c in text for c in "\r\n\x0b\u2028")
    assert world.delivery(event_id="e1").status == "sent"


async def test_on_stop_the_unsent_rest_is_released() -> None:
    world = World(concurrency=1)
    world.mailer.hold = asyncio.Event()
    await world.handle(scheduled())  # three deliveries, sent one at a time
    sending = asyncio.create_task(world.sender.send_due())
    await world.mailer.sending.wait()

    world.sender.stop()  # while the first one is being sent
    world.mailer.hold.set()
    await sending

    sent, *rest = world.deliveries()
    assert (sent.status, sent.attempts) == ("sent", 1)
    assert [(d.status, d.attempts, d.next_attempt_at) for d in rest] == [("pending", 0, world.clock.now)] * 2
    assert world.store.claims == {}  # due again at once, for any sender


async def test_an_admin_retry_sends_a_failed_delivery_again() -> None:
    world = World()
    world.mailer.failures[CONTACT] = [PermanentDeliveryError("550 mailbox full")]
    await world.handle(new_event(BookingRequestedData(booking_id=BOOKING_ID, booking=booking(), status_url="u")))
    await world.sender.send_due()
    receipt = world.delivery(kind="receipt")

    assert await handlers.retry_delivery(world.deps, receipt.id)
    assert not await handlers.retry_delivery(world.deps, receipt.id)  # no longer failed
    assert not await handlers.retry_delivery(world.deps, "no such delivery")
    await world.sender.send_due()

    assert (world.delivery(kind="receipt").status, world.delivery(kind="receipt").attempts) == ("sent", 2)
    assert len(world.mailer.to(CONTACT)) == 1


# --- reminders ------------------------------------------------------------------------------------------------


async def test_a_due_reminder_stores_its_messages_once() -> None:
    world = World()
    talk = slot(30)
    await world.handle(scheduled(talk))
    world.clock.advance(talk.start - REMINDER_BEFORE - world.clock.now)

    assert await world.sender.remind_due() == 1
    assert await world.sender.remind_due() == 0

    assert world.store.reminder(BOOKING_ID).status == "sent"
    reminders = world.deliveries(event_id=f"reminder:{BOOKING_ID}:0")
    assert [(d.kind, d.to) for d in reminders] == [
        ("reminder", CONTACT),
        ("reminder_sms", PHONE),
        ("consultant_reminder", ANNA.email),
    ]


async def test_a_reminder_that_comes_after_the_talk_began_is_skipped() -> None:
    world = World()
    talk = slot(30)
    await world.handle(scheduled(talk))
    world.clock.advance(talk.start - world.clock.now)  # the notifier was down until the talk began

    assert await world.sender.remind_due() == 1
    assert world.store.reminder(BOOKING_ID).status == "skipped"
    assert world.deliveries(event_id=f"reminder:{BOOKING_ID}:0") == []


async def test_a_slow_send_holds_up_no_other_delivery() -> None:
    slow = asyncio.Event()

    class SlowForTheConsultant(FakeMailer):
        async def send(self, message: Any) -> None:
            if str(message["To"]) == ANNA.email:
                await slow.wait()
            await super().send(message)

    world = World(concurrency=2, mailer=SlowForTheConsultant())
    await world.handle(scheduled())  # the confirmation, its SMS and the consultant's invite
    world.sender.hand(await world.store.claim_due(world.clock.now))  # as the store hands new ones over

    async def others_sent() -> bool:
        return {d.kind for d in world.deliveries(status="sent")} == {"confirmation", "confirmation_sms"}

    for _ in range(100):
        if await others_sent():
            break
        await asyncio.sleep(0.01)
    assert await others_sent()
    assert world.delivery(kind="invite").status == "pending"  # still being sent

    slow.set()
    for _ in range(100):
        if world.delivery(kind="invite").status == "sent":
            break
        await asyncio.sleep(0.01)
    assert world.delivery(kind="invite").status == "sent"
    assert world.store.claims == {}
