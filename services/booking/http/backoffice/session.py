"""Signing in to the back office, and the middlewares that guard it.

* The session is an encrypted cookie (``aiohttp-session``'s ``EncryptedCookieStorage``, Fernet with
  ``SESSION_KEY``): HttpOnly, SameSite=Lax, path ``/admin``, Secure when ``PUBLIC_BASE_URL`` is https;
  it holds only the admin's name, the times of signing in and of the last request, the language and
  the CSRF token. It ends after ``ADMIN_SESSION_IDLE_MINUTES`` unused and ``ADMIN_SESSION_MAX_HOURS``
  after signing in, on signing out, and when the account is disabled.
* Named accounts (``backoffice.accounts``); while none is active, the ``ADMIN_TOKEN`` signs in (a
  bootstrap: the history then says ``admin:token``).
* Failed sign-ins count per client address (``RATE_LIMIT_SIGN_IN_FAILURES``); past the limit the form
  answers 429 without checking anything.
* Every POST carries the session's CSRF token (a hidden field), compared in constant time.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp_session import get_session, new_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet

from services.booking.backoffice.accounts import COLLECTION, MongoAccounts
from services.booking.http.backoffice.common import (
    SESSION_CSRF,
    SESSION_LANG,
    SESSION_NAME,
    csrf_token,
    deps,
    render,
    t,
)
from services.booking.texts import translate
from shared.infra.ratelimit import client_address
from shared.infra.resources import DB, RATE_LIMITS, SETTINGS
from shared.infra.settings import Settings
from shared.text.i18n import N_

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN_ACCOUNT = "token"
OPEN_PATHS = ("/admin/sign-in",)

DISABLED = N_(
    "Administrationen er slået fra: SESSION_KEY og ADMIN_TOKEN skal være sat (se README, Configuration)."
)
WRONG = N_("Forkert navn eller adgangskode.")
THROTTLED = N_("For mange forkerte forsøg fra denne adresse. Prøv igen om {minutes} minut(ter).")
EXPIRED = N_("Du var logget ind for længe eller var væk for længe. Log ind igen.")
SIGNED_OUT = N_("Du er logget ud.")
FORM_EXPIRED = N_("Formularen var forældet. Prøv igen.")


def storage(settings: Settings) -> EncryptedCookieStorage:
    assert settings.session_key is not None
    return EncryptedCookieStorage(
        Fernet(settings.session_key.get_secret_value()),
        cookie_name="backoffice",
        path="/admin",
        secure=settings.public_base_url.startswith("https://"),
        httponly=True,
        samesite="Lax",
    )


def accounts(request: web.Request) -> MongoAccounts:
    return MongoAccounts(request.config_dict[DB][COLLECTION])


def middlewares(settings: Settings) -> list[Callable[..., Awaitable[web.StreamResponse]]]:
    if settings.session_key is None or settings.admin_token_value is None:
        return [_disabled]
    return [session_middleware(storage(settings)), _guard]


@web.middleware
async def _disabled(request: web.Request, handler: Handler) -> web.StreamResponse:
    return web.Response(status=503, text=translate("da", DISABLED) + "\n" + translate("en", DISABLED))


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The language; a signed-in, unexpired session with a live account (else to the sign-in form);
    the CSRF token of every POST."""
    session = await get_session(request)
    if request.query.get("lang") in ("da", "en"):
        session[SESSION_LANG] = request.query["lang"]
    request[SESSION_LANG] = session.get(SESSION_LANG, "da")
    if request.method == "POST":
        form = await request.post()
        expected = session.get(SESSION_CSRF)
        given = str(form.get("csrf_token", ""))
        if not (isinstance(expected, str) and hmac.compare_digest(expected.encode(), given.encode())):
            csrf_token(session)
            return await render(request, "admin/message.html", status=403, message=t(request, FORM_EXPIRED),
                                back=str(request.headers.get("Referer") or "/admin/"))
    if request.path in OPEN_PATHS:
        return await handler(request)
    name = await _signed_in(request)
    if name is None:
        if session.get(SESSION_NAME):
            session.invalidate()
            session["flash"] = t(request, EXPIRED)
        target = request.rel_url.path_qs if request.method == "GET" else "/admin/"
        raise web.HTTPSeeOther(request.app.router["sign_in"].url_for().with_query({"next": target}))
    request[SESSION_NAME] = name
    return await handler(request)


async def _signed_in(request: web.Request) -> str | None:
    """The admin's name if the session is signed in, fresh, and its account still may sign in."""
    settings = request.config_dict[SETTINGS]
    session = await get_session(request)
    name, since, seen = session.get(SESSION_NAME), session.get("since"), session.get("seen")
    if not (isinstance(name, str) and isinstance(since, int | float) and isinstance(seen, int | float)):
        return None
    now = time.time()
    if now - seen > settings.admin_session_idle_minutes * 60 or now - since > settings.admin_session_max_hours * 3600:
        return None
    store = accounts(request)
    if name == TOKEN_ACCOUNT:
        if await store.any_active():
            return None  # the bootstrap ends once a named account exists
    else:
        account = await store.get(name)
        if account is None or not account.active:
            return None
    if now - seen > 60:
        session["seen"] = now
    return name


routes = web.RouteTableDef()


@routes.get("/sign-in", name="sign_in")
async def sign_in_form(request: web.Request) -> web.Response:
    return await _form(request)


async def _form(request: web.Request, *, status: int = 200, error: str | None = None, name: str = "") -> web.Response:
    bootstrap = not await accounts(request).any_active()
    nxt = request.query.get("next", "/admin/")
    return await render(request, "admin/sign_in.html", status=status, error=error, name=name, bootstrap=bootstrap,
                        next=nxt if nxt.startswith("/admin") and "//" not in nxt else "/admin/")


@routes.post("/sign-in")
async def sign_in(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("name", "")).strip().lower()[:40]
    password = str(form.get("password", ""))[:1000]
    settings = request.config_dict[SETTINGS]
    limits = request.config_dict[RATE_LIMITS]
    address = client_address(request, settings.proxies)
    verdict = await limits.peek("sign_in_failures", address)
    if not verdict.allowed:
        response = await _form(request, status=429, name=name,
                               error=t(request, THROTTLED, minutes=max(1, -(-verdict.retry_after // 60))))
        response.headers["Retry-After"] = str(verdict.retry_after)
        return response
    store = accounts(request)
    signed_in: str | None = None
    now = time.time()
    if name:
        account = await store.check(name, password, deps(request).clock())
        signed_in = account.name if account else None
    elif not await store.any_active():
        token = settings.admin_token_value or ""
        signed_in = TOKEN_ACCOUNT if token and hmac.compare_digest(password.encode(), token.encode()) else None
    if signed_in is None:
        await limits.hit("sign_in_failures", address)
        return await _form(request, status=401, name=name, error=t(request, WRONG))
    lang = request.get(SESSION_LANG, "da")
    session = await new_session(request)  # a fresh session: nothing of the one before survives
    session.update({SESSION_NAME: signed_in, "since": now, "seen": now, SESSION_LANG: lang})
    csrf_token(session)
    nxt = str(form.get("next", "/admin/"))
    raise web.HTTPSeeOther(nxt if nxt.startswith("/admin") and "//" not in nxt else "/admin/")


@routes.post("/sign-out")
async def sign_out(request: web.Request) -> web.StreamResponse:
    session = await get_session(request)
    lang = session.get(SESSION_LANG, "da")
    session.invalidate()
    fresh = await new_session(request)
    fresh[SESSION_LANG] = lang
    fresh["flash"] = translate(lang, SIGNED_OUT)
    raise web.HTTPSeeOther(request.app.router["sign_in"].url_for())

