"""MIME messages for the composed e-mails (stdlib ``email``, SMTP policy: CRLF, RFC 2047 headers).

With a calendar (iMIP, RFC 6047)::

    multipart/mixed
    ├── multipart/alternative
    │   ├── text/plain; charset=utf-8
    │   ├── text/html; charset=utf-8
    │   └── text/calendar; method=REQUEST|CANCEL; charset=UTF-8
    └── application/ics; name=invite.ics (attachment, the same calendar)

Without one: ``multipart/alternative`` with text/plain and text/html.
The calendar travels base64-encoded, so its CRLF line ends and folding arrive byte for byte.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr

from services.notifier.domain import Email
from shared.contracts.catalogue import content
from shared.text.clean import multi_line, one_line

__all__ = ["build_mime"]

INVITE_FILENAME = "invite.ics"


def build_mime(
    email: Email, *, mail_from: str, message_id_domain: str = "inspiration-booking", message_id: str | None = None
) -> EmailMessage:
    """The ready-to-send message for ``email`` from ``mail_from`` ("addr" or "Name <addr>").

    Pass a stable ``message_id`` (e.g. derived from the delivery) so a resent copy is recognisably the same.
    """
    if (email.calendar is None) != (email.method is None):
        raise ValueError("an e-mail carries a calendar exactly when it has a METHOD")
    if email.method is not None and email.method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unsupported calendar METHOD {email.method!r}")

    message = EmailMessage(policy=SMTP)
    message["From"] = _sender(mail_from)
    # Stored text may predate the intake's character rules: a header is one clean line, always.
    message["To"] = one_line(email.to)
    message["Subject"] = one_line(email.subject)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id or make_msgid(domain=message_id_domain)
    message["Auto-Submitted"] = "auto-generated"

    message.set_content(multi_line(email.text), subtype="plain", charset="utf-8")
    message.add_alternative(multi_line(email.html), subtype="html", charset="utf-8")
    if email.calendar is not None and email.method is not None:
        message.add_alternative(
            email.calendar,
            maintype="text",
            subtype="calendar",
            params={"method": email.method, "charset": "UTF-8"},
        )
        message.add_attachment(email.calendar, maintype="application", subtype="ics", filename=INVITE_FILENAME)
    for part in message.walk():
        if part is not message:
            del part["MIME-Version"]  # only the top level carries it
    return message


def _sender(mail_from: str) -> Address:
    name, address = parseaddr(mail_from)
    if not address or "@" not in address:
        raise ValueError(f"not an e-mail address: {mail_from!r}")
    username, domain = address.rsplit("@", 1)
    return Address(display_name=name or content().organisation, username=username, domain=domain)
