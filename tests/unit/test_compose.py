"""What the notifier sends for each event (``services.notifier.compose``, through the routing table
``services.notifier.handlers.HANDLERS``), the MIME form of it
(``services.notifier.mime``), and the SMS helpers the texts rely on (``services.notifier.sms``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from icalendar import Calendar

from services.notifier.compose import reminder_messages
from services.notifier.domain import Email, Sms
from services.notifier.mime import build_mime
from services.notifier.sms import is_gsm7, msisdn, sms_segments
from shared.contracts.catalogue import content
from shared.contracts.events import (
    BookingCancelledData,
    BookingCancelRequestedData,
    BookingNeedsAlternativeData,
    BookingRequestedData,
    BookingRescheduledData,
    BookingRescheduleRequestedData,
    BookingScheduledData,
    Event,
    decode_event,
    encode_event,
    new_event,
)
from shared.contracts.models import BookingDetails, ConsultantRef, Contact, Slot, Workplace
from shared.text.localtime import format_local, localize
from shared.text.phone import format_phone
from tests.fakes.notifier import messages_stored_for

BOOKING_ID = "bk-2027-0042"
STATUS_URL = "http://127.0.0.1:8080/bookings/bk-2027-0042?secret=s3cr3t"
MAIL_FROM = "booking@socialpaedagogerne-oestjylland.example"
NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
ADDRESS = "Bostedet Lindely, Skovvej 12, 8000 Aarhus C"

ANNA = ConsultantRef(id="c-anna", name="Anna Jensen", email="anna@example.dk", phone="+4561616161")
BO = ConsultantRef(id="c-bo", name="Bo Ærø", email="bo@example.dk")


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return localize(datetime(year, month, day, hour, minute)).astimezone(UTC)


def make_booking(**changes: Any) -> BookingDetails:
    values: dict[str, Any] = {
        "workplace": Workplace(name="Bostedet Lindely", address="Skovvej 12", postcode="8000", city="Aarhus C"),
        "contact": Contact(name="Mette Hansen", email="mette@example.dk", phone="+45 20 30 40 50"),
        "theme": "selvledelse",
        "setting": "staff_meeting",
        "participants": 18,
        "duration_minutes": 120,
        "preferred_starts": (local(2027, 3, 2, 13), local(2027, 3, 9, 13)),
        "notes": "Vi holder personalemøde i fællesrummet.",
    }
    values.update(changes)
    return BookingDetails(**values)


def make_slot(start: datetime | None = None, consultant: ConsultantRef = ANNA) -> Slot:
    start = start or local(2027, 3, 30, 13)
    return Slot(consultant=consultant, start=start, end=start + timedelta(hours=2))


def compose(data: Any) -> list[Email | Sms]:
    # Through the wire format, as the notifier gets it.
    event: Event = decode_event(encode_event(new_event(data, now=NOW)))
    return messages_stored_for(event, mail_from=MAIL_FROM, now=NOW)


def emails(messages: list[Email | Sms]) -> list[Email]:
    return [m for m in messages if isinstance(m, Email)]


def by_kind(messages: list[Email | Sms]) -> dict[str, Email | Sms]:
    kinds = [m.kind for m in messages]
    assert len(kinds) == len(set(kinds)), kinds
    return {m.kind: m for m in messages}


def calendar_of(email: Email) -> Calendar:
    assert email.calendar is not None
    return Calendar.from_ical(email.calendar)


# --- booking.requested -------------------------------------------------------------------------------


def test_requested_sends_a_receipt_to_the_contact() -> None:
    messages = compose(BookingRequestedData(booking_id=BOOKING_ID, booking=make_booking(), status_url=STATUS_URL))
    assert [(m.kind, m.to) for m in messages] == [("receipt", "mette@example.dk")]
    receipt = messages[0]
    assert isinstance(receipt, Email)
    assert receipt.calendar is None and receipt.method is None
    assert BOOKING_ID in receipt.subject and "inspirationsoplæg" in receipt.subject
    for part in (receipt.text, receipt.html):
        assert "Kære Mette Hansen" in part
        assert BOOKING_ID in part
        assert "Selvledelse – hvem har ansvaret, og hvor går grænsen?" in part
        assert format_local(local(2027, 3, 2, 13), "da") in part
        assert format_local(local(2027, 3, 9, 13), "da") in part
        assert content().not_negotiation.da in part
        assert "Personalemøde" in part
    assert STATUS_URL in receipt.text
    assert 'href="http://127.0.0.1:8080/bookings/bk-2027-0042?secret=s3cr3t"' in receipt.html


def test_html_is_escaped_and_text_is_not() -> None:
    booking = make_booking(
        workplace=Workplace(name="Børnehuset <Solsikken> & Co", address="Vej 1", postcode="8000", city="Aarhus C")
    )
    [receipt] = compose(BookingRequestedData(booking_id=BOOKING_ID, booking=booking, status_url=STATUS_URL))
    assert isinstance(receipt, Email)
    assert "Børnehuset &lt;Solsikken&gt; &amp; Co" in receipt.html
    assert "<Solsikken>" not in receipt.html
    assert "Børnehuset <Solsikken> & Co" in receipt.text


def test_receipt_in_english_when_booked_in_english() -> None:
    booking = make_booking(language="en")
    [receipt] = compose(BookingRequestedData(booking_id=BOOKING_ID, booking=booking, status_url=STATUS_URL))
    assert isinstance(receipt, Email)
    assert receipt.subject.startswith("Thank you")
    assert "Dear Mette Hansen" in receipt.text
    assert "Self-management – who is responsible, and where is the limit?" in receipt.text
    assert format_local(local(2027, 3, 2, 13), "en") in receipt.text
    assert content().not_negotiation.en in receipt.text
    assert "Staff meeting" in receipt.text
    assert 'lang="en"' in receipt.html


# --- booking.scheduled -------------------------------------------------------------------------------


def scheduled(booking: BookingDetails | None = None, sequence: int = 0) -> list[Email | Sms]:
    return compose(
        BookingScheduledData(
            booking_id=BOOKING_ID,
            booking=booking or make_booking(),
            status_url=STATUS_URL,
            slot=make_slot(),
            sequence=sequence,
        )
    )


def test_scheduled_confirms_to_the_workplace_and_invites_the_consultant() -> None:
    messages = scheduled()
    assert [(m.kind, m.to) for m in messages] == [
        ("confirmation", "mette@example.dk"),
        ("confirmation_sms", "+4520304050"),
        ("invite", "anna@example.dk"),
    ]
    kinds = by_kind(messages)
    when = format_local(local(2027, 3, 30, 13), "da")
    assert when == "tirsdag den 30. marts 2027 kl. 13.00"

    confirmation = kinds["confirmation"]
    assert isinstance(confirmation, Email)
    assert confirmation.subject == f"Bekræftet: inspirationsoplæg {when}"
    for part in (confirmation.text, confirmation.html):
        assert f"{when}–15.00" in part
        assert ADDRESS in part
        assert "Selvledelse – hvem har ansvaret, og hvor går grænsen?" in part
        assert "Anna Jensen" in part
        assert content().not_negotiation.da in part
    assert STATUS_URL in confirmation.text
    assert confirmation.method == "REQUEST"  # the workplace's own invite (tests/unit/test_workplace_invite.py)

    sms = kinds["confirmation_sms"]
    assert isinstance(sms, Sms)
    assert "30. marts 2027 kl. 13.00-15.00" in sms.text
    assert ADDRESS in sms.text and "Anna Jensen" in sms.text
    assert "Selvledelse - hvem har ansvaret, og hvor går grænsen?" in sms.text
    assert is_gsm7(sms.text) and sms_segments(sms.text) <= 2

    invite = kinds["invite"]
    assert isinstance(invite, Email)
    assert invite.method == "REQUEST"
    assert invite.subject == f"Invitation: Inspirationsoplæg hos Bostedet Lindely, {when}"
    assert "Hej Anna Jensen" in invite.text
    assert "Mette Hansen, mette@example.dk, +45 20 30 40 50" in invite.text
    assert "Vi holder personalemøde i fællesrummet." in invite.text
    event = calendar_of(invite).walk("VEVENT")[0]
    assert str(calendar_of(invite)["METHOD"]) == "REQUEST"
    assert int(event["SEQUENCE"]) == 0
    assert str(event["UID"]) == f"{BOOKING_ID}@inspiration-booking"
    assert str(event["ORGANIZER"]) == f"mailto:{MAIL_FROM}"
    assert event.decoded("DTSTAMP") == NOW
    assert STATUS_URL not in invite.calendar.decode()  # type: ignore[union-attr]  # the workplace's secret


def test_scheduled_takes_the_sequence_from_the_event_and_the_organizer_from_a_named_sender() -> None:
    event = new_event(
        BookingScheduledData(
            booking_id=BOOKING_ID, booking=make_booking(), status_url=STATUS_URL, slot=make_slot(), sequence=4
        )
    )
    messages = messages_stored_for(event, mail_from=f"Booking <{MAIL_FROM}>", now=NOW)
    invite = by_kind(messages)["invite"]
    assert isinstance(invite, Email)
    vevent = calendar_of(invite).walk("VEVENT")[0]
    assert int(vevent["SEQUENCE"]) == 4
    assert str(vevent["ORGANIZER"]) == f"mailto:{MAIL_FROM}"


def test_scheduled_in_english_but_the_consultant_still_gets_danish() -> None:
    kinds = by_kind(scheduled(make_booking(language="en")))
    when = format_local(local(2027, 3, 30, 13), "en")
    assert when == "Tuesday 30 March 2027 at 13:00"
    confirmation, sms, invite = kinds["confirmation"], kinds["confirmation_sms"], kinds["invite"]
    assert isinstance(confirmation, Email) and isinstance(invite, Email)
    assert confirmation.subject == f"Confirmed: inspiration talk on {when}"
    assert f"{when}–15:00" in confirmation.text
    assert ADDRESS in confirmation.text
    assert "Self-management – who is responsible, and where is the limit?" in confirmation.text
    assert "Presenter: Anna Jensen" in confirmation.text
    assert sms.text.startswith("Your inspiration talk is confirmed: Tuesday 30 March 2027 at 13:00-15:00")
    assert invite.subject.startswith("Invitation: Inspirationsoplæg")
    assert "tirsdag den 30. marts 2027 kl. 13.00" in invite.text


# --- booking.needs_alternative -----------------------------------------------------------------------


def test_needs_alternative_offers_the_alternatives_and_the_link_to_pick_one() -> None:
    alternatives = (local(2027, 3, 16, 9), local(2027, 3, 23, 13))
    [message] = compose(
        BookingNeedsAlternativeData(
            booking_id=BOOKING_ID,
            booking=make_booking(),
            status_url=STATUS_URL,
            alternatives=alternatives,
            reason="no_consultant_free",
        )
    )
    assert isinstance(message, Email)
    assert (message.kind, message.to) == ("alternatives", "mette@example.dk")
    assert message.subject == "Vælg et andet tidspunkt til jeres inspirationsoplæg"
    for part in (message.text, message.html):
        assert "tirsdag den 16. marts 2027 kl. 09.00–11.00" in part
        assert "tirsdag den 23. marts 2027 kl. 13.00–15.00" in part
    assert STATUS_URL in message.text and f'href="{STATUS_URL}"' in message.html
    assert "no_consultant_free" not in message.text  # an internal code, not for the workplace


def test_needs_alternative_without_alternatives_asks_for_new_times() -> None:
    [message] = compose(
        BookingNeedsAlternativeData(
            booking_id=BOOKING_ID,
            booking=make_booking(language="en"),
            status_url=STATUS_URL,
            alternatives=(),
            reason="none",
        )
    )
    assert isinstance(message, Email)
    assert "suggest some other times" in message.text and STATUS_URL in message.text


# --- booking.rescheduled -----------------------------------------------------------------------------


def rescheduled(sequence: int, new: Slot, previous: Slot | None) -> list[Email | Sms]:
    return compose(
        BookingRescheduledData(
            booking_id=BOOKING_ID,
            booking=make_booking(),
            status_url=STATUS_URL,
            slot=new,
            previous_slot=previous,
            sequence=sequence,
        )
    )


def test_rescheduled_updates_the_invite_and_tells_the_workplace() -> None:
    old, new = make_slot(local(2027, 3, 30, 13)), make_slot(local(2027, 11, 2, 13))
    messages = rescheduled(1, new, old)
    assert [(m.kind, m.to) for m in messages] == [
        ("invite", "anna@example.dk"),
        ("moved", "mette@example.dk"),
        ("moved_sms", "+4520304050"),
    ]
    kinds = by_kind(messages)
    invite = kinds["invite"]
    assert isinstance(invite, Email) and invite.method == "REQUEST"
    assert invite.subject.startswith("Opdateret invitation:")
    assert "er flyttet til tirsdag den 2. november 2027 kl. 13.00–15.00" in invite.text
    assert "før: tirsdag den 30. marts 2027 kl. 13.00–15.00" in invite.text
    vevent = calendar_of(invite).walk("VEVENT")[0]
    assert str(vevent["UID"]) == f"{BOOKING_ID}@inspiration-booking"
    assert int(vevent["SEQUENCE"]) == 1
    assert vevent.decoded("DTSTART").astimezone(UTC) == datetime(2027, 11, 2, 12, tzinfo=UTC)

    moved = kinds["moved"]
    assert isinstance(moved, Email)
    assert moved.subject == "Nyt tidspunkt for jeres inspirationsoplæg: tirsdag den 2. november 2027 kl. 13.00"
    assert "tirsdag den 2. november 2027 kl. 13.00–15.00" in moved.text
    assert ADDRESS in moved.text and "tirsdag den 30. marts 2027" in moved.text
    sms = kinds["moved_sms"]
    assert "flyttet" in sms.text and "2. november 2027 kl. 13.00-15.00" in sms.text
    assert sms_segments(sms.text) <= 2


def test_moved_twice_gives_sequence_0_1_2_under_one_uid() -> None:
    first, second, third = (make_slot(local(2027, 3, d, 13)) for d in (2, 9, 16))
    invites = [by_kind(scheduled())["invite"]]
    invites.append(by_kind(rescheduled(1, second, first))["invite"])
    invites.append(by_kind(rescheduled(2, third, second))["invite"])
    events = [calendar_of(i).walk("VEVENT")[0] for i in invites if isinstance(i, Email)]
    assert {str(e["UID"]) for e in events} == {f"{BOOKING_ID}@inspiration-booking"}
    assert [int(e["SEQUENCE"]) for e in events] == [0, 1, 2]


def test_rescheduled_to_another_consultant_cancels_for_the_first() -> None:
    old, new = make_slot(consultant=ANNA), make_slot(local(2027, 4, 6, 9), consultant=BO)
    messages = rescheduled(1, new, old)
    assert [(m.kind, m.to) for m in messages] == [
        ("cancel_invite", "anna@example.dk"),
        ("invite", "bo@example.dk"),
        ("moved", "mette@example.dk"),
        ("moved_sms", "+4520304050"),
    ]
    cancel, invite = emails(messages)[:2]
    assert cancel.method == "CANCEL" and invite.method == "REQUEST"
    assert str(calendar_of(cancel).walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    assert "anden oplægsholder" in cancel.text
    assert invite.subject.startswith("Invitation:")  # new to Bo: not an "update"
    assert str(calendar_of(invite).walk("VEVENT")[0]["ATTENDEE"]) == "mailto:bo@example.dk"
    assert "Bo Ærø" in by_kind(messages)["moved"].text


# --- booking.cancelled -------------------------------------------------------------------------------


def test_cancelled_sends_method_cancel_to_the_consultant_and_tells_the_workplace() -> None:
    messages = compose(
        BookingCancelledData(
            booking_id=BOOKING_ID,
            booking=make_booking(),
            status_url=STATUS_URL,
            slot=make_slot(),
            sequence=3,
            reason="Personalemødet er flyttet.",
        )
    )
    assert [(m.kind, m.to) for m in messages] == [
        ("cancel_invite", "anna@example.dk"),
        ("cancelled", "mette@example.dk"),
    ]
    cancel, cancelled = emails(messages)
    assert cancel.method == "CANCEL"
    assert cancel.subject == "Aflyst: Inspirationsoplæg hos Bostedet Lindely, tirsdag den 30. marts 2027 kl. 13.00"
    calendar = calendar_of(cancel)
    vevent = calendar.walk("VEVENT")[0]
    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(vevent["STATUS"]) == "CANCELLED"
    assert int(vevent["SEQUENCE"]) == 3
    assert str(vevent["UID"]) == f"{BOOKING_ID}@inspiration-booking"

    assert cancelled.subject == "Aflyst: inspirationsoplæg tirsdag den 30. marts 2027 kl. 13.00"
    assert "tirsdag den 30. marts 2027 kl. 13.00–15.00 er aflyst" in cancelled.text
    assert "Begrundelse: Personalemødet er flyttet." in cancelled.text
    assert ADDRESS in cancelled.text
    assert cancelled.method == "CANCEL"  # the workplace's invite withdrawn (tests/unit/test_workplace_invite.py)


def test_cancelled_before_anything_was_reserved_only_tells_the_workplace() -> None:
    messages = compose(
        BookingCancelledData(
            booking_id=BOOKING_ID,
            booking=make_booking(language="en"),
            status_url=STATUS_URL,
            slot=None,
            sequence=1,
        )
    )
    assert [(m.kind, m.to) for m in messages] == [("cancelled", "mette@example.dk")]
    assert isinstance(messages[0], Email)
    assert messages[0].subject == (f"Your request for an inspiration talk has been cancelled (ref. {BOOKING_ID})")
    assert "Reason:" not in messages[0].text


def test_requests_between_services_send_nothing() -> None:
    assert compose(BookingCancelRequestedData(booking_id=BOOKING_ID, requested_by="workplace")) == []
    assert (
        compose(
            BookingRescheduleRequestedData(
                booking_id=BOOKING_ID, requested_by="admin", preferred_starts=(local(2027, 5, 4, 13),)
            )
        )
        == []
    )


# --- reminders ---------------------------------------------------------------------------------------


def test_reminders_go_to_the_workplace_by_mail_and_sms_and_to_the_consultant() -> None:
    messages = reminder_messages(BOOKING_ID, make_booking(), make_slot(), STATUS_URL)
    assert [(m.kind, m.to) for m in messages] == [
        ("reminder", "mette@example.dk"),
        ("reminder_sms", "+4520304050"),
        ("consultant_reminder", "anna@example.dk"),
    ]
    reminder, sms, consultant = messages
    assert isinstance(reminder, Email) and isinstance(consultant, Email)
    assert reminder.subject == "Påmindelse: inspirationsoplæg tirsdag den 30. marts 2027 kl. 13.00"
    assert "tirsdag den 30. marts 2027 kl. 13.00–15.00" in reminder.text and ADDRESS in reminder.text
    assert STATUS_URL in reminder.text
    assert sms.text.startswith("Påmindelse: Inspirationsoplæg tirsdag den 30. marts 2027 kl. 13.00-15.00")
    assert consultant.subject.startswith("Påmindelse: Inspirationsoplæg hos Bostedet Lindely")
    assert "Mette Hansen, mette@example.dk, +45 20 30 40 50" in consultant.text
    assert consultant.calendar is None
    english = reminder_messages(BOOKING_ID, make_booking(language="en"), make_slot(), STATUS_URL)
    assert english[0].subject.startswith("Reminder:") and english[1].text.startswith("Reminder:")  # type: ignore[union-attr]
    assert english[2].subject.startswith("Påmindelse:")  # type: ignore[union-attr]


# --- SMS ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["da", "en"])
@pytest.mark.parametrize("theme", [theme.id for theme in content().themes])
def test_sms_fit_in_two_gsm_parts_for_every_theme(theme: str, lang: str) -> None:
    booking = make_booking(theme=theme, language=lang)
    slot = make_slot(local(2027, 9, 29, 13))  # a long weekday and month name
    messages = scheduled(booking) + reminder_messages(BOOKING_ID, booking, slot, STATUS_URL)
    messages += rescheduled(1, slot, make_slot())
    for sms in (m for m in messages if isinstance(m, Sms)):
        assert is_gsm7(sms.text), sms.text
        assert sms_segments(sms.text) <= 2, (len(sms.text), sms.text)


def test_sms_drops_the_extras_for_a_very_long_address() -> None:
    workplace = Workplace(
        name="Det Socialpædagogiske Opholdssted og Bofællesskab for Unge Voksne ved Søerne",
        address="Den Gamle Landevej ved Skovbrynet 123, 2. sal, indgang fra gården",
        postcode="8000",
        city="Aarhus C",
    )
    booking = make_booking(workplace=workplace, theme="kommunikation-og-kultur")
    sms = by_kind(scheduled(booking))["confirmation_sms"]
    assert sms_segments(sms.text) <= 2
    assert workplace.address in sms.text and "Anna Jensen" in sms.text
    assert "Tema:" not in sms.text


def test_sms_goes_to_e164_and_keeps_an_unparseable_number_for_the_sender_to_reject() -> None:
    assert by_kind(scheduled(make_booking()))["confirmation_sms"].to == "+4520304050"
    odd = make_booking(contact=Contact(name="X", email="x@example.dk", phone="12"))
    assert by_kind(scheduled(odd))["confirmation_sms"].to == "12"


def test_msisdn_and_format_phone() -> None:
    assert msisdn("+4520304050") == 4520304050
    with pytest.raises(ValueError):
        msisdn("20304050")
    assert format_phone("+4520304050") == "+45 20 30 40 50"
    assert format_phone("not a number") == "not a number"


def test_gsm_alphabet_and_segments() -> None:
    assert not is_gsm7("Æble, øl og å – nej")  # the en dash is outside GSM 03.38
    assert is_gsm7("Æble, øl og å - ja, €5 {ok}")
    assert sms_segments("a" * 160) == 1 and sms_segments("a" * 161) == 2 and sms_segments("a" * 306) == 2
    assert sms_segments("€" * 80) == 1 and sms_segments("€" * 81) == 2  # extension characters count twice
    assert sms_segments("–" * 70) == 1 and sms_segments("–" * 71) == 2 and sms_segments("–" * 135) == 3


# --- MIME --------------------------------------------------------------------------------------------


def parts(message: EmailMessage) -> list[tuple[int, str]]:
    """(depth, content type) of every part, depth first."""
    out: list[tuple[int, str]] = []

    def walk(part: EmailMessage, depth: int) -> None:
        out.append((depth, part.get_content_type()))
        if part.is_multipart():
            for sub in part.iter_parts():
                walk(sub, depth + 1)  # type: ignore[arg-type]

    walk(message, 0)
    return out


def test_invite_mime_structure() -> None:
    invite = by_kind(scheduled())["invite"]
    assert isinstance(invite, Email) and invite.calendar is not None
    built = build_mime(invite, mail_from=MAIL_FROM)
    raw = built.as_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    message = message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)

    assert parts(message) == [
        (0, "multipart/mixed"),
        (1, "multipart/alternative"),
        (2, "text/plain"),
        (2, "text/html"),
        (2, "text/calendar"),
        (1, "application/ics"),
    ]
    mixed = list(message.iter_parts())
    alternative, attachment = mixed
    plain, html, calendar = list(alternative.iter_parts())
    assert calendar.get_param("method") == "REQUEST"
    assert str(calendar.get_param("charset")).upper() == "UTF-8"
    assert calendar.get_content_disposition() is None  # inline, for the mail program's RSVP buttons
    assert calendar.get_payload(decode=True) == invite.calendar
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_payload(decode=True) == invite.calendar
    assert plain.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8"
    assert "inspirationsoplæg hos Bostedet Lindely" in plain.get_content()
    assert "<p>Hej Anna Jensen</p>" in html.get_content()

    assert message["To"] == "anna@example.dk"
    assert message["From"].addresses[0].addr_spec == MAIL_FROM
    assert message["From"].addresses[0].display_name == "Socialpædagogerne Østjylland"
    assert message["Subject"] == invite.subject  # decoded from RFC 2047, æøå intact
    assert b"Subject: Invitation: =?utf-8?" in raw  # encoded on the wire
    assert message["Date"] is not None and message["Date"].datetime.tzinfo is not None
    assert message["Message-ID"].endswith("@inspiration-booking>")
    assert message["MIME-Version"] == "1.0"


def test_cancel_mime_carries_method_cancel() -> None:
    messages = compose(
        BookingCancelledData(
            booking_id=BOOKING_ID, booking=make_booking(), status_url=STATUS_URL, slot=make_slot(), sequence=1
        )
    )
    cancel = by_kind(messages)["cancel_invite"]
    assert isinstance(cancel, Email)
    message = build_mime(cancel, mail_from=MAIL_FROM, message_id_domain="notifier.test")
    calendar_part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert calendar_part.get_param("method") == "CANCEL"
    assert message["Message-ID"].endswith("@notifier.test>")


def test_plain_mail_is_multipart_alternative() -> None:
    [receipt] = compose(BookingRequestedData(booking_id=BOOKING_ID, booking=make_booking(), status_url=STATUS_URL))
    assert isinstance(receipt, Email)
    message = message_from_bytes(build_mime(receipt, mail_from=f"Booking <{MAIL_FROM}>").as_bytes(), policy=default)
    assert isinstance(message, EmailMessage)
    assert parts(message) == [(0, "multipart/alternative"), (1, "text/plain"), (1, "text/html")]
    assert message["From"].addresses[0].display_name == "Booking"
    assert message["Subject"] == receipt.subject
    plain = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    assert "Tak for jeres bestilling" in plain.get_content()  # type: ignore[attr-defined]


def test_build_mime_refuses_a_calendar_without_method() -> None:
    with pytest.raises(ValueError):
        build_mime(
            Email(kind="x", to="a@example.dk", subject="s", text="t", html="h", calendar=b"x"), mail_from=MAIL_FROM
        )
    with pytest.raises(ValueError):
        build_mime(Email(kind="x", to="a@example.dk", subject="s", text="t", html="h"), mail_from="nobody")


def test_every_event_is_fresh_but_composition_is_deterministic() -> None:
    data = BookingScheduledData(booking_id=BOOKING_ID, booking=make_booking(), status_url=STATUS_URL, slot=make_slot())
    first = messages_stored_for(new_event(data), mail_from=MAIL_FROM, now=NOW)
    second = messages_stored_for(new_event(data), mail_from=MAIL_FROM, now=NOW)
    assert first == second
    assert uuid.UUID(str(new_event(data).event_id))
