"""A local SMTP server that writes every message it receives as an ``.eml`` file.

    python -m dev.mailsink --port 1025 --folder var/mail

Open the files with any mail program (Thunderbird, Outlook, Apple Mail); invites attached to them
import into a calendar program. Nothing is ever relayed onwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class EmlWriter:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        subject = message_from_bytes(content, policy=policy.default).get("Subject", "")
        slug = re.sub(r"[^A-Za-z0-9æøåÆØÅ-]+", "-", str(subject))[:60].strip("-") or "message"
        self._count += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.folder / f"{stamp}-{self._count:04d}-{slug}.eml"
        headers = f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        path.write_bytes(headers.encode() + content)
        return "250 Message accepted for delivery"


def start(folder: Path, host: str = "127.0.0.1", port: int = 1025) -> Controller:
    controller = Controller(EmlWriter(folder), hostname=host, port=port)
    controller.start()
    return controller


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--folder", type=Path, default=Path("var/mail"))
    args = parser.parse_args(argv)
    controller = start(args.folder, args.host, args.port)
    print(f"mail sink on {args.host}:{args.port}, writing to {args.folder.resolve()}", flush=True)

    async def wait_for_signal() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    try:
        asyncio.run(wait_for_signal())
    finally:
        with contextlib.suppress(Exception):
            controller.stop()




if __name__ == "__main__":
    main()
