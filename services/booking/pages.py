"""Server-rendered pages: the booking form, the receipt, the workplace's status page, the admin list.

They work without JavaScript: every action is a plain form POST. The form and the JSON API share
``services.booking.domain.parse_booking``, so a rule is written once.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from services.booking.api import parse_reschedule
from services.booking.context import RULES, STORE, TEMPLATES, wake_relay
from services.booking.domain import DURATION_CHOICES, FieldError, InvalidBooking, check_reason, parse_booking
from services.booking.metrics import BOOKINGS_CREATED, count_invalid
from services.booking.presenter import booking_view
from services.booking.store import IdempotencyConflict
from services.booking.texts import TEXTS
from shared.contracts.catalogue import content
from shared.infra.auth import is_admin
from shared.infra.errors import RETRY_AFTER_SECONDS
from shared.infra.faults import is_unavailable
from shared.infra.resources import SETTINGS as APP_SETTINGS
from shared.text.clean import normalize_newlines
from shared.text.localtime import to_local

routes = web.RouteTableDef()

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
}
START_FIELDS = ("preferred_start_1", "preferred_start_2", "preferred_start_3")
FIELD_FOR_PATH = {path: name for name, path in FORM_FIELDS.items()}


def page_language(request: web.Request) -> str:
    return "en" if request.query.get("lang") == "en" else "da"


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    lang = context.setdefault("lang", page_language(request))
    other = "da" if lang == "en" else "en"
    query = dict(request.query)
    query["lang"] = other
    if other == "da":
        query.pop("lang")
    other_url = request.rel_url.with_query(query)
    html = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            t=TEXTS[lang],
            organisation=content().organisation,
            not_negotiation=content().not_negotiation(lang),
            other_language_url=str(other_url),
            **context,
        )
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


# --- the booking form --------------------------------------------------------------------------------


def form_to_request(form: MultiDictProxy[Any]) -> tuple[dict[str, Any], list[str]]:
    """The form's flat fields as a booking request, plus which form field each start came from."""
    request: dict[str, Any] = {"workplace": {}, "contact": {}}
    for name, path in FORM_FIELDS.items():
        values = [v for v in form.getall(name, []) if isinstance(v, str)]
        if not values:
            continue
        value: Any = values if len(values) > 1 else values[0]  # two themes stay a list: refused
        if name in ("participants", "duration_minutes") and isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if name == "notes" and value == "":
            continue
        group, _, key = path.rpartition(".")
        (request[group] if group else request)[key or path] = value
    filled = [name for name in START_FIELDS if str(form.get(name, "")).strip()]
    request["preferred_starts"] = [str(form[name]).strip() for name in filled]
    return request, filled


def errors_by_field(errors: list[FieldError], start_fields: list[str], lang: str) -> dict[str, str]:
    by_field: dict[str, str] = {}
    for error in errors:
        if error.field.startswith("preferred_starts."):
            index = int(error.field.split(".")[1])
            name = start_fields[index] if index < len(start_fields) else "preferred_start_1"
        elif error.field == "preferred_starts":
            name = "preferred_start_1"
        else:
            name = FIELD_FOR_PATH.get(error.field, error.field)
        by_field.setdefault(name, error.message(lang))
    return by_field


def form_context(request: web.Request, lang: str) -> dict[str, Any]:
    rules = request.app[RULES]
    t = TEXTS[lang]
    earliest = to_local(datetime.now(UTC) + rules.min_notice + timedelta(days=1))
    labels = {
        "theme": t["theme"],
        "setting": t["setting"],
        "duration_minutes": t["duration"],
        "participants": t["participants"],
        "notes": t["notes"],
        "workplace_name": t["workplace_name"],
        "workplace_address": t["address"],
        "workplace_postcode": t["postcode"],
        "workplace_city": t["city"],
        "contact_name": t["contact_name"],
        "contact_email": t["email"],
        "contact_phone": t["phone"],
        **{name: t["start_n"].format(n=i + 1) for i, name in enumerate(START_FIELDS)},
    }
    return {
        "themes": content().themes,
        "settings": {key: label(lang) for key, label in content().settings.items()},
        "durations": DURATION_CHOICES,
        "intro": content().intro(lang),
        "starts_hint": t["starts_hint"].format(
            day_start=f"{rules.day_start:%H.%M}", day_end=f"{rules.day_end:%H.%M}", notice=rules.min_notice.days
        ),
        "min_start": f"{earliest:%Y-%m-%d}T08:00",
        "labels": labels,
        "anchors": {"theme": "theme-" + content().themes[0].id, "setting": "setting-staff_meeting"},
    }


@routes.get("/")
async def booking_form(request: web.Request) -> web.Response:
    lang = page_language(request)
    return render(
        request,
        "form.html",
        lang=lang,
        values={},
        errors={},
        notice=None,
        idempotency_key=str(uuid.uuid4()),
        **form_context(request, lang),
    )


@routes.post("/")
async def submit_booking(request: web.Request) -> web.Response:
    form = await request.post()
    lang = "en" if form.get("language") == "en" or page_language(request) == "en" else "da"
    raw, start_fields = form_to_request(form)
    key = str(form.get("idempotency_key") or "")[:200] or str(uuid.uuid4())
    now = datetime.now(UTC)
    try:
        details = parse_booking(raw, now=now, rules=request.app[RULES])
    except InvalidBooking as exc:
        count_invalid(exc.errors)
        return _form_again(request, form, lang, key, status=422, errors=errors_by_field(exc.errors, start_fields, lang))
    body_hash = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
    try:
        try:
            created = await request.app[STORE].create(
                details, now=now, idempotency_key=f"form:{key}", request_hash=body_hash
            )
        except IdempotencyConflict:
            # The same form was sent again after being changed: treat it as a new request.
            created = await request.app[STORE].create(details, now=now)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        # Nothing was stored: the same form (and its key) can simply be sent again.
        response = _form_again(request, form, lang, key, status=503, notice=TEXTS[lang]["unavailable_form"])
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if not created.replayed:
        wake_relay(request.app)
        BOOKINGS_CREATED.labels("form").inc()
    booking = created.booking
    return render(
        request, "receipt.html", lang=lang, booking=booking_view(booking, lang), status_url=booking["status_url"]
    )


def _form_again(
    request: web.Request,
    form: MultiDictProxy[Any],
    lang: str,
    key: str,
    *,
    status: int,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> web.Response:
    """The form once more, with what was typed (and the same idempotency key)."""
    return render(
        request,
        "form.html",
        status=status,
        lang=lang,
        values={k: v for k, v in form.items() if isinstance(v, str)},
        errors=errors or {},
        notice=notice,
        idempotency_key=key,
        **form_context(request, lang),
    )


def unavailable_page(request: web.Request) -> web.Response:
    """What a page shows while the database is away (the service answers it with 503)."""
    return render(request, "unavailable.html", request_path=str(request.rel_url))


# --- the workplace's status page -------------------------------------------------------------------------


def _query(lang: str) -> str:
    return "?lang=en" if lang == "en" else ""


async def _booking_for_page(request: web.Request, token: str | None) -> dict[str, Any] | None:
    return await request.app[STORE].find_authorised(request.match_info["id"], token)


def _status_context(request: web.Request, lang: str) -> dict[str, Any]:
    rules = request.app[RULES]
    earliest = to_local(datetime.now(UTC) + rules.min_notice + timedelta(days=1))
    return {"query": _query(lang), "min_start": f"{earliest:%Y-%m-%d}T08:00"}


@routes.get("/bookings/{id}", name="status_page")
async def status_page(request: web.Request) -> web.Response:
    lang = page_language(request)
    token = request.query.get("token")
    booking = await _booking_for_page(request, token)
    if booking is None:
        return render(request, "not_found.html", status=404, lang=lang)
    return render(
        request,
        "status.html",
        lang=lang,
        booking=booking_view(booking, lang),
        token=token,
        errors={},
        changed=request.query.get("changed") == "1",
        **_status_context(request, lang),
    )


def _back_to_status(request: web.Request, token: str, lang: str) -> web.HTTPSeeOther:
    query = {"token": token, "changed": "1", **({"lang": "en"} if lang == "en" else {})}
    return web.HTTPSeeOther(request.app.router["status_page"].url_for(id=request.match_info["id"]).with_query(query))


@routes.post("/bookings/{id}/cancel")
async def cancel_from_page(request: web.Request) -> web.Response:
    lang = page_language(request)
    form = await request.post()
    token = str(form.get("token", ""))
    booking = await _booking_for_page(request, token)
    if booking is None:
        return render(request, "not_found.html", status=404, lang=lang)
    reason = str(form.get("reason", ""))
    if (problem := check_reason(reason)) is not None:
        count_invalid([problem])
        return render(
            request,
            "status.html",
            status=422,
            lang=lang,
            booking=booking_view(booking, lang),
            token=token,
            errors={"reason": problem.message(lang)},
            changed=False,
            **_status_context(request, lang),
        )
    updated = await request.app[STORE].request_cancel(
        booking["_id"], by="workplace", reason=normalize_newlines(reason), now=datetime.now(UTC)
    )
    if updated is None:
        return _not_open(request, booking, token, lang)
    wake_relay(request.app)
    raise _back_to_status(request, token, lang)


def _not_open(request: web.Request, booking: dict[str, Any], token: str, lang: str) -> web.Response:
    """The booking is cancelled, or its cancellation is under way: nothing can change any more."""
    return render(request, "status.html", status=409, lang=lang, booking=booking_view(booking, lang), token=token,
                  errors={"status": TEXTS[lang]["not_open"]}, changed=False, **_status_context(request, lang))


@routes.post("/bookings/{id}/reschedule")
async def reschedule_from_page(request: web.Request) -> web.Response:
    lang = page_language(request)
    form = await request.post()
    token = str(form.get("token", ""))
    booking = await _booking_for_page(request, token)
    if booking is None:
        return render(request, "not_found.html", status=404, lang=lang)
    starts = [str(form[name]).strip() for name in START_FIELDS if str(form.get(name, "")).strip()]
    result = parse_reschedule(
        {"preferred_starts": starts}, booking, admin=False, rules=request.app[RULES], now=datetime.now(UTC)
    )
    if isinstance(result, list):
        count_invalid(result)
        errors = {error.field: error.message(lang) for error in result}
        return render(
            request,
            "status.html",
            status=422,
            lang=lang,
            booking=booking_view(booking, lang),
            token=token,
            errors=errors,
            changed=False,
            **_status_context(request, lang),
        )
    if await request.app[STORE].request_reschedule(booking["_id"], result, now=datetime.now(UTC)) is None:
        return _not_open(request, booking, token, lang)
    wake_relay(request.app)
    raise _back_to_status(request, token, lang)


# --- admin ------------------------------------------------------------------------------------------------


@routes.get("/admin")
async def admin_page(request: web.Request) -> web.Response:
    if not request.app[APP_SETTINGS].admin_token_value:
        return web.Response(status=503, text="Admin pages are disabled: set ADMIN_TOKEN.")
    if not is_admin(request):
        return web.Response(
            status=401,
            text="Log ind med admin-token som adgangskode.",
            headers={"WWW-Authenticate": 'Basic realm="admin", charset="UTF-8"'},
        )
    status = request.query.get("status") or None
    bookings = await request.app[STORE].list(status, 500)
    return render(request, "admin.html", bookings=[booking_view(b, "da", admin=True) for b in bookings])
