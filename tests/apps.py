"""Running a service's app in the test's own event loop, on a port of its choice or a free one."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp.test_utils import TestClient, TestServer


@contextlib.asynccontextmanager
async def running(app: Any, port: int | None = None) -> AsyncIterator[TestClient[Any, Any]]:
    """The app served (its ``cleanup_ctx`` run), and a client for it; stopped on leaving."""
    client: TestClient[Any, Any] = TestClient(TestServer(app, port=port) if port else TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
