"""Consultants in the browser: create, edit (working hours per weekday, themes, daily maximum, travel
buffer), deactivate and activate, absences, their own calendars, and new secrets for their feed link
and private page. The scheduler owns consultants: each change is a call to its admin API (read, change,
write back the whole consultant), which validates again."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from aiohttp import web

from services.booking.backoffice.remote import REMOTE_SCHEDULER, RemoteRefused, RemoteUnavailable, SchedulerAdmin
from services.booking.http.backoffice.common import back_to, flash, language, render, t
from shared.contracts.catalogue import content
from shared.infra.resources import SETTINGS
from shared.text.email import normalize_email
from shared.text.i18n import N_
from shared.text.localtime import WEEKDAYS

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")

REQUIRED = N_("Skal udfyldes.")
BAD_ID = N_("Brug små bogstaver, tal og bindestreg (fx anne-kragh).")
BAD_EMAIL = N_("Ugyldig e-mailadresse.")
BAD_HOURS = N_("Angiv fra og til som TT:MM, med til efter fra.")
BAD_NUMBER = N_("Skal være et helt tal fra {low} til {high}.")
BAD_DATES = N_("Angiv start- og slutdato, med slutdatoen på eller efter startdatoen.")
SAVED = N_("Konsulenten er gemt.")
ABSENCE_ADDED = N_("Fraværet er tilføjet.")
ABSENCE_REMOVED = N_("Fraværet er fjernet.")
DEACTIVATED = N_("Konsulenten er deaktiveret og får ikke flere oplæg. Kommende oplæg skal flyttes.")
ACTIVATED = N_("Konsulenten er aktiv igen.")
ROTATED_FEED = N_("Kalenderlinket er skiftet: det gamle virker ikke længere.")
ROTATED_PAGE = N_("Linket til den personlige side er skiftet: det gamle virker ikke længere.")
CALENDAR_ADDED = N_("Kalenderen er tilføjet og læses nu.")
CALENDAR_REMOVED = N_("Kalenderen er fjernet.")
REFUSED = N_("Planlæggeren afviste ændringen:")

routes = web.RouteTableDef()


def scheduler(request: web.Request) -> SchedulerAdmin:
    return request.config_dict[REMOTE_SCHEDULER]


def body_of(view: dict[str, Any]) -> dict[str, Any]:
    """A consultant as the scheduler shows it, as the body that writes it back unchanged."""
    keys = ("id", "name", "email", "phone", "working_hours", "absences", "travel_buffer_minutes",
            "max_talks_per_day", "themes", "active")
    body = {k: view[k] for k in keys if k in view}
    body["external_calendars"] = [
        {k: source[k] for k in ("url", "username") if source.get(k)} for source in view.get("external_calendars", [])
    ]
    return body


def links(request: web.Request, view: dict[str, Any]) -> dict[str, str]:
    base = request.config_dict[SETTINGS].public_base_url.rstrip("/")
    page = f"{base}/consultants/{view['id']}?token={view['page_token']}" if view.get("page_token") else ""
    return {"feed": str(view.get("calendar_url", "")), "page": page}


def parse_form(form: Any, *, new: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The edit form's fields as the parts of a consultant's body, and the errors by field."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    if new:
        values["id"] = str(form.get("id", "")).strip().lower()
        if not ID.match(values["id"]):
            errors["id"] = BAD_ID
    values["name"] = str(form.get("name", "")).strip()
    if not values["name"]:
        errors["name"] = REQUIRED
    try:
        values["email"] = normalize_email(str(form.get("email", "")))
    except ValueError:
        errors["email"] = BAD_EMAIL
    values["phone"] = str(form.get("phone", "")).strip() or None
    hours: dict[str, list[str]] = {}
    for day in DAYS:
        if form.get(f"works_{day}"):
            start, end = str(form.get(f"from_{day}", "")), str(form.get(f"until_{day}", ""))
            if not (CLOCK.match(start) and CLOCK.match(end) and start < end):
                errors[f"from_{day}"] = BAD_HOURS
            hours[day] = [start, end]
    values["working_hours"] = hours
    for name, low, high in (("travel_buffer_minutes", 0, 240), ("max_talks_per_day", 1, 10)):
        text = str(form.get(name, "")).strip()
        if not (text.isdigit() and low <= int(text) <= high):
            errors[name] = f"{BAD_NUMBER}|{low}|{high}"
        else:
            values[name] = int(text)
    themes = [str(v) for v in form.getall("themes", []) if str(v) in content().theme_ids]
    values["themes"] = None if len(themes) == len(content().themes) else themes
    return values, errors


def _messages(request: web.Request, errors: dict[str, str]) -> dict[str, str]:
    shown = {}
    for field, code in errors.items():
        text, *bounds = code.split("|")
        shown[field] = t(request, text, low=bounds[0], high=bounds[1]) if bounds else t(request, text)
    return shown


async def _edit_page(request: web.Request, view: dict[str, Any] | None, *, status: int = 200,
                     errors: dict[str, str] | None = None, values: dict[str, Any] | None = None,
                     refused: list[dict[str, str]] | None = None) -> web.Response:
    lang = language(request)
    shown = values or (body_of(view) if view else {
        "working_hours": {d: ["08:00", "16:00"] for d in DAYS[:5]}, "travel_buffer_minutes": 60,
        "max_talks_per_day": 2, "themes": None, "name": "", "email": "", "phone": "", "id": ""})
    return await render(
        request,
        "admin/consultant.html",
        status=status,
        current="consultants",
        consultant=view,
        values=shown,
        errors=_messages(request, errors or {}),
        refused=refused or [],
        days=[(d, WEEKDAYS[lang][i]) for i, d in enumerate(DAYS)],
        themes=[(theme.id, theme.title(lang)) for theme in content().themes],
        links=links(request, view) if view else {},
    )


@routes.get("/consultants")
async def consultants(request: web.Request) -> web.Response:
    try:
        found: list[dict[str, Any]] | None = await scheduler(request).consultants()
    except RemoteUnavailable:
        found = None
    lang = language(request)
    titles = {theme.id: theme.title(lang) for theme in content().themes}
    return await render(request, "admin/consultants.html", current="consultants", consultants=found, titles=titles)


@routes.get("/consultants/new")
async def new_consultant(request: web.Request) -> web.Response:
    return await _edit_page(request, None)


@routes.post("/consultants/new")
async def create_consultant(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    values, errors = parse_form(form, new=True)
    if errors:
        return await _edit_page(request, None, status=422, errors=errors, values=values)
    try:
        created = await scheduler(request).create({**values, "absences": [], "external_calendars": []})
    except RemoteRefused as exc:
        return await _edit_page(request, None, status=422, values=values, refused=exc.errors)
    await flash(request, SAVED)
    raise web.HTTPSeeOther(f"/admin/consultants/{created['id']}")


async def _current(request: web.Request) -> dict[str, Any]:
    view = await scheduler(request).consultant(request.match_info["id"])
    if view is None:
        raise web.HTTPNotFound()
    return view


@routes.get("/consultants/{id}")
async def consultant(request: web.Request) -> web.Response:
    return await _edit_page(request, await _current(request))


@routes.post("/consultants/{id}")
async def save_consultant(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    view = await _current(request)
    values, errors = parse_form(form, new=False)
    if errors:
        return await _edit_page(request, view, status=422, errors=errors, values={**body_of(view), **values})
    return await _write(request, view, {**body_of(view), **values}, SAVED)


async def _write(request: web.Request, view: dict[str, Any], body: dict[str, Any], done: str) -> web.StreamResponse:
    try:
        await scheduler(request).replace(view["id"], body)
    except RemoteRefused as exc:
        return await _edit_page(request, view, status=422, values=body, refused=exc.errors)
    await flash(request, done)
    raise web.HTTPSeeOther(f"/admin/consultants/{view['id']}")


@routes.post("/consultants/{id}/absences")
async def add_absence(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    view = await _current(request)
    try:
        first = date.fromisoformat(str(form.get("start", "")))
        last = date.fromisoformat(str(form.get("end", "")) or str(form.get("start", "")))
        if last < first:
            raise ValueError("order")
    except ValueError:
        return await _edit_page(request, view, status=422, errors={"absence": BAD_DATES})
    body = body_of(view)
    note = str(form.get("note", "")).strip()[:200]
    body["absences"] = [*body.get("absences", []), {"start": first.isoformat(), "end": last.isoformat(), "note": note}]
    return await _write(request, view, body, ABSENCE_ADDED)


@routes.post("/consultants/{id}/absences/remove")
async def remove_absence(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    view = await _current(request)
    body = _without(body_of(view), "absences", form.get("index"))
    return await _write(request, view, body, ABSENCE_REMOVED)


@routes.post("/consultants/{id}/active")
async def set_active(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    view = await _current(request)
    active = form.get("active") == "true"
    return await _write(request, view, {**body_of(view), "active": active}, ACTIVATED if active else DEACTIVATED)


@routes.post("/consultants/{id}/calendars")
async def add_calendar(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    view = await _current(request)
    source: dict[str, Any] = {"url": str(form.get("url", "")).strip()}
    if str(form.get("username", "")).strip():
        source.update(username=str(form["username"]).strip(), password=str(form.get("password", "")))
    body = body_of(view)
    body["external_calendars"] = [*body["external_calendars"], source]
    return await _write(request, view, body, CALENDAR_ADDED)


@routes.post("/consultants/{id}/calendars/remove")
async def remove_calendar(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    view = await _current(request)
    body = _without(body_of(view), "external_calendars", form.get("index"))
    return await _write(request, view, body, CALENDAR_REMOVED)


def _without(body: dict[str, Any], key: str, index: object) -> dict[str, Any]:
    """``body`` with the entry at the form's ``index`` taken out of its list ``key`` (an index that is no
    entry's changes nothing)."""
    entries = body.get(key, [])
    text = str(index or "")
    if text.isdigit() and int(text) < len(entries):
        entries.pop(int(text))
    return body


@routes.post("/consultants/{id}/rotate")
async def rotate(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    which = "page" if form.get("which") == "page" else "feed"
    await scheduler(request).rotate(request.match_info["id"], which)
    await flash(request, ROTATED_PAGE if which == "page" else ROTATED_FEED)
    raise back_to(request, form, f"/admin/consultants/{request.match_info['id']}")
