"""Real servers for the external-calendar tests: an HTTP server publishing iCalendar feeds (with
ETag and Last-Modified, and a switch to take a feed down) and a Radicale CalDAV server."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from aiohttp import web

from tests.backends import free_port, wait_for_port


@dataclass
class Published:
    body: bytes
    changed: datetime

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass
class FeedServer:
    """``/NAME.ics`` serves the feed published as NAME; a feed that is ``down`` answers 503."""

    port: int = 0
    feeds: dict[str, Published] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    answers: list[tuple[str, int]] = field(default_factory=list)

    def publish(self, name: str, body: str | bytes) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.feeds[name] = Published(data, datetime.now(UTC).replace(microsecond=0))
        return self.url(name)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.ics"

    def statuses(self, name: str) -> list[int]:
        return [status for feed, status in self.answers if feed == name]

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.requests.append((name, dict(request.headers)))
        response = self._answer(name, request)
        self.answers.append((name, response.status))
        return response

    def _answer(self, name: str, request: web.Request) -> web.Response:
        if name in self.down:
            return web.Response(status=503, text="down for maintenance")
        published = self.feeds.get(name)
        if published is None:
            return web.Response(status=404, text="no such calendar")
        headers = {"ETag": published.etag, "Last-Modified": format_datetime(published.changed, usegmt=True)}
        if request.headers.get("If-None-Match") == published.etag:
            return web.Response(status=304, headers=headers)
        since = request.headers.get("If-Modified-Since")
        if since and "If-None-Match" not in request.headers and parsedate_to_datetime(since) >= published.changed:
            return web.Response(status=304, headers=headers)
        return web.Response(body=published.body, content_type="text/calendar", charset="utf-8", headers=headers)


@contextlib.asynccontextmanager
async def feed_server() -> AsyncIterator[FeedServer]:
    server = FeedServer(port=free_port())
    app = web.Application()
    app.router.add_get("/{name}.ics", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", server.port).start()
    try:
        yield server
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class Radicale:
    url: str
    username: str
    password: str


@contextlib.contextmanager
def radicale_server(username: str = "anne", password: str = "hemmelig-kode") -> Iterator[Radicale]:
    """Radicale on a free loopback port, its collections in a temporary folder, one user."""
    folder = Path(tempfile.mkdtemp(prefix="radicale-"))
    users = folder / "users"
    users.write_text(f"{username}:{password}\n", encoding="utf-8")
    port = free_port()
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radicale",
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--storage-filesystem-folder",
            str(folder / "collections"),
            "--auth-type",
            "htpasswd",
            "--auth-htpasswd-filename",
            str(users),
            "--auth-htpasswd-encryption",
            "plain",
            "--auth-delay",
            "0",
            "--logging-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port)
        yield Radicale(f"http://127.0.0.1:{port}/", username, password)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
