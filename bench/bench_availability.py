"""Benchmark of the free times (figures in docs/performance.md). Prints figures; not a test.

    python bench/bench_availability.py [--requests 200] [--seed 7]

5 consultants with a year of talks (~400 each, at most 2 a day, a three-week summer holiday each,
two of them giving only some themes: the slot-search benchmark's consultants), from tomorrow on.

(a) The pure search, ``available_starts``: a 4-week window at a random Monday, a random theme and
    duration; and how the time grows with the window (1 to 52 weeks).
(b) Over HTTP, as the form asks: the scheduler's ``GET /api/v1/availability`` and the booking
    service's (which asks the scheduler), both in-process on SecantusDB (``retryWrites=false``) and
    the local RabbitMQ, one request at a time from one client: with the cache off (every answer
    computed: the consultants, their days and busy times read, the search run) and with it on (the
    same window asked again: the consultants, the days' versions and the busy times read, compared,
    and the answer reused); and the growth with the window (1 to 6 weeks, the most one request may
    ask for).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import sys
import time as clock
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import bench_slot_search as slot_bench
from aiohttp import web
from pymongo import AsyncMongoClient

from services.booking.app import create_app as create_booking_app
from services.scheduler.app import create_app as create_scheduler_app
from services.scheduler.consultants import WEEKDAYS, ConsultantIn
from services.scheduler.days import BookedTalk, Day
from services.scheduler.domain import (
    Consultant,
    DictCalendar,
    SearchLimits,
    Talk,
    available_starts,
)
from services.scheduler.store import INDEXES, MongoCalendarStore
from shared.infra.mongo import ensure_indexes
from shared.infra.settings import Settings
from shared.text.localtime import to_local
from tests.backends import free_port, local_vhost, secantus_server

WINDOW_WEEKS = 4
TALKS_PER_CONSULTANT = 400


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def line(label: str, times_ms: Sequence[float], extra: str = "") -> str:
    return (f"    {label:<44} p50 {statistics.median(times_ms):7.2f} ms   p95 {percentile(times_ms, 0.95):7.2f} ms"
            f"   max {max(times_ms):7.2f} ms{extra}")


def fill(consultants: Sequence[Consultant], now: datetime, rng: random.Random) -> dict[tuple[str, date], list[Talk]]:
    """TALKS_PER_CONSULTANT talks each over the year ahead (as the slot-search benchmark places them), by day."""
    first = to_local(now).date() + timedelta(days=1)
    calendar = slot_bench.fill_calendar(consultants, TALKS_PER_CONSULTANT, rng, first=first)
    days = slot_bench.weekdays(first, first + timedelta(days=364))
    return {(c.id, day): list(talks) for c in consultants for day in days if (talks := calendar.talks_on(c.id, day))}


def calendar_of(by_day: dict[tuple[str, date], list[Talk]]) -> DictCalendar:
    return DictCalendar({key: talks for key, talks in by_day.items()})


def mondays(now: datetime, weeks: int) -> list[date]:
    """The Mondays whose window of ``weeks`` lies within the bookable year."""
    first = to_local(now + timedelta(days=14)).date()
    first += timedelta(days=(7 - first.weekday()) % 7)
    last = to_local(now + timedelta(days=365)).date() - timedelta(weeks=weeks)
    return [first + timedelta(weeks=n) for n in range(max(1, (last - first).days // 7 + 1))]


# --- (a) the pure search -----------------------------------------------------------------------------------


def part_a(args: argparse.Namespace, consultants: list[Consultant], calendar: DictCalendar, now: datetime) -> None:
    rng = random.Random(args.seed)
    limits = SearchLimits()
    print(f"\n(a) available_starts, in memory: {len(calendar):,} talks of {len(consultants)} consultants")

    def run(weeks: int, count: int) -> tuple[list[float], float]:
        times, found = [], 0
        starts = mondays(now, weeks)
        for _ in range(count):
            monday = rng.choice(starts)
            days = [monday + timedelta(days=n) for n in range(7 * weeks)]
            theme, minutes = rng.choice(slot_bench.THEMES), rng.choice((90, 120))
            began = clock.perf_counter()
            free = available_starts(theme, timedelta(minutes=minutes), days, consultants, calendar, now=now,
                                    limits=limits)
            times.append((clock.perf_counter() - began) * 1000)
            found += len(free)
        return times, found / count

    run(WINDOW_WEEKS, 20)  # warm up
    times, mean_found = run(WINDOW_WEEKS, args.requests)
    print(line(f"{WINDOW_WEEKS}-week window, {args.requests} requests", times, f"   ({mean_found:.0f} free starts)"))
    print("    growth with the window:")
    for weeks in (1, 2, 4, 6, 13, 26, 52):
        times, mean_found = run(weeks, max(20, args.requests // max(1, weeks // 2)))
        print(line(f"  {weeks:>2} week(s)", times, f"   ({mean_found:.0f} free starts)"))


# --- (b) over HTTP ---------------------------------------------------------------------------------------------


def consultant_in(consultant: Consultant) -> ConsultantIn:
    return ConsultantIn(
        id=consultant.id,
        name=consultant.name,
        email=consultant.email,
        working_hours={WEEKDAYS[d]: (f"{a:%H:%M}", f"{b:%H:%M}") for d, (a, b) in consultant.working_hours.items()},
        absences=[{"start": first, "end": last} for first, last in consultant.absences],  # type: ignore[misc]
        travel_buffer_minutes=int(consultant.travel_buffer.total_seconds() // 60),
        max_talks_per_day=consultant.max_talks_per_day,
        themes=sorted(consultant.themes) if consultant.themes is not None else None,
    )


async def store(mongodb_url: str, db_name: str, consultants: list[Consultant], by_day: dict[Any, list[Talk]]) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    db = client[db_name]
    await ensure_indexes(db, INDEXES)
    calendar = MongoCalendarStore(db)
    for consultant in consultants:
        await calendar.upsert_consultant(consultant_in(consultant))
    for (consultant_id, day), talks in by_day.items():
        booked = tuple(BookedTalk(t.booking_id, t.start, t.end, "selvledelse", "Skovvej 12, 8000 Aarhus C",
                                  "staff_meeting", 18, "Mette Hansen, +4520304050, mette@example.dk")
                       for t in talks)
        assert await calendar.write_day(Day(consultant_id, day, 0, booked))
    await client.close()


async def serve(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def timed(count: int, ask: Callable[[int], Awaitable[None]]) -> list[float]:
    times = []
    for n in range(count):
        began = clock.perf_counter()
        await ask(n)
        times.append((clock.perf_counter() - began) * 1000)
    return times


async def part_b(args: argparse.Namespace, consultants: list[Consultant], by_day: dict[Any, list[Talk]],
                 now: datetime) -> None:
    rng = random.Random(args.seed)
    with secantus_server() as mongo, local_vhost() as amqp:
        mongodb_url = f"{mongo}{'&' if '?' in mongo else '?'}retryWrites=false"
        began = clock.perf_counter()
        await store(mongodb_url, "bench_availability", consultants, by_day)
        print(f"\n(b) over HTTP: {sum(map(len, by_day.values())):,} talks in {len(by_day):,} day documents "
              f"stored in {clock.perf_counter() - began:.1f} s")
        scheduler_port, booking_port = free_port(), free_port()
        base = Settings(mongodb_url=mongodb_url, mongodb_db="bench_availability", amqp_url=amqp,
                        scheduler_url=f"http://127.0.0.1:{scheduler_port}",
                        rate_limit_availability_per_address="off")
        results: dict[str, list[float]] = {}
        for cache_seconds in (0.0, 60.0):
            settings = base.model_copy(update={"availability_cache_seconds": cache_seconds})
            runners = [await serve(create_scheduler_app(settings), scheduler_port),
                       await serve(create_booking_app(settings), booking_port)]
            try:
                async with aiohttp.ClientSession() as session:
                    def asker(port: int, weeks: int, same: bool) -> Callable[[int], Awaitable[None]]:
                        fixed = rng.choice(mondays(now, weeks))

                        async def ask(_: int) -> None:
                            monday = fixed if same else rng.choice(mondays(now, weeks))
                            params = {"theme": "selvledelse", "duration_minutes": "120",
                                      "from": monday.isoformat(),
                                      "to": (monday + timedelta(days=7 * weeks - 1)).isoformat()}
                            async with session.get(f"http://127.0.0.1:{port}/api/v1/availability",
                                                   params=params) as response:
                                assert response.status == 200, await response.text()
                                await response.read()
                        return ask

                    same = cache_seconds > 0  # with the cache: the same window again and again
                    label = "cache on, the same window" if same else "cache off"
                    await timed(10, asker(scheduler_port, WINDOW_WEEKS, same))  # warm up
                    results[f"scheduler, {label}"] = await timed(
                        args.requests, asker(scheduler_port, WINDOW_WEEKS, same))
                    results[f"booking -> scheduler, {label}"] = await timed(
                        args.requests, asker(booking_port, WINDOW_WEEKS, same))
                    if not same:
                        for weeks in (1, 2, 4, 6):
                            results[f"scheduler, cache off, {weeks} week(s)"] = await timed(
                                max(20, args.requests // 2), asker(scheduler_port, weeks, False))
            finally:
                for runner in reversed(runners):
                    await runner.cleanup()
        print(f"    {WINDOW_WEEKS}-week window, {args.requests} requests each, one at a time:")
        for label, times in results.items():
            print(line(label, times))


async def main_async(args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    rng = random.Random(args.seed)
    consultants = slot_bench.make_consultants()
    # the slot-search benchmark's consultants, with their summer holiday moved into the year ahead
    summer = date(to_local(now).year + 1, 7, 5)
    consultants = [
        Consultant(c.id, c.name, c.email, c.phone, c.working_hours,
                   ((summer + timedelta(weeks=i % 3), summer + timedelta(weeks=i % 3, days=20)),),
                   c.travel_buffer, c.max_talks_per_day, c.themes)
        for i, c in enumerate(consultants)
    ]
    by_day = fill(consultants, now, rng)
    print(f"free times benchmark: Python {platform.python_version()} on {platform.machine()}, "
          f"now = {now:%Y-%m-%d %H:%M}Z, working hours {time(8):%H:%M}-{time(16):%H:%M}, 30-minute grid")
    part_a(args, consultants, calendar_of(by_day), now)
    if not args.no_http:
        await part_b(args, consultants, by_day, now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=200, help="requests per measurement (default 200)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-http", action="store_true", help="only the pure search (a)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
