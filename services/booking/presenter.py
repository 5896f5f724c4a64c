"""How a stored booking is shown: one dictionary for the JSON API and the HTML pages alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.contracts.catalogue import content
from shared.contracts.models import utc_iso
from shared.text.localtime import format_local, to_local

Document = dict[str, Any]


def _moment(value: datetime, lang: str) -> dict[str, str]:
    local = to_local(value)
    return {
        "utc": utc_iso(value),
        "local": local.isoformat(),
        "text": format_local(value, lang),
        "clock": f"{local:%H:%M}" if lang == "en" else f"{local:%H.%M}",
    }


def booking_view(doc: Document, lang: str = "da", *, admin: bool = False) -> dict[str, Any]:
    details = doc["details"]
    slot = doc.get("slot")
    view: dict[str, Any] = {
        "id": doc["_id"],
        "status": doc["status"],
        "created_at": utc_iso(doc["created_at"]),
        "theme": {"id": details["theme"], "title": content().theme_title(details["theme"], lang)},
        "setting": {"id": details["setting"], "label": content().setting(details["setting"], lang)},
        "participants": details["participants"],
        "duration_minutes": details["duration_minutes"],
        "preferred_starts": [_moment(s, lang) for s in details["preferred_starts"]],
        "workplace": details["workplace"],
        "contact": details["contact"],
        "notes": details.get("notes", ""),
        "language": details.get("language", "da"),
        "slot": None,
        "alternatives": [_moment(a, lang) for a in doc.get("alternatives") or []],
        "cancel_requested": doc.get("cancel_requested_at") is not None and doc["status"] != "cancelled",
        "reschedule_requested": doc.get("reschedule_requested_at") is not None,
        "history": [
            {"at": utc_iso(h["at"]), "when": format_local(h["at"], lang), "status": h["status"]}
            for h in doc.get("history", [])
        ],
    }
    if slot:
        view["slot"] = {
            "consultant": {"id": slot["consultant"]["id"], "name": slot["consultant"]["name"]},
            "start": _moment(slot["start"], lang),
            "end": _moment(slot["end"], lang),
        }
    if admin:
        view["status_url"] = doc.get("status_url")
    return view
