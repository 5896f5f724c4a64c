"""Server-rendered pages: the booking form, the receipt, the workplace's status page, the admin list.

They work without JavaScript: every action is a plain form POST. The form and the JSON API call the
same use cases (``services.booking.handlers``), so a rule is written once. The pages are Danish, or
English with ``?lang=en``; their texts are in the templates as ``{{ _("…") }}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from services.booking import handlers
from services.booking.domain import (
    DURATION_CHOICES,
    MESSAGES,
    Booking,
    FieldError,
    InvalidBooking,
    NotOpen,
    OfferExpired,
    UnknownOffer,
    earliest_start,
)
from services.booking.handlers import FORM, Deps, TooMany
from services.booking.http import DEPS, limited_client, minutes
from services.booking.http.free_times_step import chosen_starts, free_times_step
from services.booking.http.views import booking_view
from services.booking.metrics import HONEYPOT
from services.booking.texts import SERVICE_ROOT, catalogue, translate
from shared.contracts.catalogue import content
from shared.infra.errors import RETRY_AFTER_SECONDS, TOO_MANY
from shared.infra.faults import is_unavailable
from shared.infra.resources import SETTINGS
from shared.text.i18n import N_, Language
from shared.text.numbers import whole_number

routes = web.RouteTableDef()
routes.static("/static", SERVICE_ROOT / "static")  # the stylesheet and the free times' script

# form field -> path in the booking request
FORM_FIELDS = {
    "workplace_name": "workplace.name",
    "workplace_address": "workplace.address",
    "workplace_postcode": "workplace.postcode",
    "workplace_city": "workplace.city",
    "contact_name": "contact.name",
    "contact_email": "contact.email",
    "contact_phone": "contact.phone",
    "theme": "theme",
    "setting": "setting",
    "participants": "participants",
    "duration_minutes": "duration_minutes",
    "notes": "notes",
    "language": "language",
    "waitlist": "waitlist",
}
# the waitlist's window: form field -> its key in the request's ``waitlist_window``
WINDOW_FIELDS = {"waitlist_from": "from", "waitlist_to": "to", "waitlist_part": "part_of_day"}
START_FIELDS = ("preferred_start_1", "preferred_start_2", "preferred_start_3")
FREE_TIMES = "free_times"  # where the error of a free time ticked is shown
FIELD_FOR_PATH = {
    **{path: name for name, path in FORM_FIELDS.items()},
    **{f"waitlist_window.{key}": name for name, key in WINDOW_FIELDS.items()},
    "waitlist_window": "waitlist_from",
}
Form = MultiDictProxy[Any]

# How the error summary names each field (the labels of the form).
FIELD_LABELS = {
    "theme": N_("Tema"),
    "setting": N_("Hvor holdes oplægget?"),
    "duration_minutes": N_("Varighed"),
    "participants": N_("Antal deltagere"),
    "notes": N_("Bemærkninger"),
    "workplace_name": N_("Arbejdspladsens navn"),
    "workplace_address": N_("Adresse"),
    "workplace_postcode": N_("Postnummer"),
    "workplace_city": N_("By"),
    "contact_name": N_("Navn"),
    "contact_email": N_("E-mail"),
    "contact_phone": N_("Telefon"),
    FREE_TIMES: N_("Ledige tidspunkter"),
    "waitlist": N_("Hvis tiden er optaget"),
    "waitlist_from": N_("Fra og med"),
    "waitlist_to": N_("Til og med"),
    "waitlist_part": N_("Tid på dagen"),
}
START_LABEL = N_("Tidspunkt {n}")

STATUS_TEXTS = {
    "received": N_("Modtaget – vi finder en konsulent og et tidspunkt"),
    "scheduled": N_("Planlagt"),
    "needs_alternative": N_("Ønsket tidspunkt er ikke ledigt – vælg et andet"),
    "cancelled": N_("Aflyst"),
}
HISTORY_TEXTS = {
    "received": N_("Forespørgslen er modtaget"),
    "scheduled": N_("Oplægget er planlagt"),
    "needs_alternative": N_("Ønsket tidspunkt var ikke ledigt – andre tidspunkter er foreslået"),
    "cancelled": N_("Oplægget er aflyst"),
    "cancel_requested": N_("Afbestilling sendt"),
    "reschedule_requested": N_("Ønske om nyt tidspunkt sendt"),
    "waitlist_requested": N_("Valg for ventelisten ændret"),
    "offer_made": N_("Et ledigt tidspunkt er tilbudt"),
    "offer_expired": N_("Tilbuddet udløb og gik videre til den næste på ventelisten"),
    "offer_accept_requested": N_("Tilbuddet er taget imod"),
    "offer_taken": N_("Tidspunktet blev taget af en anden lige før – andre tidspunkter er foreslået"),
}
UNAVAILABLE_FORM = N_(
    "Systemet kan ikke gemme jeres forespørgsel lige nu. Det, I har skrevet, står stadig i formularen: "
    "send den igen om lidt."
)
NOT_SENT = N_("Formularen kunne ikke sendes. Kontakt os gerne på e-mail eller telefon.")
# A field hidden from people (and from screen readers) that robots fill in.
HONEYPOT_FIELD = "website"


@cache
def templates() -> dict[Language, jinja2.Environment]:
    """The page templates, one environment per language (read on first use)."""
    return catalogue().templates(
        SERVICE_ROOT / "templates",
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )


def page_language(request: web.Request) -> Language:
    return "en" if request.query.get("lang") == "en" else "da"


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    lang: Language = context.setdefault("lang", page_language(request))
    other = "da" if lang == "en" else "en"
    query = dict(request.query)
    query["lang"] = other
    if other == "da":
        query.pop("lang")
    other_url = request.rel_url.with_query(query)
    html = (
        templates()[lang]
        .get_template(template)
        .render(
            organisation=content().organisation,
            not_negotiation=content().not_negotiation(lang),
            other_language_url=str(other_url),
            **context,
        )
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


# --- the booking form --------------------------------------------------------------------------------


def form_to_request(form: Form) -> tuple[dict[str, Any], list[str]]:
    """The form's flat fields as a booking request, plus which form field each start came from: the free
    times ticked come first (chronological), then the desired times typed."""
    request: dict[str, Any] = {"workplace": {}, "contact": {}}
    for name, path in FORM_FIELDS.items():
        values = [v for v in form.getall(name, []) if isinstance(v, str)]
        if not values:
            continue
        value: Any = values if len(values) > 1 else values[0]  # two themes stay a list: refused
        if name in ("participants", "duration_minutes") and isinstance(value, str):
            value = value if (number := whole_number(value)) is None else number
        if name == "notes" and value == "":
            continue
        group, _, key = path.rpartition(".")
        (request[group] if group else request)[key or path] = value
    window = {key: str(form.get(name, "")).strip() for name, key in WINDOW_FIELDS.items()}
    if window["from"] or window["to"]:
        request["waitlist_window"] = {**window, "part_of_day": window["part_of_day"] or "any"}
    free = chosen_starts(form)
    request["preferred_starts"] = free + starts_of(form)
    typed = [name for name in START_FIELDS if str(form.get(name, "")).strip()]
    return request, [FREE_TIMES] * len(free) + typed


def starts_of(form: Form) -> list[str]:
    """The desired starts filled in on a form (up to three fields, empty ones left out)."""
    return [str(form[name]).strip() for name in START_FIELDS if str(form.get(name, "")).strip()]


def errors_by_field(errors: list[FieldError], start_fields: list[str], lang: str) -> dict[str, str]:
    by_field: dict[str, str] = {}
    for error in errors:
        if error.field.startswith("preferred_starts."):
            index = int(error.field.split(".")[1])
            name = start_fields[index] if index < len(start_fields) else "preferred_start_1"
        elif error.field == "preferred_starts":
            name = FREE_TIMES  # none or too many: said where the times are chosen
        else:
            name = FIELD_FOR_PATH.get(error.field, error.field)
        by_field.setdefault(name, error.message(lang))
    return by_field


def min_start(request: web.Request) -> str:
    """The earliest start the pages' time fields offer, as a datetime-local value."""
    deps = request.app[DEPS]
    return f"{earliest_start(deps.clock(), deps.rules):%Y-%m-%dT%H:%M}"


def form_context(request: web.Request, lang: str) -> dict[str, Any]:
    rules = request.app[DEPS].rules
    labels = {name: translate(lang, label) for name, label in FIELD_LABELS.items()}
    labels.update({name: translate(lang, START_LABEL, n=i + 1) for i, name in enumerate(START_FIELDS)})
    return {
        "themes": content().themes,
        "settings": {key: label(lang) for key, label in content().settings.items()},
        "durations": DURATION_CHOICES,
        "intro": content().intro(lang),
        "hours": {
            "day_start": f"{rules.day_start:%H.%M}",
            "day_end": f"{rules.day_end:%H.%M}",
            "notice": rules.min_notice.days,
        },
        "min_start": min_start(request),
        "labels": labels,
        "anchors": {
            "theme": "theme-" + content().themes[0].id,
            "setting": "setting-staff_meeting",
            FREE_TIMES: "free-times-title",
            "waitlist": "waitlist-offer",
        },
    }


@routes.get("/")
async def booking_form(request: web.Request) -> web.Response:
    """The form; with ``theme`` and ``duration_minutes`` (and ``week``) in the query, with the week's free times."""
    lang = page_language(request)
    values = {name: request.query[name] for name in ("theme", "duration_minutes") if name in request.query}
    free = await free_times_step(request, lang, values, chosen_starts(request.query), request.query.get("week"))
    return render(
        request,
        "form.html",
        lang=lang,
        values=values,
        errors={},
        notice=None,
        idempotency_key=str(uuid.uuid4()),
        free=free,
        **form_context(request, lang),
    )


@routes.post("/")
async def submit_booking(request: web.Request) -> web.Response:
    """The form sent: its free-times step (the "show free times" or a week button), or the booking."""
    form = await request.post()
    lang: Language = "en" if form.get("language") == "en" or page_language(request) == "en" else "da"
    key = str(form.get("idempotency_key") or "")[:200] or str(uuid.uuid4())
    if "week" in form or form.get("step") == "times":
        return await _form_again(request, form, lang, key, status=200)
    if str(form.get(HONEYPOT_FIELD, "")).strip():
        # Only a robot fills in a field no person sees: nothing is stored, and the page says so plainly.
        HONEYPOT.inc()
        return await _form_again(request, form, lang, key, status=422, notice=translate(lang, NOT_SENT))
    raw, start_fields = form_to_request(form)
    try:
        requested = await handlers.request_booking(
            request.app[DEPS], raw, channel=FORM, key=key, client=limited_client(request)
        )
    except InvalidBooking as exc:
        errors = errors_by_field(exc.errors, start_fields, lang)
        return await _form_again(request, form, lang, key, status=422, errors=errors)
    except TooMany as exc:
        notice = translate(lang, TOO_MANY, minutes=minutes(exc.retry_after))
        response = await _form_again(request, form, lang, key, status=429, notice=notice)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        # Nothing was stored: the same form (and its key) can simply be sent again.
        notice = translate(lang, UNAVAILABLE_FORM)
        response = await _form_again(request, form, lang, key, status=503, notice=notice)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    booking = requested.booking
    if chosen_starts(form) and not requested.replayed:
        # A free time picked: like a calendar that books at once, say how it went if the scheduler
        # answers within a moment (placed, or taken meanwhile and here are others); else as always.
        wait = request.app[SETTINGS].receipt_wait_seconds
        booking = await handlers.await_outcome(request.app[DEPS], booking, wait=wait)
    return render(
        request,
        "receipt.html",
        lang=lang,
        booking=booking_view(booking, lang),
        status_url=booking.status_url,
        token=booking.secret,
        query="?lang=en" if lang == "en" else "",
    )


async def _form_again(
    request: web.Request,
    form: Form,
    lang: Language,
    key: str,
    *,
    status: int,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> web.Response:
    """The form once more, with what was typed and ticked (and the same idempotency key), and the free
    times of the week asked for (a week button) or shown before."""
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    week = str(form.get("week") or form.get("shown_week") or "")
    free = await free_times_step(request, lang, values, chosen_starts(form), week)
    return render(
        request,
        "form.html",
        status=status,
        lang=lang,
        values=values,
        errors=errors or {},
        notice=notice,
        idempotency_key=key,
        free=free,
        **form_context(request, lang),
    )


def unavailable_page(request: web.Request) -> web.Response:
    """What a page shows while the database is away (the service answers it with 503)."""
    return render(request, "unavailable.html", request_path=str(request.rel_url))


# --- the workplace's status page -------------------------------------------------------------------------


async def _booking_for_page(request: web.Request, token: str | None) -> Booking | None:
    return await handlers.find_booking(request.app[DEPS], request.match_info["id"], token=token)


def _status_page(
    request: web.Request, booking: Booking, token: str | None, *, status: int = 200, errors: dict[str, str]
) -> web.Response:
    lang = page_language(request)
    return render(
        request,
        "status.html",
        status=status,
        lang=lang,
        booking=booking_view(booking, lang),
        token=token,
        errors=errors,
        changed=status == 200 and request.query.get("changed") == "1",
        query="?lang=en" if lang == "en" else "",
        min_start=min_start(request),
        status_texts=STATUS_TEXTS,
        history_texts=HISTORY_TEXTS,
    )


def _not_found(request: web.Request) -> web.Response:
    return render(request, "not_found.html", status=404)


@routes.get("/bookings/{id}", name="status_page")
async def status_page(request: web.Request) -> web.Response:
    token = request.query.get("token")
    booking = await _booking_for_page(request, token)
    if booking is None:
        return _not_found(request)
    return _status_page(request, booking, token, errors={})


def _back_to_status(request: web.Request, token: str) -> web.HTTPSeeOther:
    query = {"token": token, "changed": "1", **({"lang": "en"} if page_language(request) == "en" else {})}
    return web.HTTPSeeOther(request.app.router["status_page"].url_for(id=request.match_info["id"]).with_query(query))


async def _cancel(deps: Deps, booking: Booking, form: Form) -> Booking:
    """The status page's cancel form: an optional reason."""
    return await handlers.cancel(deps, booking, by="workplace", reason=str(form.get("reason", "")))


async def _reschedule(deps: Deps, booking: Booking, form: Form) -> Booking:
    """The status page's forms for a new time: one of the alternatives offered, or up to three desired starts."""
    return await handlers.reschedule(deps, booking, {"preferred_starts": starts_of(form)}, by="workplace")


@routes.post("/bookings/{id}/cancel")
async def cancel_from_page(request: web.Request) -> web.Response:
    return await _change_from_page(request, _cancel)


async def _waitlist(deps: Deps, booking: Booking, form: Form) -> Booking:
    """The status page's waitlist form: the choice, and an optional window of days."""
    window = {key: str(form.get(name, "")).strip() for name, key in WINDOW_FIELDS.items()}
    raw: dict[str, Any] = {"waitlist": str(form.get("waitlist", ""))}
    if window["from"] or window["to"]:
        raw["window"] = {**window, "part_of_day": window["part_of_day"] or "any"}
    return await handlers.change_waitlist(deps, booking, raw, by="workplace")


@routes.post("/bookings/{id}/reschedule")
async def reschedule_from_page(request: web.Request) -> web.Response:
    return await _change_from_page(request, _reschedule)


@routes.post("/bookings/{id}/waitlist")
async def waitlist_from_page(request: web.Request) -> web.Response:
    return await _change_from_page(request, _waitlist)


@routes.post("/bookings/{id}/offers/{offer_id}/accept")
async def accept_offer_from_page(request: web.Request) -> web.Response:
    """One click on an offer: back to the status page once the scheduler has answered (the talk, or
    "just taken" with fresh choices), or after a short wait with the acceptance under way."""
    offer_id = request.match_info["offer_id"]

    async def accept(deps: Deps, booking: Booking, form: Form) -> Booking:
        accepted = await handlers.accept_offer(deps, booking, offer_id, by="workplace")
        return await handlers.await_outcome(deps, accepted, wait=request.app[SETTINGS].receipt_wait_seconds)

    return await _change_from_page(request, accept)


async def _change_from_page(
    request: web.Request, change: Callable[[Deps, Booking, Form], Awaitable[Booking]]
) -> web.Response:
    """A form on the status page: back to the page once the change is stored; else the page saying why not."""
    form = await request.post()
    token = str(form.get("token", ""))
    booking = await _booking_for_page(request, token)
    if booking is None:
        return _not_found(request)
    lang = page_language(request)
    try:
        await change(request.app[DEPS], booking, form)
    except TooMany as exc:
        notice = translate(lang, TOO_MANY, minutes=minutes(exc.retry_after))
        response = _status_page(request, booking, token, status=429, errors={"status": notice})
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except InvalidBooking as exc:
        errors = {error.field: error.message(lang) for error in exc.errors}
        return _status_page(request, booking, token, status=422, errors=errors)
    except NotOpen:
        # The booking is cancelled, or its cancellation is under way: nothing can change any more.
        return _status_page(request, booking, token, status=409, errors={"status": translate(lang, NotOpen.text)})
    except (UnknownOffer, OfferExpired) as exc:
        code = "offer_unknown" if isinstance(exc, UnknownOffer) else "offer_expired"
        status = 404 if isinstance(exc, UnknownOffer) else 409
        return _status_page(request, booking, token, status=status, errors={"offers": translate(lang, MESSAGES[code])})
    raise _back_to_status(request, token)
