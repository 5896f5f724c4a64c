"""SMS behind a small provider interface, and the encoding rules it needs.

Providers: ``LogSms`` (writes the message to the log; the default for local runs) and ``GatewayApiSms``
(GatewayAPI's REST API: ``POST /rest/mtsms`` with ``Authorization: Token <token>``, a JSON body with
``sender``, ``message`` (UTF-8) and ``recipients: [{"msisdn": <int>}]``, and ``"encoding": "UCS2"`` only when
the text has characters outside the GSM 03.38 alphabet).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Protocol

import aiohttp

from services.notifier.errors import PermanentDeliveryError, TransientDeliveryError
from shared.infra.settings import Settings
from shared.text.phone import normalize_phone

__all__ = [
    "GatewayApiSms",
    "LogSms",
    "SmsProvider",
    "is_gsm7",
    "make_sms_provider",
    "msisdn",
    "sms_segments",
]

log = logging.getLogger(__name__)


# GSM 03.38 default alphabet (one septet each) and its extension table (two septets each: ESC + char).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")


# --- phone numbers -----------------------------------------------------------------------------------


def msisdn(e164: str) -> int:
    """The MSISDN of an E.164 number as an integer ("+4520304050" → 4520304050)."""
    digits = e164[1:] if e164.startswith("+") else ""
    if not digits.isascii() or not digits.isdigit() or not 8 <= len(digits) <= 15:
        raise ValueError(f"not an E.164 number: {e164!r}")
    return int(digits)


# --- encoding ------------------------------------------------------------------------------------------


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM 03.38 alphabet (æøå are; "–" and curly quotes are not)."""
    return all(char in _GSM_BASIC or char in _GSM_EXTENSION for char in text)


def sms_segments(text: str) -> int:
    """How many SMS parts the text takes: GSM-7 160/153 septets, otherwise UCS-2 70/67 code units."""
    if is_gsm7(text):
        units, single, multi = sum(2 if c in _GSM_EXTENSION else 1 for c in text), 160, 153
    else:
        units, single, multi = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else math.ceil(units / multi)


# --- providers -----------------------------------------------------------------------------------------


class SmsProvider(Protocol):
    async def send(self, to: str, text: str) -> None:
        """Send ``text`` to ``to``; raise ``TransientDeliveryError`` or ``PermanentDeliveryError``."""
        ...


class LogSms:
    """Writes each SMS to the log instead of sending it (local runs and tests; the text at DEBUG)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or log

    async def send(self, to: str, text: str) -> None:
        # Who and what only at DEBUG: no phone numbers or message texts in the logs at INFO.
        self._log.info("SMS written to the log instead of sent (%d part(s))", sms_segments(text))
        self._log.debug("SMS to %s: %s", to, text)


class GatewayApiSms:
    """GatewayAPI's REST API (https://gatewayapi.eu/rest/mtsms, or the .com host)."""

    def __init__(
        self,
        api_url: str,
        token: str,
        sender: str,
        session: aiohttp.ClientSession,
        *,
        timeout_seconds: float = 15.0,
    ) -> None:
        self.api_url = api_url
        self.sender = sender
        self._token = token
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    def request_body(self, to: str, text: str) -> dict[str, Any]:
        """The JSON body for one SMS to one recipient (``to`` in any form ``normalize_phone`` accepts)."""
        body: dict[str, Any] = {
            "sender": self.sender,
            "message": text,
            "recipients": [{"msisdn": msisdn(normalize_phone(to))}],
        }
        if not is_gsm7(text):
            body["encoding"] = "UCS2"
        return body

    async def send(self, to: str, text: str) -> None:
        try:
            body = self.request_body(to, text)
        except ValueError as exc:
            raise PermanentDeliveryError(str(exc)) from exc
        headers = {"Authorization": f"Token {self._token}", "Accept": "application/json"}
        try:
            async with self._session.post(self.api_url, json=body, headers=headers, timeout=self._timeout) as response:
                status = response.status
                answer = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientDeliveryError(f"SMS gateway unreachable: {exc!r}") from exc
        if status == 429 or status >= 500:
            raise TransientDeliveryError(f"SMS gateway answered HTTP {status}: {answer}")
        if 400 <= status < 500:
            raise PermanentDeliveryError(f"SMS gateway answered HTTP {status}: {answer}")
        if not 200 <= status < 300:
            raise TransientDeliveryError(f"SMS gateway answered HTTP {status}: {answer}")
        log.debug("SMS accepted by GatewayAPI: %s", answer)


def make_sms_provider(settings: Settings, session: aiohttp.ClientSession | None = None) -> SmsProvider:
    """The provider ``SMS_PROVIDER`` names; ``gatewayapi`` needs ``SMS_API_TOKEN`` and an HTTP session."""
    if settings.sms_provider == "gatewayapi":
        if settings.sms_api_token is None:
            raise ValueError("SMS_PROVIDER=gatewayapi needs SMS_API_TOKEN")
        if session is None:
            raise ValueError("the gatewayapi SMS provider needs an aiohttp.ClientSession")
        return GatewayApiSms(
            settings.sms_api_url, settings.sms_api_token.get_secret_value(), settings.sms_sender, session
        )
    return LogSms()
