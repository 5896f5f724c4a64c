"""Consultants' own calendars on real servers.

The scheduler runs in-process on real RabbitMQ and a MongoDB-protocol server (as in
``test_scheduler.py``); the calendars it reads are published by a local HTTP server
(``calendar_servers.FeedServer``) or kept in a real Radicale CalDAV server started on a free
loopback port. The consultants are registered through the admin API, as an admin would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import caldav
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from services.scheduler.app import create_app as create_scheduler_app
from services.scheduler.calendars.expand import Window
from services.scheduler.calendars.feeds import FeedFetcher
from services.scheduler.calendars.fetching import FetchFailed
from services.scheduler.calendars.service import EXTERNAL_CALENDARS, ExternalCalendars
from services.scheduler.calendars.sources import SourceAccess
from shared.infra.settings import Settings
from shared.text.localtime import LOCAL_TZ
from tests.integration.calendar_servers import FeedServer, Radicale, feed_server, radicale_server
from tests.integration.test_scheduler import (  # noqa: F401 - the bus fixture is used by name
    ADMIN,
    Bus,
    bus_fixture,
    consultant_body,
    new_booking_id,
    requested,
    running,
)
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

CALENDAR_KEY = "zXz8n0m3Yc8cQ3t3nJrWqf9V3d6kq0tD3Xn2Jx1m5a8="


# --- iCalendar text ---


def stamp(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%Y%m%dT%H%M%S")


def vcalendar(*events: str) -> str:
    body = "\r\n".join(e.strip().replace("\n", "\r\n") for e in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}\r\nEND:VCALENDAR\r\n"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ)


def tuesday_ahead(days: int) -> date:
    day = datetime.now(LOCAL_TZ).date() + timedelta(days=days)
    return day + timedelta(days=(1 - day.weekday()) % 7)


def weekly_meeting(
    first: date, *, cancelled: date | None = None, moved: tuple[date, date] | None = None, uid: str = "team@example.dk"
) -> str:
    """Tuesdays 12:00–13:00 Copenhagen time from ``first`` (12 weeks), without ``cancelled`` (EXDATE),
    and the occurrence of ``moved[0]`` moved to 14:00–15:00 on ``moved[1]`` (RECURRENCE-ID)."""
    exdate = f"EXDATE;TZID=Europe/Copenhagen:{stamp(at(cancelled, 12))}\n" if cancelled else ""
    series = f"""
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Copenhagen:{stamp(at(first, 12))}
DTEND;TZID=Europe/Copenhagen:{stamp(at(first, 13))}
RRULE:FREQ=WEEKLY;COUNT=12
{exdate}SUMMARY:Teammøde
END:VEVENT
"""
    if moved is None:
        return series
    return series + f"""
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20260101T000000Z
RECURRENCE-ID;TZID=Europe/Copenhagen:{stamp(at(moved[0], 12))}
DTSTART;TZID=Europe/Copenhagen:{stamp(at(moved[1], 14))}
DTEND;TZID=Europe/Copenhagen:{stamp(at(moved[1], 15))}
SUMMARY:Teammøde (flyttet)
END:VEVENT
"""


# --- fixtures ---


@pytest_asyncio.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    async with feed_server() as server:
        yield server


@pytest.fixture(scope="module")
def radicale() -> Iterator[Radicale]:
    with radicale_server() as server:
        yield server


def calendar_settings(settings: Settings, **changes: Any) -> Settings:
    update: dict[str, Any] = {
        "calendar_key": CALENDAR_KEY,
        "calendar_refresh_seconds": 0.3,
        "calendar_fetch_timeout_seconds": 5.0,
    }
    update.update(changes)
    return Settings(**{**settings.model_dump(), **update})


@pytest_asyncio.fixture
async def scheduler(settings: Settings, bus: Bus) -> AsyncIterator[TestClient[Any, Any]]:
    async with running(create_scheduler_app(calendar_settings(settings))) as client:
        yield client


def calendars_of(client: TestClient[Any, Any]) -> ExternalCalendars:
    return client.server.app[EXTERNAL_CALENDARS]


async def register(client: TestClient[Any, Any], *sources: dict[str, str], consultant_id: str = "anne") -> None:
    body = consultant_body(consultant_id, external_calendars=list(sources))
    response = await client.put(f"/api/v1/consultants/{consultant_id}", json=body, headers=ADMIN)
    assert response.status in (200, 201), await response.text()


async def calendar_status(client: TestClient[Any, Any], consultant_id: str = "anne") -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/consultants/{consultant_id}", headers=ADMIN)
    return list((await response.json())["external_calendars"])


async def wait_for_status(client: TestClient[Any, Any], status: str, consultant_id: str = "anne") -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        sources = await calendar_status(client, consultant_id)
        return sources[0] if sources and sources[0]["status"] == status else None

    return dict(await eventually(probe, f"calendar status {status}"))


async def busy_starts(client: TestClient[Any, Any], days: list[date], consultant_id: str = "anne") -> list[str]:
    """The busy times a search over ``days`` sees, as local 'YYYY-MM-DD HH:MM-HH:MM'."""
    found = await calendars_of(client).busy_for([consultant_id], days, datetime.now(UTC))
    return sorted(
        f"{b.start.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}-{b.end.astimezone(LOCAL_TZ):%H:%M}" for _, b in found.busy
    )


def fetches(kind: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("inspiration_calendar_fetches_total", {"kind": kind, "outcome": outcome}) or 0.0


def days_from(first: date, count: int) -> list[date]:
    return [first + timedelta(days=offset) for offset in range(count)]


# --- iCalendar feeds ---


async def test_a_published_weekly_meeting_is_busy_except_where_cancelled_or_moved(
    scheduler: TestClient[Any, Any], feeds: FeedServer
) -> None:
    first = tuesday_ahead(20)
    cancelled, moved = first + timedelta(weeks=1), first + timedelta(weeks=2)
    url = feeds.publish("anne", vcalendar(weekly_meeting(first, cancelled=cancelled, moved=(moved, moved))))

    await register(scheduler, {"url": url})
    source = await wait_for_status(scheduler, "ok")

    assert source["kind"] == "feed" and source["url"] == url and source["error"] is None
    assert source["blocks_placement"] is False
    assert source["busy_times"] == 12 - 1
    assert await busy_starts(scheduler, days_from(first, 22)) == [
        f"{first} 12:00-13:00",
        f"{moved} 14:00-15:00",
        f"{first + timedelta(weeks=3)} 12:00-13:00",
    ]


async def test_an_unchanged_feed_is_not_downloaded_again(scheduler: TestClient[Any, Any], feeds: FeedServer) -> None:
    first = tuesday_ahead(20)
    url = feeds.publish("anne", vcalendar(weekly_meeting(first)))
    unchanged_before = fetches("feed", "unchanged")
    await register(scheduler, {"url": url})
    await wait_for_status(scheduler, "ok")

    # refreshed every 0.3 s here: the next reads are conditional and answered 304
    await eventually(lambda: feeds.statuses("anne").count(304) >= 2, "two conditional reads")
    assert feeds.statuses("anne")[0] == 200
    conditional = [headers for name, headers in feeds.requests[1:] if name == "anne"]
    assert all(h.get("If-None-Match", "").startswith('"') for h in conditional)
    assert all("If-Modified-Since" in h for h in conditional)
    assert fetches("feed", "unchanged") >= unchanged_before + 2

    # a change is picked up by the next read
    assert await busy_starts(scheduler, [first]) == [f"{first} 12:00-13:00"]
    feeds.publish("anne", vcalendar(weekly_meeting(first, cancelled=first)))

    async def first_meeting_gone() -> bool:
        return await busy_starts(scheduler, [first]) == []

    await eventually(first_meeting_gone, "the cancelled first meeting gone")


async def test_a_feed_that_goes_down_keeps_its_busy_times_and_shows_the_failure(
    scheduler: TestClient[Any, Any], feeds: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    first = tuesday_ahead(20)
    url = feeds.publish("anne", vcalendar(weekly_meeting(first)))
    await register(scheduler, {"url": url})
    await wait_for_status(scheduler, "ok")
    failed_before = fetches("feed", "failed")

    with caplog.at_level(logging.WARNING, logger="services.scheduler.calendars"):
        feeds.down.add("anne")
        failing = await wait_for_status(scheduler, "failing")

    assert failing["error"] == "HTTP 503"
    assert failing["blocks_placement"] is False  # the last known busy times are young enough
    assert failing["last_success"] is not None
    assert await busy_starts(scheduler, [first]) == [f"{first} 12:00-13:00"]
    assert fetches("feed", "failed") > failed_before
    lines = [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()]
    assert lines and "HTTP 503" in lines[0]
    assert all(url not in line and "127.0.0.1" not in line and "anne" not in line for line in lines)

    feeds.down.discard("anne")
    recovered = await wait_for_status(scheduler, "ok")
    assert recovered["error"] is None
    assert await busy_starts(scheduler, [first]) == [f"{first} 12:00-13:00"]


async def test_a_feed_never_read_makes_the_consultant_busy_and_says_so(
    scheduler: TestClient[Any, Any], feeds: FeedServer
) -> None:
    await register(scheduler, {"url": feeds.url("nothing-here")})

    source = await wait_for_status(scheduler, "stale")

    assert source["error"] == "HTTP 404" and source["blocks_placement"] is True
    day = tuesday_ahead(20)
    found = await calendars_of(scheduler).busy_for(["anne"], [day], datetime.now(UTC))
    assert found.unknown == [("anne", day)]
    blocked = "inspiration_calendar_blocked_consultants"
    await eventually(lambda: (REGISTRY.get_sample_value(blocked) or 0) >= 1, "the blocked-consultants gauge")


async def test_a_huge_feed_is_expanded_only_for_the_window(
    settings: Settings, bus: Bus, feeds: FeedServer, db: Any
) -> None:
    # 3,000 one-hour events spread over ten years, five years back and five ahead
    today = datetime.now(LOCAL_TZ).date()
    starts = [at(today - timedelta(days=1826) + timedelta(days=(i * 1217) % 3652), 8 + i % 8) for i in range(3000)]
    events = [
        f"BEGIN:VEVENT\nUID:e{i}@example.dk\nDTSTAMP:20260101T000000Z\nDTSTART;TZID=Europe/Copenhagen:{stamp(s)}\n"
        f"DTEND;TZID=Europe/Copenhagen:{stamp(s + timedelta(hours=1))}\nEND:VEVENT"
        for i, s in enumerate(starts)
    ]
    url = feeds.publish("big", vcalendar(*events))
    configured = calendar_settings(settings, calendar_refresh_seconds=300, max_ahead_days=60)
    async with running(create_scheduler_app(configured)) as client:
        await register(client, {"url": url})
        source = await wait_for_status(client, "ok")

    window_end = datetime.now(UTC) + timedelta(days=60 + 7)
    in_window = [s for s in starts if s.date() >= today and s < window_end]
    assert 0 < source["busy_times"] <= len(in_window) + 1  # +1: one may start in the last seconds
    assert source["busy_times"] >= len(in_window) - 1
    months = {doc["month"] async for doc in db["calendar_busy"].find({})}
    assert len(months) <= 4  # about 67 days: never the ten years


# --- limits of a read ---


async def test_a_feed_over_the_size_limit_or_too_slow_is_a_failure(feeds: FeedServer) -> None:
    feeds.publish("large", "X" * 5000)
    window = Window(datetime.now(UTC), datetime.now(UTC) + timedelta(days=1))
    async with aiohttp.ClientSession() as session:
        small = FeedFetcher(session, timeout=5, max_bytes=1000)
        with pytest.raises(FetchFailed, match="larger than the limit"):
            await small.fetch(SourceAccess(url=feeds.url("large"), kind="feed"), None, window)

        async def slow(request: aiohttp.web.Request) -> aiohttp.web.Response:
            await asyncio.sleep(2)
            return aiohttp.web.Response(text="late")

        app = aiohttp.web.Application()
        app.router.add_get("/slow.ics", slow)
        runner = aiohttp.web.AppRunner(app)
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            hasty = FeedFetcher(session, timeout=0.3, max_bytes=1000)
            with pytest.raises(FetchFailed, match=r"no complete answer within 0\.3 s"):
                await hasty.fetch(SourceAccess(url=f"http://127.0.0.1:{port}/slow.ics", kind="feed"), None, window)
        finally:
            await runner.cleanup()


# --- CalDAV (Radicale) ---


def caldav_calendar(server: Radicale, name: str, *resources: str) -> str:
    """A new calendar collection holding ``resources`` (one VCALENDAR each); returns its URL."""
    client = caldav.DAVClient(url=server.url, username=server.username, password=server.password)
    calendar = client.principal().make_calendar(name=name, cal_id=name)
    for resource in resources:
        calendar.save_event(resource)
    return str(calendar.url)


NEW_YORK_MONDAYS = """
BEGIN:VEVENT
UID:ny@example.com
DTSTAMP:20260101T000000Z
DTSTART;TZID=America/New_York:{start}
DTEND;TZID=America/New_York:{end}
RRULE:FREQ=WEEKLY;COUNT=60
END:VEVENT
"""


def next_monday_before_us_dst(today: date) -> date:
    """A Monday a few weeks ahead that lies in early March (the US changes clocks 2nd Sunday of March)."""
    year = today.year + 1 if today >= date(today.year, 2, 1) else today.year
    day = date(year, 3, 1)
    return day + timedelta(days=(7 - day.weekday()) % 7)


async def test_a_caldav_calendar_with_recurrence_time_zones_all_day_and_transparent_events(
    settings: Settings, bus: Bus, radicale: Radicale, db: Any
) -> None:
    first = tuesday_ahead(20)
    cancelled, moved = first + timedelta(weeks=1), first + timedelta(weeks=2)
    wednesday = moved + timedelta(days=1)
    monday = next_monday_before_us_dst(datetime.now(LOCAL_TZ).date())
    ny_start = datetime(monday.year, monday.month, monday.day, 9, 0)
    all_day = first + timedelta(days=2)
    url = caldav_calendar(
        radicale,
        "arbejde",
        vcalendar(weekly_meeting(first, cancelled=cancelled, moved=(moved, wednesday))),
        vcalendar(NEW_YORK_MONDAYS.format(start=f"{ny_start:%Y%m%dT%H%M%S}", end=f"{ny_start:%Y%m%d}T100000")),
        vcalendar(
            f"BEGIN:VEVENT\nUID:kursus@example.dk\nDTSTAMP:20260101T000000Z\nDTSTART;VALUE=DATE:{all_day:%Y%m%d}\n"
            f"DTEND;VALUE=DATE:{all_day + timedelta(days=2):%Y%m%d}\nEND:VEVENT"
        ),
        vcalendar(
            f"BEGIN:VEVENT\nUID:fri@example.dk\nDTSTAMP:20260101T000000Z\n"
            f"DTSTART;TZID=Europe/Copenhagen:{stamp(at(first, 9))}\n"
            f"DTEND;TZID=Europe/Copenhagen:{stamp(at(first, 10))}\n"
            "TRANSP:TRANSPARENT\nEND:VEVENT"
        ),
    )
    source = {"url": url, "username": radicale.username, "password": radicale.password}
    async with running(create_scheduler_app(calendar_settings(settings, calendar_refresh_seconds=300))) as client:
        await register(client, source)
        shown = await wait_for_status(client, "ok")

        assert shown["kind"] == "caldav" and shown["username"] == "anne" and shown["has_password"] is True
        assert radicale.password not in str(await (await client.get("/api/v1/consultants", headers=ADMIN)).text())
        stored = await db["consultants"].find_one({"_id": "anne"})
        assert radicale.password not in str(stored)
        assert stored["external_calendars"][0]["password_sealed"]

        assert await busy_starts(client, days_from(first, 22)) == [
            f"{first} 12:00-13:00",  # the transparent 09:00 event is not busy
            f"{all_day} 00:00-00:00",  # two whole days
            f"{wednesday} 14:00-15:00",  # moved from Tuesday
            f"{first + timedelta(weeks=3)} 12:00-13:00",
        ]
        # Mondays 09:00 New York: 15:00 here before the US change, 14:00 between the two changes,
        # 15:00 again once Denmark has changed too
        mondays = [monday + timedelta(weeks=w) for w in range(5)]
        us_change = date(monday.year, 3, 8) + timedelta(days=(6 - date(monday.year, 3, 8).weekday()) % 7)
        eu_change = date(monday.year, 3, 31) - timedelta(days=(date(monday.year, 3, 31).weekday() + 1) % 7)
        expected = [
            f"{d} {'14' if us_change < d < eu_change else '15'}:00-{'15' if us_change < d < eu_change else '16'}:00"
            for d in mondays
        ]
        assert await busy_starts(client, mondays) == expected

        # a PUT without the password keeps it; nothing changed in the collection, so nothing is downloaded
        unchanged_before = fetches("caldav", "unchanged")
        await register(client, {"url": url, "username": radicale.username})
        await eventually(lambda: fetches("caldav", "unchanged") > unchanged_before, "an unchanged CalDAV read")
        assert (await calendar_status(client))[0]["status"] == "ok"


async def test_a_refused_caldav_password_is_shown_as_the_reason(
    settings: Settings, bus: Bus, radicale: Radicale
) -> None:
    url = caldav_calendar(radicale, "privat")
    async with running(create_scheduler_app(calendar_settings(settings, calendar_refresh_seconds=300))) as client:
        await register(client, {"url": url, "username": radicale.username, "password": "forkert"})
        shown = await wait_for_status(client, "stale")
    assert "refused the username or password" in shown["error"]
    assert shown["blocks_placement"] is True


async def test_a_caldav_password_needs_the_calendar_key(settings: Settings, bus: Bus) -> None:
    async with running(create_scheduler_app(calendar_settings(settings, calendar_key=None))) as client:
        caldav_source = {"url": "https://dav.example.dk/", "username": "a", "password": "b"}
        body = consultant_body("anne", external_calendars=[caldav_source])
        response = await client.post("/api/v1/consultants", json=body, headers=ADMIN)
        errors = (await response.json())["errors"]
    assert response.status == 422
    assert errors[0]["field"] == "external_calendars.0"
    assert "CALENDAR_KEY" in errors[0]["message"]


# --- the whole path: a booking is placed around the consultant's own meetings ---


async def test_no_talk_on_top_of_the_tuesday_meeting_except_the_week_it_was_cancelled(
    scheduler: TestClient[Any, Any], bus: Bus, feeds: FeedServer
) -> None:
    first = tuesday_ahead(21)
    cancelled = first + timedelta(weeks=1)
    url = feeds.publish("anne", vcalendar(weekly_meeting(first - timedelta(weeks=4), cancelled=cancelled)))
    await register(scheduler, {"url": url})
    await wait_for_status(scheduler, "ok")

    on_meeting, in_cancelled_week = new_booking_id(), new_booking_id()
    await bus.publish(requested(on_meeting, at(first, 13)))
    await bus.publish(requested(in_cancelled_week, at(cancelled, 13)))

    refused = await bus.outcome(on_meeting)
    assert refused.type == "booking.needs_alternative"
    assert "busy in their own calendar" in refused.data.reason
    assert refused.data.alternatives
    meetings = [at(first + timedelta(weeks=w), 12) for w in range(-3, 4) if first + timedelta(weeks=w) != cancelled]
    for alternative in refused.data.alternatives:
        for meeting in meetings:
            clear = alternative + timedelta(hours=3) <= meeting or meeting + timedelta(hours=2) <= alternative
            assert clear, f"alternative {alternative.astimezone(LOCAL_TZ)} is on top of the meeting {meeting}"

    placed = await bus.outcome(in_cancelled_week)
    assert placed.type == "booking.scheduled"
    assert placed.data.slot.start == at(cancelled, 13)
    assert placed.data.slot.consultant.id == "anne"
