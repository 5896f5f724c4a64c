#!/usr/bin/python3
"""A mail catcher for the Compose test: SMTP on 1025 keeps every message in /data, and HTTP on 8025
serves the part of Mailpit's API the test reads (https://mailpit.axllent.org/docs/api-v1/):

  GET /api/v1/messages          {"total": N, "messages": [{"ID", "From", "To", "Subject", "Created"}]}
  GET /api/v1/message/{ID}/raw  the message as received (RFC 5322)
  GET /readyz                   200 when both servers run

`mailkeeper readyz` (installed as /mailpit) exits 0 when the HTTP server answers, as `mailpit readyz`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import urllib.request
import uuid
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

from aiosmtpd.controller import Controller

STORE = Path(os.environ.get("MAILKEEPER_DIR", "/data"))
SMTP_PORT = int(os.environ.get("MAILKEEPER_SMTP_PORT", "1025"))
HTTP_PORT = int(os.environ.get("MAILKEEPER_HTTP_PORT", "8025"))


class Keeper:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
        raw = envelope.original_content or envelope.content
        (STORE / f"{message_id}.eml.tmp").write_bytes(raw)
        (STORE / f"{message_id}.eml.tmp").rename(STORE / f"{message_id}.eml")
        meta = {"ID": message_id, "Envelope-From": envelope.mail_from, "Envelope-To": list(envelope.rcpt_tos)}
        (STORE / f"{message_id}.json").write_text(json.dumps(meta))
        print(f"mailkeeper: kept {message_id} from {envelope.mail_from} to {', '.join(envelope.rcpt_tos)}", flush=True)
        return "250 Message accepted for delivery"


def summary(path: Path) -> dict[str, Any]:
    message = message_from_bytes(path.read_bytes(), policy=default)
    return {
        "ID": path.stem.removesuffix(".eml"),
        "From": [{"Name": n, "Address": a} for n, a in getaddresses(message.get_all("From", []))][:1],
        "To": [{"Name": n, "Address": a} for n, a in getaddresses(message.get_all("To", []))],
        "Subject": str(message.get("Subject", "")),
        "Created": datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(),
    }


class Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path in ("/readyz", "/livez"):
            return self.reply(200, b"ok", "text/plain")
        if self.path.split("?")[0] == "/api/v1/messages":
            files = sorted(STORE.glob("*.eml"), reverse=True)  # newest first, as Mailpit
            body = {"total": len(files), "messages": [summary(p) for p in files]}
            return self.reply(200, json.dumps(body).encode(), "application/json")
        parts = self.path.strip("/").split("/")
        if len(parts) == 5 and parts[:3] == ["api", "v1", "message"] and parts[4] == "raw":
            path = STORE / f"{Path(parts[3]).name}.eml"
            if path.is_file():
                return self.reply(200, path.read_bytes(), "message/rfc822")
        return self.reply(404, b"not found", "text/plain")

    def reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per mail instead
        pass


async def serve() -> None:
    controller = Controller(Keeper(), hostname="0.0.0.0", port=SMTP_PORT)
    controller.start()
    http = ThreadingHTTPServer(("0.0.0.0", HTTP_PORT), Api)
    Thread(target=http.serve_forever, daemon=True).start()
    print(f"mailkeeper: SMTP on {SMTP_PORT}, HTTP on {HTTP_PORT}, mails in {STORE}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    http.shutdown()
    controller.stop()


def readyz() -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/readyz", timeout=4) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    if sys.argv[1:] == ["readyz"]:
        sys.exit(readyz())
    STORE.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve())
