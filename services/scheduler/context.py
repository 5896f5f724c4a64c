"""Typed application keys of the scheduler service."""

from __future__ import annotations

from aiohttp import web

from services.scheduler.availability import AvailabilityCache
from services.scheduler.handlers import Deps
from services.scheduler.matching import WaitlistWorker
from services.scheduler.store import MongoCalendarStore, MongoPlacementStore

CALENDAR = web.AppKey("calendar", MongoCalendarStore)  # consultants and their talks
DEPS = web.AppKey("deps", Deps)  # what the event handlers work with
AVAILABILITY = web.AppKey("availability", AvailabilityCache)  # this replica's computed free starts
PLACEMENTS = web.AppKey("placements", MongoPlacementStore)  # the placements, for the admin's waitlist view
WAITLIST = web.AppKey("waitlist", WaitlistWorker)  # expires offers, sweeps for the waiting requests
