"""Chaos: the whole system keeps its promises while its parts crash and come back.

All three services run as real processes (two schedulers), on a SecantusDB server and the local
RabbitMQ (a virtual host of its own), with a real SMTP server. Workplaces post bookings at a steady
rate (a client that, like any decent HTTP client, retries a refused or 503-answered POST with the
same ``Idempotency-Key``). While they flow, each part is made to fail in turn:

* the notifier, a scheduler and the booking service are SIGKILLed and started again;
* the database server is SIGKILLed and started again on the same data;
* RabbitMQ is stopped and started (``rabbitmqctl stop_app`` / ``start_app``: the whole local broker,
  so this test must not run beside other tests that use it).

Afterwards every accepted booking has its outcome (placed or alternatives), its receipt and outcome
mail and, if placed, its consultant's invite; no consultant is double-booked; readiness said "not
ready" while the broker was away and "ready" again afterwards; mails sent twice are counted and
bounded by what was in flight at the kills. The figures are printed (run with ``-s``) and written to
``chaos-report.json`` in the test's temporary folder; docs/reliability.md quotes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import icalendar
import pytest
import pytest_asyncio
import yaml
from pymongo import AsyncMongoClient

from services.notifier.sender import UNRECORDED_PER_SEND
from shared.infra.settings import Settings
from shared.text.ical import booking_uid
from tests import backends
from tests.conftest import ADMIN_TOKEN, NO_RATE_LIMITS, TEST_RETRY_DELAYS
from tests.dates import closed
from tests.mailbox import Mailbox, Received
from tests.polling import eventually
from tests.processes import ServiceProcess

pytestmark = [pytest.mark.chaos, pytest.mark.asyncio]

RATE = 3.0  # bookings per second
LOAD_SECONDS = 75.0
SETTLE_SECONDS = 150.0  # after the load, until every accepted booking must have all its mail
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BUFFER = timedelta(minutes=60)
MAX_PER_DAY = 2
# A SIGKILLed notifier can have sent at most this many mails it had not recorded yet (those being sent and
# those sent and waiting for their record's write), which its successor sends again.
IN_FLIGHT_PER_NOTIFIER = (1 + UNRECORDED_PER_SEND) * Settings().delivery_concurrency
CONSULTANTS = [
    {
        "id": f"konsulent-{n}",
        "name": f"Konsulent {n}",
        "email": f"konsulent-{n}@chaos.example",
        "working_hours": {day: ["08:00", "16:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
        "travel_buffer_minutes": int(BUFFER.total_seconds() // 60),
        "max_talks_per_day": MAX_PER_DAY,
    }
    for n in range(1, 5)
]


def _local_broker_or_skip() -> str:
    if os.environ.get("AMQP_URL") or backends.backend(backends.RABBITMQ_IMAGE) != "local":
        pytest.skip("the chaos test stops and starts the local RabbitMQ; it runs only against the local broker")
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed: the broker cannot be stopped and started")
    return "rabbitmqctl"


@dataclass
class Booking:
    key: str
    email: str
    posted_at: float
    id: str | None = None
    attempts: int = 0


@dataclass
class Fault:
    name: str
    started: float
    ended: float = 0.0
    recovered: float = 0.0  # every service ready again
    not_ready_seen: bool = False


@dataclass
class Stack:
    db: backends.SecantusProcess
    settings: Settings
    mailbox: Mailbox
    booking: ServiceProcess
    schedulers: list[ServiceProcess]
    notifier: ServiceProcess
    rabbitmqctl: str
    bookings: list[Booking] = field(default_factory=list)
    refused: int = 0
    faults: list[Fault] = field(default_factory=list)

    @property
    def services(self) -> list[ServiceProcess]:
        return [self.booking, *self.schedulers, self.notifier]


@pytest_asyncio.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    rabbitmqctl = _local_broker_or_skip()
    storage = tmp_path / "db"
    storage.mkdir()
    db = backends.SecantusProcess(str(storage))
    db.start()
    mailbox = Mailbox()
    mailbox.start()
    consultants = tmp_path / "consultants.yaml"
    consultants.write_text(yaml.safe_dump({"consultants": CONSULTANTS}), encoding="utf-8")
    logs = tmp_path / "logs"
    logs.mkdir()
    with backends.local_vhost() as amqp_url:
        settings = Settings(
            mongodb_url=db.url,
            mongodb_db="chaos",
            amqp_url=amqp_url,
            admin_token=ADMIN_TOKEN,  # type: ignore[arg-type]
            retry_delays_ms=TEST_RETRY_DELAYS,
            outbox_poll_seconds=0.2,
            outbox_lease_seconds=2.0,
            shutdown_timeout_seconds=5.0,
            **NO_RATE_LIMITS,
        )
        common = {"LOG_LEVEL": "INFO", "UNAVAILABLE_MAX_WAIT_SECONDS": "2"}
        booking = ServiceProcess("booking", settings, logs, **common)
        schedulers = [
            ServiceProcess("scheduler", settings, logs, CONSULTANTS_FILE=str(consultants), **common) for _ in range(2)
        ]
        notifier = ServiceProcess(
            "notifier",
            settings,
            logs,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(mailbox.port),
            DELIVERY_POLL_SECONDS="0.2",
            DELIVERY_RETRY_SECONDS="[0.5, 1, 2, 4, 8, 8, 8, 8]",
            **common,
        )
        stack = Stack(db, settings, mailbox, booking, schedulers, notifier, rabbitmqctl)
        try:
            for service in stack.services:
                service.start()
            for service in stack.services:
                await service.wait_ready(60)
            yield stack
        finally:
            for service in stack.services:
                service.stop()
            mailbox.stop()
            db.stop()


# --- the workplaces -------------------------------------------------------------------------------------


def _weekday(rng: random.Random) -> date:
    while True:
        day = date.today() + timedelta(days=rng.randint(20, 330))
        if not closed(day):
            return day


def _body(rng: random.Random, email: str) -> dict[str, Any]:
    starts = [f"{_weekday(rng).isoformat()}T{rng.choice(['09:00', '13:00'])}" for _ in range(2)]
    if starts[0] == starts[1]:
        starts.pop()
    return {
        "workplace": {"name": "Bostedet Lindely", "address": "Skovvej 12", "postcode": "8000", "city": "Aarhus C"},
        "contact": {"name": "Mette Hansen", "email": email, "phone": "+45 20 30 40 50"},
        "theme": rng.choice(["selvledelse", "smidighed", "alene-arbejde"]),
        "setting": "staff_meeting",
        "participants": 18,
        "duration_minutes": rng.choice([90, 120]),
        "preferred_starts": starts,
    }


async def _post_until_accepted(http: aiohttp.ClientSession, stack: Stack, booking: Booking, body: Any) -> None:
    """Retry with the same key while the service is down or answers 503, as a real client would."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        booking.attempts += 1
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with http.post(
                f"{stack.booking.url}/api/v1/bookings", json=body, headers={"Idempotency-Key": booking.key}
            ) as response:
                assert response.status != 500, await response.text()
                if response.status == 201:
                    booking.id = (await response.json())["id"]
                    return
                assert response.status == 503, await response.text()
                assert response.headers.get("Retry-After"), "a 503 tells when to try again"
        await asyncio.sleep(0.5)
    stack.refused += 1


async def _load(stack: Stack) -> None:
    rng = random.Random(8)
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as http, asyncio.TaskGroup() as posts:
        start = time.monotonic()
        n = 0
        while (elapsed := time.monotonic() - start) < LOAD_SECONDS:
            booking = Booking(str(uuid.uuid4()), f"workplace-{n}@chaos.example", time.monotonic())
            stack.bookings.append(booking)
            posts.create_task(_post_until_accepted(http, stack, booking, _body(rng, booking.email)))
            n += 1
            await asyncio.sleep(max(0.0, n / RATE - elapsed))


# --- the faults ---------------------------------------------------------------------------------------------


async def _all_ready(stack: Stack) -> bool:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
        for service in stack.services:
            try:
                async with http.get(f"{service.url}/readyz") as response:
                    if response.status != 200:
                        return False
            except (aiohttp.ClientError, TimeoutError):
                return False
    return True


async def _watch_readiness(stack: Stack, fault: Fault, until: asyncio.Event) -> None:
    while not until.is_set():
        if not await _all_ready(stack):
            fault.not_ready_seen = True
        await asyncio.sleep(0.3)


Step = Callable[[], Awaitable[None]]


async def _fault(stack: Stack, name: str, break_it: Step, mend_it: Step, down: float) -> None:
    fault = Fault(name, time.monotonic())
    stack.faults.append(fault)
    mended = asyncio.Event()
    watcher = asyncio.create_task(_watch_readiness(stack, fault, mended))
    await break_it()
    await asyncio.sleep(down)
    await mend_it()
    fault.ended = time.monotonic()
    await eventually(lambda: _all_ready(stack), f"every service ready again after {name}", 90)
    fault.recovered = time.monotonic()
    mended.set()
    await watcher


async def _run(*command: str) -> None:
    await asyncio.to_thread(subprocess.run, list(command), check=True, capture_output=True)


async def _faults(stack: Stack) -> None:
    async def kill(service: ServiceProcess) -> None:
        service.kill()

    async def start(service: ServiceProcess) -> None:
        service.start()

    async def kill_db() -> None:
        stack.db.kill()

    async def start_db() -> None:
        await asyncio.to_thread(stack.db.start)

    await asyncio.sleep(6)
    await _fault(stack, "notifier SIGKILL", lambda: kill(stack.notifier), lambda: start(stack.notifier), 2)
    await asyncio.sleep(4)
    await _fault(stack, "scheduler SIGKILL", lambda: kill(stack.schedulers[0]), lambda: start(stack.schedulers[0]), 2)
    await asyncio.sleep(4)
    await _fault(stack, "booking SIGKILL", lambda: kill(stack.booking), lambda: start(stack.booking), 2)
    await asyncio.sleep(4)
    await _fault(stack, "database SIGKILL", kill_db, start_db, 5)
    await asyncio.sleep(4)
    await _fault(
        stack,
        "RabbitMQ stop_app/start_app",
        lambda: _run(stack.rabbitmqctl, "-q", "stop_app"),
        lambda: _run(stack.rabbitmqctl, "-q", "start_app"),
        5,
    )


# --- what the workplaces and consultants got -------------------------------------------------------------


def _invite_uid(mail: Received) -> str | None:
    for part in mail.message.walk():
        if part.get_content_type() == "text/calendar":
            calendar = icalendar.Calendar.from_ical(part.get_payload(decode=True))
            if str(calendar.get("method")) == "REQUEST":
                for event in calendar.walk("VEVENT"):
                    return str(event.get("uid"))
    return None


async def _outcomes(stack: Stack) -> dict[str, dict[str, Any]]:
    views: dict[str, dict[str, Any]] = {}
    async with aiohttp.ClientSession(headers=ADMIN) as http:
        for status in ("received", "scheduled", "needs_alternative", "cancelled"):
            async with http.get(f"{stack.booking.url}/api/v1/bookings?status={status}&limit=1000") as response:
                assert response.status == 200, await response.text()
                views |= {view["id"]: view for view in (await response.json())["bookings"]}
    return views


@dataclass
class Missing:
    outcome: list[str]
    receipt: list[str]
    outcome_mail: list[str]
    invite: list[str]

    def total(self) -> int:
        return len(self.outcome) + len(self.receipt) + len(self.outcome_mail) + len(self.invite)


async def _missing(stack: Stack) -> Missing:
    views = await _outcomes(stack)
    accepted = [b for b in stack.bookings if b.id]
    invites = {_invite_uid(mail) for mail in stack.mailbox.received if mail.rcpt_tos[0].startswith("konsulent-")}
    missing = Missing([], [], [], [])
    for booking in accepted:
        assert booking.id is not None
        view = views.get(booking.id)
        status = view["status"] if view else "missing"
        if status not in ("scheduled", "needs_alternative"):
            missing.outcome.append(booking.id)
            continue
        if not stack.mailbox.to(booking.email, "Tak for jeres bestilling"):
            missing.receipt.append(booking.id)
        subject = "Bekræftet:" if status == "scheduled" else "Vælg et andet tidspunkt"
        if not stack.mailbox.to(booking.email, subject):
            missing.outcome_mail.append(booking.id)
        if status == "scheduled" and booking_uid(booking.id) not in invites:
            missing.invite.append(booking.id)
    return missing


async def _double_bookings(stack: Stack) -> list[str]:
    """Overlaps (with the travel buffer), days over their maximum, and bookings holding two talks."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.settings.mongodb_url, tz_aware=True)
    problems: list[str] = []
    seen: Counter[str] = Counter()
    try:
        async for day in client[stack.settings.mongodb_db]["consultant_days"].find({}):
            talks = sorted(day.get("talks", []), key=lambda t: t["start"])
            if len(talks) > MAX_PER_DAY:
                problems.append(f"{day['_id']}: {len(talks)} talks")
            for first, second in itertools.pairwise(talks):
                if second["start"] < first["end"] + BUFFER:
                    problems.append(f"{day['_id']}: {first['booking_id']} and {second['booking_id']} overlap")
            seen.update(t["booking_id"] for t in talks)
    finally:
        await client.close()
    problems += [f"{booking_id} holds {n} talks" for booking_id, n in seen.items() if n > 1]
    return problems


# --- the test ------------------------------------------------------------------------------------------------


async def test_bookings_survive_crashes_outages_and_a_broker_restart(stack: Stack, tmp_path: Path) -> None:
    started = time.monotonic()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(_load(stack))
        tasks.create_task(_faults(stack))
    load_done = time.monotonic()

    async def settled() -> bool:
        return (await _missing(stack)).total() == 0

    with contextlib.suppress(AssertionError):
        await eventually(settled, "every accepted booking's outcome and mail", SETTLE_SECONDS)
    settled_at = time.monotonic()
    missing = await _missing(stack)
    double = await _double_bookings(stack)
    ids = Counter(str(mail.message["Message-ID"]) for mail in stack.mailbox.received)
    duplicates = sum(n - 1 for n in ids.values())
    views = await _outcomes(stack)
    accepted = [b for b in stack.bookings if b.id]
    report = {
        "offered": len(stack.bookings),
        "accepted": len(accepted),
        "refused_after_retries": stack.refused,
        "post_attempts": sum(b.attempts for b in stack.bookings),
        "scheduled": sum(1 for b in accepted if views.get(b.id or "", {}).get("status") == "scheduled"),
        "needs_alternative": sum(1 for b in accepted if views.get(b.id or "", {}).get("status") == "needs_alternative"),
        "lost": {
            "outcome": len(missing.outcome),
            "receipt": len(missing.receipt),
            "outcome_mail": len(missing.outcome_mail),
            "invite": len(missing.invite),
        },
        "mails": len(stack.mailbox.received),
        "duplicate_mails": duplicates,
        "double_bookings": len(double),
        "faults": [
            {
                "fault": fault.name,
                "down_s": round(fault.ended - fault.started, 1),
                "ready_again_after_s": round(fault.recovered - fault.ended, 1),
                "readiness_said_not_ready": fault.not_ready_seen,
            }
            for fault in stack.faults
        ],
        "load_s": round(load_done - started, 1),
        "settled_after_load_s": round(settled_at - load_done, 1),
    }
    (tmp_path / "chaos-report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print("\nchaos report:", json.dumps(report, indent=2))

    assert stack.refused == 0, "a client retrying for 30 s got its booking in"
    assert missing.total() == 0, f"{missing}"
    assert double == [], double
    assert duplicates <= IN_FLIGHT_PER_NOTIFIER, f"{duplicates} mails sent twice"
    broker = next(f for f in stack.faults if f.name.startswith("RabbitMQ"))
    assert broker.not_ready_seen, "readiness said 'not ready' while RabbitMQ was away"
    database = next(f for f in stack.faults if f.name.startswith("database"))
    assert database.not_ready_seen, "readiness said 'not ready' while the database was away"


# --- a broker that blocks its publishers ------------------------------------------------------------------


@contextlib.contextmanager
def publishers_blocked(rabbitmqctl: str) -> Iterator[None]:
    """A memory alarm, as when the broker runs out of memory: it blocks every publishing connection."""
    read = [rabbitmqctl, "-q", "eval", "vm_memory_monitor:get_vm_memory_high_watermark()."]
    before = subprocess.run(read, check=True, capture_output=True, text=True).stdout.strip() or "0.4"
    subprocess.run([rabbitmqctl, "-q", "set_vm_memory_high_watermark", "0"], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run([rabbitmqctl, "-q", "set_vm_memory_high_watermark", before], check=True, capture_output=True)


async def test_shutdown_stays_bounded_while_the_broker_blocks_publishers(settings: Settings, tmp_path: Path) -> None:
    rabbitmqctl = _local_broker_or_skip()
    service = ServiceProcess("booking", settings, tmp_path, SHUTDOWN_TIMEOUT_SECONDS="5", PUBLISH_TIMEOUT_SECONDS="3")
    service.start()
    try:
        await service.wait_ready()
        with publishers_blocked(rabbitmqctl):
            async with aiohttp.ClientSession() as http:
                body = _body(random.Random(1), "blocked@chaos.example")
                async with http.post(f"{service.url}/api/v1/bookings", json=body) as response:
                    assert response.status == 201, "the booking is stored; only its announcement waits"
                    booking_id = (await response.json())["id"]
            await asyncio.sleep(1)  # the relay is now stuck publishing to the blocked broker
            service.signal(signal.SIGTERM)
            # Its grace period (5 s) for in-flight work, then the connection's close (5 s at most).
            assert await service.wait_exit(20) == 0, service.log()
    finally:
        service.stop()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    try:
        stored = await client[settings.mongodb_db]["bookings"].find_one({"_id": booking_id})
    finally:
        await client.close()
    assert stored is not None and stored["outbox"], "its event stays in the outbox for the next start"
