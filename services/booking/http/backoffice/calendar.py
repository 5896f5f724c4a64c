"""The calendar: a week or a month of all consultants' talks (each links to its booking), their absences,
and the public holidays and closing days; rendered on the server.

Talks come from this service's own bookings (the projection of the scheduler's outcomes, which the
booking pages link to); absences from the scheduler's consultants. Without the scheduler the talks
still show, and the page says the absences are missing."""

from __future__ import annotations

from datetime import date

from aiohttp import web

from services.booking.backoffice import calendar as cal
from services.booking.backoffice.queries import local_range
from services.booking.http.backoffice.bookings import consultants_or_none, reads
from services.booking.http.backoffice.common import deps, language, render, with_query
from shared.infra.resources import SETTINGS
from shared.text.localtime import WEEKDAYS, to_local

routes = web.RouteTableDef()


@routes.get("/calendar")
async def calendar(request: web.Request) -> web.Response:
    lang = language(request)
    view: cal.View = "month" if request.query.get("view") == "month" else "week"
    today = to_local(deps(request).clock()).date()
    try:
        anchor = date.fromisoformat(request.query.get("date", ""))
    except ValueError:
        anchor = today
    consultant = request.query.get("consultant", "")
    first, last = cal.period(view, anchor)
    talks = await reads(request).talks_between(*local_range(first, last))
    consultants = await consultants_or_none(request)
    shown = [c for c in consultants or [] if not consultant or c["id"] == consultant]
    if consultant:
        talks = [b for b in talks if b.slot and b.slot.consultant.id == consultant]
    days = cal.build(view, anchor, talks, shown, request.config_dict[SETTINGS].closed_days, lang)
    before, after = cal.neighbours(view, anchor)

    def link(**params: str) -> str:
        values = {"view": view, "date": anchor.isoformat(), "consultant": consultant, **params}
        return with_query("/admin/calendar", **values)

    return await render(
        request,
        "admin/calendar.html",
        current="calendar",
        view=view,
        title=cal.title(view, anchor, lang),
        days=days,
        today=today,
        weekdays=WEEKDAYS[lang],
        consultants=consultants,
        consultant=consultant,
        anchor=anchor.isoformat(),
        previous_url=link(date=before.isoformat()),
        next_url=link(date=after.isoformat()),
        today_url=link(date=today.isoformat()),
        week_url=link(view="week"),
        month_url=link(view="month"),
    )
