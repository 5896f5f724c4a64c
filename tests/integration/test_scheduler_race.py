"""Three scheduler processes race for the same two starts: nobody is double-booked.

Each test starts three real ``python -m services.scheduler`` processes on one database and one
RabbitMQ virtual host, gives them two consultants (from a ``CONSULTANTS_FILE``), then publishes 60
``booking.requested`` events that all want the same two starts. Two consultants with two talks a
day can take 4 of them; the other 56 must get alternatives. The second test SIGKILLs one process
while it is working: its unacknowledged messages go back to the others, and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from services.topology import SCHEDULER_QUEUE
from shared.contracts.events import Event
from shared.infra.settings import Settings
from tests.backends import free_port
from tests.conftest import ADMIN_TOKEN, TEST_RETRY_DELAYS
from tests.integration.test_scheduler import (
    Bus,
    at,
    bus_fixture,  # noqa: F401 - the fixture "bus"
    consultant_body,
    new_booking_id,
    requested,
    weekday_ahead,
)
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

REPLICAS = 3
REQUESTS = 60
OUTCOMES = ("scheduled", "needs_alternative")
BUFFER = timedelta(minutes=60)  # the consultants' travel buffer
ROOT = Path(__file__).resolve().parents[2]


class Replicas:
    """Scheduler processes started with the environment a deployment would give them."""

    def __init__(self, settings: Settings, consultants_file: Path, logs: Path, **env: str) -> None:
        self._env = {
            **os.environ,
            "MONGODB_URL": settings.mongodb_url,
            "MONGODB_DB": settings.mongodb_db,
            "AMQP_URL": settings.amqp_url,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "CONSULTANTS_FILE": str(consultants_file),
            "RETRY_DELAYS_MS": str(list(TEST_RETRY_DELAYS)),
            "OUTBOX_POLL_SECONDS": "0.2",
            "SHUTDOWN_TIMEOUT_SECONDS": "5",
            "HTTP_HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self._logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []

    def start(self, count: int) -> None:
        for index in range(count):
            port = free_port()
            with open(self._logs / f"scheduler-{index}.log", "wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "services.scheduler"],
                    cwd=ROOT,
                    env={**self._env, "SCHEDULER_PORT": str(port)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.processes.append(process)
            self.ports.append(port)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Every process answers ``/readyz`` with 200, so each consumes ``scheduler.requests``."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            for index, port in enumerate(self.ports):

                async def ready(index: int = index, port: int = port) -> bool:
                    if self.processes[index].poll() is not None:
                        pytest.fail(f"scheduler {index} exited early:\n{self.log_tail(index)}")
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                            return response.status == 200
                    return False

                await eventually(ready, f"scheduler {index} to be ready", timeout)

    def kill(self, index: int) -> None:
        self.processes[index].send_signal(signal.SIGKILL)
        self.processes[index].wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def log_tail(self, index: int, lines: int = 30) -> str:
        text = (self._logs / f"scheduler-{index}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


@contextlib.asynccontextmanager
async def replicas(settings: Settings, tmp_path: Path, **env: str) -> AsyncIterator[Replicas]:
    consultants = tmp_path / "consultants.yaml"
    consultants.write_text(
        yaml.safe_dump({"consultants": [consultant_body("anne"), consultant_body("bo")]}), encoding="utf-8"
    )
    group = Replicas(settings, consultants, tmp_path, **env)
    try:
        group.start(REPLICAS)
        await group.wait_ready()
        yield group
    finally:
        group.stop()


def same_two_starts() -> list[Event]:
    """60 requests that all want the same day at 10:00, else 13:00."""
    morning = weekday_ahead(30, 10)
    return [requested(new_booking_id(), morning, at(morning, 13)) for _ in range(REQUESTS)]


async def outcomes_stored(db: Any) -> int:
    return int(await db["placements"].count_documents({"status": {"$in": list(OUTCOMES)}}))


async def wait_for_all_outcomes(db: Any, bus: Bus, events: list[Event], group: Replicas) -> None:
    """All requests have an outcome stored, published (outboxes empty) and received by us."""
    ids = {e.correlation_id for e in events}

    async def stored() -> bool:
        for index, process in enumerate(group.processes):
            # (a process killed on purpose already has its return code)
            if process.returncode is None and process.poll() is not None:
                pytest.fail(f"scheduler {index} died:\n{group.log_tail(index)}")
        return await outcomes_stored(db) == len(events)

    await eventually(stored, f"{len(events)} outcomes in placements", timeout=120)

    async def published() -> bool:
        return await db["placements"].count_documents({"outbox.0": {"$exists": True}}) == 0

    await eventually(published, "every outcome to be published", timeout=60)
    await eventually(lambda: ids <= {e.correlation_id for e in bus.received}, "every outcome event", timeout=30)
    await asyncio.sleep(0.5)  # let any (wrongly) published second outcome reach our queue


async def check(db: Any, bus: Bus, events: list[Event], *, distinct_event_ids: bool) -> Counter[str]:
    """No double booking and one outcome per request; returns how many requests ended in each status."""
    ids = [e.correlation_id for e in events]
    placements = {p["_id"]: p async for p in db["placements"].find({"_id": {"$in": ids}})}
    statuses = Counter(p["status"] for p in placements.values())
    assert set(placements) == set(ids)
    assert set(statuses) <= set(OUTCOMES), statuses

    # No consultant has overlapping talks, counting the travel buffer, nor more than two a day.
    talks_of_booking: Counter[str] = Counter()
    async for day in db["consultant_days"].find({}):
        talks = sorted(day["talks"], key=lambda t: t["start"])
        assert len(talks) <= 2, f"{day['_id']} has {len(talks)} talks"
        for before, after in itertools.pairwise(talks):
            assert before["end"] + BUFFER <= after["start"], f"{day['_id']}: {before} overlaps {after}"
        talks_of_booking.update(t["booking_id"] for t in talks)

    # No booking has two talks, and exactly the scheduled ones have one.
    scheduled = {i for i, p in placements.items() if p["status"] == "scheduled"}
    assert set(talks_of_booking) == scheduled
    assert set(talks_of_booking.values()) == {1}

    # Each booking got exactly one outcome event. After a crash, at-least-once delivery may repeat
    # an event, but always with the same event id: consumers drop such repeats.
    outcome_types = {f"booking.{status}" for status in OUTCOMES}
    per_booking = {}
    for booking_id in ids:
        received = [e for e in bus.of(booking_id) if e.type in outcome_types]
        per_booking[booking_id] = len({e.event_id for e in received}) if distinct_event_ids else len(received)
        assert [e.type for e in received][:1] == [f"booking.{placements[booking_id]['status']}"]
    assert set(per_booking.values()) == {1}, {b: n for b, n in per_booking.items() if n != 1}
    assert len(bus.received) == sum(len(bus.of(i)) for i in ids), "an event of some other booking"

    assert await bus.queue_size(SCHEDULER_QUEUE.parked) == 0, "a request was parked"
    return statuses


async def test_three_schedulers_racing_for_two_starts_never_double_book(
    settings: Settings, bus: Bus, db: Any, tmp_path: Path
) -> None:
    events = same_two_starts()
    async with replicas(settings, tmp_path) as group:
        for event in events:
            await bus.publish(event)
        await wait_for_all_outcomes(db, bus, events, group)

    statuses = await check(db, bus, events, distinct_event_ids=False)
    # Both consultants take both starts; nobody else fits.
    assert statuses == {"scheduled": 4, "needs_alternative": REQUESTS - 4}


async def test_a_scheduler_killed_mid_way_loses_nothing(settings: Settings, bus: Bus, db: Any, tmp_path: Path) -> None:
    events = same_two_starts()
    # A killed relay's claim on the outbox runs out after 5 s, not the default 30 s.
    async with replicas(settings, tmp_path, OUTBOX_LEASE_SECONDS="5") as group:
        for event in events:
            await bus.publish(event)
        await eventually(lambda: outcomes_stored(db), "the first outcomes", timeout=60)
        # SIGKILL: no clean shutdown. Its unacknowledged messages go back to the queue; the bookings
        # it was handling stay leased for 30 s, then the others take them over.
        group.kill(0)
        assert await outcomes_stored(db) < REQUESTS, "too late: every request was already placed"
        await wait_for_all_outcomes(db, bus, events, group)

    statuses = await check(db, bus, events, distinct_event_ids=True)
    assert statuses == {"scheduled": 4, "needs_alternative": REQUESTS - 4}
