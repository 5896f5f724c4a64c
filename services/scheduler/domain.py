"""The scheduler's slot search, as pure domain code.

No I/O happens here: the caller loads the consultants and, for exactly the local dates that
:func:`days_needed` returns, their talks, wraps them in a :class:`Calendar` (usually a
:class:`DictCalendar`) and calls :func:`place` with ``now`` passed in. Only the standard library
and :mod:`shared.text.localtime` are imported.

Rules
-----
A consultant **fits** a start (see :func:`why_not`, :func:`fits` and :func:`place`) when

* the theme is among the consultant's themes (``themes is None`` means all themes);
* the local date of the start is in no absence (inclusive local date ranges);
* the consultant works that weekday (a weekday missing from ``working_hours`` is a day off);
* the talk *with the travel buffer on both sides* lies inside that day's working hours: with hours
  08:00–16:00 and a 60-minute buffer a 120-minute talk may start from 09:00 to 13:00 inclusive;
* between the end of one talk and the start of the next there is at least the travel buffer.
  This is a **single** buffer between two talks (the travel from one workplace to the next), not
  one buffer after the first talk plus another before the second: with a 60-minute buffer a talk
  ending 11:00 allows the next to start at 12:00, not 13:00;
* the same single buffer separates the talk from every **busy time** of the consultant's own
  calendars (:class:`Busy`, from :meth:`Calendar.busy_on`): a busy time blocks a start exactly as a
  talk does, but does not count toward the daily maximum nor the week balance. A busy time that
  covers the whole working day closes the day (its ``reason`` is the reason given);
* fewer than ``max_talks_per_day`` talks are already in that local day;
* the start is at least ``limits.min_notice`` after ``now`` and at most ``limits.max_ahead`` after it;
* the local date of the start is neither a Danish public holiday nor one of the organisation's
  closing days (``limits.closed``, :class:`~shared.contracts.closed_days.ClosedDays`).

The preferred starts are tried in the workplace's order; the first one where some consultant fits
wins. Among the consultants who fit it, the one with the fewest talks in that local ISO week
(Monday–Sunday) is chosen, ties broken by consultant id.

If no preferred start fits anyone, up to ``limits.alternatives`` free alternatives are proposed:

1. the same local time of day on nearby weekdays (Monday–Friday only), 1, 2, … days before and
   after each preferred start, within ``limits.alternative_window_days``; ordered by the distance
   in days, then by the preferred order, then earlier before later;
2. if still fewer than wanted: other starts on a 30-minute local grid (hh:00, hh:30) that lie
   within some eligible consultant's working hours (with buffers), on the preferred days and the
   weekdays of their windows; ordered by the wall-clock distance to the nearest preferred start,
   then by the preferred order, then chronologically.

Every alternative is checked with the same rules as a placement (theme, notice, calendar), so each
is genuinely free at the time of the search; they are distinct and listed in the order above
(all of step 1 before any of step 2), which is the order of closeness.

Free starts
-----------
:func:`available_starts` lists, for a theme, a duration and some days, every start on the same
30-minute grid at which some consultant fits by exactly these rules (it asks the same search as
:func:`place`), so a free start passed back as a preferred start is placed at that very time while
nobody has taken it meanwhile.

Time
----
All instants (``Talk.start``, ``TalkRequest.preferred_starts``, ``now``, results) are aware
datetimes, returned in UTC. Time-of-day arithmetic is done in Europe/Copenhagen wall time and
converted with :func:`shared.text.localtime.localize`, so a 13:00 talk stays 13:00 local across the DST
changes (2027-03-28, 2027-10-31); a wall time skipped by the spring change is not a candidate.
Durations and buffers are real elapsed time.

Details worth knowing (documented here on purpose)
--------------------------------------------------
* :func:`fits` checks only the consultant's calendar (absence, weekday, hours, buffers, daily
  maximum); the theme and the notice window are request-level and are checked by :func:`place`
  (and by :func:`gives_theme` / :func:`within_limits`). :func:`why_not` gives the reason in English.
* Talks of the booking being placed (same ``booking_id``, e.g. when it is rescheduled) are ignored:
  the talk being moved never blocks its own new time nor counts toward the daily maximum or the
  week balance.
* Talks are keyed by the local date of their start. Since the buffered talk must lie within one
  day's working hours, only that day's talks are compared.
* Alternatives are only proposals, so the week balance is not computed for them.
* Consultant ids must be unique within one call of :func:`place` (checked).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol

from shared.contracts.closed_days import DENMARK, ClosedDays
from shared.text.localtime import LOCAL_TZ, NonexistentLocalTime, localize, to_local

__all__ = [
    "Busy",
    "Calendar",
    "Choice",
    "Consultant",
    "DictCalendar",
    "NoPlacement",
    "SearchLimits",
    "Talk",
    "TalkRequest",
    "available_starts",
    "days_needed",
    "first_free",
    "fits",
    "gives_theme",
    "grid_starts",
    "place",
    "why_not",
    "within_limits",
]

GRID = timedelta(minutes=30)
_GRID_SECONDS = int(GRID.total_seconds())
_WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, got naive {moment.isoformat()}")


# --------------------------------------------------------------------------- value objects


@dataclass(frozen=True, slots=True)
class Consultant:
    """A consultant as the search sees one. Working hours and absences are in local time."""

    id: str
    name: str
    email: str
    phone: str | None
    working_hours: Mapping[int, tuple[time, time]]  # weekday 0=Mon..6=Sun -> local (from, until)
    absences: tuple[tuple[date, date], ...] = ()  # inclusive local date ranges
    travel_buffer: timedelta = timedelta(minutes=60)
    max_talks_per_day: int = 2
    themes: frozenset[str] | None = None  # None = gives all themes
    has_own_calendars: bool = False  # busy times from the consultant's own calendars apply

    def __post_init__(self) -> None:
        for weekday, (start, until) in self.working_hours.items():
            if not 0 <= weekday <= 6:
                raise ValueError(f"working_hours: weekday must be 0 (Monday) to 6 (Sunday), got {weekday}")
            if not start < until:
                raise ValueError(
                    f"working_hours: on {_WEEKDAY_NAMES[weekday]} the start {start:%H:%M} "
                    f"must be before the end {until:%H:%M}"
                )
        for first, last in self.absences:
            if first > last:
                raise ValueError(f"absence {first}..{last}: the start must not be after the end")
        if self.travel_buffer < timedelta(0):
            raise ValueError("travel_buffer must not be negative")
        if self.max_talks_per_day < 0:
            raise ValueError("max_talks_per_day must not be negative")

    def is_absent(self, day: date) -> bool:
        return any(first <= day <= last for first, last in self.absences)


@dataclass(frozen=True, slots=True)
class Talk:
    """A reservation already in a consultant's calendar (aware instants, UTC by convention)."""

    booking_id: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _require_aware(self.start, "Talk.start")
        _require_aware(self.end, "Talk.end")
        if not self.start < self.end:
            raise ValueError("Talk.start must be before Talk.end")


BUSY_IN_OWN_CALENDAR = "is busy in their own calendar"


@dataclass(frozen=True, slots=True)
class Busy:
    """Time the consultant's own calendar holds (aware instants); ``start == end`` is a moment.

    Blocks a talk exactly as a talk does (travel buffer included). ``reason`` is what
    :func:`why_not` says; the caller uses another one for a day blocked for want of fresh data.
    """

    start: datetime
    end: datetime
    reason: str = BUSY_IN_OWN_CALENDAR

    def __post_init__(self) -> None:
        _require_aware(self.start, "Busy.start")
        _require_aware(self.end, "Busy.end")
        if self.end < self.start:
            raise ValueError("Busy.start must not be after Busy.end")


@dataclass(frozen=True, slots=True)
class TalkRequest:
    """What the workplace asked for: one theme, a duration and 1+ starts in its order of preference."""

    booking_id: str
    theme: str
    duration: timedelta
    preferred_starts: tuple[datetime, ...]  # aware, in the workplace's order

    def __post_init__(self) -> None:
        if self.duration <= timedelta(0):
            raise ValueError("duration must be positive")
        if not self.preferred_starts:
            raise ValueError("at least one preferred start is needed")
        for start in self.preferred_starts:
            _require_aware(start, "preferred start")


@dataclass(frozen=True, slots=True)
class SearchLimits:
    min_notice: timedelta = timedelta(days=14)
    max_ahead: timedelta = timedelta(days=365)
    alternatives: int = 3
    alternative_window_days: int = 14
    closed: ClosedDays = DENMARK  # public holidays and closing days: no talk on them


class Calendar(Protocol):
    """The talks the caller loaded, keyed by consultant and LOCAL date of the talk's start, and the
    busy times of the consultants' own calendars, under every LOCAL date they overlap."""

    def talks_on(self, consultant_id: str, day: date) -> Sequence[Talk]: ...

    def busy_on(self, consultant_id: str, day: date) -> Sequence[Busy]: ...


@dataclass(frozen=True, slots=True)
class Choice:
    """Who gives the talk and when, as the search chose it (not reserved yet)."""

    consultant_id: str
    start: datetime  # UTC
    end: datetime  # UTC


@dataclass(frozen=True, slots=True)
class NoPlacement:
    alternatives: tuple[datetime, ...]  # UTC, closest first
    reason: str  # plain English, for logs


class DictCalendar:
    """A :class:`Calendar` over ``{(consultant_id, local date): [Talk, ...]}``.

    Used by the scheduler after loading the days from MongoDB, by the tests and the benchmark.
    """

    __slots__ = ("_busy", "_talks")

    def __init__(self, talks: Mapping[tuple[str, date], Sequence[Talk]] | None = None) -> None:
        self._talks: dict[tuple[str, date], list[Talk]] = {
            key: sorted(day_talks, key=lambda talk: talk.start) for key, day_talks in (talks or {}).items()
        }
        self._busy: dict[tuple[str, date], list[Busy]] = {}

    @classmethod
    def from_talks(cls, talks: Iterable[tuple[str, Talk]]) -> DictCalendar:
        """Build from ``(consultant_id, talk)`` pairs, keyed by the talk's local start date."""
        calendar = cls()
        for consultant_id, talk in talks:
            calendar.add(consultant_id, talk)
        return calendar

    def add(self, consultant_id: str, talk: Talk) -> None:
        day_talks = self._talks.setdefault((consultant_id, to_local(talk.start).date()), [])
        day_talks.append(talk)
        day_talks.sort(key=lambda item: item.start)

    def talks_on(self, consultant_id: str, day: date) -> Sequence[Talk]:
        return self._talks.get((consultant_id, day), ())

    def add_busy(self, consultant_id: str, busy: Busy) -> None:
        """Register a busy time under every local date it overlaps (a moment: under its date)."""
        first = to_local(busy.start).date()
        last = to_local(busy.end).date()
        if busy.end > busy.start and to_local(busy.end).time() == time(0):
            last -= timedelta(days=1)  # ends at midnight: the next day is free
        day = first
        while day <= last:
            self._busy.setdefault((consultant_id, day), []).append(busy)
            day += timedelta(days=1)

    def block_day(self, consultant_id: str, day: date, reason: str) -> None:
        """Treat the whole local day as busy (e.g. while the consultant's calendar cannot be read)."""
        start = datetime.combine(day, time(0), tzinfo=LOCAL_TZ)  # midnight exists every day in Copenhagen
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=LOCAL_TZ)
        self._busy.setdefault((consultant_id, day), []).append(Busy(start, end, reason))

    def busy_on(self, consultant_id: str, day: date) -> Sequence[Busy]:
        return self._busy.get((consultant_id, day), ())

    def __len__(self) -> int:
        return sum(len(day_talks) for day_talks in self._talks.values())


# --------------------------------------------------------------------------- the checks


def gives_theme(consultant: Consultant, theme: str) -> bool:
    return consultant.themes is None or theme in consultant.themes


def within_limits(start: datetime, now: datetime, limits: SearchLimits) -> bool:
    """The start is at least ``min_notice`` and at most ``max_ahead`` after ``now``, and not on a
    public holiday or closing day."""
    ahead = start - now
    return limits.min_notice <= ahead <= limits.max_ahead and not limits.closed.is_closed(to_local(start).date())


@lru_cache(maxsize=4096)
def _wall(day: date, clock: time) -> datetime:
    """Local wall time as an aware instant, for working-hour bounds (a skipped time is read as
    zoneinfo does, with the offset before the change, so a bound is always defined)."""
    naive = datetime.combine(day, clock)
    try:
        return localize(naive)
    except NonexistentLocalTime:
        return naive.replace(tzinfo=LOCAL_TZ)


@dataclass(frozen=True, slots=True)
class _OpenDay:
    """One consultant's bookable local day: working-hour bounds and the talks already in it."""

    opens: datetime
    closes: datetime
    talks: Sequence[Talk]
    busy: Sequence[Busy] = ()


def _open_day(
    consultant: Consultant, day: date, calendar: Calendar, ignore_booking_id: str | None
) -> _OpenDay | str:
    """The day if the consultant can take a talk in it at all, else the reason why not."""
    hours = consultant.working_hours.get(day.weekday())
    if hours is None:
        return f"does not work on {_WEEKDAY_NAMES[day.weekday()]}"
    if consultant.is_absent(day):
        return "is absent that day"
    talks = calendar.talks_on(consultant.id, day)
    if any(talk.booking_id == ignore_booking_id for talk in talks):
        talks = [talk for talk in talks if talk.booking_id != ignore_booking_id]
    if len(talks) >= consultant.max_talks_per_day:
        return f"already has {len(talks)} talk(s) that day (maximum {consultant.max_talks_per_day})"
    opens, closes = _wall(day, hours[0]), _wall(day, hours[1])
    busy = calendar.busy_on(consultant.id, day)
    for held in busy:
        if held.start <= opens and held.end >= closes:
            return held.reason
    return _OpenDay(opens, closes, talks, busy)


def _why_not_in_day(consultant: Consultant, day: _OpenDay, start: datetime, end: datetime) -> str | None:
    buffer = consultant.travel_buffer
    if start - buffer < day.opens or end + buffer > day.closes:
        return "the talk with its travel buffers is outside the working hours"
    for talk in day.talks:
        # a single buffer between the two talks, whichever comes first
        if start < talk.end + buffer and talk.start < end + buffer:
            return "too close to another talk (travel buffer)"
    for held in day.busy:
        if start < held.end + buffer and held.start < end + buffer:
            return f"{held.reason} (travel buffer included)"
    return None


def why_not(
    consultant: Consultant,
    start: datetime,
    end: datetime,
    calendar: Calendar,
    *,
    ignore_booking_id: str | None = None,
) -> str | None:
    """Why the consultant's calendar cannot take the talk ``start``..``end``, or None if it can.

    Checks the weekday, absences, the daily maximum, working hours with the travel buffer on both
    sides, and the buffer to every other talk and every busy time that day. Not the theme nor the
    notice window.
    """
    _require_aware(start, "start")
    _require_aware(end, "end")
    day = _open_day(consultant, to_local(start).date(), calendar, ignore_booking_id)
    if isinstance(day, str):
        return day
    return _why_not_in_day(consultant, day, start, end)


def fits(
    consultant: Consultant,
    start: datetime,
    end: datetime,
    calendar: Calendar,
    *,
    ignore_booking_id: str | None = None,
) -> bool:
    """True if the consultant's calendar can take the talk ``start``..``end`` (see :func:`why_not`)."""
    return why_not(consultant, start, end, calendar, ignore_booking_id=ignore_booking_id) is None


# --------------------------------------------------------------------------- the search


def _iso_week(day: date) -> list[date]:
    monday = day - timedelta(days=day.weekday())
    return [monday + timedelta(days=offset) for offset in range(7)]


def _window(center: date, now: datetime, limits: SearchLimits) -> list[date]:
    """Weekdays within the alternative window around ``center`` that the notice window allows."""
    first = to_local(now + limits.min_notice).date()
    last = to_local(now + limits.max_ahead).date()
    span = limits.alternative_window_days
    days = (center + timedelta(days=offset) for offset in range(-span, span + 1))
    return [day for day in days if first <= day <= last and day.weekday() < 5 and not limits.closed.is_closed(day)]


def days_needed(
    request: TalkRequest, now: datetime, limits: SearchLimits = SearchLimits()
) -> frozenset[date]:
    """Every local date :func:`place` may look up in the calendar for this request.

    The Monday–Sunday ISO week of each preferred start (for the week balance) and the weekdays of
    the alternative window around each (those the notice window allows). Load exactly these days'
    talks for the candidate consultants.
    """
    days: set[date] = set()
    for start in request.preferred_starts:
        local_day = to_local(start).date()
        days.update(_iso_week(local_day))
        if limits.alternatives > 0:
            days.update(_window(local_day, now, limits))
    return frozenset(days)


class _Search:
    """One call of :func:`place`: caches each (consultant, day) and each week load."""

    __slots__ = ("_calendar", "_days", "_ignore", "_weeks", "consultants", "duration", "limits", "now")

    def __init__(
        self,
        duration: timedelta,
        consultants: list[Consultant],
        calendar: Calendar,
        now: datetime,
        limits: SearchLimits,
        ignore_booking_id: str | None = None,
    ) -> None:
        self.consultants = consultants
        self.duration = duration
        self.now = now
        self.limits = limits
        self._calendar = calendar
        self._ignore = ignore_booking_id
        self._days: dict[tuple[str, date], _OpenDay | str] = {}
        self._weeks: dict[tuple[str, date], int] = {}

    def why_not(self, consultant: Consultant, day: date, start: datetime, end: datetime) -> str | None:
        key = (consultant.id, day)
        open_day = self._days.get(key)
        if open_day is None:
            open_day = self._days[key] = _open_day(consultant, day, self._calendar, self._ignore)
        if isinstance(open_day, str):
            return open_day
        return _why_not_in_day(consultant, open_day, start, end)

    def week_load(self, consultant: Consultant, day: date) -> int:
        monday = day - timedelta(days=day.weekday())
        key = (consultant.id, monday)
        load = self._weeks.get(key)
        if load is None:
            load = self._weeks[key] = sum(
                1
                for week_day in _iso_week(day)
                for talk in self._calendar.talks_on(consultant.id, week_day)
                if talk.booking_id != self._ignore
            )
        return load

    def fitting(self, start: datetime) -> list[Consultant]:
        """The consultants who can take a talk at ``start`` (notice window included)."""
        if not within_limits(start, self.now, self.limits):
            return []
        end = start + self.duration
        day = to_local(start).date()
        return [c for c in self.consultants if self.why_not(c, day, start, end) is None]

    def first_fitting(self, start: datetime) -> Consultant | None:
        """The first consultant (in the given order) who can take a talk at ``start``, if any."""
        if not within_limits(start, self.now, self.limits):
            return None
        end = start + self.duration
        day = to_local(start).date()
        return next((c for c in self.consultants if self.why_not(c, day, start, end) is None), None)

    def anyone_fits(self, start: datetime) -> bool:
        return self.first_fitting(start) is not None

    def explain(self, start: datetime) -> str:
        local = to_local(start)
        when = f"{_WEEKDAY_NAMES[local.weekday()]} {local:%Y-%m-%d %H:%M} local"
        ahead = start - self.now
        if ahead < self.limits.min_notice:
            return f"{when}: less than the minimum notice of {self.limits.min_notice}"
        if ahead > self.limits.max_ahead:
            return f"{when}: more than {self.limits.max_ahead} ahead"
        closed = self.limits.closed.on(local.date())
        if closed is not None:
            return f"{when}: closed ({closed.name.da})"
        end = start + self.duration
        parts = [f"{c.id} {self.why_not(c, local.date(), start, end)}" for c in self.consultants]
        return f"{when}: " + "; ".join(parts)


def _local_naive(moment: datetime) -> datetime:
    return to_local(moment).replace(tzinfo=None, fold=0)


def _candidate(day: date, clock: time) -> datetime | None:
    """The UTC instant of a local wall time, or None if the DST change skips it."""
    try:
        return localize(datetime.combine(day, clock)).astimezone(UTC)
    except NonexistentLocalTime:
        return None


def _grid_times(consultants: Sequence[Consultant], weekday: int, duration: timedelta) -> list[time]:
    """Starts on the 30-minute grid that fit some consultant's hours (with buffers) that weekday."""
    seconds: set[int] = set()
    for consultant in consultants:
        hours = consultant.working_hours.get(weekday)
        if hours is None:
            continue
        buffer = int(consultant.travel_buffer.total_seconds())
        lowest = hours[0].hour * 3600 + hours[0].minute * 60 + hours[0].second + buffer
        highest = (
            hours[1].hour * 3600 + hours[1].minute * 60 + hours[1].second
            - buffer - int(duration.total_seconds())
        )
        first = -(-lowest // _GRID_SECONDS) * _GRID_SECONDS
        seconds.update(range(first, highest + 1, _GRID_SECONDS))
    return [time(s // 3600, s % 3600 // 60) for s in sorted(seconds) if 0 <= s < 86400]


def _alternatives(search: _Search, request: TalkRequest, wanted: int) -> list[datetime]:
    now, limits = search.now, search.limits
    tried: set[datetime] = {start.astimezone(UTC) for start in request.preferred_starts}
    found: list[datetime] = []
    desired = [_local_naive(start) for start in request.preferred_starts]

    def consider(start: datetime | None) -> bool:
        """Take ``start`` if new and free; True when enough were found."""
        if start is not None and start not in tried:
            tried.add(start)
            if search.anyone_fits(start):
                found.append(start)
        return len(found) >= wanted

    # 1. the same local time of day on nearby weekdays
    for distance in range(1, limits.alternative_window_days + 1):
        for wish in desired:
            for day in (wish.date() - timedelta(days=distance), wish.date() + timedelta(days=distance)):
                if day.weekday() < 5 and consider(_candidate(day, wish.time())):
                    return found

    # 2. other starts on a 30-minute grid on those days, nearest a desired start first
    days: set[date] = set()
    for wish in desired:
        days.update(_window(wish.date(), now, limits))
    grids = {weekday: _grid_times(search.consultants, weekday, request.duration) for weekday in range(5)}
    ranked: list[tuple[timedelta, int, datetime]] = []
    for day in days:
        for clock in grids[day.weekday()]:
            naive = datetime.combine(day, clock)
            gap, index = min((abs(naive - wish), index) for index, wish in enumerate(desired))
            ranked.append((gap, index, naive))
    ranked.sort()
    for _, _, naive in ranked:
        if consider(_candidate(naive.date(), naive.time())):
            break
    return found


def grid_starts(consultants: Sequence[Consultant], day: date, duration: timedelta) -> list[datetime]:
    """The starts (UTC) on the 30-minute local grid of ``day`` that lie within some consultant's working
    hours with the buffers: the candidates :func:`available_starts` checks for that day."""
    starts = (_candidate(day, clock) for clock in _grid_times(consultants, day.weekday(), duration))
    return [start for start in starts if start is not None]


def available_starts(
    theme: str,
    duration: timedelta,
    days: Iterable[date],
    consultants: Sequence[Consultant],
    calendar: Calendar,
    *,
    now: datetime,
    limits: SearchLimits = SearchLimits(),
) -> list[Choice]:
    """Every start on the 30-minute local grid of ``days`` at which :func:`place` would place a talk
    of ``theme`` and ``duration`` now: the same rules, checked by the same search, so a start listed
    here is placed at exactly that time while it stays free. Chronological; the ``consultant_id`` of
    each is the first who fits (by id), not the one a placement would choose (that one is decided by
    the week balance when the talk is placed).

    ``calendar`` must hold the talks and busy times of the consultants on ``days``.
    """
    _require_aware(now, "now")
    eligible = sorted((c for c in consultants if gives_theme(c, theme)), key=lambda c: c.id)
    search = _Search(duration, eligible, calendar, now, limits)
    grids = {weekday: _grid_times(eligible, weekday, duration) for weekday in range(7)}
    free: list[Choice] = []
    for day in sorted(set(days)):
        for clock in grids[day.weekday()]:
            start = _candidate(day, clock)
            if start is None:
                continue
            fitting = search.first_fitting(start)
            if fitting is not None:
                free.append(Choice(fitting.id, start, start + duration))
    return free


def _first_in_order(search: _Search, starts: Iterable[datetime]) -> Choice | None:
    """The first of ``starts`` some consultant fits, with the consultant a placement chooses: the fewest
    talks that ISO week, then consultant id (the search's consultants are sorted by id)."""
    for preferred in starts:
        start = preferred.astimezone(UTC)
        candidates = search.fitting(start)
        if candidates:
            day = to_local(start).date()
            chosen = candidates[0]
            if len(candidates) > 1:
                chosen = min(candidates, key=lambda c: search.week_load(c, day))
            return Choice(chosen.id, start, start + search.duration)
    return None


def first_free(
    request: TalkRequest,
    consultants: Sequence[Consultant],
    calendar: Calendar,
    *,
    now: datetime,
    limits: SearchLimits = SearchLimits(),
) -> Choice | None:
    """The first of the request's starts, in its order, at which :func:`place` would place the talk now
    (same rules, same choice of consultant), or None: no alternatives are searched. The waitlist asks
    this of every waiting request when a time frees.

    ``calendar`` must hold the consultants' talks on the local dates of the starts and their ISO weeks.
    """
    _require_aware(now, "now")
    eligible = sorted((c for c in consultants if gives_theme(c, request.theme)), key=lambda c: c.id)
    if not eligible:
        return None
    search = _Search(request.duration, eligible, calendar, now, limits, request.booking_id)
    return _first_in_order(search, request.preferred_starts)


def place(
    request: TalkRequest,
    consultants: Sequence[Consultant],
    calendar: Calendar,
    *,
    now: datetime,
    limits: SearchLimits = SearchLimits(),
) -> Choice | NoPlacement:
    """Place the talk at the first preferred start where some consultant fits, or propose alternatives.

    ``calendar`` must hold the talks of the candidate consultants for (at least) the local dates
    :func:`days_needed` returns; no other day is looked up.
    """
    _require_aware(now, "now")
    ids = [consultant.id for consultant in consultants]
    if len(set(ids)) != len(ids):
        raise ValueError("consultant ids must be unique")
    eligible = sorted((c for c in consultants if gives_theme(c, request.theme)), key=lambda c: c.id)
    if not eligible:
        return NoPlacement((), f"no consultant gives the theme {request.theme!r}")

    search = _Search(request.duration, eligible, calendar, now, limits, request.booking_id)
    chosen = _first_in_order(search, request.preferred_starts)
    if chosen is not None:
        return chosen

    reasons = " | ".join(search.explain(start.astimezone(UTC)) for start in request.preferred_starts)
    alternatives = _alternatives(search, request, limits.alternatives) if limits.alternatives > 0 else []
    summary = (
        f"none of the {len(request.preferred_starts)} preferred start(s) fits a consultant "
        f"giving {request.theme!r} ({reasons}); {len(alternatives)} alternative(s) found"
    )
    return NoPlacement(tuple(alternatives), summary)
