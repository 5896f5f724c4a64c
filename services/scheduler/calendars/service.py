"""What the rest of the scheduler uses of the external calendars: one object, built from the
settings by :func:`calendars_ctx` (an aiohttp ``cleanup_ctx`` step that also runs the refresher)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from services.scheduler.calendars.caldav_source import CalDavFetcher
from services.scheduler.calendars.credentials import CredentialCipher
from services.scheduler.calendars.feeds import FeedFetcher
from services.scheduler.calendars.refresher import Refresher, RefreshSettings
from services.scheduler.calendars.sources import ExternalCalendar, SourceAccess, access_of, input_context
from services.scheduler.calendars.status import BusyTimes, SourceState, busy_times
from services.scheduler.calendars.store import BusyStore
from services.scheduler.calendars.views import sources_view
from services.scheduler.consultants import ConsultantIn, StoredConsultant
from services.scheduler.store import MongoCalendarStore
from shared.infra.resources import DB, SETTINGS
from shared.infra.settings import Settings

log = logging.getLogger(__name__)


class ConsultantLookup(Protocol):
    async def get_consultant(self, consultant_id: str) -> StoredConsultant | None: ...


class ExternalCalendars:
    def __init__(
        self,
        store: BusyStore,
        consultants: ConsultantLookup,
        cipher: CredentialCipher | None,
        settings: RefreshSettings,
        refresher: Refresher | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self._consultants = consultants
        self._cipher = cipher
        self.settings = settings
        self.refresher = refresher
        self._clock = clock

    # --- consultants given and changed ------------------------------------------------------------

    def input_context(self) -> dict[str, Any]:
        """Validation context for a consultant given by a person (seals CalDAV passwords)."""
        return input_context(self._cipher)

    async def consultant_saved(self, consultant_id: str, sources: Sequence[ExternalCalendar]) -> None:
        """Fetch the consultant's sources now, and forget the ones removed."""
        await self.store.sync_sources(consultant_id, [(s.id, s.kind) for s in sources], self._clock())
        if self.refresher is not None:
            self.refresher.wake()

    async def consultant_deleted(self, consultant_id: str) -> None:
        await self.store.forget(consultant_id)

    async def access(self, consultant_id: str, source_id: str) -> SourceAccess | None:
        stored = await self._consultants.get_consultant(consultant_id)
        for source in stored.consultant.external_calendars if stored else ():
            if source.id == source_id:
                return access_of(source, self._cipher)
        return None

    # --- the admin API ----------------------------------------------------------------------------

    async def views(self, consultants: Iterable[ConsultantIn]) -> dict[str, list[dict[str, Any]]]:
        """The ``external_calendars`` to show for each consultant, by consultant id."""
        consultants = list(consultants)
        with_sources = [consultant.id for consultant in consultants if consultant.external_calendars]
        states: dict[str, dict[str, SourceState]] = {}
        if with_sources:
            for state_doc in await self.store.states(with_sources):
                state = SourceState.from_doc(state_doc)
                states.setdefault(state.consultant_id, {})[state.source_id] = state
        now = self._clock()
        return {
            consultant.id: sources_view(
                consultant.external_calendars,
                states.get(consultant.id, {}),
                now=now,
                stale_after=self.settings.stale_after,
                policy=self.settings.policy,
            )
            for consultant in consultants
        }

    # --- the handlers' port (BusyTimesSource) ---------------------------------------------------

    async def busy_for(self, consultant_ids: Collection[str], days: Collection[date], now: datetime) -> BusyTimes:
        buckets, state_docs = await self.store.load_for_search(consultant_ids, days)
        if not state_docs:
            return BusyTimes()
        return busy_times(
            buckets,
            [SourceState.from_doc(doc) for doc in state_docs],
            days,
            now=now,
            stale_after=self.settings.stale_after,
            policy=self.settings.policy,
        )


def refresh_settings(settings: Settings) -> RefreshSettings:
    return RefreshSettings(
        refresh_interval=timedelta(seconds=settings.calendar_refresh_seconds),
        window_days=settings.max_ahead_days,
        stale_after=timedelta(minutes=settings.calendar_stale_after_minutes),
        policy=settings.calendar_when_stale,
        lease=timedelta(seconds=max(60.0, 3 * settings.calendar_fetch_timeout_seconds)),
    )


def build(
    settings: Settings,
    store: BusyStore,
    consultants: ConsultantLookup,
    session: aiohttp.ClientSession,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ExternalCalendars:
    key = settings.calendar_key.get_secret_value() if settings.calendar_key else None
    calendars = ExternalCalendars(
        store, consultants, CredentialCipher.from_setting(key), refresh_settings(settings), clock=clock
    )
    timeout, cap = settings.calendar_fetch_timeout_seconds, settings.calendar_max_bytes
    calendars.refresher = Refresher(
        store,
        calendars,
        {
            "feed": FeedFetcher(session, timeout=timeout, max_bytes=cap),
            "caldav": CalDavFetcher(timeout=timeout, max_bytes=cap),
        },
        calendars.settings,
        clock,
    )
    return calendars


EXTERNAL_CALENDARS = web.AppKey("external_calendars", ExternalCalendars)


async def calendars_ctx(app: web.Application) -> AsyncIterator[None]:
    """Builds :class:`ExternalCalendars` into ``app[EXTERNAL_CALENDARS]`` and runs its refresher
    (after ``mongo_ctx``). On shutdown the refresher stops; a read in flight is abandoned and
    repeated next time."""
    db = app[DB]
    async with aiohttp.ClientSession() as session:
        calendars = build(app[SETTINGS], BusyStore(db), MongoCalendarStore(db), session)
        app[EXTERNAL_CALENDARS] = calendars
        assert calendars.refresher is not None
        task = asyncio.create_task(calendars.refresher.run(), name="calendar-refresher")
        yield
        calendars.refresher.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
