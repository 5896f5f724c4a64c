"""The waitlist at work: a freed time goes to the requests waiting for it, offers run out.

* :func:`match_waiting`: for each waiting request, in the order they started waiting, the first of its
  candidate starts (:func:`~services.scheduler.waitlist.candidate_starts`) that the slot search's
  rules allow now (:func:`~services.scheduler.domain.first_free`); ``auto`` places it at once
  (``booking.scheduled``, or ``booking.rescheduled`` for an earlier time, whose old time frees in turn),
  ``offer`` makes an offer (``booking.offer_made``). Run for the day of a ``booking.time_freed``, and
  for every day by the periodic sweep (:class:`WaitlistWorker`: a consultant added or given more hours,
  an absence shortened, a busy time gone from an own calendar).
* :func:`expire_offers`: open offers past their time are closed (``booking.offer_expired``) and
  their time freed again, so it passes to the next in line.

One replica matches at a time (the ``waitlist`` lock), so one time is offered to one workplace at a
time; each waiting placement is changed under its own lease, like every other outcome.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterable
from datetime import date, datetime, timedelta

from prometheus_client import Counter

from services.scheduler.calendars.status import BusyTimes
from services.scheduler.days import Day, calendar_of
from services.scheduler.domain import Consultant, Talk, TalkRequest, first_free, gives_theme
from services.scheduler.placement import Outcome, Placement
from services.scheduler.reservations import Deps, by_key, release_talks, reserve, slot_of
from services.scheduler.store import BookingBusy
from services.scheduler.waitlist import OfferRecord, candidate_starts, held_talks, offered_before
from shared.infra.poller import Poller
from shared.text.localtime import to_local

log = logging.getLogger(__name__)

LOCK = "waitlist"
LOCK_LEASE = timedelta(seconds=30)
LOCK_WAIT_SECONDS = 5.0  # how long a freed time waits for another replica's matching before retrying later

WAITLIST_OUTCOMES = Counter(
    "inspiration_waitlist_total", "What the waitlist did: offers made, placed directly, offers expired", ["outcome"]
)


class MatcherBusy(BookingBusy):
    """Another replica is matching the waitlist: the freed time is matched once it is done."""


async def match_waiting(deps: Deps, *, days: frozenset[date] | None, wait: bool = True) -> int:
    """Offer or give freed times on ``days`` (None: any day) to the waiting requests; returns how many
    got one. ``wait``: wait a moment for another replica's matching, then raise :class:`MatcherBusy`;
    else give up at once (the periodic sweep comes again)."""
    token = await _lock(deps, wait)
    if token is None:
        if wait:
            raise MatcherBusy("the waitlist is being matched by another replica")
        return 0
    try:
        return await _match(deps, days)
    finally:
        await deps.locks.release(LOCK, token)


async def _lock(deps: Deps, wait: bool) -> str | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (LOCK_WAIT_SECONDS if wait else 0)
    while True:
        token = await deps.locks.acquire(LOCK, deps.clock(), LOCK_LEASE)
        if token is not None or loop.time() >= deadline:
            return token
        await asyncio.sleep(0.05)


async def _match(deps: Deps, days: frozenset[date] | None) -> int:
    waiting = await deps.placements.waiting()
    if not waiting:
        return 0
    now = deps.clock()
    consultants = await deps.calendar.consultants()
    held = held_talks((p.booking_id, offer) for p in waiting for offer in p.offers)
    view = _DaysView(deps, now)
    served = 0
    for placement in waiting:
        if placement.open_offer is not None or placement.waiting is None:
            continue
        outcome = await _serve(deps, placement, consultants, held, view, days, now)
        if outcome is None:
            continue
        served += 1
        offer = outcome.placement.open_offer
        if offer is not None:
            held.extend(held_talks([(placement.booking_id, offer)]))
    return served


async def _serve(
    deps: Deps,
    placement: Placement,
    consultants: list[Consultant],
    held: list[tuple[str, Talk]],
    view: _DaysView,
    days: frozenset[date] | None,
    now: datetime,
) -> Outcome | None:
    """The first time that fits the waiting ``placement``, offered or given; None when none fits (or it
    is busy with an event of its own: the next sweep comes back to it)."""
    assert placement.waiting is not None
    eligible = sorted((c for c in consultants if gives_theme(c, placement.booking.theme)), key=lambda c: c.id)
    duration = timedelta(minutes=placement.booking.duration_minutes)
    starts = candidate_starts(
        placement.waiting,
        duration,
        eligible,
        now=now,
        limits=deps.limits,
        days=days,
        exclude=offered_before(placement.offers),
    )
    if not eligible or not starts:
        return None
    request = TalkRequest(placement.booking_id, placement.booking.theme, duration, tuple(starts))
    needed = _days_of(starts)
    ids = [c.id for c in eligible]
    by_id = {c.id: c for c in eligible}
    for _ in range(5):
        loaded = await view.days(ids, needed)
        calendar = calendar_of(loaded.values())
        (await view.busy(ids, needed)).add_to(calendar)
        for consultant_id, talk in held:
            calendar.add(consultant_id, talk)
        choice = first_free(request, eligible, calendar, now=now, limits=deps.limits)
        if choice is None:
            return None
        try:
            claim = await deps.placements.claim(placement.booking_id, now)
        except BookingBusy:
            return None
        if claim is None or claim.placement.revision != placement.revision:
            if claim is not None:
                await deps.placements.release(claim)
            return None  # changed since it was read: the next sweep sees it as it is now
        consultant = by_id[choice.consultant_id]
        if placement.waiting.mode == "offer":
            offer = OfferRecord.new(choice.consultant_id, choice.start, choice.end, now=now, lasts=deps.offer_for)
            outcome = placement.offered(offer, now=now)
            kind = "offered"
        else:
            if not await reserve(deps, placement.booking_id, placement.booking, consultant, choice, loaded):
                await deps.placements.release(claim)
                view.forget(needed)
                continue  # lost the day to someone else: look again
            slot = slot_of(consultant, choice)
            if placement.slot is not None:
                await release_talks(deps, placement.booking_id, keep=slot)  # its later time frees in turn
            outcome = placement.placed(slot, cause=None, now=now)
            view.forget(needed)
            kind = "placed"
        if not await deps.placements.finish(claim, outcome):
            return None
        WAITLIST_OUTCOMES.labels(kind).inc()
        if kind == "offered":
            deps.offer_made()
        log.info("booking %s: waitlist %s", placement.booking_id, kind, extra={"booking_id": placement.booking_id})
        return outcome
    return None


def _days_of(starts: Iterable[datetime]) -> frozenset[date]:
    """The local dates of ``starts`` and of their ISO weeks (the week balance chooses the consultant)."""
    days: set[date] = set()
    for start in starts:
        day = to_local(start).date()
        monday = day - timedelta(days=day.weekday())
        days.update(monday + timedelta(days=offset) for offset in range(7))
    return frozenset(days)


class _DaysView:
    """The days and busy times one matching pass reads, each read once (a reservation forgets them)."""

    def __init__(self, deps: Deps, now: datetime) -> None:
        self._deps = deps
        self._now = now
        self._days: dict[tuple[str, date], Day | None] = {}

    async def days(self, ids: list[str], days: Collection[date]) -> dict[tuple[str, date], Day]:
        missing = {day for day in days for cid in ids if (cid, day) not in self._days}
        if missing:
            loaded = by_key(await self._deps.calendar.load_days(ids, missing))
            for cid in ids:
                for day in missing:
                    self._days[(cid, day)] = loaded.get((cid, day))
        return {(cid, day): stored for cid in ids for day in days if (stored := self._days.get((cid, day))) is not None}

    async def busy(self, ids: list[str], days: Collection[date]) -> BusyTimes:
        return await self._deps.busy.busy_for(ids, days, self._now)

    def forget(self, days: Collection[date]) -> None:
        for key in [key for key in self._days if key[1] in days]:
            del self._days[key]


# --- offers that run out ---------------------------------------------------------------------------------


async def expire_offers(deps: Deps, limit: int = 50) -> int:
    """Close the open offers whose time is up, each under its booking's lease (so of several replicas
    one expires it, once); their times are freed for the next in line. Returns how many."""
    now = deps.clock()
    expired = 0
    for booking_id in await deps.placements.due_offers(now, limit):
        try:
            claim = await deps.placements.claim(booking_id, now)
        except BookingBusy:
            continue  # another replica (or the booking's own event) has it; looked at again next pass
        if claim is None:
            continue
        offer = claim.placement.open_offer
        if offer is None or offer.expires_at > now:
            await deps.placements.release(claim)
            continue
        if await deps.placements.finish(claim, claim.placement.offer_expired(offer, now=now)):
            expired += 1
            WAITLIST_OUTCOMES.labels("expired").inc()
    return expired


class WaitlistWorker:
    """The periodic side of the waitlist: expires offers when their time is up and sweeps every day for
    the waiting requests every ``sweep_every`` (and when woken: a consultant was saved)."""

    def __init__(self, deps: Deps, sweep_every: timedelta, clock: Callable[[], datetime] | None = None) -> None:
        self._deps = deps
        self._sweep_every = sweep_every
        self._clock = clock or deps.clock
        self._next_sweep: datetime | None = None  # None: sweep on the next pass
        self.poller = Poller("waitlist", self._one_pass, interval=self._pause, last_pass=False, fallback=5.0)

    def watch_expiry(self) -> None:
        """An offer was made: work out the pause again, so its expiry is not missed."""
        self.poller.wake()

    def sweep_soon(self) -> None:
        """Times may have freed on any day (a consultant was added or changed): sweep now."""
        self._next_sweep = None
        self.poller.wake()

    async def _one_pass(self) -> int:
        done = await expire_offers(self._deps)
        now = self._clock()
        if self._next_sweep is None or now >= self._next_sweep:
            self._next_sweep = now + self._sweep_every
            await match_waiting(self._deps, days=None, wait=False)
        return done

    async def _pause(self) -> float:
        now = self._clock()
        sweep = self._next_sweep
        until = self._sweep_every.total_seconds() if sweep is None else (sweep - now).total_seconds()
        upcoming = await self._deps.placements.next_offer_expiry()
        if upcoming is not None:
            until = min(until, (upcoming - now).total_seconds())
        return max(0.2, until)
