"""Benchmark of the waitlist (figures in docs/performance.md). Prints figures; not a test.

    python bench/bench_waitlist.py [--rounds 30] [--waiting 40]

The three services in-process on SecantusDB (``retryWrites=false``) and the local RabbitMQ (a vhost of
its own), one consultant. Before measuring, ``--waiting`` other workplaces wait for a time on a day
that stays full, so the matcher has a waitlist to go through. Each round, on a day of its own: one
workplace books 10.00 and another asks for the same time and waits (``auto`` or ``offer``); then the
first cancels. Measured: from sending the cancellation (``POST /api/v1/bookings/{id}/cancel``) to the
waiting workplace's booking showing the talk (``auto``) or the offer (``offer``) in its API view,
polled every 10 ms: cancel request → outbox → RabbitMQ → scheduler (cancel, ``booking.time_freed``
through its outbox) → scheduler (matching, placement or offer) → outbox → RabbitMQ → booking.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time as clock
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import yaml
from aiohttp import web

from services.booking.app import create_app as create_booking_app
from services.notifier.app import create_app as create_notifier_app
from services.scheduler.app import create_app as create_scheduler_app
from shared.infra.settings import Settings
from shared.text.localtime import LOCAL_TZ
from tests.backends import free_port, local_vhost, secantus_server
from tests.dates import closed
from tests.integration.test_waitlist import CONSULTANT
from tests.mailbox import Mailbox


def bookable_days(first_ahead: int) -> list[datetime]:
    day = datetime.now(LOCAL_TZ).date() + timedelta(days=first_ahead)
    days: list[datetime] = []
    while len(days) < 200:
        if not closed(day):
            days.append(datetime.combine(day, time(10), tzinfo=LOCAL_TZ))
        day += timedelta(days=1)
    return days


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def book(self, start: datetime, waitlist: str) -> tuple[str, str]:
        body = {
            "workplace": {"name": "Bostedet", "address": "Skovvej 12", "postcode": "8000", "city": "Aarhus C"},
            "contact": {"name": "Mette Hansen", "email": "mette@example.dk", "phone": "+45 20 30 40 50"},
            "theme": "selvledelse",
            "setting": "staff_meeting",
            "participants": 18,
            "duration_minutes": 120,
            "preferred_starts": [start.strftime("%Y-%m-%dT%H:%M")],
            "waitlist": waitlist,
        }
        async with self.session.post(f"{self.base}/api/v1/bookings", json=body) as response:
            assert response.status == 201, await response.text()
            created = await response.json()
        return created["id"], created["status_url"].rsplit("token=", 1)[1]

    async def view(self, booking: tuple[str, str]) -> dict[str, Any]:
        async with self.session.get(f"{self.base}/api/v1/bookings/{booking[0]}", params={"token": booking[1]}) as r:
            return dict(await r.json())

    async def until(self, booking: tuple[str, str], done: Any, poll: float = 0.01, timeout: float = 30) -> float:
        began = clock.perf_counter()
        while clock.perf_counter() - began < timeout:
            if done(await self.view(booking)):
                return clock.perf_counter()
            await asyncio.sleep(poll)
        raise TimeoutError(f"{booking[0]} did not get there in {timeout} s")

    async def cancel(self, booking: tuple[str, str]) -> None:
        async with self.session.post(
            f"{self.base}/api/v1/bookings/{booking[0]}/cancel", params={"token": booking[1]}, json={}
        ) as response:
            assert response.status == 202


def scheduled(view: dict[str, Any]) -> bool:
    return bool(view["status"] == "scheduled")


def waiting(view: dict[str, Any]) -> bool:
    return bool(view["status"] == "needs_alternative")


def offered(view: dict[str, Any]) -> bool:
    return bool(view["offers"])


async def serve(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def main_async(args: argparse.Namespace) -> None:
    print(f"Python {platform.python_version()} on {platform.machine()}, {args.rounds} rounds per mode, "
          f"{args.waiting} other workplaces waiting")
    consultants = Path("/tmp") / f"bench-waitlist-{free_port()}.yaml"
    consultants.write_text(yaml.safe_dump({"consultants": [CONSULTANT]}), encoding="utf-8")
    mailbox = Mailbox()  # a real SMTP server: the mail goes out as in production, on the same two cores
    mailbox.start()
    with secantus_server() as mongo, local_vhost() as amqp:
        booking_port = free_port()
        settings = Settings(
            mongodb_url=f"{mongo}{'&' if '?' in mongo else '?'}retryWrites=false",
            mongodb_db="bench_waitlist",
            amqp_url=amqp,
            public_base_url=f"http://127.0.0.1:{booking_port}",
            consultants_file=str(consultants),
            smtp_port=mailbox.port,
            rate_limit_per_address="off",
            rate_limit_per_email="off",
            rate_limit_changes_per_booking="off",
        )
        runners = [
            await serve(create_scheduler_app(settings), free_port()),
            await serve(create_notifier_app(settings), free_port()),
            await serve(create_booking_app(settings), booking_port),
        ]
        try:
            async with aiohttp.ClientSession() as session:
                client = Client(session, f"http://127.0.0.1:{booking_port}")
                days = bookable_days(15)
                full = days.pop(0)
                for hour in (9, 13):  # the full day's two talks, then the others wait for 09.00 there
                    first = await client.book(full.replace(hour=hour), "off")
                    await client.until(first, scheduled)
                for _ in range(args.waiting):
                    other = await client.book(full.replace(hour=9), "offer")
                    await client.until(other, waiting)
                results: dict[str, list[float]] = {}
                for mode, done in (("auto", scheduled), ("offer", offered)):
                    times = results.setdefault(mode, [])
                    for _ in range(args.rounds):
                        start = days.pop(0)
                        first = await client.book(start, "off")
                        await client.until(first, scheduled)
                        second = await client.book(start, mode)
                        await client.until(second, waiting)
                        began = clock.perf_counter()
                        await client.cancel(first)
                        times.append((await client.until(second, done) - began) * 1000)
        finally:
            for runner in reversed(runners):
                await runner.cleanup()
    mailbox.stop()
    consultants.unlink(missing_ok=True)
    print(f"{len(mailbox.received)} mails sent meanwhile")
    print("\nfrom the cancellation to the waiting workplace's talk (auto) or offer (offer), in its API view:")
    print(f"{'mode':<8}{'n':>4}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'max ms':>10}{'mean ms':>10}")
    for mode, times in results.items():
        print(
            f"{mode:<8}{len(times):>4}{percentile(times, 0.5):>10.0f}{percentile(times, 0.9):>10.0f}"
            f"{percentile(times, 0.99):>10.0f}{max(times):>10.0f}{statistics.fmean(times):>10.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--waiting", type=int, default=40)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
