"""HTTP plumbing every service shares: the app skeleton, JSON errors from aiohttp's own exceptions,
and 503 with ``Retry-After`` while a dependency is away."""

from __future__ import annotations

import contextlib
import gc
import logging
import socket
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from shared.infra.auth import require_admin
from shared.infra.errors import RETRY_AFTER_SECONDS, UNAVAILABLE, error_text, json_errors, text, too_many
from shared.infra.faults import is_unavailable
from shared.infra.logs import configure_logging
from shared.infra.ops import add_ops_routes, request_metrics
from shared.infra.ratelimit import client_address
from shared.infra.resources import RATE_LIMITS, SETTINGS
from shared.infra.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[..., Awaitable[web.StreamResponse]]
Page = Callable[[web.Request], web.Response]

def json_error_middleware(max_body: int) -> Middleware:
    """API routes answer errors in the JSON shape, never with an HTML page or a trace."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.content_type == "application/json" or exc.status < 400:
                raise
            field, message = error_text(request, exc, max_body)
            return json_errors(
                exc.status,
                [{"field": field, "message": message}],
                **{k: v for k, v in exc.headers.items() if k in ("WWW-Authenticate", "Allow")},
            )

    return middleware


def unavailable_middleware(page: Page | None = None) -> Middleware:
    """While MongoDB or RabbitMQ is unreachable, a request that needs it gets 503 with
    ``Retry-After`` and a clear message (never a 500): JSON under ``/api/``, else ``page``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("dependency unavailable for %s %s: %r", request.method, request.path, exc)
            if request.path.startswith("/api/") or page is None:
                response = json_errors(503, [{"field": "", "message": text(request, UNAVAILABLE)}])
            else:
                response = page(request)
                response.set_status(503)
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response

    return middleware


def service_app(
    name: str, settings: Settings, *, max_body: int, unavailable_page: Page | None = None
) -> web.Application:
    """The skeleton of every service: settings, error handling, request metrics, ops routes."""
    app = web.Application(
        client_max_size=max_body,
        middlewares=[
            security_headers_middleware(settings),
            json_error_middleware(max_body),
            request_metrics(name),
            unavailable_middleware(unavailable_page),  # outside the others: they use the database too
            admin_throttle_middleware(settings),
            ops_boundary_middleware(settings),
        ],
    )
    app[SETTINGS] = settings
    add_ops_routes(app)
    return app


# No inline script or style, no framing, forms only to ourselves; the pages need nothing else.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)


def security_headers_middleware(settings: Settings) -> Middleware:
    """Headers every response carries, and those of HTML pages: a strict Content-Security-Policy,
    no referrer (status links are secrets), nothing cached (status and admin pages hold personal data),
    and HSTS when the service is reached over HTTPS."""
    https = settings.public_base_url.startswith("https://")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _secure(exc, https)
            raise
        _secure(response, https)
        return response

    return middleware


def _secure(response: web.StreamResponse, https: bool) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if https:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if response.content_type == "text/html":
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cache-Control", "no-store")


def admin_throttle_middleware(settings: Settings) -> Middleware:
    """Wrong admin credentials are counted per client address; past the limit (``RATE_LIMIT_ADMIN_FAILURES``)
    a request that brings credentials gets 429 without trying them. A request without credentials (a
    browser's first try, before it asks for the password) is never counted."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if "Authorization" not in request.headers or RATE_LIMITS not in request.app:
            return await handler(request)
        limits = request.app[RATE_LIMITS]
        address = client_address(request, settings.proxies)

        async def count_failure() -> None:
            with contextlib.suppress(Exception):  # the database being away must not hide the 401
                await limits.hit("admin_failures", address)

        try:
            verdict = await limits.peek("admin_failures", address)
        except Exception as exc:
            # Without the database the counters cannot be read; what needs the database fails anyway,
            # and /metrics must still answer while it is away.
            if not is_unavailable(exc):
                raise
        else:
            if not verdict.allowed:
                raise too_many(request, verdict.retry_after, "Authorization")
        try:
            response = await handler(request)
        except web.HTTPUnauthorized:
            await count_failure()
            raise
        if response.status == 401:
            await count_failure()
        return response

    return middleware


def ops_boundary_middleware(settings: Settings) -> Middleware:
    """Keep what operators need off the public port.

    With ``OPS_PORT`` set, ``/metrics`` and the dead-letter routes answer only there, and nothing but
    them (and the health checks) answers there. Without it they stay on the service's port behind the
    admin token (Prometheus can send one)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        ops_route = request.path == "/metrics" or request.path.startswith("/api/v1/dead-letters")
        if settings.ops_port is None:
            if request.path == "/metrics":
                require_admin(request)
            return await handler(request)
        on_ops_port = _local_port(request) == settings.ops_port
        health = request.path in ("/healthz", "/readyz")
        if ops_route != on_ops_port and not health:
            raise web.HTTPNotFound()
        return await handler(request)

    return middleware


def _local_port(request: web.Request) -> int | None:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return int(sockname[1]) if sockname else None


def run(app: web.Application, settings: Settings, port: int) -> None:
    """Serve on ``port`` (and ``OPS_PORT``) until SIGINT/SIGTERM, then shut down cleanly (aiohttp
    runs the cleanup contexts)."""
    ports = [port] if settings.ops_port is None else [port, settings.ops_port]
    app.on_startup.append(_settled)  # after the cleanup contexts' start
    web.run_app(
        app,
        sock=[socket.create_server((settings.http_host, p), reuse_port=False) for p in ports],
        access_log=None,
        print=None,
        shutdown_timeout=settings.shutdown_timeout_seconds,
        handle_signals=True,
    )


async def _settled(app: web.Application) -> None:
    """What starting made (modules, templates, clients) lives as long as the process: the garbage
    collector need not go over it again in each full collection, which pauses every request in flight
    for as long as it takes (tens of milliseconds for these ~50,000 objects)."""
    gc.freeze()


def serve(service: str, create_app: Callable[[Settings], web.Application]) -> None:
    """``python -m services.<service>``: settings from the environment, JSON logs, serve until SIGTERM.

    Settings that must not run (an admin token that is short or a placeholder, an unreadable limit …)
    end the process at once with what to fix, and exit code 2."""
    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            name = "_".join(str(part) for part in error["loc"]).upper()
            print(f"{service}: refusing to start: {name}: {error['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(service, settings.log_level)
    run(create_app(settings), settings, getattr(settings, f"{service}_port"))
