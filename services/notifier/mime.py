"""MIME messages for the composed e-mails (stdlib ``email``, compat32 classes: CRLF, RFC 2047 headers).

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

import secrets
from datetime import UTC, datetime
from email import encoders
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
from email.utils import format_datetime, formataddr, make_msgid, parseaddr

from services.notifier.domain import Email
from shared.contracts.catalogue import content
from shared.text.clean import multi_line, one_line

__all__ = ["build_mime"]

INVITE_FILENAME = "invite.ics"

# Headers kept as the strings given (``compat32``), with CRLF line ends. The newer ``EmailMessage`` API
# parses and refolds every header it is given: building and sending a message took three times as long,
# most of the notifier's CPU under load.
POLICY = compat32.clone(linesep="\r\n")
UTF8 = Charset("utf-8")
UTF8.body_encoding = QP  # readable where the text is ASCII, safe for any line length


def build_mime(
    email: Email, *, mail_from: str, message_id_domain: str = "inspiration-booking", message_id: str | None = None
) -> Message:
    """The ready-to-send message for ``email`` from ``mail_from`` ("addr" or "Name <addr>").

    Pass a stable ``message_id`` (e.g. derived from the delivery) so a resent copy is recognisably the same.
    """
    if (email.calendar is None) != (email.method is None):
        raise ValueError("an e-mail carries a calendar exactly when it has a METHOD")
    if email.method is not None and email.method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unsupported calendar METHOD {email.method!r}")

    alternative = MIMEMultipart("alternative", policy=POLICY, boundary=_boundary())
    alternative.attach(_text_part(multi_line(email.text), "plain"))
    alternative.attach(_text_part(multi_line(email.html), "html"))
    message: Message = alternative
    if email.calendar is not None and email.method is not None:
        inline = MIMEBase("text", "calendar", policy=POLICY, method=email.method, charset="UTF-8")
        inline.set_payload(email.calendar)
        encoders.encode_base64(inline)
        alternative.attach(inline)
        attachment = MIMEApplication(email.calendar, "ics", policy=POLICY, name=INVITE_FILENAME)
        attachment.add_header("Content-Disposition", "attachment", filename=INVITE_FILENAME)
        message = MIMEMultipart("mixed", policy=POLICY, boundary=_boundary())
        message.attach(alternative)
        message.attach(attachment)

    message["From"] = _sender(mail_from)
    # Stored text may predate the intake's character rules: a header is one clean line, always.
    message["To"] = one_line(email.to)
    message["Subject"] = _text_header(one_line(email.subject))
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id or make_msgid(domain=message_id_domain)
    message["Auto-Submitted"] = "auto-generated"
    for part in message.walk():
        if part is not message:
            del part["MIME-Version"]  # only the top level carries it
    return message


def _boundary() -> str:
    """A boundary no part can contain: every part is quoted-printable or base64, and neither ever has
    "=_" (quoted-printable writes "=" as "=3D"; base64 has no "_"). Given here, the generator need not
    search the whole text for a collision, as it does for one it makes up (a twentieth of the sending)."""
    return f"=_inspiration_{secrets.token_hex(12)}"


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype, policy=POLICY)
    part.set_payload(text, UTF8)
    return part


def _text_header(text: str) -> str:
    """ASCII words as they are; each run of other words as one RFC 2047 encoded word (so a decoder
    keeps the spaces between them)."""
    runs: list[tuple[bool, list[str]]] = []
    for word in text.split(" "):
        if runs and runs[-1][0] == word.isascii():
            runs[-1][1].append(word)
        else:
            runs.append((word.isascii(), [word]))
    return " ".join(
        " ".join(words) if plain else Header(" ".join(words), UTF8).encode(maxlinelen=0) for plain, words in runs
    )


def _sender(mail_from: str) -> str:
    name, address = parseaddr(mail_from)
    if not address or "@" not in address:
        raise ValueError(f"not an e-mail address: {mail_from!r}")
    return formataddr((name or content().organisation, address), charset=UTF8)
