"""What the notifier sends for each booking event: pure functions from an event to outgoing messages.

``messages_for(event, ...)`` gives the e-mails (with the consultant's calendar invite) and SMS for one
decoded event; ``reminder_messages(...)`` the reminders before a talk. Nothing here does I/O beyond
reading the Jinja2 templates next to this module; sending is ``mime``/``mailer``/``sms``'s job.

Texts are Danish, or English when the workplace booked in English; what goes to the consultant is
always Danish. Times are shown in Copenhagen time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.notifier.invites import build_invite
from services.notifier.sms import sms_segments
from shared.contracts.catalogue import content
from shared.contracts.events import (
    BookingCancelled,
    BookingNeedsAlternative,
    BookingRequested,
    BookingRescheduled,
    BookingScheduled,
    Event,
)
from shared.contracts.models import BookingDetails, Slot
from shared.text.clean import one_line
from shared.text.localtime import format_local, to_local
from shared.text.phone import format_phone, normalize_phone

__all__ = ["Email", "Outgoing", "Sms", "messages_for", "reminder_messages"]


@dataclass(frozen=True)
class Email:
    kind: str
    to: str
    subject: str
    text: str
    html: str
    calendar: bytes | None = None
    method: str | None = None  # "REQUEST" or "CANCEL" when ``calendar`` is set


@dataclass(frozen=True)
class Sms:
    kind: str
    to: str
    text: str


Outgoing = Email | Sms


# --- public API ----------------------------------------------------------------------------------------


def messages_for(event: Event, *, mail_from: str, now: datetime) -> list[Outgoing]:
    """The messages one booking event calls for (none for events the notifier does not act on).

    ``mail_from`` is the sending address (the invite's ORGANIZER); ``now`` becomes the invite's DTSTAMP.
    """
    organizer = parseaddr(mail_from)[1] or mail_from
    if isinstance(event, BookingRequested):
        d = event.data
        return [_receipt(d.booking_id, d.booking, d.status_url)]
    if isinstance(event, BookingScheduled):
        s = event.data
        return [
            _workplace_email("confirmation", s.booking_id, s.booking, s.slot, s.status_url),
            _workplace_sms("confirmation_sms", s.booking, s.slot),
            _invite(s.booking_id, s.booking, s.slot, s.sequence, organizer, now),
        ]
    if isinstance(event, BookingNeedsAlternative):
        n = event.data
        return [_alternatives(n.booking_id, n.booking, n.status_url, n.alternatives)]
    if isinstance(event, BookingRescheduled):
        r = event.data
        previous = r.previous_slot
        same_consultant = previous is not None and _same_person(previous, r.slot)
        out: list[Outgoing] = []
        if previous is not None and not same_consultant:
            # The talk moved to another consultant: take it out of the first one's calendar.
            out.append(
                _cancel_invite(
                    r.booking_id,
                    r.booking,
                    previous,
                    r.sequence,
                    organizer,
                    now,
                    reason="Oplægget er flyttet til en anden oplægsholder.",
                )
            )
        out.append(
            _invite(
                r.booking_id,
                r.booking,
                r.slot,
                r.sequence,
                organizer,
                now,
                previous=previous if same_consultant else None,
            )
        )
        out.append(_workplace_email("moved", r.booking_id, r.booking, r.slot, r.status_url, previous=previous))
        out.append(_workplace_sms("moved_sms", r.booking, r.slot))
        return out
    if isinstance(event, BookingCancelled):
        c = event.data
        out = []
        if c.slot is not None:
            out.append(_cancel_invite(c.booking_id, c.booking, c.slot, c.sequence, organizer, now, reason=c.reason))
        out.append(_cancelled(c.booking_id, c.booking, c.slot, c.status_url, c.reason))
        return out
    return []


def reminder_messages(booking_id: str, booking: BookingDetails, slot: Slot, status_url: str) -> list[Outgoing]:
    """Reminders before a talk: e-mail and SMS to the workplace, e-mail to the consultant."""
    return [
        _workplace_email("reminder", booking_id, booking, slot, status_url),
        _workplace_sms("reminder_sms", booking, slot),
        _consultant_email("consultant_reminder", booking_id, booking, slot),
    ]


# --- texts ---------------------------------------------------------------------------------------------

_SUBJECTS: dict[str, dict[str, str]] = {
    "da": {
        "receipt": "Tak for jeres bestilling af et inspirationsoplæg (ref. {ref})",
        "confirmation": "Bekræftet: inspirationsoplæg {date}",
        "alternatives": "Vælg et andet tidspunkt til jeres inspirationsoplæg",
        "moved": "Nyt tidspunkt for jeres inspirationsoplæg: {date}",
        "cancelled": "Aflyst: inspirationsoplæg {date}",
        "cancelled_unscheduled": "Jeres bestilling af et inspirationsoplæg er annulleret (ref. {ref})",
        "reminder": "Påmindelse: inspirationsoplæg {date}",
        "invite": "Invitation: Inspirationsoplæg hos {workplace}, {date}",
        "invite_updated": "Opdateret invitation: Inspirationsoplæg hos {workplace}, {date}",
        "cancel_invite": "Aflyst: Inspirationsoplæg hos {workplace}, {date}",
        "consultant_reminder": "Påmindelse: Inspirationsoplæg hos {workplace}, {date}",
    },
    "en": {
        "receipt": "Thank you for requesting an inspiration talk (ref. {ref})",
        "confirmation": "Confirmed: inspiration talk on {date}",
        "alternatives": "Please choose another time for your inspiration talk",
        "moved": "New time for your inspiration talk: {date}",
        "cancelled": "Cancelled: inspiration talk on {date}",
        "cancelled_unscheduled": "Your request for an inspiration talk has been cancelled (ref. {ref})",
        "reminder": "Reminder: inspiration talk on {date}",
    },
}

_LABELS: dict[str, dict[str, str]] = {
    "da": {
        "when": "Tidspunkt",
        "place": "Sted",
        "theme": "Tema",
        "setting": "Form",
        "participants": "Deltagere",
        "duration": "Varighed",
        "consultant": "Oplægsholder",
        "contact": "Kontaktperson",
        "notes": "Bemærkninger",
        "ref": "Reference",
        "minutes": "minutter",
    },
    "en": {
        "when": "Time",
        "place": "Place",
        "theme": "Theme",
        "setting": "Format",
        "participants": "Participants",
        "duration": "Duration",
        "consultant": "Presenter",
        "contact": "Contact",
        "notes": "Notes",
        "ref": "Reference",
        "minutes": "minutes",
    },
}

# Typography outside the GSM 03.38 alphabet, replaced in SMS so they stay in the cheap 7-bit encoding.
_GSM_FRIENDLY = str.maketrans(
    {"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "„": '"', "…": "...", "\u00a0": " "}
)

_TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def _render(name: str, context: dict[str, Any]) -> str:
    return _environment().get_template(name).render(context)


def _when(start: datetime, end: datetime, lang: str) -> str:
    """'tirsdag den 30. marts 2027 kl. 13.00–15.00' / 'Tuesday 30 March 2027 at 13:00–15:00'."""
    pattern = "%H:%M" if lang == "en" else "%H.%M"
    return f"{format_local(start, lang)}–{to_local(end).strftime(pattern)}"


def _same_person(a: Slot, b: Slot) -> bool:
    return a.consultant.email.strip().lower() == b.consultant.email.strip().lower()


def _theme_title(booking: BookingDetails, lang: str) -> str:
    return content().theme_title(booking.theme, lang)


def _base_context(booking_id: str, booking: BookingDetails, lang: str) -> dict[str, Any]:
    return {
        "lang": lang,
        "org": content().organisation,
        "ref": booking_id,
        "contact_name": booking.contact.name,
        "theme": _theme_title(booking, lang),
        "workplace": booking.workplace.one_line(),
        "workplace_name": booking.workplace.name,
        "note": content().not_negotiation(lang),
    }


def _details(
    booking_id: str, booking: BookingDetails, lang: str, *, slot: Slot | None, for_consultant: bool = False
) -> list[tuple[str, str]]:
    label = _LABELS[lang]
    rows: list[tuple[str, str]] = []
    if slot is not None:
        rows.append((label["when"], _when(slot.start, slot.end, lang)))
    rows += [
        (label["place"], booking.workplace.one_line()),
        (label["theme"], _theme_title(booking, lang)),
        (label["setting"], content().setting(booking.setting, lang)),
        (label["participants"], str(booking.participants)),
        (label["duration"], f"{booking.duration_minutes} {label['minutes']}"),
    ]
    if slot is not None and not for_consultant:
        rows.append((label["consultant"], slot.consultant.name))
    if for_consultant:
        contact = booking.contact
        rows.append((label["contact"], f"{contact.name}, {contact.email}, {format_phone(contact.phone)}"))
        if booking.notes.strip():
            rows.append((label["notes"], booking.notes.strip()))
    rows.append((label["ref"], booking_id))
    return rows


def _email(kind: str, to: str, subject: str, lang: str, context: dict[str, Any], **extra: Any) -> Email:
    context = {**context, "subject": subject}
    return Email(
        kind=kind,
        to=to,
        subject=subject,
        text=_render(f"{lang}/{kind}.txt", context).strip() + "\n",
        html=_render(f"{lang}/{kind}.html", context),
        **extra,
    )


def _receipt(booking_id: str, booking: BookingDetails, status_url: str) -> Email:
    lang = booking.language
    context = {
        **_base_context(booking_id, booking, lang),
        "details": _details(booking_id, booking, lang, slot=None),
        "preferred": [
            _when(start, start + timedelta(minutes=booking.duration_minutes), lang)
            for start in booking.preferred_starts
        ],
        "status_url": status_url,
    }
    subject = _SUBJECTS[lang]["receipt"].format(ref=booking_id)
    return _email("receipt", booking.contact.email, subject, lang, context)


def _workplace_email(
    kind: str,
    booking_id: str,
    booking: BookingDetails,
    slot: Slot,
    status_url: str,
    *,
    previous: Slot | None = None,
) -> Email:
    lang = booking.language
    context = {
        **_base_context(booking_id, booking, lang),
        "details": _details(booking_id, booking, lang, slot=slot),
        "when": _when(slot.start, slot.end, lang),
        "previous_when": _when(previous.start, previous.end, lang) if previous else None,
        "consultant": slot.consultant.name,
        "status_url": status_url,
    }
    subject = _SUBJECTS[lang][kind].format(date=format_local(slot.start, lang), ref=booking_id)
    return _email(kind, booking.contact.email, subject, lang, context)


def _alternatives(
    booking_id: str, booking: BookingDetails, status_url: str, alternatives: tuple[datetime, ...]
) -> Email:
    lang = booking.language
    duration = timedelta(minutes=booking.duration_minutes)
    context = {
        **_base_context(booking_id, booking, lang),
        "details": _details(booking_id, booking, lang, slot=None),
        "alternatives": [_when(start, start + duration, lang) for start in alternatives],
        "status_url": status_url,
    }
    return _email("alternatives", booking.contact.email, _SUBJECTS[lang]["alternatives"], lang, context)


def _cancelled(booking_id: str, booking: BookingDetails, slot: Slot | None, status_url: str, reason: str) -> Email:
    lang = booking.language
    context = {
        **_base_context(booking_id, booking, lang),
        "details": _details(booking_id, booking, lang, slot=slot),
        "when": _when(slot.start, slot.end, lang) if slot else None,
        "reason": reason.strip(),
        "status_url": status_url,
    }
    if slot is not None:
        subject = _SUBJECTS[lang]["cancelled"].format(date=format_local(slot.start, lang))
    else:
        subject = _SUBJECTS[lang]["cancelled_unscheduled"].format(ref=booking_id)
    return _email("cancelled", booking.contact.email, subject, lang, context)


def _consultant_context(booking_id: str, booking: BookingDetails, slot: Slot) -> dict[str, Any]:
    return {
        **_base_context(booking_id, booking, "da"),
        "details": _details(booking_id, booking, "da", slot=slot, for_consultant=True),
        "when": _when(slot.start, slot.end, "da"),
        "consultant": slot.consultant.name,
    }


def _consultant_subject(key: str, booking: BookingDetails, slot: Slot) -> str:
    return _SUBJECTS["da"][key].format(workplace=booking.workplace.name, date=format_local(slot.start, "da"))


def _consultant_email(kind: str, booking_id: str, booking: BookingDetails, slot: Slot) -> Email:
    context = _consultant_context(booking_id, booking, slot)
    subject = _consultant_subject(kind, booking, slot)
    return _email(kind, slot.consultant.email, subject, "da", context)


def _invite(
    booking_id: str,
    booking: BookingDetails,
    slot: Slot,
    sequence: int,
    organizer: str,
    now: datetime,
    *,
    previous: Slot | None = None,
) -> Email:
    extra = {"previous_when": _when(previous.start, previous.end, "da") if previous else None}
    subject_key = "invite_updated" if previous else "invite"
    return _calendar_email("invite", subject_key, "REQUEST", booking_id, booking, slot, sequence, organizer, now, extra)


def _cancel_invite(
    booking_id: str,
    booking: BookingDetails,
    slot: Slot,
    sequence: int,
    organizer: str,
    now: datetime,
    *,
    reason: str = "",
) -> Email:
    extra = {"reason": reason.strip()}
    return _calendar_email(
        "cancel_invite", "cancel_invite", "CANCEL", booking_id, booking, slot, sequence, organizer, now, extra
    )


def _calendar_email(
    kind: str,
    subject_key: str,
    method: Literal["REQUEST", "CANCEL"],
    booking_id: str,
    booking: BookingDetails,
    slot: Slot,
    sequence: int,
    organizer: str,
    now: datetime,
    extra: dict[str, Any],
) -> Email:
    """The consultant's e-mail carrying the invite (or its cancellation) for ``slot``."""
    calendar = build_invite(
        method=method,
        booking_id=booking_id,
        booking=booking,
        slot=slot,
        sequence=sequence,
        organizer_email=organizer,
        dtstamp=now,
    )
    context = {**_consultant_context(booking_id, booking, slot), **extra}
    subject = _consultant_subject(subject_key, booking, slot)
    return _email(kind, slot.consultant.email, subject, "da", context, calendar=calendar, method=method)


def _workplace_sms(kind: str, booking: BookingDetails, slot: Slot) -> Sms:
    lang = booking.language
    context = {
        "org": content().organisation,
        "when": _when(slot.start, slot.end, lang),
        "workplace": booking.workplace.one_line(),
        "theme": _sentence(_theme_title(booking, lang)),
        "consultant": slot.consultant.name,
        "compact": False,
    }
    text = _sms_text(f"{lang}/{kind}.txt", context)
    if sms_segments(text) > 2:  # a long address or title: leave out what the e-mail already says
        text = _sms_text(f"{lang}/{kind}.txt", {**context, "compact": True})
    try:
        to = normalize_phone(booking.contact.phone)
    except ValueError:
        to = booking.contact.phone  # the sender reports it as a permanent failure
    return Sms(kind=kind, to=to, text=text)


def _sentence(text: str) -> str:
    """The text with a full stop, unless it already ends a sentence ("... grænsen?")."""
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else f"{text}."


def _sms_text(template: str, context: dict[str, Any]) -> str:
    return one_line(_render(template, context)).translate(_GSM_FRIENDLY)
