"""In-memory fakes of the scheduler's store Protocols (``services.scheduler.store``), for handler
unit tests that run without a broker or a database. They keep the adapters' rules: a booking's
lease (taken, busy, run out), and a day written only if its version is still the one read."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime, timedelta

from services.scheduler.calendars.sources import ExternalCalendar
from services.scheduler.calendars.status import BusyTimes
from services.scheduler.consultants import ConsultantIn, StoredConsultant
from services.scheduler.days import BookedTalk, Day, local_day
from services.scheduler.domain import Consultant
from services.scheduler.placement import Outcome, Placement
from services.scheduler.store import LEASE, BookingBusy, Claim
from shared.contracts.events import Event


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


class FakePlacements:
    """``PlacementStore``: ``placements`` by booking id, and ``published``, every outcome event stored."""

    def __init__(self) -> None:
        self.placements: dict[str, Placement] = {}
        self.published: list[Event] = []
        self._leases: dict[str, tuple[str, datetime]] = {}  # booking id -> (token, held until)

    def held_by_another_worker(self, booking_id: str, until: datetime) -> None:
        self._leases[booking_id] = ("another worker", until)

    async def claim(self, booking_id: str, now: datetime, *, new: Placement | None = None) -> Claim | None:
        token = uuid.uuid4().hex
        if booking_id not in self.placements:
            if new is None:
                return None
            self.placements[booking_id] = new
            self._leases[booking_id] = (token, now + LEASE)
            return Claim(new, token, fresh=True)
        held = self._leases.get(booking_id)
        if held is not None and held[1] >= now:
            raise BookingBusy(booking_id)
        self._leases[booking_id] = (token, now + LEASE)
        return Claim(self.placements[booking_id], token)

    async def release(self, claim: Claim) -> None:
        if self._holds(claim):
            del self._leases[claim.placement.booking_id]

    async def finish(self, claim: Claim, outcome: Outcome) -> bool:
        if not self._holds(claim):
            return False
        self.placements[claim.placement.booking_id] = outcome.placement
        self.published.extend(outcome.events)
        del self._leases[claim.placement.booking_id]
        return True

    async def save(self, claim: Claim, placement: Placement) -> bool:
        if not self._holds(claim):
            return False
        self.placements[placement.booking_id] = placement
        del self._leases[placement.booking_id]
        return True

    async def erase(self, claim: Claim, placement: Placement) -> None:
        await self.save(claim, placement)

    async def with_contact_email(self, email: str) -> list[Placement]:
        return [p for p in self.placements.values() if p.booking.contact.email == email]

    async def waiting(self) -> list[Placement]:
        waiting = [p for p in self.placements.values() if p.waiting is not None]
        return sorted(waiting, key=lambda p: p.waiting.since if p.waiting else p.updated_at)  # type: ignore[return-value,arg-type]

    async def due_offers(self, now: datetime, limit: int) -> list[str]:
        due = [p.booking_id for p in self.placements.values() if p.open_offer and p.open_offer.expires_at <= now]
        return due[:limit]

    async def next_offer_expiry(self) -> datetime | None:
        return min((p.open_offer.expires_at for p in self.placements.values() if p.open_offer), default=None)

    def of_type(self, event_type: str) -> list[Event]:
        """The published events of one type, in order."""
        return [event for event in self.published if event.type == event_type]

    def _holds(self, claim: Claim) -> bool:
        held = self._leases.get(claim.placement.booking_id)
        return held is not None and held[0] == claim.token


class FakeCalendar:
    """``CalendarStore`` and ``ConsultantStore``: the consultants and their days of talks."""

    def __init__(self, *consultants: ConsultantIn) -> None:
        self.stored = {c.id: StoredConsultant(c, feed_token=f"token-{c.id}") for c in consultants}
        self.days: dict[tuple[str, date], Day] = {}
        self.writes = 0  # attempts, refused ones included
        self.loads = 0  # reads of whole runs of days (``load_run``, for free times)
        self.days_read: list[date] = []  # every day asked for by ``load_days``, in order
        self._first_in: list[tuple[str, BookedTalk]] = []

    def someone_else_books_first(self, consultant_id: str, talk: BookedTalk) -> None:
        """Another replica reserves ``talk`` just before the next write: that write loses the race."""
        self._first_in.append((consultant_id, talk))

    def talks(self, booking_id: str | None = None) -> list[tuple[str, BookedTalk]]:
        """(consultant id, talk) of every stored talk, or of one booking's."""
        return sorted(
            ((day.consultant_id, t) for day in self.days.values() for t in day.talks
             if booking_id is None or t.booking_id == booking_id),
            key=lambda pair: pair[1].start,
        )

    def add_talk(self, consultant_id: str, talk: BookedTalk) -> None:
        """Store a talk as another booking's reservation would."""
        key = (consultant_id, local_day(talk.start))
        day = self.days.get(key, Day(consultant_id, key[1]))
        self.days[key] = dataclasses.replace(day.with_talk(talk), version=day.version + 1)

    # --- CalendarStore ---

    async def consultants(self) -> list[Consultant]:
        return [stored.consultant.to_domain() for _, stored in sorted(self.stored.items())]

    async def load_days(self, consultant_ids: Iterable[str], days: Collection[date]) -> list[Day]:
        self.days_read.extend(days)
        ids = set(consultant_ids)
        return [day for (consultant_id, on), day in self.days.items() if consultant_id in ids and on in days]

    async def load_run(self, consultant_ids: Iterable[str], first: date, last: date) -> list[Day]:
        self.loads += 1
        return self._run_of(consultant_ids, first, last)

    async def run_versions(self, consultant_ids: Iterable[str], first: date, last: date) -> dict[tuple[str, date], int]:
        return {(day.consultant_id, day.day): day.version for day in self._run_of(consultant_ids, first, last)}

    def _run_of(self, consultant_ids: Iterable[str], first: date, last: date) -> list[Day]:
        ids = set(consultant_ids)
        return [day for (consultant_id, on), day in self.days.items() if consultant_id in ids and first <= on <= last]

    async def write_day(self, day: Day) -> bool:
        self.writes += 1
        if self._first_in:
            self.add_talk(*self._first_in.pop(0))
        key = (day.consultant_id, day.day)
        stored = self.days.get(key)
        if (stored.version if stored else 0) != day.version:
            return False
        self.days[key] = dataclasses.replace(day, version=day.version + 1)
        return True

    async def days_holding(self, booking_id: str) -> list[Day]:
        return [day for day in self.days.values() if any(t.booking_id == booking_id for t in day.talks)]

    # --- ConsultantStore ---

    async def upsert_consultant(self, consultant: ConsultantIn) -> tuple[StoredConsultant, bool]:
        before = self.stored.get(consultant.id)
        token = before.feed_token if before else f"token-{consultant.id}"
        self.stored[consultant.id] = StoredConsultant(consultant, token)
        return self.stored[consultant.id], before is None

    async def has_future_talks(self, consultant_id: str, today: date) -> bool:
        return any(day.talks for (c, on), day in self.days.items() if c == consultant_id and on >= today)

    async def delete_consultant(self, consultant_id: str) -> bool:
        return self.stored.pop(consultant_id, None) is not None


class FakeOwnCalendars:
    """``BusyTimesSource`` and ``OwnCalendars``: ``busy`` is what every search gets; what was
    saved and deleted is recorded."""

    def __init__(self, busy: BusyTimes | None = None) -> None:
        self.busy = busy or BusyTimes()
        self.saved: list[tuple[str, list[ExternalCalendar]]] = []
        self.deleted: list[str] = []

    async def busy_for(self, consultant_ids: Collection[str], days: Collection[date], now: datetime) -> BusyTimes:
        return self.busy

    async def consultant_saved(self, consultant_id: str, sources: Sequence[ExternalCalendar]) -> None:
        self.saved.append((consultant_id, list(sources)))

    async def consultant_deleted(self, consultant_id: str) -> None:
        self.deleted.append(consultant_id)
