"""Benchmark of the scheduler's slot search (figures in docs/performance.md). Prints figures; not a test.

    python bench/bench_slot_search.py [--requests 5000] [--seed 7]

(a) 5 consultants with a year of talks (~400 each, spread over the weekdays, at most 2 a day, a
    three-week summer holiday each, two of them giving only some themes), many random requests:
    median and p99 time per ``place()`` call.
(b) growth: 10, 100, 1,000 and 10,000 reservations per consultant (and 400 again, as the
    reference; beyond 400 the talks go on into further years at the same density of 400 a year),
    the same requests: the time per placement must stay flat, since ``place()`` only looks up
    the days of the request (``days_needed``). Below 400 the calendars are nearly empty, so more
    requests are placed at once and the overall median is lower; compare the medians per outcome.

Only ``place()`` is timed (``time.perf_counter``); building the calendar is not. The calendar is
not changed by the requests, so every request meets the same load.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time as clock
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.scheduler.domain import (
    Choice,
    Consultant,
    DictCalendar,
    NoPlacement,
    SearchLimits,
    Talk,
    TalkRequest,
    days_needed,
    fits,
    place,
)
from shared.text.localtime import localize

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
THEMES = ("smidighed", "kommunikation-og-kultur", "selvledelse", "alene-arbejde",
          "vaner-og-forandringer", "tid-paa-arbejde")
TALKS_PER_YEAR = 400
TALK_TIMES = [time(h, m) for h in range(9, 14) for m in (0, 30)]  # 09:00..13:30 local
WISHED_TIMES = [time(9), time(9, 30), time(10), time(12), time(12, 30), time(13)]


def make_consultants() -> list[Consultant]:
    hours = {weekday: (time(8), time(16)) for weekday in range(5)}
    consultants = []
    for index in range(5):
        holiday = date(2027, 6, 28) + timedelta(weeks=index % 3)
        themes = None if index < 3 else frozenset(THEMES[index - 3:index + 1])
        consultants.append(Consultant(
            id=f"konsulent-{index + 1}", name=f"Konsulent {index + 1}", email=f"k{index + 1}@example.dk",
            phone=None, working_hours=hours, absences=((holiday, holiday + timedelta(days=20)),),
            themes=themes,
        ))
    return consultants


def weekdays(first: date, last: date) -> list[date]:
    days = (first + timedelta(days=offset) for offset in range((last - first).days + 1))
    return [day for day in days if day.weekday() < 5]


def years_for(per_consultant: int) -> float:
    """The span of the talks: one year, or more at the same density of TALKS_PER_YEAR."""
    return max(1.0, per_consultant / TALKS_PER_YEAR)


def fill_calendar(
    consultants: Sequence[Consultant], per_consultant: int, rng: random.Random, first: date = date(2027, 1, 1)
) -> DictCalendar:
    """``per_consultant`` talks each, about TALKS_PER_YEAR a year from ``first`` on, placed where they fit."""
    calendar = DictCalendar()
    days = weekdays(first, first + timedelta(days=round(365 * years_for(per_consultant)) - 1))
    serial = 0
    for consultant in consultants:
        days_of = [day for day in days if not consultant.is_absent(day)]
        placed = 0
        while placed < per_consultant:
            day = rng.choice(days_of)
            start = localize(datetime.combine(day, rng.choice(TALK_TIMES))).astimezone(UTC)
            end = start + timedelta(minutes=rng.choice((90, 120)))
            if fits(consultant, start, end, calendar):
                serial += 1
                calendar.add(consultant.id, Talk(f"existing-{serial}", start, end))
                placed += 1
    return calendar


def make_requests(count: int, rng: random.Random) -> list[TalkRequest]:
    days = weekdays(date(2027, 1, 20), date(2027, 12, 20))
    requests = []
    for serial in range(count):
        starts = tuple(
            localize(datetime.combine(rng.choice(days), rng.choice(WISHED_TIMES))).astimezone(UTC)
            for _ in range(rng.randint(1, 3))
        )
        requests.append(TalkRequest(f"bench-{serial}", rng.choice(THEMES),
                                    timedelta(minutes=rng.choice((90, 120))), starts))
    return requests


@dataclass
class Figures:
    median_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    placed_share: float
    median_placed_ms: float
    median_alternatives_ms: float


def percentile(sorted_values: Sequence[float], share: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, round(share * (len(sorted_values) - 1)))]


def run(
    consultants: Sequence[Consultant], calendar: DictCalendar, requests: Sequence[TalkRequest]
) -> Figures:
    limits = SearchLimits()
    for request in requests[:200]:  # warm up
        place(request, consultants, calendar, now=NOW, limits=limits)
    times: list[float] = []
    placed_times: list[float] = []
    alternative_times: list[float] = []
    for request in requests:
        started = clock.perf_counter()
        result = place(request, consultants, calendar, now=NOW, limits=limits)
        elapsed = (clock.perf_counter() - started) * 1000
        times.append(elapsed)
        if isinstance(result, Choice):
            placed_times.append(elapsed)
        else:
            assert isinstance(result, NoPlacement)
            alternative_times.append(elapsed)
    ordered = sorted(times)
    return Figures(
        median_ms=statistics.median(ordered),
        p99_ms=percentile(ordered, 0.99),
        mean_ms=statistics.fmean(ordered),
        max_ms=ordered[-1],
        placed_share=len(placed_times) / len(times),
        median_placed_ms=statistics.median(placed_times) if placed_times else float("nan"),
        median_alternatives_ms=statistics.median(alternative_times) if alternative_times else float("nan"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=5000, help="requests per run (default 5000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    print(f"slot search benchmark: Python {platform.python_version()} on {platform.machine()}, "
          f"{args.requests} random requests per run, now = {NOW:%Y-%m-%d %H:%M}Z")
    consultants = make_consultants()
    requests = make_requests(args.requests, rng)
    needed = statistics.median(len(days_needed(request, NOW)) for request in requests)
    print(f"median days looked at per request (days_needed): {needed:.0f}")

    print("\n(a) 5 consultants, a year of talks (~400 each, max 2 a day)")
    calendar = fill_calendar(consultants, TALKS_PER_YEAR, rng)
    figures = run(consultants, calendar, requests)
    print(f"    reservations: {len(calendar)} in all")
    print(f"    per place(): median {figures.median_ms:.3f} ms, p99 {figures.p99_ms:.3f} ms, "
          f"mean {figures.mean_ms:.3f} ms, max {figures.max_ms:.3f} ms")
    print(f"    placed at a preferred start: {figures.placed_share:.0%} "
          f"(median {figures.median_placed_ms:.3f} ms); "
          f"alternatives proposed: {1 - figures.placed_share:.0%} "
          f"(median {figures.median_alternatives_ms:.3f} ms)")

    print("\n(b) growth with the reservations per consultant")
    print(f"    {'per consultant':>14} {'in all':>8} {'years':>5} {'median ms':>10} {'p99 ms':>8} "
          f"{'placed':>7} {'med. placed':>11} {'med. altern.':>12}")
    for per_consultant in (10, 100, TALKS_PER_YEAR, 1_000, 10_000):
        calendar = fill_calendar(consultants, per_consultant, rng)
        figures = run(consultants, calendar, requests)
        years = years_for(per_consultant)
        print(f"    {per_consultant:>14,} {len(calendar):>8,} {years:>5.1f} {figures.median_ms:>10.3f} "
              f"{figures.p99_ms:>8.3f} {figures.placed_share:>7.0%} {figures.median_placed_ms:>11.3f} "
              f"{figures.median_alternatives_ms:>12.3f}")


if __name__ == "__main__":
    main()
