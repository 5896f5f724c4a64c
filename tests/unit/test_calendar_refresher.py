"""The refresher with hand-written fakes for its store, its source lookup and its fetchers."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.scheduler.calendars.expand import Interval, Window
from services.scheduler.calendars.fetching import Fetched, FetchFailed, Unchanged, Validators
from services.scheduler.calendars.refresher import Refresher, RefreshSettings
from services.scheduler.calendars.sources import SourceAccess

pytestmark = pytest.mark.asyncio

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
SETTINGS = RefreshSettings(refresh_interval=timedelta(minutes=5), window_days=365, margin=timedelta(days=7))
FEED_URL = "https://calendar.example.dk/secret-token-123/basic.ics"
MEETING = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:m\r\nDTSTAMP:20260101T000000Z\r\n"
    b"DTSTART;TZID=Europe/Copenhagen:20270302T100000\r\nDTEND;TZID=Europe/Copenhagen:20270302T110000\r\n"
    b"RRULE:FREQ=WEEKLY;COUNT=3\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


class FakeStore:
    def __init__(self, *docs: dict[str, Any]) -> None:
        self.docs = {doc["_id"]: doc for doc in docs}
        self.busy: dict[str, list[Interval]] = {}
        self.forgotten: list[tuple[str, str | None]] = []

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[dict[str, Any]]:
        return [dict(doc) for doc in self.docs.values() if doc["next_due"] <= now][:limit]

    async def next_due(self) -> datetime | None:
        return min((doc["next_due"] for doc in self.docs.values()), default=None)

    async def record_fetched(
        self,
        doc: dict[str, Any],
        *,
        intervals: Sequence[Interval],
        expanded_until: datetime,
        validators: Validators,
        now: datetime,
        next_due: datetime,
    ) -> int:
        self.busy[doc["_id"]] = list(intervals)
        self.docs[doc["_id"]].update(
            etag=validators.etag,
            last_modified=validators.last_modified,
            collection_tag=validators.collection_tag,
            attempted_at=now,
            succeeded_at=now,
            expanded_until=expanded_until,
            error=None,
            next_due=next_due,
        )
        return 1

    async def record_unchanged(self, doc: dict[str, Any], *, now: datetime, next_due: datetime) -> None:
        self.docs[doc["_id"]].update(attempted_at=now, succeeded_at=now, error=None, next_due=next_due)

    async def record_failure(self, doc: dict[str, Any], *, error: str, now: datetime, next_due: datetime) -> None:
        self.docs[doc["_id"]].update(attempted_at=now, error=error, next_due=next_due)

    async def forget(self, consultant_id: str, source_id: str | None = None) -> None:
        self.forgotten.append((consultant_id, source_id))
        self.docs.pop(f"{consultant_id}|{source_id}", None)

    async def states(self, consultant_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        return list(self.docs.values())


class FakeLookup:
    def __init__(self, access: SourceAccess | None) -> None:
        self.value = access

    async def access(self, consultant_id: str, source_id: str) -> SourceAccess | None:
        return self.value


class FakeFetcher:
    """Answers what it is told; records what it was asked."""

    def __init__(self, *answers: Unchanged | Fetched | FetchFailed) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[Validators | None, Window]] = []

    async def fetch(self, access: SourceAccess, previous: Validators | None, window: Window) -> Unchanged | Fetched:
        self.asked.append((previous, window))
        answer = self.answers.pop(0)
        if isinstance(answer, FetchFailed):
            raise answer
        return answer


def source_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": "anne|s1",
        "consultant_id": "anne",
        "source_id": "s1",
        "kind": "feed",
        "created_at": NOW - timedelta(days=1),
        "next_due": NOW,
        "failures": 0,
    }
    doc.update(changes)
    return doc


def refresher(store: FakeStore, fetcher: FakeFetcher, access: SourceAccess | None = None) -> Refresher:
    lookup = FakeLookup(access if access is not None else SourceAccess(url=FEED_URL, kind="feed"))
    return Refresher(store, lookup, {"feed": fetcher, "caldav": fetcher}, SETTINGS, clock=lambda: NOW)


async def test_a_new_source_is_read_in_full_and_its_busy_times_stored() -> None:
    store, fetcher = FakeStore(source_doc()), FakeFetcher(Fetched(MEETING, Validators(etag='"v1"')))
    assert await refresher(store, fetcher).refresh_due() == 1

    previous, window = fetcher.asked[0]
    assert previous is None  # nothing stored yet: no conditional request
    assert window.end == NOW + timedelta(days=365 + 7)
    assert len(store.busy["anne|s1"]) == 3
    state = store.docs["anne|s1"]
    assert (state["etag"], state["succeeded_at"], state["error"]) == ('"v1"', NOW, None)
    assert state["next_due"] == NOW + timedelta(minutes=5)


async def test_a_fresh_expansion_is_read_conditionally_and_unchanged_keeps_the_busy_times() -> None:
    doc = source_doc(
        etag='"v1"', last_modified="Mon, 01 Mar 2027 10:00:00 GMT", expanded_until=NOW + timedelta(days=370)
    )
    store, fetcher = FakeStore(doc), FakeFetcher(Unchanged())
    store.busy["anne|s1"] = [Interval(NOW, NOW + timedelta(hours=1))]
    await refresher(store, fetcher).refresh_due()

    previous, _ = fetcher.asked[0]
    assert previous == Validators(etag='"v1"', last_modified="Mon, 01 Mar 2027 10:00:00 GMT")
    assert store.busy["anne|s1"] == [Interval(NOW, NOW + timedelta(hours=1))]
    assert store.docs["anne|s1"]["succeeded_at"] == NOW


async def test_an_expansion_that_no_longer_reaches_the_window_is_read_in_full() -> None:
    doc = source_doc(etag='"v1"', expanded_until=NOW + timedelta(days=364))
    store, fetcher = FakeStore(doc), FakeFetcher(Fetched(MEETING, Validators(etag='"v1"')))
    await refresher(store, fetcher).refresh_due()
    assert fetcher.asked[0][0] is None


async def test_a_failure_keeps_the_last_busy_times_and_is_logged_without_the_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, fetcher = FakeStore(source_doc(succeeded_at=NOW - timedelta(hours=1))), FakeFetcher(FetchFailed("HTTP 503"))
    store.busy["anne|s1"] = [Interval(NOW, NOW + timedelta(hours=1))]
    with caplog.at_level(logging.WARNING):
        await refresher(store, fetcher).refresh_due()

    assert store.busy["anne|s1"] == [Interval(NOW, NOW + timedelta(hours=1))]
    assert store.docs["anne|s1"]["error"] == "HTTP 503"
    assert store.docs["anne|s1"]["next_due"] == NOW + timedelta(minutes=5)
    [record] = [r for r in caplog.records if "could not be read" in r.getMessage()]
    assert "HTTP 503" in record.getMessage() and "s1" in record.getMessage()
    assert "failing" in record.getMessage()
    for text in (record.getMessage(), str(record.__dict__)):
        assert "secret-token-123" not in text and "calendar.example.dk" not in text and "anne" not in text


async def test_data_that_is_not_icalendar_is_a_failure() -> None:
    store = FakeStore(source_doc())
    await refresher(store, FakeFetcher(Fetched(b"<html>Log ind</html>", Validators()))).refresh_due()
    assert "not iCalendar" in store.docs["anne|s1"]["error"]
    assert "anne|s1" not in store.busy


async def test_a_source_the_consultant_no_longer_has_is_forgotten() -> None:
    store = FakeStore(source_doc())
    lookup_none = Refresher(store, FakeLookup(None), {"feed": FakeFetcher()}, SETTINGS, clock=lambda: NOW)
    await lookup_none.refresh_due()
    assert store.forgotten == [("anne", "s1")]


async def test_nothing_due_nothing_read() -> None:
    store, fetcher = FakeStore(source_doc(next_due=NOW + timedelta(minutes=1))), FakeFetcher()
    assert await refresher(store, fetcher).refresh_due() == 0
    assert fetcher.asked == []


class BrokenFetcher:
    async def fetch(self, access: SourceAccess, previous: Validators | None, window: Window) -> Unchanged | Fetched:
        raise KeyError("surprise")


async def test_an_unexpected_error_is_recorded_on_the_source() -> None:
    store = FakeStore(source_doc())
    broken = Refresher(store, FakeLookup(SourceAccess(url=FEED_URL, kind="feed")), {"feed": BrokenFetcher()},
                       SETTINGS, clock=lambda: NOW)
    await broken.refresh_due()
    assert store.docs["anne|s1"]["error"] == "unexpected error (KeyError)"
    assert store.docs["anne|s1"]["next_due"] == NOW + timedelta(minutes=5)
