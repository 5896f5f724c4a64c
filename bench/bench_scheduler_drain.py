"""Benchmark: drain 2,000 queued booking requests with 1 and with 3 scheduler processes.

    python bench/bench_scheduler_drain.py [--requests 2000] [--replicas 1 3] [--seed 7]

For each number of processes, on a fresh database: 2,000 ``booking.requested`` events (many days,
times, themes, durations and 1–3 desired starts; 5 consultants, some giving only some themes) are
published to ``scheduler.requests`` while no scheduler consumes it; then the scheduler processes
(``python -m services.scheduler``) are started and the clock runs until every request has its
outcome (``scheduled`` or ``needs_alternative``) stored, and until every outcome event is published.
Double bookings are counted from ``consultant_days``: overlapping talks of one consultant (travel
buffer included), days over the daily maximum, and bookings holding more than one talk (0 expected).

Backends: a SecantusDB server started for the run (``tests.backends.secantus_server``), and the
machine's RabbitMQ, in a virtual host of its own when ``rabbitmqctl`` is at hand (so no other
consumer, such as a service left running, takes the messages); otherwise the default one, which
must then have no consumer on ``scheduler.requests``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aio_pika  # noqa: E402
import aiohttp  # noqa: E402
import yaml  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402

from services.topology import ALL_QUEUES, SCHEDULER_QUEUE  # noqa: E402
from shared.contracts.catalogue import content  # noqa: E402
from shared.contracts.closed_days import DENMARK  # noqa: E402
from shared.contracts.events import BookingRequestedData, encode_event, new_event  # noqa: E402
from shared.contracts.models import BookingDetails, Contact, Workplace  # noqa: E402
from shared.contracts.topology import declare_topology, queue_arguments  # noqa: E402
from shared.text.localtime import LOCAL_TZ  # noqa: E402
from tests.backends import free_port, local_vhost, secantus_server  # noqa: E402

RETRY_DELAYS_MS = (200, 1_000, 5_000)
THEMES = sorted(content().theme_ids)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
DEADLINE = 900.0  # seconds for one drain before giving up


def consultants() -> list[dict[str, Any]]:
    """Five consultants: three give every theme, two only some; various buffers and maxima."""
    people = []
    for index, (name, themes, buffer, most) in enumerate(
        [
            ("Anne Andersen", None, 60, 2),
            ("Bo Bertelsen", None, 60, 2),
            ("Carla Christensen", None, 45, 3),
            ("Dorte Dahl", THEMES[:3], 60, 2),
            ("Emil Eriksen", THEMES[3:], 30, 2),
        ]
    ):
        person: dict[str, Any] = {
            "id": name.split()[0].lower(),
            "name": name,
            "email": f"{name.split()[0].lower()}@bench.example",
            "working_hours": {day: ["08:00", "16:00"] for day in WEEKDAYS},
            "absences": [
                {
                    "start": (date.today() + timedelta(days=60 + 20 * index)).isoformat(),
                    "end": (date.today() + timedelta(days=66 + 20 * index)).isoformat(),
                }
            ],
            "travel_buffer_minutes": buffer,
            "max_talks_per_day": most,
        }
        if themes is not None:
            person["themes"] = themes
        people.append(person)
    return people


def requests(count: int, seed: int) -> list[Any]:
    """``count`` requests for weekdays 15–200 days ahead, 09:00–13:00, random theme and duration."""
    rng = random.Random(seed)
    today = datetime.now(LOCAL_TZ).date()
    ahead = (today + timedelta(days=n) for n in range(15, 201))
    weekdays = [d for d in ahead if d.weekday() < 5 and not DENMARK.is_closed(d)]  # bookable days
    events = []
    for _ in range(count):
        duration = rng.choice((90, 105, 120))
        starts = []
        for _ in range(rng.randint(1, 3)):
            day = rng.choice(weekdays)
            hour, minute = rng.choice([(9, 0), (10, 0), (10, 30), (11, 0), (12, 0), (13, 0)])
            starts.append(datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ).astimezone(UTC))
        booking_id = f"BENCH-{uuid.uuid4().hex[:10].upper()}"
        details = BookingDetails(
            workplace=Workplace(name="Bostedet Lindely", address="Skovvej 12", postcode="8000", city="Aarhus C"),
            contact=Contact(name="Mette Hansen", email="mette@example.dk", phone="+4520304050"),
            theme=rng.choice(THEMES),
            setting=rng.choice(("staff_meeting", "work_environment_group")),
            participants=rng.randint(5, 60),
            duration_minutes=duration,
            preferred_starts=tuple(dict.fromkeys(starts)),
        )
        events.append(
            new_event(
                BookingRequestedData(
                    booking_id=booking_id, booking=details, status_url=f"http://bench/bookings/{booking_id}"
                )
            )
        )
    return events


@dataclass
class Result:
    replicas: int
    startup: float
    done: float
    statuses: Counter[str]
    overlaps: int
    over_daily_max: int
    multi_talk_bookings: int
    parked: int

    @property
    def double_bookings(self) -> int:
        return self.overlaps + self.over_daily_max + self.multi_talk_bookings


async def count_double_bookings(db: Any, people: list[dict[str, Any]]) -> tuple[int, int, int]:
    rules = {p["id"]: (timedelta(minutes=p["travel_buffer_minutes"]), p["max_talks_per_day"]) for p in people}
    overlaps = over_max = 0
    talks_of: Counter[str] = Counter()
    async for day in db["consultant_days"].find({}):
        buffer, most = rules[day["consultant_id"]]
        talks = sorted(day["talks"], key=lambda t: t["start"])
        over_max += len(talks) > most
        overlaps += sum(1 for a, b in itertools.pairwise(talks) if a["end"] + buffer > b["start"])
        talks_of.update(t["booking_id"] for t in talks)
    return overlaps, over_max, sum(1 for n in talks_of.values() if n > 1)


async def drain(replicas: int, count: int, seed: int, mongodb_url: str, amqp_url: str, workdir: Path) -> Result:
    database = f"bench_drain_{replicas}_{uuid.uuid4().hex[:8]}"
    people = consultants()
    consultants_file = workdir / "consultants.yaml"
    consultants_file.write_text(yaml.safe_dump({"consultants": people}), encoding="utf-8")
    events = requests(count, seed)
    ids = {e.correlation_id for e in events}
    env = {
        **os.environ,
        "MONGODB_URL": mongodb_url,
        "MONGODB_DB": database,
        "AMQP_URL": amqp_url,
        "ADMIN_TOKEN": "bench-admin-token-7d2f9c4e1b8a6053f2e1",
        "CONSULTANTS_FILE": str(consultants_file),
        "RETRY_DELAYS_MS": str(list(RETRY_DELAYS_MS)),
        "HTTP_HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    db = client[database]
    processes: list[subprocess.Popen[bytes]] = []
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        # Queue every request while nobody consumes; watch the outcome events on a queue of our own
        # (counting in the database while it drains would load the database being measured).
        channel = await connection.channel(publisher_confirms=True)
        exchange = await declare_topology(channel, ALL_QUEUES, RETRY_DELAYS_MS)
        names = (SCHEDULER_QUEUE.name, SCHEDULER_QUEUE.parked, *(SCHEDULER_QUEUE.retry(d) for d in RETRY_DELAYS_MS))
        for name in names:
            await (await channel.get_queue(name)).purge()
        # Declared again as the topology does (a passive declare reports 0 consumers for a quorum queue).
        queue = await channel.declare_queue(
            SCHEDULER_QUEUE.name, durable=True, arguments=queue_arguments(SCHEDULER_QUEUE)
        )
        if queue.declaration_result.consumer_count:
            raise SystemExit(f"{SCHEDULER_QUEUE.name} has consumers; stop them (or use a virtual host) first")
        answered: set[str] = set()
        outcomes = await channel.declare_queue("", exclusive=True, auto_delete=True)
        for key in ("booking.scheduled", "booking.needs_alternative"):
            await outcomes.bind(exchange, routing_key=key)

        async def on_outcome(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            answered.add(message.correlation_id or "")

        await outcomes.consume(on_outcome, no_ack=True)
        for first in range(0, len(events), 200):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            encode_event(e),
                            content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            message_id=str(e.event_id),
                            type=e.type,
                            correlation_id=e.correlation_id,
                        ),
                        routing_key=e.type,
                    )
                    for e in events[first : first + 200]
                )
            )
        print(f"  {replicas} process(es): {len(events)} requests queued (confirmed by the broker)", flush=True)

        started = time.perf_counter()
        ports = [free_port() for _ in range(replicas)]
        for index, port in enumerate(ports):
            processes.append(spawn(env, port, workdir / f"scheduler-{replicas}-{index}.log"))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            for port in ports:
                while True:
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                            if response.status == 200:
                                break
                    check(processes, started)
                    await asyncio.sleep(0.05)
        startup = time.perf_counter() - started
        while not ids <= answered:
            check(processes, started)
            await asyncio.sleep(0.05)
        done = time.perf_counter() - started

        placements = {p["_id"]: p["status"] async for p in db["placements"].find({}, {"status": 1})}
        assert set(placements) == ids, "an outcome event without its placement"
        overlaps, over_max, multi = await count_double_bookings(db, people)
        # (A passive declare reports 0 messages for a quorum queue here: take them and hand them back.)
        parked = await channel.get_queue(SCHEDULER_QUEUE.parked, ensure=False)
        held = []
        while (message := await parked.get(no_ack=False, fail=False)) is not None:
            held.append(message)
        for message in held:
            await message.nack(requeue=True)
        parked_count = len(held)
        return Result(replicas, startup, done, Counter(placements.values()), overlaps, over_max, multi, parked_count)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        await connection.close()
        with contextlib.suppress(Exception):
            await client.drop_database(database)
        await client.close()


def spawn(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "services.scheduler"],
            cwd=ROOT,
            env={**env, "SCHEDULER_PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def check(processes: list[subprocess.Popen[bytes]], started: float) -> None:
    for index, process in enumerate(processes):
        if process.poll() is not None:
            raise SystemExit(f"scheduler process {index} exited with {process.returncode}; see its log")
    if time.perf_counter() - started > DEADLINE:
        raise SystemExit(f"no complete drain within {DEADLINE:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    print(f"draining {args.requests} booking requests; 5 consultants; {os.cpu_count()} CPUs", flush=True)
    results = []
    with (
        secantus_server() as mongodb_url,
        contextlib.nullcontext(os.environ["AMQP_URL"]) if "AMQP_URL" in os.environ else local_vhost() as amqp_url,
        tempfile.TemporaryDirectory(prefix="bench-drain-") as workdir,
    ):
        for replicas in args.replicas:
            results.append(asyncio.run(drain(replicas, args.requests, args.seed, mongodb_url, amqp_url, Path(workdir))))

    print()
    print(
        "| processes | ready after s | all outcomes published after s | requests/s "
        "| scheduled | needs alternative | parked | double bookings |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.replicas} | {r.startup:.1f} | {r.done:.1f} | {args.requests / r.done:.1f} "
            f"| {r.statuses['scheduled']} | {r.statuses['needs_alternative']} | {r.parked} | {r.double_bookings} |"
        )
    print()
    print("Times run from starting the processes to the last outcome event received (stored, then published).")
    if any(r.double_bookings for r in results):
        for r in results:
            print(
                f"{r.replicas}: overlaps {r.overlaps}, days over maximum {r.over_daily_max}, "
                f"bookings with two talks {r.multi_talk_bookings}"
            )
        raise SystemExit("double bookings found")


if __name__ == "__main__":
    main()
