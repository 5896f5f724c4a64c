"""Statistics of a period (default: this month): talks per theme and month, per setting, requested vs.
placed vs. cancelled, lead time from request to talk, talks per consultant. Each chart is an SVG image
rendered on the server (``/admin/statistics/NAME.svg`` with the same period), its numbers in a table
beside it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp import web

from services.booking.backoffice import charts
from services.booking.backoffice.queries import local_range
from services.booking.backoffice.statistics import Figures, compute
from services.booking.http.backoffice.bookings import reads
from services.booking.http.backoffice.common import deps, language, render, t, with_query
from shared.contracts.catalogue import content
from shared.text.i18n import N_
from shared.text.localtime import MONTHS, to_local

MAX_DAYS = 3 * 366
CHARTS = {
    "themes": N_("Oplæg pr. tema og måned"),
    "settings": N_("Oplæg pr. ramme"),
    "flow": N_("Forespurgt, placeret og aflyst pr. måned"),
    "lead": N_("Tid fra forespørgsel til oplæg (uger)"),
    "consultants": N_("Oplæg pr. konsulent"),
}
TALKS = N_("Oplæg")
FLOW = {"requested": N_("Forespurgt"), "placed": N_("Placeret"), "cancelled": N_("Aflyst")}
WRONG_PERIOD = N_("Vælg en periode på højst tre år, med slutdatoen efter startdatoen.")

routes = web.RouteTableDef()


def _period(request: web.Request) -> tuple[date, date, str | None]:
    today = to_local(deps(request).clock()).date()
    first_default = today.replace(day=1)
    last_default = (first_default + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    try:
        first = date.fromisoformat(request.query.get("from", "")) if request.query.get("from") else first_default
        last = date.fromisoformat(request.query.get("to", "")) if request.query.get("to") else last_default
    except ValueError:
        return first_default, last_default, t(request, WRONG_PERIOD)
    if last < first or (last - first).days > MAX_DAYS:
        return first_default, last_default, t(request, WRONG_PERIOD)
    return first, last, None


async def _figures(request: web.Request) -> tuple[date, date, str | None, Figures]:
    first, last, error = _period(request)
    bookings = await reads(request).for_statistics(*local_range(first, last))
    return first, last, error, compute(bookings, first, last)


def _month_label(key: str, lang: str) -> str:
    year, month = key.split("-")
    return f"{MONTHS[lang][int(month) - 1][:3]} {year}"


def tables(request: web.Request, figures: Figures) -> dict[str, Any]:
    """The numbers of each chart: column labels and rows."""
    lang = language(request)
    months = [_month_label(m, lang) for m in figures.months]
    return {
        "themes": {
            "columns": months,
            "rows": [(content().theme_title(theme, lang), list(by_month.values()))
                     for theme, by_month in figures.per_theme_month.items()],
        },
        "settings": {"columns": [t(request, TALKS)],
                     "rows": [(content().setting(k, lang), [v]) for k, v in figures.per_setting.items()]},
        "flow": {"columns": months,
                 "rows": [(t(request, FLOW[name]), list(counts.values())) for name, counts in figures.flow.items()]},
        "lead": {"columns": [t(request, TALKS)], "rows": [(k, [v]) for k, v in figures.lead_buckets.items()]},
        "consultants": {"columns": [t(request, TALKS)],
                        "rows": [(name, [n]) for name, n in figures.per_consultant.items()]},
    }


@routes.get("/statistics")
async def statistics(request: web.Request) -> web.Response:
    first, last, error, figures = await _figures(request)
    period = {"from": first.isoformat(), "to": last.isoformat()}
    return await render(
        request,
        "admin/statistics.html",
        current="statistics",
        error=error,
        period=period,
        talks=figures.talks,
        median_lead=figures.median_lead_days,
        charts=[{"name": name, "title": t(request, title), "src": with_query(f"/admin/statistics/{name}.svg", **period),
                 **tables(request, figures)[name]} for name, title in CHARTS.items()],
    )


@routes.get("/statistics/{name}.svg")
async def chart(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in CHARTS:
        raise web.HTTPNotFound()
    _, _, _, figures = await _figures(request)
    table = tables(request, figures)[name]
    title = t(request, CHARTS[name])
    if name in ("themes", "flow"):
        svg = charts.bars(title, table["columns"], {label: values for label, values in table["rows"]},
                          stacked=name == "themes")
    elif name == "settings":
        svg = charts.pie(title, {label: values[0] for label, values in table["rows"]})
    else:
        svg = charts.horizontal(title, {label: values[0] for label, values in table["rows"]})
    return web.Response(body=svg, content_type="image/svg+xml", headers=charts.SVG_HEADERS)
