"""The waitlist, as pure code: who waits for which times, and the offers made to them.

A placement **waits** (:class:`Waiting`) when its workplace chose ``offer`` or ``auto`` and

* no desired time could be had (``needs_alternative``): it waits for its own desired times and, if
  it gave one, for a window ("any weekday morning between two dates");
* or it is scheduled and asked for an earlier time: it waits for any time before its talk (within
  the window, if it gave one).

Waiting requests are served in the order they started waiting (``since``). When a time frees, each
one's candidate starts (:func:`candidate_starts`) are checked with the slot search's own rules
(:func:`~services.scheduler.domain.first_free`): theme, duration, consultants' hours, absences,
buffers, daily maximum, their own calendars' busy times, notice, holidays and closing days.

An **offer** (:class:`OfferRecord`) is a first call, not a reservation: the time stays bookable by
anyone until a workplace takes it, and acceptance reserves it through the same version-checked day
write as every placement, so a time is never booked twice. While an offer is open the matcher treats
its time as held (:func:`held_talks`), so one time is offered to one workplace at a time; a time whose
offer ran out passes to the next in line, never back to the same workplace (:func:`offered_before`).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal

from services.scheduler.domain import Consultant, SearchLimits, Talk, grid_starts, within_limits
from shared.contracts.models import Offer, WaitWindow
from shared.text.localtime import to_local

NOON = time(12, 0)

Mode = Literal["offer", "auto"]


class OfferState(StrEnum):
    OPEN = "open"  # sent, waiting for the workplace
    ACCEPTED = "accepted"  # the workplace took it and got the talk
    EXPIRED = "expired"  # not accepted in time: passed to the next in line
    TAKEN = "taken"  # accepted after someone else had taken the time
    WITHDRAWN = "withdrawn"  # the booking was placed, cancelled, erased or left the waitlist meanwhile


@dataclass(frozen=True, slots=True)
class Waiting:
    """A placement on the waitlist."""

    mode: Mode
    since: datetime  # its place in the line
    starts: tuple[datetime, ...] = ()  # its own desired times (UTC)
    window: WaitWindow | None = None
    before: datetime | None = None  # a scheduled talk waits only for times before its own start


@dataclass(frozen=True, slots=True)
class OfferRecord:
    """An offer as the scheduler keeps it: whose time it is, and how it ended."""

    id: str
    consultant_id: str
    start: datetime
    end: datetime
    made_at: datetime
    expires_at: datetime
    state: OfferState = OfferState.OPEN
    closed_at: datetime | None = None

    @classmethod
    def new(cls, consultant_id: str, start: datetime, end: datetime, *, now: datetime, lasts: timedelta) -> OfferRecord:
        return cls(uuid.uuid4().hex[:12], consultant_id, start, end, now, now + lasts)

    @property
    def is_open(self) -> bool:
        return self.state is OfferState.OPEN

    def closed(self, state: OfferState, now: datetime) -> OfferRecord:
        return dataclasses.replace(self, state=state, closed_at=now)

    def public(self) -> Offer:
        """What the workplace sees of it."""
        return Offer(id=self.id, start=self.start, end=self.end, expires_at=self.expires_at)


def in_part_of_day(start: datetime, window: WaitWindow) -> bool:
    local = to_local(start).time()
    if window.part_of_day == "morning":
        return local < NOON
    if window.part_of_day == "afternoon":
        return local >= NOON
    return True


def window_days(window: WaitWindow, only: Collection[date] | None = None) -> list[date]:
    """The weekdays of the window (among ``only``, if given)."""
    days = (window.first + timedelta(days=offset) for offset in range((window.last - window.first).days + 1))
    return [day for day in days if day.weekday() < 5 and (only is None or day in only)]


def candidate_starts(
    waiting: Waiting,
    duration: timedelta,
    consultants: Sequence[Consultant],
    *,
    now: datetime,
    limits: SearchLimits,
    days: Collection[date] | None = None,
    exclude: Collection[datetime] = (),
) -> list[datetime]:
    """The starts a waiting request would take, in its order of preference: its desired times in its
    order, then the window's grid starts chronologically; for a talk waiting for an earlier time, all
    of them earliest first. Kept to ``days`` (the days where a time freed; None: all), to the notice
    window (holidays and closing days out) and away from ``exclude`` (times offered to it before).
    ``consultants``: those giving the theme (their hours decide the window's grid)."""
    starts: list[datetime] = [start.astimezone(UTC) for start in waiting.starts]
    if waiting.window is not None:
        for day in window_days(waiting.window, days):
            starts += [s for s in grid_starts(consultants, day, duration) if in_part_of_day(s, waiting.window)]
    excluded = {start.astimezone(UTC) for start in exclude}
    seen: set[datetime] = set()
    kept: list[datetime] = []
    for start in starts:
        if start in seen or start in excluded:
            continue
        seen.add(start)
        if days is not None and to_local(start).date() not in days:
            continue
        if waiting.before is not None and start >= waiting.before:
            continue
        if within_limits(start, now, limits):
            kept.append(start)
    if waiting.before is not None:
        kept.sort()
    return kept


def held_talks(offers: Iterable[tuple[str, OfferRecord]]) -> list[tuple[str, Talk]]:
    """The open offers as talks in their consultants' calendars, for the matcher's view only (nothing
    is reserved): ``(booking_id, offer)`` pairs in, ``(consultant_id, talk)`` pairs out."""
    return [
        (offer.consultant_id, Talk(booking_id, offer.start, offer.end)) for booking_id, offer in offers if offer.is_open
    ]


def offered_before(offers: Iterable[OfferRecord]) -> set[datetime]:
    """Times offered to this workplace before: a time it let expire goes to the next in line."""
    return {offer.start.astimezone(UTC) for offer in offers}
