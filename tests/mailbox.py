"""A real SMTP server for tests: aiosmtpd on loopback, keeping every message it accepts."""

from __future__ import annotations

from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller

from tests.backends import free_port

LOOPBACK = "127.0.0.1"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        assert body is not None
        return str(body.get_content())


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps every message, and refuses the addresses in ``refuse`` with 550."""

    refuse: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    _controller: Controller | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self._controller = Controller(self, hostname=LOOPBACK, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str, subject_starts: str = "") -> list[Received]:
        return [r for r in self.received if r.rcpt_tos == [address] and r.subject.startswith(subject_starts)]
