"""The booking service over HTTP: the JSON API (``api``), the pages (``pages``), and how a booking is
shown in both (``views``). The views translate between HTTP and the use cases in
``services.booking.handlers``, which the app keeps under ``DEPS`` with what they need."""

from __future__ import annotations

from aiohttp import web

from services.booking.handlers import Deps

DEPS = web.AppKey("booking", Deps)
