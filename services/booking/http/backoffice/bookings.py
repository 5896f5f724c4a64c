"""The bookings: the list (search, filters, paging, CSV), a booking's page (its whole history and every
message sent about it), and what an admin does to one: place it at a chosen time with a chosen
consultant (the scheduler's verdict first), have other times proposed, cancel it with a reason."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from aiohttp import web

from services.booking import handlers
from services.booking.backoffice.export import bookings_csv
from services.booking.backoffice.queries import STATUSES, page_number, parse_filter
from services.booking.backoffice.reads import MongoBackOfficeReads
from services.booking.backoffice.remote import REMOTE_NOTIFIER, REMOTE_SCHEDULER, RemoteUnavailable
from services.booking.domain import Booking, InvalidBooking, NotOpen
from services.booking.http.backoffice.common import (
    ERRORS,
    HISTORY_LABELS,
    STATUS_LABELS,
    actor,
    back_to,
    deps,
    flash,
    language,
    render,
    t,
    with_query,
)
from services.booking.http.views import booking_view, moment
from services.booking.store import COLLECTION
from shared.contracts.catalogue import content
from shared.infra.resources import DB
from shared.text.i18n import N_
from shared.text.localtime import format_local, parse_start, to_local

PAGE_SIZE = 25
MAX_EXPORT = 10_000

NOT_FOUND = N_("Bookingen findes ikke.")
SCHEDULER_AWAY = N_("Planlæggeren svarer ikke lige nu – prøv igen om lidt.")
NOTIFIER_AWAY = N_("Beskedtjenesten svarer ikke lige nu: de sendte beskeder kan ikke vises.")
PLACED = N_("Placeringen er sendt til planlæggeren: {id} hos {consultant} {when}.")
PROPOSED = N_("De nye tidspunkter er sendt til planlæggeren for {id}.")
CANCELLED = N_("Aflysningen af {id} er sendt.")
DOES_NOT_FIT = N_("Tidspunktet passer ikke – se hvorfor nedenfor.")
CHOOSE = N_("Vælg en konsulent og et tidspunkt.")
CLOSED = N_("Bookingen er aflyst eller ved at blive aflyst og kan ikke ændres.")
UNKNOWN_CONSULTANT = N_("Konsulenten findes ikke eller er deaktiveret.")

# Why the scheduler says no (services/scheduler/fixed.py), and what it only warns about.
VERDICTS = {
    "closed_day": N_("Dagen er en helligdag eller lukkedag."),
    "day_off": N_("Konsulenten arbejder ikke den ugedag."),
    "absent": N_("Konsulenten er fraværende den dag."),
    "day_full": N_("Konsulenten har allerede det højeste antal oplæg den dag."),
    "outside_hours": N_("Oplægget ligger med transporttid uden for konsulentens arbejdstid."),
    "too_close": N_("For tæt på et andet oplæg (transporttid)."),
    "busy": N_("Konsulenten er optaget i sin egen kalender (transporttid medregnet)."),
    "busy_day": N_("Konsulenten er optaget hele dagen i sin egen kalender."),
}
WARNINGS = {
    "theme": N_("Konsulenten holder normalt ikke oplæg om dette tema."),
    "notice": N_("Tidspunktet ligger uden for det varsel, arbejdspladser kan booke med."),
}
# The CSV's column names (services/booking/backoffice/export.py), marked for translation.
_COLUMN_TEXTS = [N_("Nr."), N_("Status"), N_("Oprettet"), N_("Tema"), N_("Ramme"), N_("Deltagere"),
                 N_("Varighed (min.)"), N_("Tidspunkt"), N_("Konsulent"), N_("Arbejdsplads"), N_("Adresse"),
                 N_("Postnummer"), N_("By"), N_("Kontaktperson"), N_("E-mail"), N_("Telefon")]

routes = web.RouteTableDef()


def reads(request: web.Request) -> MongoBackOfficeReads:
    return MongoBackOfficeReads(request.config_dict[DB][COLLECTION])


async def consultants_or_none(request: web.Request) -> list[dict[str, Any]] | None:
    try:
        return await request.config_dict[REMOTE_SCHEDULER].consultants()
    except RemoteUnavailable:
        return None


def row(booking: Booking, lang: str) -> dict[str, Any]:
    view = booking_view(booking, lang, admin=True)
    view["created"] = format_local(booking.created_at, lang)
    return view


@routes.get("/bookings")
async def bookings(request: web.Request) -> web.Response:
    lang = language(request)
    where, errors = parse_filter(request.query)
    page = page_number(request.query)
    found, total = await reads(request).search(where, skip=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    query = where.as_query()
    return await render(
        request,
        "admin/bookings.html",
        current="bookings",
        bookings=[row(b, lang) for b in found],
        total=total,
        page=page,
        pages=pages,
        previous_url=with_query("/admin/bookings", **query, page=str(page - 1)) if page > 1 else None,
        next_url=with_query("/admin/bookings", **query, page=str(page + 1)) if page < pages else None,
        csv_url=with_query("/admin/bookings.csv", **query),
        values={"q": where.text, "status": where.status or "", "theme": where.theme or "",
                "consultant": where.consultant_id or "", "from": request.query.get("from", ""),
                "to": request.query.get("to", "")},
        errors={name: t(request, ERRORS[code]) for name, code in errors.items()},
        statuses=STATUSES,
        themes=[(theme.id, theme.title(lang)) for theme in content().themes],
        consultants=await consultants_or_none(request) or [],
    )


@routes.get("/bookings.csv")
async def bookings_export(request: web.Request) -> web.Response:
    lang = language(request)
    where, _ = parse_filter(request.query)
    found, _ = await reads(request).search(where, skip=0, limit=MAX_EXPORT)
    body = bookings_csv(found, lang, lambda c: t(request, c), lambda s: t(request, STATUS_LABELS[s]))
    return web.Response(
        text=body,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="bookinger.csv"', "Cache-Control": "no-store"},
    )


async def _booking(request: web.Request) -> Booking:
    booking = await handlers.find_booking(deps(request), request.match_info["id"], token=None, admin=True)
    if booking is None:
        raise web.HTTPNotFound(text=t(request, NOT_FOUND))
    return booking


def history(booking: Booking, request: web.Request) -> list[dict[str, Any]]:
    lang = language(request)
    entries = []
    for entry in booking.history:
        detail: list[str] = []
        if entry.start is not None:
            who = f" ({entry.consultant_id})" if entry.consultant_id else ""
            detail.append(format_local(entry.start, lang) + who)
        if entry.preferred_starts:
            detail.append(", ".join(format_local(s, lang) for s in entry.preferred_starts))
        if entry.reason:
            detail.append(entry.reason)
        entries.append({
            "when": format_local(entry.at, lang),
            "what": t(request, HISTORY_LABELS[entry.status]) if entry.status in HISTORY_LABELS else entry.status,
            "by": entry.by or ("scheduler" if entry.type else ""),
            "detail": " · ".join(detail),
        })
    return entries


async def check_context(request: web.Request, booking: Booking, consultant_id: str, start_text: str) -> dict[str, Any]:
    """The scheduler's verdict on placing ``booking`` at ``start_text`` (local) with ``consultant_id``, as the
    pages show it; ``{"error": …}`` when it cannot be had."""
    lang = language(request)
    base: dict[str, Any] = {"error": None, "fits": False, "why": None, "warnings": [], "conflicts": [], "busy": [],
                            "day": [], "consultant_id": consultant_id, "start": start_text, "booking_id": booking.id}
    if not consultant_id or not start_text:
        return {**base, "error": t(request, CHOOSE)}
    try:
        start = parse_start(start_text)
    except ValueError:
        return {**base, "error": t(request, "Ugyldigt tidspunkt. Brug dato og klokkeslæt, fx 2027-03-02T13:00.")}
    try:
        verdict = await request.config_dict[REMOTE_SCHEDULER].check(
            consultant_id, start, booking.details.duration_minutes, booking.id, booking.details.theme
        )
    except RemoteUnavailable:
        return {**base, "error": t(request, SCHEDULER_AWAY)}
    if verdict is None:
        return {**base, "error": t(request, UNKNOWN_CONSULTANT)}

    def talk(item: dict[str, str]) -> dict[str, str]:
        first, last = datetime.fromisoformat(item["start"]), datetime.fromisoformat(item["end"])
        return {"booking_id": item.get("booking_id", ""), "when": f"{to_local(first):%H.%M}–{to_local(last):%H.%M}"}

    return {
        **base,
        "fits": bool(verdict.get("fits")),
        "why": t(request, VERDICTS[verdict["code"]]) if verdict.get("code") in VERDICTS else verdict.get("reason"),
        "warnings": [t(request, WARNINGS[w]) for w in verdict.get("warnings", []) if w in WARNINGS],
        "conflicts": [talk(c) for c in verdict.get("conflicts", [])],
        "busy": [talk(b) for b in verdict.get("busy", [])],
        "day": [talk(d) for d in verdict.get("day", [])],
        "when": moment(start, lang)["text"],
    }


async def booking_page(
    request: web.Request, booking: Booking, *, status: int = 200, errors: dict[str, str] | None = None,
    check: dict[str, Any] | None = None,
) -> web.Response:
    lang = language(request)
    messages: list[dict[str, Any]] | None
    try:
        messages = await request.config_dict[REMOTE_NOTIFIER].deliveries(booking_id=booking.id)
        for message in messages:
            for name in ("created_at", "sent_at", "failed_at"):
                if message.get(name):
                    message[name] = format_local(datetime.fromisoformat(message[name]), lang)
    except RemoteUnavailable:
        messages = None
    if check is None and request.query.get("check") == booking.id:
        check = await check_context(request, booking, request.query.get("consultant", ""),
                                    request.query.get("start", ""))
    return await render(
        request,
        "admin/booking.html",
        status=status,
        current="bookings",
        booking=row(booking, lang),
        history=history(booking, request),
        messages=messages,
        notifier_away=t(request, NOTIFIER_AWAY),
        consultants=await consultants_or_none(request),
        check=check,
        errors=errors or {},
        open=booking.is_open,
        here=f"/admin/bookings/{booking.id}",
    )


@routes.get("/bookings/{id}")
async def booking(request: web.Request) -> web.Response:
    return await booking_page(request, await _booking(request))


@routes.post("/bookings/{id}/place")
async def place(request: web.Request) -> web.StreamResponse:
    """Place at the chosen time with the chosen consultant: only when the scheduler says it fits now
    (it judges again when the placement arrives)."""
    form = await request.post()
    booking = await _booking(request)
    consultant_id, start_text = str(form.get("consultant", "")), str(form.get("start", ""))
    check = await check_context(request, booking, consultant_id, start_text)
    if not check.get("fits"):
        return await booking_page(request, booking, status=409, check=check,
                                  errors={"place": check.get("error") or t(request, DOES_NOT_FIT)})
    raw = {"start": start_text, "consultant_id": consultant_id}
    result = await _change(request, booking, handlers.reschedule(deps(request), booking, raw, by="admin",
                                                                actor=actor(request)))
    if isinstance(result, web.Response):
        return result
    names = {c["id"]: c["name"] for c in await consultants_or_none(request) or []}
    await flash(request, PLACED, id=booking.id, consultant=names.get(consultant_id, consultant_id), when=check["when"])
    raise back_to(request, form, f"/admin/bookings/{booking.id}")


@routes.post("/bookings/{id}/propose")
async def propose(request: web.Request) -> web.StreamResponse:
    """Other desired times: the scheduler places the talk at the first that is free, or offers the
    workplace the nearest free ones."""
    form = await request.post()
    booking = await _booking(request)
    starts = [str(form.get(f"preferred_start_{n}", "")).strip() for n in (1, 2, 3)]
    raw = {"preferred_starts": [s for s in starts if s]}
    result = await _change(request, booking, handlers.reschedule(deps(request), booking, raw, by="admin",
                                                                actor=actor(request)))
    if isinstance(result, web.Response):
        return result
    await flash(request, PROPOSED, id=booking.id)
    raise back_to(request, form, f"/admin/bookings/{booking.id}")


@routes.post("/bookings/{id}/cancel")
async def cancel(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    booking = await _booking(request)
    reason = str(form.get("reason", ""))
    result = await _change(request, booking, handlers.cancel(deps(request), booking, by="admin", reason=reason,
                                                            actor=actor(request)))
    if isinstance(result, web.Response):
        return result
    await flash(request, CANCELLED, id=booking.id)
    raise back_to(request, form, f"/admin/bookings/{booking.id}")


async def _change(request: web.Request, booking: Booking, change: Awaitable[Booking]) -> Booking | web.Response:
    lang = language(request)
    try:
        return await change
    except InvalidBooking as exc:
        errors = {error.field.split(".")[0]: error.message(lang) for error in exc.errors}
        return await booking_page(request, booking, status=422, errors=errors)
    except NotOpen:
        return await booking_page(request, booking, status=409, errors={"status": t(request, CLOSED)})
