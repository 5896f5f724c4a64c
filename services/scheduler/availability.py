"""Free starts for a theme and a duration in a window of days: the use case behind the scheduler's
``GET /api/v1/availability`` (which the booking service serves to the public), and its cache.

The answer comes from :func:`~services.scheduler.domain.available_starts`, the same search that places
talks, over the same inputs a placement reads: the consultants, their days of talks and the busy
times of their own calendars.

**Cache.** Computing a four-week window checks some thousand starts, and the form asks for the same
weeks again and again. Each replica keeps its answers for ``AVAILABILITY_CACHE_SECONDS``, but uses
one only while its inputs are still exactly those it was computed from: every request reads the
consultants, the *versions* of their days in the window (every reservation, move or cancellation
raises the version of the day it writes) and their busy times, and compares. So an answer is never
stale because a talk was placed, moved or cancelled by this replica or any other; and the placement
path writes nothing extra for it. What a cached answer cannot know, the passing of time, is applied
when it is served: starts that came within the minimum notice are left out.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from prometheus_client import Counter

from services.scheduler.calendars.status import BusyTimes
from services.scheduler.days import calendar_of
from services.scheduler.domain import Choice, Consultant, available_starts, gives_theme, within_limits
from services.scheduler.handlers import Deps

ANSWERS = Counter(
    "inspiration_availability_answers_total",
    "Answers to availability requests, by whether a cached computation could be used (hit) or not (miss)",
    ["cache"],
)


@dataclass(frozen=True, slots=True)
class FreeQuery:
    """Which free starts are wanted: a theme, a talk's duration and a window of local dates (inclusive)."""

    theme: str
    duration: timedelta
    first: date
    last: date

    def days(self) -> list[date]:
        return [self.first + timedelta(days=offset) for offset in range((self.last - self.first).days + 1)]


@dataclass(frozen=True, slots=True)
class _Inputs:
    """Everything an answer was computed from, except the time."""

    consultants: tuple[Consultant, ...]
    versions: dict[tuple[str, date], int]
    busy: BusyTimes


@dataclass(frozen=True, slots=True)
class _Entry:
    inputs: _Inputs
    starts: tuple[Choice, ...]
    expires: datetime


class AvailabilityCache:
    """The last answers of this replica, by query, each kept for ``lifetime`` (least recently used
    dropped beyond ``size``). Only :func:`free_starts` decides whether an entry may be used."""

    def __init__(self, lifetime: timedelta, size: int = 256) -> None:
        self.lifetime = lifetime
        self._size = size
        self._entries: OrderedDict[FreeQuery, _Entry] = OrderedDict()

    def get(self, query: FreeQuery, now: datetime) -> _Entry | None:
        entry = self._entries.get(query)
        if entry is None or entry.expires <= now:
            return None
        self._entries.move_to_end(query)
        return entry

    def put(self, query: FreeQuery, inputs: _Inputs, starts: list[Choice], now: datetime) -> None:
        if self.lifetime <= timedelta(0):
            return
        self._entries[query] = _Entry(inputs, tuple(starts), now + self.lifetime)
        self._entries.move_to_end(query)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


async def free_starts(deps: Deps, cache: AvailabilityCache, query: FreeQuery) -> list[Choice]:
    """The starts in the window at which a talk of the query's theme and duration would be placed now."""
    now = deps.clock()
    consultants = tuple(c for c in await deps.calendar.consultants() if gives_theme(c, query.theme))
    ids, days = [c.id for c in consultants], query.days()
    cached = cache.get(query, now)
    if cached is not None:
        busy, versions = await asyncio.gather(
            deps.busy.busy_for(ids, days, now), deps.calendar.run_versions(ids, query.first, query.last)
        )
        if _Inputs(consultants, versions, busy) == cached.inputs:
            ANSWERS.labels("hit").inc()
            return [start for start in cached.starts if within_limits(start.start, now, deps.limits)]
        loaded = await deps.calendar.load_run(ids, query.first, query.last)
    else:
        busy, loaded = await asyncio.gather(
            deps.busy.busy_for(ids, days, now), deps.calendar.load_run(ids, query.first, query.last)
        )
    calendar = calendar_of(loaded)
    busy.add_to(calendar)
    starts = available_starts(query.theme, query.duration, days, consultants, calendar, now=now, limits=deps.limits)
    versions = {(day.consultant_id, day.day): day.version for day in loaded}
    cache.put(query, _Inputs(consultants, versions, busy), starts, now)
    ANSWERS.labels("miss").inc()
    return starts
