"""Typed application keys of the scheduler service."""

from __future__ import annotations

from aiohttp import web

from services.scheduler.availability import AvailabilityCache
from services.scheduler.handlers import Deps
from services.scheduler.store import MongoCalendarStore

CALENDAR = web.AppKey("calendar", MongoCalendarStore)  # consultants and their talks
DEPS = web.AppKey("deps", Deps)  # what the event handlers work with
AVAILABILITY = web.AppKey("availability", AvailabilityCache)  # this replica's computed free starts
