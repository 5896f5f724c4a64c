"""The consultant's calendar invite (``services.notifier.invites``), parsed back with ``icalendar``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from dateutil.rrule import rrulestr
from icalendar import Calendar, Component

from services.notifier import invites
from services.notifier.invites import build_invite
from shared.contracts.catalogue import content
from shared.contracts.models import BookingDetails, ConsultantRef, Contact, Slot, Workplace
from shared.text.localtime import LOCAL_TZ, localize

BOOKING_ID = "bk-7f3a9c"
ORGANIZER = "booking@socialpaedagogerne-oestjylland.example"
DTSTAMP = datetime(2027, 2, 1, 9, 30, tzinfo=UTC)


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return localize(datetime(year, month, day, hour, minute)).astimezone(UTC)


def make_booking(**changes: Any) -> BookingDetails:
    values: dict[str, Any] = {
        "workplace": Workplace(name="Bostedet Lindely", address="Skovvej 12", postcode="8000", city="Aarhus C"),
        "contact": Contact(name="Mette Hansen", email="mette@example.dk", phone="+4520304050"),
        "theme": "selvledelse",
        "setting": "work_environment_group",
        "participants": 18,
        "duration_minutes": 120,
        "preferred_starts": (local(2027, 3, 30, 13),),
        "notes": "Vi holder mødet i fællesrummet på 1. sal; kaffe står klar.",
    }
    values.update(changes)
    return BookingDetails(**values)


def make_slot(start: datetime | None = None, minutes: int = 120) -> Slot:
    start = start or local(2027, 3, 30, 13)
    return Slot(
        consultant=ConsultantRef(id="c-1", name="Søren Østergaard", email="soren@example.dk"),
        start=start,
        end=start + timedelta(minutes=minutes),
    )


def invite(
    method: Literal["REQUEST", "CANCEL"] = "REQUEST",
    *,
    sequence: int = 0,
    booking: BookingDetails | None = None,
    slot: Slot | None = None,
    status_url: str | None = None,
) -> bytes:
    return build_invite(
        method=method,
        booking_id=BOOKING_ID,
        booking=booking or make_booking(),
        slot=slot or make_slot(),
        sequence=sequence,
        organizer_email=ORGANIZER,
        dtstamp=DTSTAMP,
        status_url=status_url,
    )


def parse(raw: bytes) -> tuple[Calendar, Component]:
    calendar = Calendar.from_ical(raw)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


# --- the calendar and the event ---------------------------------------------------------------------


def test_request_has_every_property_rfc_5545_and_5546_ask_for() -> None:
    raw = invite(sequence=0)
    calendar, event = parse(raw)

    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["PRODID"]).startswith("-//")
    assert str(calendar["METHOD"]) == "REQUEST"

    assert str(event["UID"]) == f"{BOOKING_ID}@inspiration-booking"
    assert int(event["SEQUENCE"]) == 0
    assert str(event["STATUS"]) == "CONFIRMED"

    stamp = event.decoded("DTSTAMP")
    assert stamp == DTSTAMP and stamp.utcoffset() == timedelta(0)
    assert b"DTSTAMP:20270201T093000Z\r\n" in raw

    organizer = event["ORGANIZER"]
    assert str(organizer) == f"mailto:{ORGANIZER}"
    assert organizer.params["CN"] == content().organisation

    attendees = event.get("ATTENDEE")
    assert not isinstance(attendees, list), "exactly one attendee"
    assert str(attendees) == "mailto:soren@example.dk"
    assert attendees.params["CN"] == "Søren Østergaard"
    assert attendees.params["ROLE"] == "REQ-PARTICIPANT"
    assert attendees.params["PARTSTAT"] == "NEEDS-ACTION"
    assert attendees.params["RSVP"] == "TRUE"

    assert str(event["SUMMARY"]) == "Inspirationsoplæg: Selvledelse – hvem har ansvaret, og hvor går grænsen?"
    assert str(event["LOCATION"]) == "Bostedet Lindely, Skovvej 12, 8000 Aarhus C"


def test_description_tells_the_consultant_everything_about_the_talk() -> None:
    _, event = parse(invite())
    description = str(event["DESCRIPTION"])
    for expected in (
        "Bostedet Lindely, Skovvej 12, 8000 Aarhus C",  # workplace
        "Sammen med arbejdsmiljøgruppen",  # setting label
        "Deltagere: 18",
        "120 minutter",
        "kl. 13.00–15.00",
        "Mette Hansen",
        "mette@example.dk",
        "+45 20 30 40 50",
        "Vi holder mødet i fællesrummet på 1. sal; kaffe står klar.",  # notes, with ; and , escaped and back
        BOOKING_ID,
        content().not_negotiation.da,
    ):
        assert expected in description, expected


def test_status_url_is_optional() -> None:
    _, without = parse(invite())
    assert "URL" not in without
    _, with_url = parse(invite(status_url="http://127.0.0.1:8080/b/bk-7f3a9c?s=abc"))
    assert str(with_url["URL"]) == "http://127.0.0.1:8080/b/bk-7f3a9c?s=abc"
    assert "http://127.0.0.1:8080/b/bk-7f3a9c?s=abc" in str(with_url["DESCRIPTION"])


def test_unknown_theme_falls_back_to_its_id() -> None:
    _, event = parse(invite(booking=make_booking(theme="nyt-tema")))
    assert str(event["SUMMARY"]) == "Inspirationsoplæg: nyt-tema"


# --- time zone ---------------------------------------------------------------------------------------


def test_start_and_end_use_tzid_with_a_matching_vtimezone_in_rrule_form() -> None:
    raw = invite()
    calendar, event = parse(raw)
    assert event["DTSTART"].params["TZID"] == "Europe/Copenhagen"
    assert event["DTEND"].params["TZID"] == "Europe/Copenhagen"
    assert b"DTSTART;TZID=Europe/Copenhagen:20270330T130000\r\n" in raw
    assert b"DTEND;TZID=Europe/Copenhagen:20270330T150000\r\n" in raw

    timezones = calendar.walk("VTIMEZONE")
    assert len(timezones) == 1
    assert str(timezones[0]["TZID"]) == "Europe/Copenhagen"
    observances = {sub.name: sub for sub in timezones[0].subcomponents}
    assert set(observances) == {"STANDARD", "DAYLIGHT"}
    for observance in observances.values():
        assert "RRULE" in observance and "RDATE" not in observance
    assert observances["DAYLIGHT"]["TZOFFSETTO"].td == timedelta(hours=2)
    assert observances["STANDARD"]["TZOFFSETTO"].td == timedelta(hours=1)
    assert calendar.get_missing_tzids() == set()


def _vtimezone_changes(calendar: Calendar, first_year: int, last_year: int) -> list[tuple[datetime, timedelta]]:
    """(instant in UTC, offset from then on) for every onset the calendar's own VTIMEZONE defines."""
    changes: list[tuple[datetime, timedelta]] = []
    for observance in calendar.walk("VTIMEZONE")[0].subcomponents:
        offset_from, offset_to = observance["TZOFFSETFROM"].td, observance["TZOFFSETTO"].td
        rule = rrulestr(observance["RRULE"].to_ical().decode(), dtstart=observance.decoded("DTSTART"))
        # Onsets are local wall times in the offset that applied before the change.
        for onset in rule.between(datetime(first_year, 1, 1), datetime(last_year + 1, 1, 1)):
            changes.append(((onset - offset_from).replace(tzinfo=UTC), offset_to))
    return sorted(changes)


def _offset_from_vtimezone(calendar: Calendar, moment: datetime) -> timedelta:
    """The UTC offset the calendar's own VTIMEZONE gives (not the system's zoneinfo)."""
    changes = _vtimezone_changes(calendar, moment.year - 1, moment.year)
    return _offset_at(changes, moment)


def _offset_at(changes: list[tuple[datetime, timedelta]], moment: datetime) -> timedelta:
    before = [offset for onset, offset in changes if onset <= moment]
    assert before, moment
    return before[-1]


def test_the_vtimezone_agrees_with_the_time_zone_database_around_every_change() -> None:
    calendar, _ = parse(invite())
    changes = _vtimezone_changes(calendar, 2025, 2037)
    assert len(changes) == 2 * 13
    moments: list[datetime] = []
    for year in range(2026, 2038):
        moments += [datetime(year, 1, 1, tzinfo=UTC) + timedelta(days=day) for day in range(0, 365, 5)]
        for month in (3, 10):  # a minute either side of each change (01:00 UTC on the last Sunday)
            last_sunday = max(
                datetime(year, month, day, 1, tzinfo=UTC)
                for day in range(25, 32)
                if datetime(year, month, day).weekday() == 6
            )
            moments += [last_sunday + timedelta(minutes=delta) for delta in (-1, 0, 1)]
    for moment in moments:
        assert _offset_at(changes, moment) == moment.astimezone(LOCAL_TZ).utcoffset(), moment


@pytest.mark.parametrize(
    ("local_start", "utc_start"),
    [
        (datetime(2027, 3, 30, 13, 0), datetime(2027, 3, 30, 11, 0, tzinfo=UTC)),  # after the spring change
        (datetime(2027, 11, 2, 13, 0), datetime(2027, 11, 2, 12, 0, tzinfo=UTC)),  # after the autumn change
    ],
)
def test_local_one_pm_gives_the_right_utc_on_both_sides_of_dst(local_start: datetime, utc_start: datetime) -> None:
    slot = make_slot(localize(local_start).astimezone(UTC))
    calendar, event = parse(invite(slot=slot))
    start = event.decoded("DTSTART")
    assert start.replace(tzinfo=None) == local_start  # written as local wall time ...
    assert start.astimezone(UTC) == utc_start  # ... that means this instant
    assert event.decoded("DTEND").astimezone(UTC) == utc_start + timedelta(hours=2)
    assert _offset_from_vtimezone(calendar, utc_start) == local_start - utc_start.replace(tzinfo=None)


def test_falls_back_to_utc_when_the_eu_rule_no_longer_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invites, "eu_rule_agrees", lambda moment: False)
    raw = invite()
    calendar, event = parse(raw)
    assert calendar.walk("VTIMEZONE") == []
    assert b"DTSTART:20270330T110000Z\r\n" in raw
    assert "TZID" not in event["DTSTART"].params
    assert event.decoded("DTSTART") == datetime(2027, 3, 30, 11, 0, tzinfo=UTC)


# --- serialisation -----------------------------------------------------------------------------------


def test_output_is_utf8_with_crlf_line_ends_and_folded_lines() -> None:
    raw = invite(booking=make_booking(notes="Æbler, økologisk kaffe og hjemmebagt kage på bordet. " * 6))
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    lines = raw.split(b"\r\n")[:-1]
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines), "long lines are folded"
    text = raw.decode("utf-8")
    assert "Søren Østergaard" in text and "Æbler" in text
    _, event = parse(raw)
    assert "Æbler, økologisk kaffe og hjemmebagt kage på bordet." in str(event["DESCRIPTION"])
    assert "grænsen" in str(event["SUMMARY"])


# --- a booking's life: one UID, rising SEQUENCE ------------------------------------------------------


def test_scheduled_then_moved_twice_keeps_the_uid_and_counts_the_sequence() -> None:
    starts = [local(2027, 3, 30, 13), local(2027, 4, 6, 9), local(2027, 11, 2, 13)]
    parsed = [parse(invite(sequence=n, slot=make_slot(start)))[1] for n, start in enumerate(starts)]
    assert {str(event["UID"]) for event in parsed} == {f"{BOOKING_ID}@inspiration-booking"}
    assert [int(event["SEQUENCE"]) for event in parsed] == [0, 1, 2]
    assert [event.decoded("DTSTART").astimezone(UTC) for event in parsed] == starts


def test_cancel_has_method_cancel_status_cancelled_same_uid_and_the_higher_sequence() -> None:
    _, request = parse(invite("REQUEST", sequence=1))
    calendar, cancel = parse(invite("CANCEL", sequence=2))
    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(cancel["STATUS"]) == "CANCELLED"
    assert str(cancel["UID"]) == str(request["UID"])
    assert int(cancel["SEQUENCE"]) == 2 > int(request["SEQUENCE"])
    assert str(cancel["ATTENDEE"]) == "mailto:soren@example.dk"
    assert str(cancel["ORGANIZER"]) == f"mailto:{ORGANIZER}"
    assert cancel.decoded("DTSTART").astimezone(UTC) == local(2027, 3, 30, 13)


def test_rejects_what_would_make_a_broken_invite() -> None:
    with pytest.raises(ValueError):
        invite(sequence=-1)
    with pytest.raises(ValueError):
        build_invite(
            method="REQUEST",
            booking_id=BOOKING_ID,
            booking=make_booking(),
            slot=make_slot(),
            sequence=0,
            organizer_email=ORGANIZER,
            dtstamp=datetime(2027, 2, 1, 9, 30),
        )
    with pytest.raises(ValueError):
        invite("PUBLISH")  # type: ignore[arg-type]
