"""Keeps the busy times fresh: every source is read when it is added or changed and then every
``refresh_interval``; one replica at a time reads a source (a lease in its state document).

A read is conditional (HTTP validators, CalDAV sync-token) while the stored expansion still
reaches ``window_days`` ahead; the expansion goes ``margin`` further than that, so a full read is
needed about once per margin even for a source that never changes. A failure keeps the last known
busy times, is stored as the source's ``error`` and logged with the source's opaque id only.
"""

from __future__ import annotations

import asyncio
import logging
import time as monotonic
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.scheduler.calendars import metrics
from services.scheduler.calendars.credentials import CredentialsUnreadable
from services.scheduler.calendars.expand import Interval, InvalidCalendarData, Window, busy_intervals, parse_calendar
from services.scheduler.calendars.fetching import CalendarFetcher, Fetched, FetchFailed, Unchanged, Validators
from services.scheduler.calendars.sources import SourceAccess
from services.scheduler.calendars.status import Health, SourceState, StalePolicy, blocks_placement, health
from shared.infra.mongo import Document
from shared.infra.poller import Poller
from shared.text.localtime import LOCAL_TZ

log = logging.getLogger(__name__)


class RefreshStore(Protocol):
    """What the refresher needs of :class:`~services.scheduler.calendars.store.BusyStore`."""

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[Document]: ...

    async def next_due(self) -> datetime | None: ...

    async def record_fetched(
        self,
        doc: Document,
        *,
        intervals: Sequence[Interval],
        expanded_until: datetime,
        validators: Validators,
        now: datetime,
        next_due: datetime,
    ) -> int: ...

    async def record_unchanged(self, doc: Document, *, now: datetime, next_due: datetime) -> None: ...

    async def record_failure(self, doc: Document, *, error: str, now: datetime, next_due: datetime) -> None: ...

    async def forget(self, consultant_id: str, source_id: str | None = None) -> None: ...

    async def states(self, consultant_ids: Iterable[str] | None = None) -> list[Document]: ...


class SourceLookup(Protocol):
    async def access(self, consultant_id: str, source_id: str) -> SourceAccess | None:
        """How to read the source, or None if the consultant no longer has it."""
        ...


@dataclass(frozen=True)
class RefreshSettings:
    refresh_interval: timedelta = timedelta(minutes=5)
    window_days: int = 365
    margin: timedelta = timedelta(days=7)
    stale_after: timedelta = timedelta(hours=6)
    policy: StalePolicy = "busy"
    lease: timedelta = timedelta(minutes=2)
    batch: int = 20
    concurrency: int = 4


def window_for(now: datetime, settings: RefreshSettings) -> Window:
    """From the start of today (Copenhagen) to ``window_days`` plus the margin ahead."""
    today = now.astimezone(LOCAL_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    return Window(today, now + timedelta(days=settings.window_days) + settings.margin)


def expand(data: bytes, window: Window) -> list[Interval]:
    return busy_intervals(parse_calendar(data), window)


class Refresher:
    def __init__(
        self,
        store: RefreshStore,
        lookup: SourceLookup,
        fetchers: Mapping[str, CalendarFetcher],
        settings: RefreshSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._lookup = lookup
        self._fetchers = fetchers
        self._settings = settings
        self._clock = clock
        # A read in flight at shutdown is abandoned (its lease runs out): no last pass.
        self._poller = Poller(
            "calendar refresher",
            self._one_pass,
            interval=self._pause,
            last_pass=False,
            fallback=settings.refresh_interval.total_seconds(),
        )

    def wake(self) -> None:
        """Look for due sources now (a consultant was created or changed)."""
        self._poller.wake()

    def stop(self) -> None:
        self._poller.stop()

    async def run(self) -> None:
        await self._poller.run()

    async def _one_pass(self) -> int:
        claimed = await self.refresh_due()
        if not claimed:
            await self.update_gauges()
        return claimed

    async def _pause(self) -> float:
        upcoming = await self._store.next_due()
        ceiling = self._settings.refresh_interval.total_seconds()
        if upcoming is None:
            return ceiling
        # A source already due is being read by another replica (its lease): look again in a second.
        return min(ceiling, max(min(1.0, ceiling), (upcoming - self._clock()).total_seconds()))

    async def refresh_due(self) -> int:
        """Read every source due now (up to one batch); returns how many were claimed."""
        claimed = await self._store.claim_due(self._clock(), self._settings.lease, self._settings.batch)
        if claimed:
            gate = asyncio.Semaphore(self._settings.concurrency)

            async def one(doc: Document) -> None:
                async with gate:
                    await self.refresh(doc)

            await asyncio.gather(*(one(doc) for doc in claimed))
        return len(claimed)

    async def refresh(self, doc: Document) -> None:
        """Read one claimed source and store the outcome."""
        consultant_id, source_id, kind = doc["consultant_id"], doc["source_id"], doc.get("kind", "feed")
        now = self._clock()
        next_due = now + self._settings.refresh_interval
        try:
            access = await self._lookup.access(consultant_id, source_id)
        except (CredentialsUnreadable, ValueError) as exc:
            await self._failed(doc, kind, str(exc), now, next_due)
            return
        if access is None:
            await self._store.forget(consultant_id, source_id)
            return
        window = window_for(now, self._settings)
        expanded_until = doc.get("expanded_until")
        conditional = expanded_until is not None and expanded_until >= now + timedelta(days=self._settings.window_days)
        previous = (
            Validators(doc.get("etag"), doc.get("last_modified"), doc.get("collection_tag")) if conditional else None
        )
        fetcher = self._fetchers[access.kind]
        started = monotonic.perf_counter()
        try:
            outcome = await fetcher.fetch(access, previous, window)
            metrics.FETCH_SECONDS.labels(kind).observe(monotonic.perf_counter() - started)
            if isinstance(outcome, Unchanged):
                await self._store.record_unchanged(doc, now=now, next_due=next_due)
                metrics.FETCHES.labels(kind, "unchanged").inc()
                return
            assert isinstance(outcome, Fetched)
            expanding = monotonic.perf_counter()
            try:
                # parsing a big calendar takes CPU for a while: keep the event loop free meanwhile
                intervals = await asyncio.to_thread(expand, outcome.data, window)
            except InvalidCalendarData as exc:
                raise FetchFailed(str(exc)) from None
            metrics.EXPAND_SECONDS.observe(monotonic.perf_counter() - expanding)
            await self._store.record_fetched(
                doc,
                intervals=intervals,
                expanded_until=window.end,
                validators=outcome.validators,
                now=now,
                next_due=next_due,
            )
            metrics.FETCHES.labels(kind, "fetched").inc()
            if doc.get("error"):
                log.info("calendar source %s read again", source_id, extra={"calendar_source": source_id})
        except FetchFailed as exc:
            await self._failed(doc, kind, exc.reason, now, next_due)
        except Exception as exc:  # a library's surprise must still show on the source, not only in a log
            log.exception("calendar source %s: unexpected error", source_id, extra={"calendar_source": source_id})
            await self._failed(doc, kind, f"unexpected error ({type(exc).__name__})", now, next_due)

    async def _failed(self, doc: Document, kind: str, reason: str, now: datetime, next_due: datetime) -> None:
        metrics.FETCHES.labels(kind, "failed").inc()
        await self._store.record_failure(doc, error=reason, now=now, next_due=next_due)
        state = SourceState.from_doc({**doc, "attempted_at": now, "error": reason})
        log.warning(
            "calendar source %s could not be read: %s (%s)",
            doc["source_id"],
            reason,
            health(state, now, self._settings.stale_after).value,
            extra={"calendar_source": doc["source_id"], "calendar_kind": kind, "failures": doc.get("failures", 0) + 1},
        )

    async def update_gauges(self) -> None:
        now = self._clock()
        states = [SourceState.from_doc(doc) for doc in await self._store.states()]
        counts = dict.fromkeys(Health, 0)
        blocked: set[str] = set()
        for state in states:
            counts[health(state, now, self._settings.stale_after)] += 1
            if blocks_placement(state, now, self._settings.stale_after, self._settings.policy):
                blocked.add(state.consultant_id)
        for value, count in counts.items():
            metrics.SOURCES.labels(value.value).set(count)
        metrics.BLOCKED_CONSULTANTS.set(len(blocked))
