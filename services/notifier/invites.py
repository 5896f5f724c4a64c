"""Calendar invites for the consultant and for the workplace's contact person (iCalendar, RFC 5545;
iTIP RFC 5546; iMIP RFC 6047).

One booking is one VEVENT for its whole life, in both calendars: the UID never changes, SEQUENCE comes from the event
(0 when scheduled, +1 for every move, higher again for the cancellation), so calendar programs update
and remove the same entry instead of adding a second one.

Times are written with ``TZID=Europe/Copenhagen`` and a VTIMEZONE in the RRULE form (the EU rule: summer
time from the last Sunday of March to the last Sunday of October), which Outlook, Gmail and Apple Calendar
all read. Should the time-zone database ever disagree with that rule for a talk (the EU may drop summer
time), the talk is written in UTC instead, which is always right.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from icalendar import Calendar, Event, vCalAddress

from shared.contracts.catalogue import content
from shared.contracts.models import BookingDetails, Slot
from shared.text.clean import multi_line, one_line
from shared.text.ical import PRODID, TZID, booking_uid, copenhagen_vtimezone, eu_rule_agrees
from shared.text.localtime import LOCAL_TZ
from shared.text.phone import format_phone

__all__ = ["PRODID", "TZID", "build_invite", "build_workplace_invite", "invite_uid", "summary_for"]

invite_uid = booking_uid


def summary_for(booking: BookingDetails) -> str:
    """ "Inspirationsoplæg: <the theme's Danish title>"."""
    return f"Inspirationsoplæg: {content().theme_title(booking.theme, 'da')}"


def build_invite(
    *,
    method: Literal["REQUEST", "CANCEL"],
    booking_id: str,
    booking: BookingDetails,
    slot: Slot,
    sequence: int,
    organizer_email: str,
    dtstamp: datetime,
    status_url: str | None = None,
) -> bytes:
    """The iCalendar object (UTF-8, CRLF, folded) that invites ``slot.consultant`` or cancels the invite."""
    return _calendar(
        method=method,
        booking_id=booking_id,
        booking=booking,
        slot=slot,
        sequence=sequence,
        organizer_email=organizer_email,
        dtstamp=dtstamp,
        summary=summary_for(booking),
        description=_description(booking_id, booking, slot, status_url),
        attendee=_attendee(slot.consultant.email, slot.consultant.name, rsvp=True),
        url=status_url,
    )


def build_workplace_invite(
    *,
    method: Literal["REQUEST", "CANCEL"],
    booking_id: str,
    booking: BookingDetails,
    slot: Slot,
    sequence: int,
    organizer_email: str,
    dtstamp: datetime,
    summary: str,
    description: str,
    status_url: str,
) -> bytes:
    """The same calendar entry for the workplace's contact person: the same UID and SEQUENCE as the
    consultant's invite, the contact as the attendee, and ``summary`` and ``description`` in the
    workplace's language (composed by the caller); the entry links to the workplace's status page.
    No reply is asked for (``RSVP=FALSE``): the talk is booked, and changes go through that page."""
    return _calendar(
        method=method,
        booking_id=booking_id,
        booking=booking,
        slot=slot,
        sequence=sequence,
        organizer_email=organizer_email,
        dtstamp=dtstamp,
        summary=summary,
        description=description,
        attendee=_attendee(booking.contact.email, booking.contact.name, rsvp=False),
        url=status_url,
    )


def _attendee(email: str, name: str, *, rsvp: bool) -> vCalAddress:
    return vCalAddress.new(
        one_line(email), cn=one_line(name), cutype="INDIVIDUAL", role="REQ-PARTICIPANT", partstat="NEEDS-ACTION",
        rsvp=rsvp,
    )


def _calendar(
    *,
    method: Literal["REQUEST", "CANCEL"],
    booking_id: str,
    slot: Slot,
    sequence: int,
    organizer_email: str,
    dtstamp: datetime,
    booking: BookingDetails,
    summary: str,
    description: str,
    attendee: vCalAddress,
    url: str | None,
) -> bytes:
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unsupported METHOD {method!r}")
    if sequence < 0:
        raise ValueError("SEQUENCE must not be negative")
    if dtstamp.tzinfo is None:
        raise ValueError("dtstamp must be timezone-aware")

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)

    start, end = slot.start.astimezone(LOCAL_TZ), slot.end.astimezone(LOCAL_TZ)
    if eu_rule_agrees(start) and eu_rule_agrees(end):
        calendar.add_component(copenhagen_vtimezone())
    else:
        start, end = start.astimezone(UTC), end.astimezone(UTC)

    event = Event()
    event.add("uid", invite_uid(booking_id))
    event.add("sequence", sequence)
    event.add("dtstamp", dtstamp.astimezone(UTC))
    event.add("dtstart", start)
    event.add("dtend", end)
    # Stored text may predate the intake's character rules: clean it where it becomes a calendar line.
    event.add("summary", one_line(summary))
    event.add("location", one_line(booking.workplace.one_line()))
    event.add("description", multi_line(description))
    event.add("organizer", vCalAddress.new(one_line(organizer_email), cn=content().organisation))
    event.add("attendee", attendee)
    event.add("status", "CONFIRMED" if method == "REQUEST" else "CANCELLED")
    event.add("transp", "OPAQUE")
    if url:
        event.add("url", url)
    calendar.add_component(event)
    ical: bytes = calendar.to_ical()
    return ical


def _description(booking_id: str, booking: BookingDetails, slot: Slot, status_url: str | None) -> str:
    local_start, local_end = slot.start.astimezone(LOCAL_TZ), slot.end.astimezone(LOCAL_TZ)
    contact = booking.contact
    lines = [
        f"Arbejdsplads: {booking.workplace.one_line()}",
        f"Tema: {content().theme_title(booking.theme, 'da')}",
        f"Form: {content().setting(booking.setting, 'da')}",
        f"Deltagere: {booking.participants}",
        f"Varighed: {booking.duration_minutes} minutter (kl. {local_start:%H.%M}–{local_end:%H.%M})",
        f"Kontaktperson: {contact.name}, {contact.email}, {format_phone(contact.phone)}",
    ]
    if booking.notes.strip():
        lines.append(f"Bemærkninger: {booking.notes.strip()}")
    lines.append(f"Oplægsholder: {slot.consultant.name}")
    lines.append(f"Reference: {booking_id}")
    if status_url:
        lines.append(f"Bestillingen: {status_url}")
    lines += ["", content().not_negotiation("da")]
    return "\n".join(lines)
