"""The admin's waitlist page, ``/admin/waitlist``: per theme, who waits for which times (in the order
they asked), the offers made and how each ended. Filtered by theme and period with a plain GET form.

The scheduler keeps the waitlist (``GET {SCHEDULER_URL}/api/v1/waitlist``); the names and the links
to each booking come from this service's own bookings. A page of the back office, behind its sign-in.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any

from aiohttp import web

from services.booking.http.backoffice.common import deps, language, render
from services.booking.http.pages import STATUS_TEXTS
from services.booking.http.views import moment
from services.booking.scheduler_client import SCHEDULER, SchedulerUnavailable
from services.booking.texts import translate
from shared.contracts.catalogue import content
from shared.text.i18n import N_

routes = web.RouteTableDef()

MODES = {"offer": N_("Tilbud"), "auto": N_("Automatisk"), "off": N_("Nej tak")}
OFFER_STATES = {
    "open": N_("Åbent"),
    "accepted": N_("Taget imod"),
    "expired": N_("Udløbet – givet videre"),
    "taken": N_("Taget af en anden før accept"),
    "withdrawn": N_("Trukket tilbage"),
}
PARTS = {"any": N_("hele dagen"), "morning": N_("formiddag"), "afternoon": N_("eftermiddag")}
UNAVAILABLE = N_("Ventelisten kan ikke hentes fra planlæggeren lige nu. Prøv igen om lidt.")
BAD_DATE = N_("Ugyldig dato. Brug formatet ÅÅÅÅ-MM-DD, fx 2027-03-01.")


@routes.get("/waitlist")
async def waitlist_page(request: web.Request) -> web.Response:
    lang = language(request)
    theme = request.query.get("theme") or None
    if theme not in content().theme_ids:
        theme = None
    errors: dict[str, str] = {}
    period: dict[str, date | None] = {}
    for name in ("from", "to"):
        text = request.query.get(name, "").strip()
        try:
            period[name] = date.fromisoformat(text) if text else None
        except ValueError:
            period[name], errors[name] = None, translate(lang, BAD_DATE)
    filters = {"theme": theme or "", "from": request.query.get("from", ""), "to": request.query.get("to", "")}
    try:
        entries = await request.config_dict[SCHEDULER].waitlist(theme, period["from"], period["to"])
    except SchedulerUnavailable:
        return await render(
            request,
            "admin/waitlist.html",
            status=503,
            current="waitlist",
            groups=[],
            filters=filters,
            errors=errors,
            themes=_themes(lang),
            notice=translate(lang, UNAVAILABLE),
        )
    rows = [await _row(request, entry, lang) for entry in entries]
    groups = [
        {"title": title, "rows": [row for row in rows if row["theme"] == theme_id], "counts": _counts(rows, theme_id)}
        for theme_id, title in _themes(lang)
        if any(row["theme"] == theme_id for row in rows)
    ]
    return await render(
        request,
        "admin/waitlist.html",
        current="waitlist",
        groups=groups,
        filters=filters,
        errors=errors,
        themes=_themes(lang),
        notice=None,
    )


def _themes(lang: str) -> list[tuple[str, str]]:
    return [(t.id, f"{t.number}. {t.title(lang)}") for t in content().themes]


def _counts(rows: list[dict[str, Any]], theme_id: str) -> dict[str, int]:
    states: Counter[str] = Counter()
    waiting = 0
    for row in rows:
        if row["theme"] != theme_id:
            continue
        waiting += row["waiting"] is not None
        states.update(offer["state"] for offer in row["offers"])
    return {"waiting": waiting, "offers": sum(states.values()), **states}


async def _row(request: web.Request, entry: dict[str, Any], lang: str) -> dict[str, Any]:
    booking = await deps(request).store.get(entry["booking_id"])
    waiting = entry.get("waiting")
    wanted: list[str] = []
    if waiting:
        wanted = [moment(_at(start), lang)["text"] for start in waiting["starts"]]
        if waiting.get("window"):
            window = waiting["window"]
            part = translate(lang, PARTS[window["part_of_day"]])
            wanted.append(f"{window['from']} – {window['to']}, {part}")
        if waiting.get("earlier_than"):
            wanted.append("< " + moment(_at(waiting["earlier_than"]), lang)["text"])
    return {
        "id": entry["booking_id"],
        "theme": entry["theme"],
        "status": translate(lang, STATUS_TEXTS[entry["status"]]) if entry["status"] in STATUS_TEXTS else "–",
        "status_url": booking.status_url if booking else None,
        "workplace": f"{booking.details.workplace.name}, {booking.details.workplace.city}" if booking else "–",
        "mode": translate(lang, MODES[entry["waitlist"]]),
        "waiting": moment(_at(waiting["since"]), lang)["text"] if waiting else None,
        "wanted": wanted,
        "offers": [
            {
                "when": moment(_at(offer["start"]), lang)["text"],
                "state": offer["state"],
                "state_text": translate(lang, OFFER_STATES[offer["state"]]),
                "made": moment(_at(offer["made_at"]), lang)["text"],
                "until": moment(_at(offer["closed_at"] or offer["expires_at"]), lang)["text"],
            }
            for offer in entry["offers"]
        ],
    }


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)
