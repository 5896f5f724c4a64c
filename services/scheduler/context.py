"""Typed application keys of the scheduler service."""

from __future__ import annotations

from aiohttp import web

from services.scheduler.planner import Planner
from services.scheduler.store import SchedulerStore

STORE = web.AppKey("store", SchedulerStore)
PLANNER = web.AppKey("planner", Planner)
