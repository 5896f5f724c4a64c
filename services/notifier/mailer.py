"""Sending e-mail over SMTP with aiosmtplib, with failures sorted into transient and permanent.

Transient (retry later): the server cannot be reached or times out, the connection drops, any 4xx reply,
and configuration trouble that an operator can fix without the message changing (login refused, sender
refused, STARTTLS unavailable). Permanent (record as failed): a 5xx reply for the recipient(s) or the
message itself.

The notifier sends every message to one recipient, so "some recipients refused" does not arise; should it,
aiosmtplib delivers to the others and ``send`` raises for the refused ones so they are not lost silently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from email.message import Message
from typing import Protocol

import aiosmtplib

from services.notifier.errors import PermanentDeliveryError, TransientDeliveryError
from shared.infra.settings import Settings

__all__ = ["Mailer", "SmtpMailer"]

log = logging.getLogger(__name__)


class Mailer(Protocol):
    async def send(self, message: Message) -> None:
        """Hand ``message`` on; raise ``TransientDeliveryError`` or ``PermanentDeliveryError``."""
        ...


class SmtpMailer:
    """Sends over a small pool of SMTP connections, each reused for message after message.

    A connection is opened (EHLO, STARTTLS, login) when no idle one is at hand and fewer than
    ``pool_size`` are open; after a send it waits idle for the next one. One the server closed, one idle
    longer than ``max_idle_seconds`` and one that carried ``max_messages`` are closed instead of used, and
    so is a connection whose send raised: it is never reused in an unknown state. A failure is never
    retried on another connection here (the server may have taken the message before the connection
    broke): it goes back to the sender as transient, and the delivery's retries take it from there.
    aiosmtplib does not pipeline commands (RFC 2920), so each message costs its MAIL, RCPT and DATA
    round trips, but no longer a connection, EHLO, STARTTLS and login of its own.
    """

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
        pool_size: int = 4,
        max_idle_seconds: float = 30.0,
        max_messages: int = 100,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.starttls = None if tls else starttls  # with implicit TLS there is nothing to upgrade
        self.tls = tls
        self.timeout_seconds = timeout_seconds
        self.max_idle_seconds = max_idle_seconds
        self.max_messages = max_messages
        self._open = asyncio.Semaphore(pool_size)  # connections in use
        self._idle: list[_Connection] = []  # the last one used is taken first: the others may time out

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username or None,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
            tls=settings.smtp_tls,
            pool_size=settings.smtp_pool_size,
        )

    async def send(self, message: Message) -> None:
        """Hand ``message`` to the SMTP server.

        Raises ``TransientDeliveryError`` (retry later) or ``PermanentDeliveryError`` (give up).
        """
        async with self._open:
            connection = self._take_idle()
            try:
                if connection is None:
                    connection = await self._connect()
                refused, _ = await connection.smtp.send_message(message, timeout=self.timeout_seconds)
            except BaseException as exc:
                if connection is not None:
                    connection.smtp.close()  # it raised: never reused in an unknown state
                failure = self._failure(exc)
                if failure is None:
                    raise
                raise failure from exc
            connection.sent += 1
            self._put_back(connection)
        if refused:
            raise _refused({rcpt: (response.code, response.message) for rcpt, response in refused.items()})
        log.debug("mail %s accepted by %s:%d", message.get("Message-ID"), self.host, self.port)

    def _failure(self, exc: BaseException) -> TransientDeliveryError | PermanentDeliveryError | None:
        """What a send's exception means for the delivery (None: not a failure of the send, re-raise it)."""
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            return _refused({r.recipient: (r.code, r.message) for r in exc.recipients})
        if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
            return _refused({exc.recipient: (exc.code, exc.message)})
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            return TransientDeliveryError(f"SMTP login refused ({exc.code} {exc.message})")
        if isinstance(exc, aiosmtplib.SMTPSenderRefused):
            return TransientDeliveryError(f"SMTP server refused the sender {exc.sender} ({exc.code} {exc.message})")
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            reason = f"SMTP server answered {exc.code} {exc.message}"
            return PermanentDeliveryError(reason) if 500 <= exc.code < 600 else TransientDeliveryError(reason)
        if isinstance(exc, aiosmtplib.SMTPException | OSError | TimeoutError):
            unavailable = f"SMTP server {self.host}:{self.port} unavailable"
            return TransientDeliveryError(f"{unavailable}: {type(exc).__name__}: {exc}")
        return None

    async def close(self) -> None:
        """Say goodbye (QUIT) on the idle connections; those in use close when their send ends."""
        idle, self._idle = self._idle, []
        for connection in idle:
            try:
                await asyncio.wait_for(connection.smtp.quit(), 5)
            except Exception:
                connection.smtp.close()

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.smtp.is_connected and now - connection.idle_since < self.max_idle_seconds:
                return connection
            connection.smtp.close()
        return None

    def _put_back(self, connection: _Connection) -> None:
        if connection.sent >= self.max_messages or not connection.smtp.is_connected:
            asyncio.get_running_loop().create_task(_quit(connection.smtp))
            return
        connection.idle_since = time.monotonic()
        self._idle.append(connection)

    async def _connect(self) -> _Connection:
        with_login = bool(self.username and self._password is not None)
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username if with_login else None,
            password=self._password if with_login else None,
            # None: STARTTLS whenever the server offers it; True: required; False: never.
            start_tls=self.starttls if not self.tls else False,
            use_tls=self.tls,
            timeout=self.timeout_seconds,
        )
        try:
            await smtp.connect()
        except BaseException:
            smtp.close()
            raise
        return _Connection(smtp)


@dataclass
class _Connection:
    smtp: aiosmtplib.SMTP
    sent: int = 0
    idle_since: float = field(default_factory=time.monotonic)


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    try:
        await asyncio.wait_for(smtp.quit(), 5)
    except Exception:
        smtp.close()


def _refused(refusals: dict[str, tuple[int, str]]) -> TransientDeliveryError | PermanentDeliveryError:
    reason = "; ".join(f"{rcpt} refused: {code} {text}" for rcpt, (code, text) in refusals.items())
    if all(500 <= code < 600 for code, _ in refusals.values()):
        return PermanentDeliveryError(reason)
    return TransientDeliveryError(reason)
