"""Run the whole system on this machine: ``python -m dev``.

Starts what is not already running (SecantusDB as the MongoDB server on 127.0.0.1:27017, the
local RabbitMQ, a mail sink writing ``.eml`` files to ``var/mail/``), then the three services
with the sample consultant, and prints where to go. Ctrl-C stops what it started.
"""

from __future__ import annotations

import argparse
import base64
import functools
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not come up within {timeout:.0f} s")


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "var", help="folder for database files and mail")
    args = parser.parse_args()
    data: Path = args.data
    (data / "mongo").mkdir(parents=True, exist_ok=True)
    mail = data / "mail"
    children: list[subprocess.Popen[bytes]] = []
    logs = data / "logs"
    logs.mkdir(exist_ok=True)

    def spawn(name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it open
        children.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))

    try:
        if not listening(5672):
            if shutil.which("rabbitmq-server"):
                print("starting RabbitMQ …", flush=True)
                subprocess.run(["rabbitmq-server", "-detached"], check=False)
                wait_until(lambda: listening(5672), "RabbitMQ")
            else:
                raise SystemExit("RabbitMQ is not running on 127.0.0.1:5672 and rabbitmq-server is not installed")
        if not listening(27017):
            if importlib.util.find_spec("secantus") is None:
                raise SystemExit("no MongoDB on 127.0.0.1:27017 and no SecantusDB: pip install -e '.[local]'")
            print("starting SecantusDB (MongoDB protocol) on 127.0.0.1:27017 …", flush=True)
            spawn(
                "mongodb",
                [
                    sys.executable,
                    "-m",
                    "secantus",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "27017",
                    "--storage-path",
                    str(data / "mongo"),
                    # A plain server, not a one-member replica set: no oplog written beside every write
                    # and no record kept of each retryable write, which the services need neither of (no
                    # change streams, no multi-document transactions, every write idempotent). A third
                    # off each write's cost on this pure-Python server (docs/performance.md).
                    "--standalone",
                ],
            )
            wait_until(lambda: listening(27017), "SecantusDB")
        if not listening(1025):
            if importlib.util.find_spec("aiosmtpd") is None:
                raise SystemExit("no mail server on 127.0.0.1:1025 and no aiosmtpd: pip install -e '.[local]'")
            spawn("mailsink", [sys.executable, "-m", "dev.mailsink", "--port", "1025", "--folder", str(mail)])
            wait_until(lambda: listening(1025), "the mail sink")

        admin_token = os.environ.get("ADMIN_TOKEN") or secrets.token_urlsafe(32)
        # The back office's cookies need a key; a local run makes one (sessions end when it stops).
        session_key = os.environ.get("SESSION_KEY") or base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        env = {
            **os.environ,
            "ADMIN_TOKEN": admin_token,
            "SESSION_KEY": session_key,
            # SecantusDB slows down as it keeps records of retryable writes; a local run needs none.
            "MONGODB_URL": os.environ.get(
                "MONGODB_URL", "mongodb://127.0.0.1:27017/?directConnection=true&retryWrites=false"
            ),
            "CONSULTANTS_FILE": os.environ.get("CONSULTANTS_FILE", str(ROOT / "deploy" / "consultants.example.yaml")),
            "SMTP_HOST": os.environ.get("SMTP_HOST", "127.0.0.1"),
            "SMTP_PORT": os.environ.get("SMTP_PORT", "1025"),
            "SCHEDULER_PUBLIC_URL": os.environ.get("SCHEDULER_PUBLIC_URL", "http://127.0.0.1:8081"),
        }
        for service in ("booking", "scheduler", "notifier"):
            spawn(service, [sys.executable, "-m", f"services.{service}"], env)
        for port in (8080, 8081, 8082):
            wait_until(functools.partial(ready, port), f"the service on port {port}")

        print(
            f"""
  Booking form:     http://127.0.0.1:8080/          (English: http://127.0.0.1:8080/?lang=en)
  Back office:      http://127.0.0.1:8080/admin/    (leave the name empty, password = admin token, until
                    you add an account: python -m services.booking.admins add NAME)
  Admin token:      {admin_token}
  Consultants API:  curl -H 'Authorization: Bearer {admin_token}' http://127.0.0.1:8081/api/v1/consultants
  Mailbox:          {mail}/  (one .eml file per message; open with any mail program)
  Logs:             {logs}/
Press Ctrl-C to stop.""",
            flush=True,
        )
        signal.signal(signal.SIGTERM, _interrupt)
        while True:
            for child in children:
                if child.poll() is not None:
                    raise SystemExit(f"{child.args!r} stopped (exit {child.returncode}); see {logs}/")
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for child in reversed(children):
            child.terminate()
        for child in reversed(children):
            try:
                child.wait(timeout=25)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    main()
