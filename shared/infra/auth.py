"""Admin authentication: the ``ADMIN_TOKEN`` as a bearer token (APIs) or as the password of HTTP
Basic authentication (a browser on the admin pages), compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web

from shared.infra.errors import json_error, text
from shared.infra.resources import SETTINGS
from shared.text.i18n import N_

ADMIN_DISABLED = N_("Administration er slået fra: ADMIN_TOKEN er ikke sat.")
ADMIN_REQUIRED = N_("Kræver et gyldigt admin-token (Authorization: Bearer …).")


def _token(request: web.Request) -> str | None:
    return request.app[SETTINGS].admin_token_value


def _same(supplied: str, token: str) -> bool:
    return hmac.compare_digest(supplied.encode(), token.encode())


def is_admin(request: web.Request) -> bool:
    """The request carries the admin token, as ``Bearer`` or as a Basic password (any user name)."""
    token = _token(request)
    header = request.headers.get("Authorization", "")
    if not token:
        return False
    if header.startswith("Bearer "):
        return _same(header.removeprefix("Bearer "), token)
    if header.startswith("Basic "):
        try:
            _, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return _same(password, token)
    return False


def require_admin(request: web.Request) -> None:
    """401 without the admin token; 503 when no ``ADMIN_TOKEN`` is configured at all."""
    if not _token(request):
        raise json_error(503, "Authorization", text(request, ADMIN_DISABLED))
    if not is_admin(request):
        raise json_error(401, "Authorization", text(request, ADMIN_REQUIRED), **{"WWW-Authenticate": "Bearer"})
