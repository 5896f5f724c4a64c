"""What the notifier sends for each booking event: pure functions from an event's data to messages.

One composer per event the notifier acts on (``receipt``, ``scheduled``, ``needs_alternative``,
``rescheduled``, ``cancelled``, ``offer``) and ``reminder_messages`` for the reminders before a talk. Nothing here
does I/O beyond reading the Jinja2 templates next to this module; sending is ``mime``/``mailer``/``sms``'s
job. ``mail_from`` is the sending address (the invite's ORGANIZER); ``now`` becomes the invite's DTSTAMP.

Texts are Danish, or English when the workplace booked in English: Danish is the source, English comes
from ``locale/en/LC_MESSAGES/messages.po`` (templates with ``_("…")``, subjects and labels marked
``N_``). What goes to the consultant (the invite, its cancellation, the consultant's reminder) is always
Danish, so those templates and subjects are not marked for translation. Times are shown in Copenhagen
time. The workplace's confirmation, move and cancellation carry its own calendar entry too (the same UID
and SEQUENCE as the consultant's invite, in the workplace's language).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, StrictUndefined, select_autoescape

from services.notifier.domain import Email, Outgoing, Sms
from services.notifier.invites import build_invite, build_workplace_invite
from services.notifier.sms import sms_segments
from shared.contracts.catalogue import content
from shared.contracts.events import (
    BookingCancelledData,
    BookingNeedsAlternativeData,
    BookingOfferMadeData,
    BookingRequestedData,
    BookingRescheduledData,
    BookingScheduledData,
)
from shared.contracts.models import BookingDetails, Slot
from shared.text.clean import one_line
from shared.text.i18n import N_, Catalogue, Language, language_of
from shared.text.localtime import format_local, to_local
from shared.text.phone import format_phone, normalize_phone

__all__ = ["cancelled", "needs_alternative", "offer", "receipt", "reminder_messages", "rescheduled", "scheduled"]

SERVICE_ROOT = Path(__file__).resolve().parent


# --- one composer per event ----------------------------------------------------------------------------


def receipt(data: BookingRequestedData) -> list[Outgoing]:
    """booking.requested: the receipt to the workplace."""
    booking, lang = data.booking, data.booking.language
    context = {
        **_base_context(data.booking_id, booking, lang),
        "details": _details(data.booking_id, booking, lang, slot=None),
        "preferred": [
            _when(start, start + timedelta(minutes=booking.duration_minutes), lang)
            for start in booking.preferred_starts
        ],
        "status_url": data.status_url,
    }
    subject = _texts().gettext(lang, _SUBJECTS["receipt"], ref=data.booking_id)
    return [_email("receipt", booking.contact.email, subject, lang, context)]


def scheduled(data: BookingScheduledData, *, mail_from: str, now: datetime) -> list[Outgoing]:
    """booking.scheduled: the confirmation to the workplace (e-mail with its own invite, and SMS), the
    invite to the consultant."""
    organizer = _organizer(mail_from)
    invitation = _Invitation("REQUEST", data.sequence, organizer, now)
    return [
        _workplace_email("confirmation", data.booking_id, data.booking, data.slot, data.status_url, invite=invitation),
        _workplace_sms("confirmation_sms", data.booking, data.slot),
        _invite(data.booking_id, data.booking, data.slot, data.sequence, organizer, now),
    ]


def needs_alternative(data: BookingNeedsAlternativeData) -> list[Outgoing]:
    """booking.needs_alternative: the alternatives (or a request for new times) to the workplace."""
    booking, lang = data.booking, data.booking.language
    duration = timedelta(minutes=booking.duration_minutes)
    context = {
        **_base_context(data.booking_id, booking, lang),
        "details": _details(data.booking_id, booking, lang, slot=None),
        "alternatives": [_when(start, start + duration, lang) for start in data.alternatives],
        "status_url": data.status_url,
    }
    subject = _texts().gettext(lang, _SUBJECTS["alternatives"])
    return [_email("alternatives", booking.contact.email, subject, lang, context)]


def offer(data: BookingOfferMadeData) -> list[Outgoing]:
    """booking.offer_made: a freed time offered to the waiting workplace, by e-mail and SMS, with the
    link to the status page where it accepts with one click, and when the offer runs out."""
    booking, lang, offered = data.booking, data.booking.language, data.offer
    when = _when(offered.start, offered.end, lang)
    expires = format_local(offered.expires_at, lang)
    context = {
        **_base_context(data.booking_id, booking, lang),
        "details": _details(data.booking_id, booking, lang, slot=None),
        "when": when,
        "expires": expires,
        "status_url": data.status_url,
    }
    subject = _texts().gettext(lang, _SUBJECTS["offer"], date=format_local(offered.start, lang))
    sms_context = {"org": content().organisation, "when": when, "expires": expires, "status_url": data.status_url}
    text = _sms_text("offer_sms.txt", lang, {**sms_context, "compact": False})
    if sms_segments(text) > 2:
        text = _sms_text("offer_sms.txt", lang, {**sms_context, "compact": True})
    return [
        _email("offer", booking.contact.email, subject, lang, context),
        Sms(kind="offer_sms", to=_sms_number(booking), text=text),
    ]


def rescheduled(data: BookingRescheduledData, *, mail_from: str, now: datetime) -> list[Outgoing]:
    """booking.rescheduled: the updated invite (and, when the consultant changes, a cancellation to the
    first one), the new time to the workplace by e-mail (with its invite updated: a higher SEQUENCE) and SMS."""
    organizer, previous = _organizer(mail_from), data.previous_slot
    same_consultant = previous is not None and _same_person(previous, data.slot)
    out: list[Outgoing] = []
    if previous is not None and not same_consultant:
        # The talk moved to another consultant: take it out of the first one's calendar.
        reason = "Oplægget er flyttet til en anden oplægsholder."
        out.append(
            _invite(data.booking_id, data.booking, previous, data.sequence, organizer, now, cancel_reason=reason)
        )
    out.append(
        _invite(
            data.booking_id,
            data.booking,
            data.slot,
            data.sequence,
            organizer,
            now,
            previous=previous if same_consultant else None,
        )
    )
    out.append(
        _workplace_email(
            "moved",
            data.booking_id,
            data.booking,
            data.slot,
            data.status_url,
            previous=previous,
            invite=_Invitation("REQUEST", data.sequence, organizer, now),
        )
    )
    out.append(_workplace_sms("moved_sms", data.booking, data.slot))
    return out


def cancelled(data: BookingCancelledData, *, mail_from: str, now: datetime) -> list[Outgoing]:
    """booking.cancelled: the invite's cancellation to the consultant (if one was invited), the notice
    to the workplace (with the cancellation of its own invite, if it had one)."""
    booking, lang, slot = data.booking, data.booking.language, data.slot
    out: list[Outgoing] = []
    calendar: dict[str, Any] = {}
    if slot is not None:
        organizer = _organizer(mail_from)
        out.append(_invite(data.booking_id, booking, slot, data.sequence, organizer, now, cancel_reason=data.reason))
        withdrawn = _Invitation("CANCEL", data.sequence, organizer, now)
        calendar = _workplace_calendar(data.booking_id, booking, slot, data.status_url, withdrawn)
    context = {
        **_base_context(data.booking_id, booking, lang),
        "details": _details(data.booking_id, booking, lang, slot=slot),
        "when": _when(slot.start, slot.end, lang) if slot else None,
        "reason": data.reason.strip(),
        "status_url": data.status_url,
    }
    if slot is not None:
        subject = _texts().gettext(lang, _SUBJECTS["cancelled"], date=format_local(slot.start, lang))
    else:
        subject = _texts().gettext(lang, _SUBJECTS["cancelled_unscheduled"], ref=data.booking_id)
    out.append(_email("cancelled", booking.contact.email, subject, lang, context, **calendar))
    return out


def reminder_messages(booking_id: str, booking: BookingDetails, slot: Slot, status_url: str) -> list[Outgoing]:
    """Reminders before a talk: e-mail and SMS to the workplace, e-mail to the consultant."""
    return [
        _workplace_email("reminder", booking_id, booking, slot, status_url),
        _workplace_sms("reminder_sms", booking, slot),
        _consultant_reminder(booking_id, booking, slot),
    ]


# --- texts ---------------------------------------------------------------------------------------------

# To the workplace, in its language.
_SUBJECTS = {
    "receipt": N_("Tak for jeres bestilling af et inspirationsoplæg (ref. {ref})"),
    "confirmation": N_("Bekræftet: inspirationsoplæg {date}"),
    "alternatives": N_("Vælg et andet tidspunkt til jeres inspirationsoplæg"),
    "moved": N_("Nyt tidspunkt for jeres inspirationsoplæg: {date}"),
    "cancelled": N_("Aflyst: inspirationsoplæg {date}"),
    "cancelled_unscheduled": N_("Jeres bestilling af et inspirationsoplæg er annulleret (ref. {ref})"),
    "reminder": N_("Påmindelse: inspirationsoplæg {date}"),
    "offer": N_("Ledig tid til jeres inspirationsoplæg: {date}"),
}

# To the consultant: always Danish.
_CONSULTANT_SUBJECTS = {
    "invite": "Invitation: Inspirationsoplæg hos {workplace}, {date}",
    "invite_updated": "Opdateret invitation: Inspirationsoplæg hos {workplace}, {date}",
    "cancel_invite": "Aflyst: Inspirationsoplæg hos {workplace}, {date}",
    "consultant_reminder": "Påmindelse: Inspirationsoplæg hos {workplace}, {date}",
}

_LABELS = {
    "when": N_("Tidspunkt"),
    "place": N_("Sted"),
    "theme": N_("Tema"),
    "setting": N_("Form"),
    "participants": N_("Deltagere"),
    "duration": N_("Varighed"),
    "consultant": N_("Oplægsholder"),
    "contact": N_("Kontaktperson"),
    "notes": N_("Bemærkninger"),
    "ref": N_("Reference"),
}
_MINUTES = N_("{minutes} minutter")
# The workplace's calendar entry.
_INVITE_SUMMARY = N_("Inspirationsoplæg: {theme}")
_INVITE_LINK = N_("Se, flyt eller aflys oplægget: {url}")

# Typography outside the GSM 03.38 alphabet, replaced in SMS so they stay in the cheap 7-bit encoding.
_GSM_FRIENDLY = str.maketrans(
    {"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "„": '"', "…": "...", "\u00a0": " "}
)


@cache
def _texts() -> Catalogue:
    """The notifier's translations (loaded on first use, not at import)."""
    return Catalogue.for_service(SERVICE_ROOT)


@cache
def _templates() -> dict[Language, Environment]:
    """One Jinja2 environment per language over ``templates/``; ``.html`` is escaped, ``.txt`` is not."""
    return _texts().templates(
        SERVICE_ROOT / "templates",
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def _render(name: str, lang: str, context: dict[str, Any]) -> str:
    return _templates()[language_of(lang)].get_template(name).render(context)


def _label(key: str, lang: str) -> str:
    return _texts().gettext(lang, _LABELS[key])


# --- building blocks -------------------------------------------------------------------------------------


def _organizer(mail_from: str) -> str:
    """The address in ``mail_from`` ("addr" or "Name <addr>")."""
    return parseaddr(mail_from)[1] or mail_from


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
    rows: list[tuple[str, str]] = []
    if slot is not None:
        rows.append((_label("when", lang), _when(slot.start, slot.end, lang)))
    rows += [
        (_label("place", lang), booking.workplace.one_line()),
        (_label("theme", lang), _theme_title(booking, lang)),
        (_label("setting", lang), content().setting(booking.setting, lang)),
        (_label("participants", lang), str(booking.participants)),
        (_label("duration", lang), _texts().gettext(lang, _MINUTES, minutes=booking.duration_minutes)),
    ]
    if slot is not None and not for_consultant:
        rows.append((_label("consultant", lang), slot.consultant.name))
    if for_consultant:
        contact = booking.contact
        rows.append((_label("contact", lang), f"{contact.name}, {contact.email}, {format_phone(contact.phone)}"))
        if booking.notes.strip():
            rows.append((_label("notes", lang), booking.notes.strip()))
    rows.append((_label("ref", lang), booking_id))
    return rows


def _email(kind: str, to: str, subject: str, lang: str, context: dict[str, Any], **extra: Any) -> Email:
    context = {**context, "subject": subject}
    return Email(
        kind=kind,
        to=to,
        subject=subject,
        text=_render(f"{kind}.txt", lang, context).strip() + "\n",
        html=_render(f"{kind}.html", lang, context),
        **extra,
    )


@dataclass(frozen=True)
class _Invitation:
    """A calendar invite to send along: its method and sequence, the organiser and the DTSTAMP."""

    method: Literal["REQUEST", "CANCEL"]
    sequence: int
    organizer: str
    now: datetime


def _workplace_calendar(
    booking_id: str, booking: BookingDetails, slot: Slot, status_url: str, invitation: _Invitation
) -> dict[str, Any]:
    """The workplace's invite (or its cancellation) as the ``calendar`` and ``method`` of an e-mail: the
    talk's details, the link to the status page and the brochure's note, in the workplace's language."""
    lang = booking.language
    lines = [f"{label}: {value}" for label, value in _details(booking_id, booking, lang, slot=slot)]
    lines += ["", _texts().gettext(lang, _INVITE_LINK, url=status_url), "", content().not_negotiation(lang)]
    ical = build_workplace_invite(
        method=invitation.method,
        booking_id=booking_id,
        booking=booking,
        slot=slot,
        sequence=invitation.sequence,
        organizer_email=invitation.organizer,
        dtstamp=invitation.now,
        summary=_texts().gettext(lang, _INVITE_SUMMARY, theme=_theme_title(booking, lang)),
        description="\n".join(lines),
        status_url=status_url,
    )
    return {"calendar": ical, "method": invitation.method}


def _workplace_email(
    kind: str,
    booking_id: str,
    booking: BookingDetails,
    slot: Slot,
    status_url: str,
    *,
    previous: Slot | None = None,
    invite: _Invitation | None = None,
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
    subject = _texts().gettext(lang, _SUBJECTS[kind], date=format_local(slot.start, lang))
    calendar = _workplace_calendar(booking_id, booking, slot, status_url, invite) if invite else {}
    return _email(kind, booking.contact.email, subject, lang, context, **calendar)


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
    text = _sms_text(f"{kind}.txt", lang, context)
    if sms_segments(text) > 2:  # a long address or title: leave out what the e-mail already says
        text = _sms_text(f"{kind}.txt", lang, {**context, "compact": True})
    return Sms(kind=kind, to=_sms_number(booking), text=text)


def _sms_number(booking: BookingDetails) -> str:
    try:
        return normalize_phone(booking.contact.phone)
    except ValueError:
        return booking.contact.phone  # the sender reports it as a permanent failure


def _sentence(text: str) -> str:
    """The text with a full stop, unless it already ends a sentence ("... grænsen?")."""
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else f"{text}."


def _sms_text(template: str, lang: str, context: dict[str, Any]) -> str:
    return one_line(_render(template, lang, context)).translate(_GSM_FRIENDLY)


# --- to the consultant (Danish) ----------------------------------------------------------------------------


def _consultant_context(booking_id: str, booking: BookingDetails, slot: Slot) -> dict[str, Any]:
    return {
        **_base_context(booking_id, booking, "da"),
        "details": _details(booking_id, booking, "da", slot=slot, for_consultant=True),
        "when": _when(slot.start, slot.end, "da"),
        "consultant": slot.consultant.name,
    }


def _consultant_subject(key: str, booking: BookingDetails, slot: Slot) -> str:
    return _CONSULTANT_SUBJECTS[key].format(workplace=booking.workplace.name, date=format_local(slot.start, "da"))


def _consultant_reminder(booking_id: str, booking: BookingDetails, slot: Slot) -> Email:
    subject = _consultant_subject("consultant_reminder", booking, slot)
    return _email(
        "consultant_reminder", slot.consultant.email, subject, "da", _consultant_context(booking_id, booking, slot)
    )


def _invite(
    booking_id: str,
    booking: BookingDetails,
    slot: Slot,
    sequence: int,
    organizer: str,
    now: datetime,
    *,
    previous: Slot | None = None,
    cancel_reason: str | None = None,
) -> Email:
    """The consultant's e-mail carrying the invite for ``slot`` (``previous``: the time it moved from),
    or, with a ``cancel_reason`` (possibly empty), the invite's cancellation."""
    method: Literal["REQUEST", "CANCEL"] = "REQUEST" if cancel_reason is None else "CANCEL"
    calendar = build_invite(
        method=method,
        booking_id=booking_id,
        booking=booking,
        slot=slot,
        sequence=sequence,
        organizer_email=organizer,
        dtstamp=now,
    )
    context = _consultant_context(booking_id, booking, slot)
    if cancel_reason is None:
        kind, subject_key = "invite", "invite_updated" if previous else "invite"
        context["previous_when"] = _when(previous.start, previous.end, "da") if previous else None
    else:
        kind, subject_key = "cancel_invite", "cancel_invite"
        context["reason"] = cancel_reason.strip()
    subject = _consultant_subject(subject_key, booking, slot)
    return _email(kind, slot.consultant.email, subject, "da", context, calendar=calendar, method=method)
