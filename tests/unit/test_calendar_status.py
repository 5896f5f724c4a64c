"""Fresh, failing or stale, and what a search sees of it (services.scheduler.calendars.status)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from services.scheduler.calendars.status import (
    UNKNOWN_REASON,
    Health,
    SourceState,
    blocks_placement,
    busy_times,
    health,
    months_of,
    unknown_days,
)
from services.scheduler.domain import Consultant, DictCalendar, why_not
from shared.text.localtime import LOCAL_TZ

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
SIX_HOURS = timedelta(hours=6)
DAYS = [date(2027, 3, 16), date(2027, 3, 17)]


def state(**changes: Any) -> SourceState:
    fields: dict[str, Any] = {
        "consultant_id": "anne",
        "source_id": "s1",
        "kind": "feed",
        "created_at": NOW - timedelta(days=10),
        "attempted_at": NOW - timedelta(minutes=3),
        "succeeded_at": NOW - timedelta(minutes=3),
        "expanded_until": NOW + timedelta(days=370),
    }
    fields.update(changes)
    return SourceState(**fields)


def local(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=LOCAL_TZ).astimezone(UTC)


def test_health_follows_the_last_good_read() -> None:
    assert health(state(), NOW, SIX_HOURS) is Health.OK
    assert health(state(error="HTTP 503"), NOW, SIX_HOURS) is Health.FAILING
    old = NOW - timedelta(hours=7)
    assert health(state(error="HTTP 503", succeeded_at=old), NOW, SIX_HOURS) is Health.STALE
    assert health(state(attempted_at=None, succeeded_at=None), NOW, SIX_HOURS) is Health.PENDING
    assert health(state(succeeded_at=None, error="HTTP 404"), NOW, SIX_HOURS) is Health.STALE


def test_a_failing_source_keeps_its_busy_times_and_blocks_nothing_more() -> None:
    failing = state(error="HTTP 503", succeeded_at=NOW - timedelta(hours=5))
    assert unknown_days(failing, DAYS, NOW, SIX_HOURS, "busy") == []
    assert not blocks_placement(failing, NOW, SIX_HOURS, "busy")


def test_a_stale_or_unread_source_makes_every_day_unknown_with_policy_busy() -> None:
    stale = state(error="HTTP 503", succeeded_at=NOW - timedelta(hours=7))
    assert unknown_days(stale, DAYS, NOW, SIX_HOURS, "busy") == DAYS
    assert blocks_placement(stale, NOW, SIX_HOURS, "busy")
    assert unknown_days(state(attempted_at=None, succeeded_at=None), DAYS, NOW, SIX_HOURS, "busy") == DAYS
    assert unknown_days(stale, DAYS, NOW, SIX_HOURS, "keep") == []
    assert not blocks_placement(stale, NOW, SIX_HOURS, "keep")


def test_days_beyond_the_expansion_are_unknown() -> None:
    short = state(expanded_until=local(date(2027, 3, 17), 0))
    assert unknown_days(short, DAYS, NOW, SIX_HOURS, "busy") == [date(2027, 3, 17)]


def bucket(start: datetime, end: datetime, source_id: str = "s1") -> dict[str, Any]:
    return {"consultant_id": "anne", "source_id": source_id, "month": "2027-03", "busy": [{"start": start, "end": end}]}


def test_busy_times_of_the_search_days_only_and_once() -> None:
    meeting = (local(DAYS[0], 10), local(DAYS[0], 11))
    other_day = (local(date(2027, 3, 20), 10), local(date(2027, 3, 20), 11))
    result = busy_times(
        [bucket(*meeting), bucket(*meeting), bucket(*other_day)],
        [state()],
        DAYS,
        now=NOW,
        stale_after=SIX_HOURS,
        policy="busy",
    )
    assert [(cid, b.start, b.end) for cid, b in result.busy] == [("anne", *meeting)]
    assert result.unknown == []


def test_buckets_of_a_removed_source_are_ignored() -> None:
    result = busy_times(
        [bucket(local(DAYS[0], 10), local(DAYS[0], 11), source_id="gone")],
        [state()],
        DAYS,
        now=NOW,
        stale_after=SIX_HOURS,
        policy="busy",
    )
    assert result.busy == []


def test_a_stale_source_closes_the_consultants_days_in_the_search() -> None:
    result = busy_times(
        [], [state(succeeded_at=None, error="HTTP 404")], DAYS, now=NOW, stale_after=SIX_HOURS, policy="busy"
    )
    calendar = DictCalendar()
    result.add_to(calendar)
    all_day = {weekday: (time(0), time(23, 59)) for weekday in range(7)}
    anne = Consultant("anne", "Anne", "anne@example.dk", None, all_day)
    assert why_not(anne, local(DAYS[0], 10), local(DAYS[0], 12), calendar) == UNKNOWN_REASON
    assert why_not(anne, local(date(2027, 3, 18), 10), local(date(2027, 3, 18), 12), calendar) is None


def test_months_of_days() -> None:
    assert months_of([date(2027, 3, 31), date(2027, 4, 1), date(2027, 3, 2)]) == ["2027-03", "2027-04"]
