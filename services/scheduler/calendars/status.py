"""Is a source's data fresh, and what a search sees of it: pure, ``now`` passed in.

Health of a source:

* ``pending``: never read yet (just added or changed);
* ``ok``: the last attempt succeeded;
* ``failing``: the last attempt failed, but the last good data is younger than ``stale_after``:
  its last known busy times still count;
* ``stale``: no good data for longer than ``stale_after`` (or never any after an attempt).

With the policy ``busy`` (the default) a consultant is treated as busy on every day a search looks
at while one of their sources is ``pending`` or ``stale``, and on the days beyond what was last
expanded; with ``keep`` only the last known busy times count. Either way the API, the metrics and
the log show it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal

from services.scheduler.domain import Busy, DictCalendar
from shared.text.localtime import LOCAL_TZ

StalePolicy = Literal["busy", "keep"]
UNKNOWN_REASON = "has an own calendar that could not be read recently (treated as busy)"


class Health(StrEnum):
    PENDING = "pending"
    OK = "ok"
    FAILING = "failing"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class SourceState:
    consultant_id: str
    source_id: str
    kind: str
    created_at: datetime
    attempted_at: datetime | None = None
    succeeded_at: datetime | None = None
    expanded_until: datetime | None = None
    error: str | None = None
    failures: int = 0
    busy_count: int = 0

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> SourceState:
        return cls(
            consultant_id=doc["consultant_id"],
            source_id=doc["source_id"],
            kind=doc.get("kind", "feed"),
            created_at=doc["created_at"],
            attempted_at=doc.get("attempted_at"),
            succeeded_at=doc.get("succeeded_at"),
            expanded_until=doc.get("expanded_until"),
            error=doc.get("error"),
            failures=doc.get("failures", 0),
            busy_count=doc.get("busy_count", 0),
        )


def health(state: SourceState, now: datetime, stale_after: timedelta) -> Health:
    if state.succeeded_at is None:
        return Health.PENDING if state.attempted_at is None else Health.STALE
    if now - state.succeeded_at > stale_after:
        return Health.STALE
    return Health.FAILING if state.error else Health.OK


def _day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=LOCAL_TZ)


def unknown_days(
    state: SourceState, days: Iterable[date], now: datetime, stale_after: timedelta, policy: StalePolicy
) -> list[date]:
    """The days a search must treat as busy for want of data from this source."""
    if policy == "keep":
        return []
    if health(state, now, stale_after) in (Health.PENDING, Health.STALE):
        return sorted(days)
    if state.expanded_until is None:
        return []
    return sorted(day for day in days if _day_end(day) > state.expanded_until)


def blocks_placement(state: SourceState, now: datetime, stale_after: timedelta, policy: StalePolicy) -> bool:
    return policy == "busy" and health(state, now, stale_after) in (Health.PENDING, Health.STALE)


@dataclass
class BusyTimes:
    """What the consultants' own calendars contribute to one search."""

    busy: list[tuple[str, Busy]] = field(default_factory=list)
    unknown: list[tuple[str, date]] = field(default_factory=list)

    def add_to(self, calendar: DictCalendar) -> None:
        for consultant_id, busy in self.busy:
            calendar.add_busy(consultant_id, busy)
        for consultant_id, day in self.unknown:
            calendar.block_day(consultant_id, day, UNKNOWN_REASON)


def busy_times(
    buckets: Iterable[Mapping[str, Any]],
    states: Iterable[SourceState],
    days: Iterable[date],
    *,
    now: datetime,
    stale_after: timedelta,
    policy: StalePolicy,
) -> BusyTimes:
    """The busy times of the stored month buckets that fall on ``days``, and the unknown days.

    Buckets and states of sources that are gone (no state) are ignored.
    """
    wanted = set(days)
    live = {(state.consultant_id, state.source_id) for state in states}
    result = BusyTimes()
    seen: set[tuple[str, datetime, datetime]] = set()
    for bucket in buckets:
        consultant_id = bucket["consultant_id"]
        if (consultant_id, bucket["source_id"]) not in live:
            continue
        for held in bucket.get("busy", ()):
            start, end = held["start"], held["end"]
            key = (consultant_id, start, end)
            if key in seen or not _touches(start, end, wanted):
                continue
            seen.add(key)
            result.busy.append((consultant_id, Busy(start, end)))
    blocked: set[tuple[str, date]] = set()
    for state in states:
        for day in unknown_days(state, wanted, now, stale_after, policy):
            blocked.add((state.consultant_id, day))
    result.unknown = sorted(blocked)
    return result


def _touches(start: datetime, end: datetime, days: set[date]) -> bool:
    first, last = start.astimezone(LOCAL_TZ).date(), end.astimezone(LOCAL_TZ).date()
    if (last - first).days > 31:
        return True  # a long busy time: let the calendar sort out the days
    day = first
    while day <= last:
        if day in days:
            return True
        day += timedelta(days=1)
    return False


def months_of(days: Iterable[date]) -> list[str]:
    """The month keys (``YYYY-MM``) of the buckets that hold these days."""
    return sorted({f"{day.year:04d}-{day.month:02d}" for day in days})
