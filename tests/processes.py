"""Run the services as real processes (``python -m services.<name>``), configured only by the
environment, as a deployment would run them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import aiohttp

from shared.infra.settings import Settings
from tests.backends import free_port

ROOT = Path(__file__).resolve().parents[1]
PORT_VARIABLE = {"booking": "BOOKING_PORT", "scheduler": "SCHEDULER_PORT", "notifier": "NOTIFIER_PORT"}


def service_env(settings: Settings, **overrides: str) -> dict[str, str]:
    env = {
        **os.environ,
        "MONGODB_URL": settings.mongodb_url,
        "MONGODB_DB": settings.mongodb_db,
        "AMQP_URL": settings.amqp_url,
        "ADMIN_TOKEN": settings.admin_token_value or "",
        "RETRY_DELAYS_MS": json.dumps(list(settings.retry_delays_ms)),
        "OUTBOX_POLL_SECONDS": str(settings.outbox_poll_seconds),
        "OUTBOX_LEASE_SECONDS": str(settings.outbox_lease_seconds),
        "SHUTDOWN_TIMEOUT_SECONDS": str(settings.shutdown_timeout_seconds),
        "HTTP_HOST": "127.0.0.1",
        "LOG_LEVEL": "INFO",
        "RATE_LIMIT_PER_ADDRESS": settings.rate_limit_per_address,
        "RATE_LIMIT_PER_EMAIL": settings.rate_limit_per_email,
        "RATE_LIMIT_CHANGES_PER_BOOKING": settings.rate_limit_changes_per_booking,
        "RATE_LIMIT_AVAILABILITY_PER_ADDRESS": settings.rate_limit_availability_per_address,
    }
    env.update(overrides)
    return env


class ServiceProcess:
    def __init__(self, service: str, settings: Settings, log_dir: Path, **env: str) -> None:
        self.service = service
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = service_env(settings, **{PORT_VARIABLE[service]: str(self.port)}, **env)
        if service == "booking":
            self._env.setdefault("PUBLIC_BASE_URL", self.url)
        self._log_path = log_dir / f"{service}-{self.port}.log"
        self._log: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        """Start (or, after ``kill``, start again on the same port, appending to the same log)."""
        if self._log is not None:
            self._log.close()
        self._log = open(self._log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.service}"],
            cwd=ROOT,
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    async def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.process is not None and self.process.poll() is None, self.log()
                try:
                    async with session.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.service} not ready:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no cleanup of any kind."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    async def wait_exit(self, timeout: float) -> int:
        """The exit code; raises TimeoutError if the process is still running after ``timeout``."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.service} did not exit within {timeout} s")
            await asyncio.sleep(0.05)
        return code

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()

    def log(self) -> str:
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""
