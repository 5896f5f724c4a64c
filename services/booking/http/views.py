"""How a booking is shown: one dictionary for the JSON API and the HTML pages alike."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from services.booking.domain import Booking
from services.booking.free_times import FreeSlot
from shared.contracts.catalogue import content
from shared.contracts.models import utc_iso
from shared.text.localtime import MONTHS, WEEKDAYS, format_local, to_local


def moment(value: datetime, lang: str) -> dict[str, str]:
    """An instant as the API shows one: UTC, local with its offset, in words, and the clock time."""
    local = to_local(value)
    return {
        "utc": utc_iso(value),
        "local": local.isoformat(),
        "text": format_local(value, lang),
        "clock": f"{local:%H:%M}" if lang == "en" else f"{local:%H.%M}",
    }


def day_text(day: date, lang: str) -> str:
    """'tirsdag den 9. marts' (da) or 'Tuesday 9 March' (en)."""
    if lang == "en":
        return f"{WEEKDAYS['en'][day.weekday()]} {day.day} {MONTHS['en'][day.month - 1]}"
    return f"{WEEKDAYS['da'][day.weekday()]} den {day.day}. {MONTHS['da'][day.month - 1]}"


def free_slot_view(slot: FreeSlot, lang: str) -> dict[str, Any]:
    """A free time: its start (with ``day``, the local date in words, to group by) and end."""
    start = moment(slot.start, lang)
    start["day"] = day_text(to_local(slot.start).date(), lang)
    return {"start": start, "end": moment(slot.end, lang)}


def waitlist_view(booking: Booking) -> dict[str, Any]:
    """The workplace's waitlist choice: ``mode`` and the optional ``window`` (``from``, ``to``, ``part_of_day``);
    ``earlier``: a scheduled talk waits for an earlier time (asked for after it was last placed)."""
    window = booking.details.waitlist_window
    return {
        "mode": booking.details.waitlist,
        "earlier": booking.status == "scheduled" and booking.details.waitlist != "off" and _asked_since_placed(booking),
        "window": (
            {"from": window.first.isoformat(), "to": window.last.isoformat(), "part_of_day": window.part_of_day}
            if window
            else None
        ),
    }


def _asked_since_placed(booking: Booking) -> bool:
    for entry in reversed(booking.history):
        if entry.status == "waitlist_requested":
            return True
        if entry.type in ("booking.scheduled", "booking.rescheduled"):
            return False
    return False


def booking_view(booking: Booking, lang: str = "da", *, admin: bool = False) -> dict[str, Any]:
    """The booking in ``lang``; with ``admin``, also its private link."""
    details = booking.details
    view: dict[str, Any] = {
        "id": booking.id,
        "status": booking.status,
        "created_at": utc_iso(booking.created_at),
        "theme": {"id": details.theme, "title": content().theme_title(details.theme, lang)},
        "setting": {"id": details.setting, "label": content().setting(details.setting, lang)},
        "participants": details.participants,
        "duration_minutes": details.duration_minutes,
        "preferred_starts": [moment(s, lang) for s in details.preferred_starts],
        "workplace": details.workplace.model_dump(),
        "contact": details.contact.model_dump(),
        "notes": details.notes,
        "language": details.language,
        "slot": None,
        "alternatives": [moment(a, lang) for a in booking.alternatives],
        "cancel_requested": booking.cancel_pending,
        "reschedule_requested": booking.reschedule_requested_at is not None,
        "waitlist": waitlist_view(booking),
        "offers": [
            {
                "id": offer.id,
                "start": moment(offer.start, lang),
                "end": moment(offer.end, lang),
                "expires_at": moment(offer.expires_at, lang),
            }
            for offer in booking.offers
        ],
        "offer_accept_requested": booking.offer_accept_requested_at is not None,
        "offer_taken": booking.offer_taken,
        "history": [
            {"at": utc_iso(entry.at), "when": format_local(entry.at, lang), "status": entry.status}
            for entry in booking.history
        ],
    }
    if booking.slot:
        view["slot"] = {
            "consultant": {"id": booking.slot.consultant.id, "name": booking.slot.consultant.name},
            "start": moment(booking.slot.start, lang),
            "end": moment(booking.slot.end, lang),
        }
    if admin:
        view["status_url"] = booking.status_url
    return view
