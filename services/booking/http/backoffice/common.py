"""What every back-office view shares: the signed-in admin, the language, CSRF, flash messages, the
navigation and rendering.

The back office is a sub-application under ``/admin`` with its own middlewares (``session.py``):
an encrypted session cookie, the sign-in guard and the CSRF check. Its pages use the service's
templates (``templates/admin/``) and stylesheets; they work without JavaScript.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp_session import Session, get_session

from services.booking.backoffice.remote import RemoteUnavailable
from services.booking.handlers import Deps
from services.booking.http import DEPS
from services.booking.http.pages import templates
from services.booking.texts import translate
from shared.contracts.catalogue import content
from shared.text.i18n import N_, Language

# The back office's pages, in the navigation's order.
NAV: tuple[tuple[str, str, str], ...] = (
    ("attention", "/admin/", N_("Kræver handling")),
    ("bookings", "/admin/bookings", N_("Bookinger")),
    ("waitlist", "/admin/waitlist", N_("Venteliste")),
    ("calendar", "/admin/calendar", N_("Kalender")),
    ("consultants", "/admin/consultants", N_("Konsulenter")),
    ("statistics", "/admin/statistics", N_("Statistik")),
)

STATUS_LABELS = {
    "received": N_("Modtaget"),
    "scheduled": N_("Planlagt"),
    "needs_alternative": N_("Mangler tidspunkt"),
    "cancelled": N_("Aflyst"),
}
HISTORY_LABELS = {
    "received": N_("Forespørgsel modtaget"),
    "scheduled": N_("Planlagt"),
    "needs_alternative": N_("Ikke placeret – andre tidspunkter foreslået"),
    "cancelled": N_("Aflyst"),
    "cancel_requested": N_("Afbestilling sendt"),
    "reschedule_requested": N_("Nyt tidspunkt ønsket"),
    "erased": N_("Persondata slettet"),
}
ERRORS = {
    "invalid": N_("Ugyldig værdi."),
    "date_format": N_("Ugyldig dato. Brug formatet ÅÅÅÅ-MM-DD, fx 2027-03-01."),
    "window_order": N_("Slutdatoen må ikke ligge før startdatoen."),
}

SESSION_LANG = "lang"
SESSION_NAME = "admin"
SESSION_CSRF = "csrf"
SESSION_FLASH = "flash"


def deps(request: web.Request) -> Deps:
    return request.config_dict[DEPS]


def language(request: web.Request) -> Language:
    lang = request.get(SESSION_LANG)
    return "en" if lang == "en" else "da"


def t(request: web.Request, text: str, **params: Any) -> str:
    return translate(language(request), text, **params)


def actor(request: web.Request) -> str:
    """Who acts, as a booking's history records it: ``admin:NAME`` (``admin:token`` before any account)."""
    return f"admin:{request[SESSION_NAME]}"


def csrf_token(session: Session) -> str:
    token = session.get(SESSION_CSRF)
    if not isinstance(token, str):
        token = session[SESSION_CSRF] = secrets.token_urlsafe(32)
    return token


async def flash(request: web.Request, text: str, **params: Any) -> None:
    """A message for the next page (after a redirect), in the admin's language."""
    (await get_session(request))[SESSION_FLASH] = t(request, text, **params)


def back_to(request: web.Request, form: Any, default: str) -> web.HTTPSeeOther:
    """303 to the form's ``return_to`` if it is a back-office path, else to ``default``."""
    target = str(form.get("return_to", "")) if form is not None else ""
    if not (target.startswith("/admin/") or target == "/admin") or "//" in target or "\\" in target:
        target = default
    return web.HTTPSeeOther(target)


def with_query(path: str, **params: str) -> str:
    query = {k: v for k, v in params.items() if v}
    return f"{path}?{urlencode(query)}" if query else path


async def render(
    request: web.Request, template: str, *, status: int = 200, current: str = "", **context: Any
) -> web.Response:
    session = await get_session(request)
    lang = language(request)
    other = "da" if lang == "en" else "en"
    query = dict(request.query)
    query["lang"] = other
    message = session.pop(SESSION_FLASH, None)
    html = (
        templates()[lang]
        .get_template(template)
        .render(
            lang=lang,
            organisation=content().organisation,
            other_language_url=str(request.rel_url.with_query(query)),
            nav=[(key, href, translate(lang, label)) for key, href, label in NAV],
            current=current,
            signed_in=request.get(SESSION_NAME),
            csrf_token=csrf_token(session),
            flash=message,
            return_to=str(request.rel_url.with_query({k: v for k, v in request.query.items() if k != "lang"})),
            status_labels={key: translate(lang, label) for key, label in STATUS_LABELS.items()},
            **context,
        )
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


REMOTE_AWAY = N_("Planlæggeren eller beskedtjenesten svarer ikke lige nu – prøv igen om lidt.")


@web.middleware
async def remote_away(request: web.Request, handler: Any) -> web.StreamResponse:
    """A page that needs the scheduler or the notifier while it cannot answer: say so, keep the navigation."""
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except RemoteUnavailable:
        return await render(request, "admin/message.html", status=503, message=t(request, REMOTE_AWAY),
                            back="/admin/")
