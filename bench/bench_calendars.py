"""Benchmark of the consultants' own calendars. Prints figures; not a test.

    python bench/bench_calendars.py [--events 5000] [--rounds 5] [--requests 5000] [--seed 7]

(a) Fetch + expand + store of a 5,000-event feed: a local HTTP server publishes a feed of
    ``--events`` events over ten years (five back, five ahead; 50 of them weekly series, the rest
    single events, all in Europe/Copenhagen), a SecantusDB server started for the run stores the
    busy times (``BusyStore``, ``retryWrites=false`` as in the other benchmarks). Per round, on a
    fresh source: the first read (download, parse and expand for the 365 + 7 days window, write the
    months), the read of the unchanged feed (a conditional GET answered 304), and the read after one
    event moved (only its month is rewritten). Each stage is timed on its own, and the whole
    ``Refresher.refresh`` as the service runs it.
(b) Placement with busy times: the slot-search benchmark's 5 consultants with a year of talks
    (``bench_slot_search``), the same random requests, without and with busy times from each
    consultant's own calendar (a weekly team meeting, about six other meetings a week, an all-day
    event a month): median and p99 per ``place()``; and the time to load a search's busy times
    from SecantusDB (``ExternalCalendars.busy_for``: two queries at once) for those consultants.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import sys
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import aiohttp  # noqa: E402
import bench_slot_search as slot_bench  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402

from services.scheduler.calendars.expand import Interval, Window, busy_intervals, parse_calendar  # noqa: E402
from services.scheduler.calendars.feeds import FeedFetcher  # noqa: E402
from services.scheduler.calendars.fetching import Fetched, Validators  # noqa: E402
from services.scheduler.calendars.refresher import Refresher, RefreshSettings  # noqa: E402
from services.scheduler.calendars.service import ExternalCalendars  # noqa: E402
from services.scheduler.calendars.sources import SourceAccess  # noqa: E402
from services.scheduler.calendars.store import INDEXES, BusyStore  # noqa: E402
from services.scheduler.domain import Busy, DictCalendar, days_needed  # noqa: E402
from shared.infra.mongo import ensure_indexes  # noqa: E402
from shared.text.localtime import LOCAL_TZ, localize  # noqa: E402
from tests.backends import secantus_server  # noqa: E402
from tests.integration.calendar_servers import feed_server  # noqa: E402

SETTINGS = RefreshSettings()


def stamp(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%Y%m%dT%H%M%S")


def feed(events: int, now: datetime, rng: random.Random, added: bool = False) -> str:
    """``events`` events over ten years around ``now``; ``added``: one more, a month ahead."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//EN", "X-WR-TIMEZONE:Europe/Copenhagen"]
    first = now.astimezone(LOCAL_TZ).date() - timedelta(days=5 * 365)
    for index in range(events):
        day = first + timedelta(days=rng.randrange(3650))
        start = localize(datetime.combine(day, time(rng.randrange(8, 16), rng.choice((0, 30)))))
        lines += [
            "BEGIN:VEVENT",
            f"UID:event-{index}@bench.example.dk",
            "DTSTAMP:20260101T000000Z",
            f"DTSTART;TZID=Europe/Copenhagen:{stamp(start)}",
            f"DTEND;TZID=Europe/Copenhagen:{stamp(start + timedelta(minutes=rng.choice((30, 60, 90))))}",
            "SUMMARY:Møde",
        ]
        if index < 50:  # weekly series of a few months to a few years
            lines.append(f"RRULE:FREQ=WEEKLY;COUNT={rng.randrange(10, 150)}")
        lines.append("END:VEVENT")
    if added:
        start = localize(datetime.combine(now.astimezone(LOCAL_TZ).date() + timedelta(days=30), time(7)))
        lines += ["BEGIN:VEVENT", "UID:added@bench.example.dk", "DTSTAMP:20260101T000000Z",
                  f"DTSTART;TZID=Europe/Copenhagen:{stamp(start)}",
                  f"DTEND;TZID=Europe/Copenhagen:{stamp(start + timedelta(minutes=30))}", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 0.1 else f"{seconds * 1000:,.0f} ms"


class OneSource:
    def __init__(self, access: SourceAccess) -> None:
        self.value = access

    async def access(self, consultant_id: str, source_id: str) -> SourceAccess:
        return self.value


async def part_a(args: argparse.Namespace, mongodb_url: str) -> None:
    now = datetime.now(UTC)
    text = feed(args.events, now, random.Random(args.seed))
    changed = feed(args.events, now, random.Random(args.seed), added=True)
    print(f"\n(a) fetch + expand + store: a feed of {args.events:,} events over ten years, "
          f"{len(text.encode()) / 1024:,.0f} KiB; window {SETTINGS.window_days} + {SETTINGS.margin.days} days")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    db = client["bench_calendars"]
    await client.drop_database("bench_calendars")
    await ensure_indexes(db, INDEXES)
    store = BusyStore(db)
    stages: dict[str, list[float]] = {k: [] for k in (
        "download", "parse + expand", "store (first)", "first read in all", "unchanged read in all",
        "changed read in all", "months rewritten")}
    intervals: list[Interval] = []
    async with feed_server() as server, aiohttp.ClientSession() as session:
        fetcher = FeedFetcher(session, timeout=60, max_bytes=50 * 1024 * 1024)
        for round_ in range(args.rounds):
            name = f"feed{round_}"
            url = server.publish(name, text)
            access = SourceAccess(url=url, kind="feed")
            window = Window(now.astimezone(LOCAL_TZ).replace(hour=0, minute=0, second=0, microsecond=0),
                            now + timedelta(days=SETTINGS.window_days) + SETTINGS.margin)

            started = clock.perf_counter()
            fetched = await fetcher.fetch(access, None, window)
            stages["download"].append(clock.perf_counter() - started)
            assert isinstance(fetched, Fetched)
            started = clock.perf_counter()
            intervals = busy_intervals(parse_calendar(fetched.data), window)
            stages["parse + expand"].append(clock.perf_counter() - started)
            consultant = f"stage{round_}"
            await store.sync_sources(consultant, [("s", "feed")], now)
            doc = await db["calendar_sources"].find_one({"_id": f"{consultant}|s"})
            started = clock.perf_counter()
            await store.record_fetched(doc, intervals=intervals, expanded_until=window.end,
                                       validators=Validators(), now=now, next_due=now)
            stages["store (first)"].append(clock.perf_counter() - started)

            # the whole refresh as the service does it, on a fresh source
            refresher = Refresher(store, OneSource(access), {"feed": fetcher}, SETTINGS, lambda: datetime.now(UTC))
            consultant = f"whole{round_}"
            await store.sync_sources(consultant, [("s", "feed")], now)
            for label in ("first read in all", "unchanged read in all", "changed read in all"):
                if label == "changed read in all":
                    server.publish(name, changed)
                doc = await db["calendar_sources"].find_one({"_id": f"{consultant}|s"})
                started = clock.perf_counter()
                await refresher.refresh(doc)
                stages[label].append(clock.perf_counter() - started)
            state = await db["calendar_sources"].find_one({"_id": f"{consultant}|s"})
            assert state is not None and state["error"] is None, state
            months = await db["calendar_busy"].count_documents({"consultant_id": consultant})
        statuses = server.statuses(name)
    rewritten = await rewritten_months(store, text, changed, now)
    await client.drop_database("bench_calendars")
    await client.close()
    print(f"    busy intervals stored: {len(intervals):,} in {months} month documents "
          f"(of {args.events:,} events, {len(text.encode()) // 1024:,} KiB); "
          f"answers to the whole-refresh rounds: {statuses}")
    print(f"    {'stage':<24} {'median':>9} {'min':>9} {'max':>9}   ({args.rounds} rounds)")
    for label, values in stages.items():
        if values:
            print(f"    {label:<24} {ms(statistics.median(values)):>9} {ms(min(values)):>9} {ms(max(values)):>9}")
    print(f"    months rewritten after one event was added: {rewritten}")


async def rewritten_months(store: BusyStore, before: str, after: str, now: datetime) -> int:
    window = Window(now - timedelta(days=1), now + timedelta(days=372))
    from services.scheduler.calendars.store import by_month

    old = by_month(busy_intervals(parse_calendar(before), window))
    new = by_month(busy_intervals(parse_calendar(after), window))
    return sum(1 for month in old.keys() | new.keys() if old.get(month) != new.get(month))


def own_calendar_busy(consultant_id: str, rng: random.Random) -> list[Busy]:
    """A year of a consultant's own meetings from 2027: Tuesday team meeting, ~6 more a week,
    one all-day event a month."""
    busy: list[Busy] = []
    day = date(2027, 1, 1)
    while day < date(2028, 1, 1):
        if day.weekday() == 1:
            start = localize(datetime.combine(day, time(12))).astimezone(UTC)
            busy.append(Busy(start, start + timedelta(hours=1)))
        if day.weekday() < 5:
            for _ in range(rng.choice((0, 1, 1, 2))):
                start = localize(datetime.combine(day, time(rng.randrange(8, 16), rng.choice((0, 30))))).astimezone(UTC)
                busy.append(Busy(start, start + timedelta(minutes=rng.choice((30, 60, 90)))))
        if day.day == 15:
            start = datetime.combine(day, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)
            busy.append(Busy(start, start + timedelta(days=1)))
        day += timedelta(days=1)
    return busy


async def part_b(args: argparse.Namespace, mongodb_url: str) -> None:
    rng = random.Random(args.seed)
    consultants = slot_bench.make_consultants()
    requests = slot_bench.make_requests(args.requests, rng)
    calendar = slot_bench.fill_calendar(consultants, slot_bench.TALKS_PER_YEAR, rng)
    print(f"\n(b) placement with busy times: 5 consultants, {len(calendar):,} talks, {len(requests):,} requests")
    plain = slot_bench.run(consultants, calendar, requests)

    own = {c.id: own_calendar_busy(c.id, rng) for c in consultants}
    with_busy = DictCalendar()
    for consultant in consultants:
        for talk_day in range(0, 400):
            day = date(2027, 1, 1) + timedelta(days=talk_day)
            for talk in calendar.talks_on(consultant.id, day):
                with_busy.add(consultant.id, talk)
        for held in own[consultant.id]:
            with_busy.add_busy(consultant.id, held)
    busy = slot_bench.run(consultants, with_busy, requests)
    total_busy = sum(len(v) for v in own.values())
    print(f"    own-calendar busy times: {total_busy:,} in all ({total_busy // 5:,} per consultant)")
    print(f"    {'':<22} {'median':>9} {'p99':>9} {'mean':>9} {'placed':>7}")
    for label, figures in (("talks only", plain), ("talks + busy times", busy)):
        print(f"    {label:<22} {figures.median_ms:>8.3f}ms {figures.p99_ms:>8.3f}ms {figures.mean_ms:>8.3f}ms "
              f"{figures.placed_share:>7.0%}")

    # loading one search's busy times from SecantusDB
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    db = client["bench_calendars_load"]
    await client.drop_database("bench_calendars_load")
    await ensure_indexes(db, INDEXES)
    store = BusyStore(db)
    now = slot_bench.NOW
    for consultant in consultants:
        await store.sync_sources(consultant.id, [("own", "feed")], now)
        doc = await db["calendar_sources"].find_one({"_id": f"{consultant.id}|own"})
        intervals = [Interval(b.start, b.end) for b in own[consultant.id]]
        await store.record_fetched(doc, intervals=intervals, expanded_until=now + timedelta(days=372),
                                   validators=Validators(), now=now, next_due=now + timedelta(days=1))
    calendars = ExternalCalendars(store, consultants=None, cipher=None, settings=SETTINGS)  # type: ignore[arg-type]
    ids = [c.id for c in consultants]
    loads: list[float] = []
    for request in requests[: args.loads]:
        days = days_needed(request, now)
        started = clock.perf_counter()
        await calendars.busy_for(ids, days, now)
        loads.append(clock.perf_counter() - started)
    await client.drop_database("bench_calendars_load")
    await client.close()
    loads.sort()
    print(f"    loading a search's busy times (busy_for, {len(loads)} searches): "
          f"median {ms(statistics.median(loads))}, p99 {ms(slot_bench.percentile(loads, 0.99))}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--loads", type=int, default=300, help="searches whose busy times are loaded (b)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"calendars benchmark: Python {platform.python_version()} on {platform.machine()}")
    with secantus_server() as server_url:
        mongodb_url = f"{server_url}&retryWrites=false"
        await part_a(args, mongodb_url)
        await part_b(args, mongodb_url)


if __name__ == "__main__":
    asyncio.run(main())
