"""HTTP plumbing every service shares: the app skeleton, JSON errors from aiohttp's own exceptions,
and 503 with ``Retry-After`` while a dependency is away."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from shared.infra.errors import RETRY_AFTER_SECONDS, UNAVAILABLE, error_text, json_errors, text
from shared.infra.faults import is_unavailable
from shared.infra.ops import add_ops_routes, request_metrics
from shared.infra.resources import SETTINGS
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
        middlewares=[json_error_middleware(max_body), request_metrics(name), unavailable_middleware(unavailable_page)],
    )
    app[SETTINGS] = settings
    add_ops_routes(app)
    return app


def run(app: web.Application, port: int, host: str, shutdown_timeout: float) -> None:
    """Serve until SIGINT/SIGTERM, then shut down cleanly (aiohttp runs the cleanup contexts)."""
    web.run_app(
        app,
        host=host,
        port=port,
        access_log=None,
        print=None,
        shutdown_timeout=shutdown_timeout,
        handle_signals=True,
    )
