"""How every service's API answers errors: ``{"errors": [{"field", "message"}]}``, in the caller's language.

Danish by default, English with ``?lang=en`` or ``Accept-Language: en``; never an HTML page or a trace.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from shared.text.email import normalize_email
from shared.text.i18n import N_, Language, language_of, shared_catalogue

RETRY_AFTER_SECONDS = 5
UNAVAILABLE = N_("Tjenesten er midlertidigt utilgængelig. Prøv igen om lidt.")
MALFORMED_JSON = N_("Ugyldig JSON.")
WHOLE_NUMBER = N_("Skal være et helt tal.")
INVALID_EMAIL = N_("Ugyldig e-mailadresse.")
TOO_MANY = N_("For mange forsøg på kort tid. Prøv igen om {minutes} minut(ter).")
# Errors aiohttp raises by itself, in the users' words.
_ERROR_TEXTS: dict[int, tuple[str, str]] = {
    413: ("body", N_("Forespørgslen er for stor (højst {limit} KiB).")),
    404: ("", N_("Siden findes ikke.")),
    405: ("", N_("Metoden er ikke tilladt her.")),
}


def language(request: web.Request) -> Language:
    """The API's language: English with ``?lang=en`` or ``Accept-Language: en…``, else Danish."""
    return language_of(request.query.get("lang") or request.headers.get("Accept-Language"))


def text(request: web.Request, message: str, **params: Any) -> str:
    """One of ``shared``'s texts in the request's language."""
    return shared_catalogue().gettext(language(request), message, **params)


def json_errors(status: int, errors: list[dict[str, str]], **headers: str) -> web.Response:
    return web.json_response({"errors": errors}, status=status, headers=headers or None)


_EXCEPTIONS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    422: web.HTTPUnprocessableEntity,
    429: web.HTTPTooManyRequests,
    503: web.HTTPServiceUnavailable,
}


def json_error(status: int, field: str, message: str, **headers: str) -> web.HTTPException:
    """An exception a view can raise that answers ``status`` with one JSON error."""
    return _EXCEPTIONS[status](
        text=json.dumps({"errors": [{"field": field, "message": message}]}, ensure_ascii=False),
        content_type="application/json",
        headers=headers or None,
    )


async def read_json(request: web.Request) -> Any:
    """The parsed body; 400 for malformed JSON (413 for an oversized body comes from aiohttp)."""
    try:
        return await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise json_error(400, "body", text(request, MALFORMED_JSON)) from None


def query_limit(request: web.Request, default: int = 100, most: int = 1000) -> int:
    """``?limit=`` as a whole number from 1 to ``most``; 422 otherwise."""
    try:
        return min(max(int(request.query.get("limit", str(default))), 1), most)
    except ValueError:
        raise json_error(422, "limit", text(request, WHOLE_NUMBER)) from None


def error_text(request: web.Request, exc: web.HTTPException, max_body: int) -> tuple[str, str]:
    """The field and message for an error aiohttp raised by itself (404, 405, 413, …)."""
    field, message = _ERROR_TEXTS.get(exc.status, ("", exc.reason))
    return field, text(request, message, limit=max_body // 1024) if exc.status in _ERROR_TEXTS else message


def too_many(request: web.Request, retry_after: int, field: str = "") -> web.HTTPException:
    """429 with ``Retry-After`` and the wait in plain words."""
    minutes = max(1, -(-retry_after // 60))
    return json_error(429, field, text(request, TOO_MANY, minutes=minutes), **{"Retry-After": str(retry_after)})


def email_of(request: web.Request, value: object, field: str = "email") -> str:
    """``value`` as a normalised e-mail address; 422 naming ``field`` otherwise."""
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return normalize_email(value)
    except ValueError:
        raise json_error(422, field, text(request, INVALID_EMAIL)) from None
