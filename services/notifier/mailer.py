"""Sending e-mail over SMTP with aiosmtplib, with failures sorted into transient and permanent.

Transient (retry later): the server cannot be reached or times out, the connection drops, any 4xx reply,
and configuration trouble that an operator can fix without the message changing (login refused, sender
refused, STARTTLS unavailable). Permanent (record as failed): a 5xx reply for the recipient(s) or the
message itself.

The notifier sends every message to one recipient, so "some recipients refused" does not arise; should it,
aiosmtplib delivers to the others and ``send`` raises for the refused ones so they are not lost silently.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage

import aiosmtplib

from services.notifier.errors import PermanentDeliveryError, TransientDeliveryError
from shared.infra.settings import Settings

__all__ = ["SmtpMailer"]

log = logging.getLogger(__name__)


class SmtpMailer:
    """One SMTP connection per message (simple and robust against idle disconnects)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool | None = None,
        tls: bool = False,
        timeout_seconds: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.starttls = None if tls else starttls  # with implicit TLS there is nothing to upgrade
        self.tls = tls
        self.timeout_seconds = timeout_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username or None,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
            tls=settings.smtp_tls,
        )

    async def send(self, message: EmailMessage) -> None:
        """Hand ``message`` to the SMTP server.

        Raises ``TransientDeliveryError`` (retry later) or ``PermanentDeliveryError`` (give up).
        """
        try:
            refused, _ = await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username if self.username and self._password is not None else None,
                password=self._password if self.username and self._password is not None else None,
                # None: STARTTLS whenever the server offers it; True: required; False: never.
                start_tls=self.starttls if not self.tls else False,
                use_tls=self.tls,
                timeout=self.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise _refused({r.recipient: (r.code, r.message) for r in exc.recipients}) from exc
        except aiosmtplib.SMTPRecipientRefused as exc:
            raise _refused({exc.recipient: (exc.code, exc.message)}) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise TransientDeliveryError(f"SMTP login refused ({exc.code} {exc.message})") from exc
        except aiosmtplib.SMTPSenderRefused as exc:
            raise TransientDeliveryError(
                f"SMTP server refused the sender {exc.sender} ({exc.code} {exc.message})"
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            reason = f"SMTP server answered {exc.code} {exc.message}"
            if 500 <= exc.code < 600:
                raise PermanentDeliveryError(reason) from exc
            raise TransientDeliveryError(reason) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientDeliveryError(
                f"SMTP server {self.host}:{self.port} unavailable: {type(exc).__name__}: {exc}"
            ) from exc
        if refused:
            raise _refused({rcpt: (response.code, response.message) for rcpt, response in refused.items()})
        log.debug("mail %s accepted by %s:%d", message.get("Message-ID"), self.host, self.port)


def _refused(refusals: dict[str, tuple[int, str]]) -> TransientDeliveryError | PermanentDeliveryError:
    reason = "; ".join(f"{rcpt} refused: {code} {text}" for rcpt, (code, text) in refusals.items())
    if all(500 <= code < 600 for code, _ in refusals.values()):
        return PermanentDeliveryError(reason)
    return TransientDeliveryError(reason)
