"""The workplace's own calendar invite: its confirmation carries the talk (the contact person as the
attendee, the same UID as the consultant's invite), a move raises SEQUENCE, a cancellation sends
METHOD:CANCEL; in the iMIP structure Outlook, Google and Apple read (a ``text/calendar`` part with its
method, and the same calendar as an ``invite.ics`` attachment), in the workplace's language. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from icalendar import Calendar, Component

from services.notifier.domain import Email, Outgoing
from services.notifier.mime import build_mime
from shared.contracts.events import (
    BookingCancelledData,
    BookingRescheduledData,
    BookingScheduledData,
    Event,
    decode_event,
    encode_event,
    new_event,
)
from shared.contracts.models import BookingDetails, ConsultantRef, Contact, Slot, Workplace
from shared.text.localtime import localize
from tests.fakes.notifier import messages_stored_for

BOOKING_ID = "K7M2-Q9XD"
STATUS_URL = "http://127.0.0.1:8080/bookings/K7M2-Q9XD?token=s3cr3t"
MAIL_FROM = "Socialpædagogerne Østjylland <booking@socialpaedagogerne-oestjylland.example>"
NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
ANNA = ConsultantRef(id="anna", name="Anna Jensen", email="anna@example.dk")
BO = ConsultantRef(id="bo", name="Bo Ærø", email="bo@example.dk")


def local(month: int, day: int, hour: int) -> datetime:
    return localize(datetime(2027, month, day, hour)).astimezone(UTC)


def booking(language: str = "da") -> BookingDetails:
    return BookingDetails(
        workplace=Workplace(name="Bostedet Lindely", address="Skovvej 12", postcode="8000", city="Aarhus C"),
        contact=Contact(name="Mette Hansen", email="mette@example.dk", phone="+4520304050"),
        theme="selvledelse",
        setting="staff_meeting",
        participants=18,
        duration_minutes=120,
        preferred_starts=(local(3, 2, 13),),
        language=language,  # type: ignore[arg-type]
    )


def slot(start: datetime, consultant: ConsultantRef = ANNA) -> Slot:
    return Slot(consultant=consultant, start=start, end=start + timedelta(hours=2))


def stored(data: Any) -> list[Outgoing]:
    event: Event = decode_event(encode_event(new_event(data, now=NOW)))
    return messages_stored_for(event, mail_from=MAIL_FROM, now=NOW)


def mail_to(messages: list[Outgoing], address: str) -> Email:
    found = [m for m in messages if isinstance(m, Email) and m.to == address]
    assert len(found) == 1, [(m.kind, m.to) for m in messages]
    return found[0]


def vevent(email: Email) -> tuple[Calendar, Component]:
    assert email.calendar is not None
    calendar = Calendar.from_ical(email.calendar)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


def scheduled(language: str = "da") -> list[Outgoing]:
    return stored(
        BookingScheduledData(
            booking_id=BOOKING_ID, booking=booking(language), status_url=STATUS_URL, slot=slot(local(3, 30, 13)),
            sequence=0, revision=1,
        )
    )


def test_the_confirmation_invites_the_contact_to_the_same_event_as_the_consultant() -> None:
    messages = scheduled()
    confirmation, consultant = mail_to(messages, "mette@example.dk"), mail_to(messages, "anna@example.dk")
    assert confirmation.kind == "confirmation" and confirmation.method == "REQUEST"
    calendar, event = vevent(confirmation)
    _, consultants = vevent(consultant)

    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == str(consultants["UID"]) == f"{BOOKING_ID}@inspiration-booking"
    assert int(event["SEQUENCE"]) == int(consultants["SEQUENCE"]) == 0
    assert event.decoded("DTSTART") == consultants.decoded("DTSTART") == local(3, 30, 13)
    assert event.decoded("DTEND") == local(3, 30, 15)
    assert str(event["DTSTART"].params["TZID"]) == "Europe/Copenhagen"
    assert str(event["STATUS"]) == "CONFIRMED"

    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:mette@example.dk"
    assert attendee.params["CN"] == "Mette Hansen"
    assert attendee.params["RSVP"] == "FALSE"
    assert str(event["ORGANIZER"]) == "mailto:booking@socialpaedagogerne-oestjylland.example"
    assert str(consultants["ATTENDEE"]) == "mailto:anna@example.dk"  # the consultant's invite as before

    description = str(event["DESCRIPTION"])
    assert "Oplægsholder: Anna Jensen" in description
    assert STATUS_URL in description and str(event["URL"]) == STATUS_URL
    assert "URL" not in consultants  # the consultant's invite never carries the workplace's link
    assert str(event["SUMMARY"]) == "Inspirationsoplæg: Selvledelse – hvem har ansvaret, og hvor går grænsen?"
    assert str(event["LOCATION"]) == "Bostedet Lindely, Skovvej 12, 8000 Aarhus C"


def test_an_english_booking_gets_an_english_calendar_entry() -> None:
    _, event = vevent(mail_to(scheduled("en"), "mette@example.dk"))
    assert str(event["SUMMARY"]).startswith("Inspiration talk: ")
    assert "Presenter: Anna Jensen" in str(event["DESCRIPTION"])
    assert f"See, move or cancel the talk: {STATUS_URL}" in str(event["DESCRIPTION"])


def test_moves_raise_the_sequence_and_a_cancellation_withdraws_the_same_entry() -> None:
    """The whole chain as a calendar program sees it: one UID, SEQUENCE 0, 1, 2, then CANCEL with 3."""
    first, second, third = local(3, 30, 13), local(4, 6, 10), local(4, 7, 10)
    chain = [
        scheduled(),
        stored(BookingRescheduledData(booking_id=BOOKING_ID, booking=booking(), status_url=STATUS_URL,
                                      slot=slot(second), previous_slot=slot(first), sequence=1, revision=2)),
        stored(BookingRescheduledData(booking_id=BOOKING_ID, booking=booking(), status_url=STATUS_URL,
                                      slot=slot(third, BO), previous_slot=slot(second), sequence=2, revision=3)),
        stored(BookingCancelledData(booking_id=BOOKING_ID, booking=booking(), status_url=STATUS_URL,
                                    slot=slot(third, BO), sequence=3, reason="Sygdom", revision=4)),
    ]
    seen = []
    for messages in chain:
        email = mail_to(messages, "mette@example.dk")
        calendar, event = vevent(email)
        seen.append((email.kind, str(calendar["METHOD"]), int(event["SEQUENCE"]), event.decoded("DTSTART"),
                     str(event["STATUS"])))
        assert str(event["UID"]) == f"{BOOKING_ID}@inspiration-booking"
        assert str(event["ATTENDEE"]) == "mailto:mette@example.dk"
    assert seen == [
        ("confirmation", "REQUEST", 0, first, "CONFIRMED"),
        ("moved", "REQUEST", 1, second, "CONFIRMED"),
        ("moved", "REQUEST", 2, third, "CONFIRMED"),  # another consultant: the workplace's entry just moves
        ("cancelled", "CANCEL", 3, third, "CANCELLED"),
    ]
    _, last = vevent(mail_to(chain[2], "mette@example.dk"))
    assert "Oplægsholder: Bo Ærø" in str(last["DESCRIPTION"])


def test_a_cancellation_before_any_time_was_reserved_carries_no_calendar() -> None:
    messages = stored(BookingCancelledData(booking_id=BOOKING_ID, booking=booking(), status_url=STATUS_URL,
                                           slot=None, sequence=0, reason="", revision=1))
    notice = mail_to(messages, "mette@example.dk")
    assert notice.calendar is None and notice.method is None


def test_the_workplace_mail_has_the_imip_structure_outlook_google_and_apple_read() -> None:
    confirmation = mail_to(scheduled(), "mette@example.dk")
    message = message_from_bytes(build_mime(confirmation, mail_from=MAIL_FROM).as_bytes(), policy=default)
    assert isinstance(message, EmailMessage)
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = list(message.iter_parts())
    assert alternative.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in alternative.iter_parts()] == [
        "text/plain", "text/html", "text/calendar",
    ]
    calendar_part = list(alternative.iter_parts())[2]
    assert calendar_part.get_param("method") == "REQUEST"
    assert calendar_part.get_payload(decode=True) == confirmation.calendar
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_payload(decode=True) == confirmation.calendar
    assert "kalenderinvitation" in confirmation.text
