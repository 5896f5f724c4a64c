"""End-to-end benchmark of the three services. Prints figures; not a test.

    python bench/bench_end_to_end.py [--rate 20] [--seconds 60] [--warmup 3]

Starts a SecantusDB server, a fresh virtual host on the local RabbitMQ, an SMTP sink (aiosmtpd, in this
process) and ``python -m services.booking|scheduler|notifier`` as subprocesses, with five consultants
(generous hours, up to 8 talks a day). Then it POSTs ``/api/v1/bookings`` at a steady rate, each request
with 1–3 desired starts spread over weekdays 15–300 days ahead, and measures per booking:

* placed (``booking.scheduled``): from sending the POST to the consultant's invite accepted by the sink
  (the invite is recognised by its calendar UID ``<booking id>@inspiration-booking``);
* not placed (``booking.needs_alternative``): from sending the POST to the alternatives e-mail accepted
  by the sink (recognised by its recipient, an address unique to the request).

A booking is lost when its POST was accepted (201) but neither message arrived within ``--grace``
seconds after the last POST. Requests sent during the warm-up are left out of the figures.
Target: 0 lost, p99 <= 1 s and <= 12 database operations per booking at 20 bookings/s.

Database operations per booking, per service and kind, are a figure of every run: the services count
each command they send (``MONGODB_COMMAND_METRICS=true``, ``shared/infra/dbmetrics.py``: one count per
round trip, as ``serverStatus`` opcounters count them), and the bench reads ``/metrics`` of each before
and after the load. They cover everything the services do meanwhile (their idle polls too), divided by
the bookings accepted (placed or not). The server's own count (``serverStatus``, which also sees the
drivers' heartbeats) is printed beside it as a check.

``--stages`` adds where the time goes, from the timestamps the services store (booking created, placement
started, invite stored by the notifier) and the sink's arrival times. The services' polls (``--poll``)
are only a safety net: each service wakes its outbox relay or sender when it stores something.

``--max-pool-size`` (default 4) caps each service's connections to the database. SecantusDB serves every
connection on a thread of its own, all under one interpreter lock: a hundred requests at once answer
more slowly, in total, than a few at a time with the rest waiting in the driver's queue. A real MongoDB
needs no such cap (production keeps the driver's default).

``--no-retry-writes`` turns the driver's retryable writes off (``retryWrites=false``). It matters only
against a replica set: the server started here is a plain one (``--standalone``, as ``python -m dev``
starts it), to which the driver sends no retryable writes. As a one-member replica set, SecantusDB keeps
up to 10,000 retryable-write records and scans (and, when full, sorts) them on every write.

``--db-profile OUT.json`` runs the server under ``bench/db_profile.py`` and prints its CPU time per
command shape and per booking: where the database's time goes, statement by statement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import yaml
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.contracts.closed_days import DENMARK  # noqa: E402
from tests.backends import free_port, local_vhost, secantus_server  # noqa: E402

LOCAL_TZ = ZoneInfo("Europe/Copenhagen")
LOOPBACK = "127.0.0.1"
ADMIN_TOKEN = "bench-admin-token-7d2f9c4e1b8a6053f2e1"
THEMES = (
    "smidighed",
    "kommunikation-og-kultur",
    "selvledelse",
    "alene-arbejde",
    "vaner-og-forandringer",
    "tid-paa-arbejde",
)
UID = re.compile(rb"UID:([^\r\n]+)@inspiration-booking")
ALTERNATIVES_SUBJECT = "Vælg et andet tidspunkt"
INVITE_SUBJECT = "Invitation:"
HEADERS_ONLY = BytesHeaderParser()


# --- the SMTP sink -----------------------------------------------------------------------------------------


@dataclass
class Sink:
    """Records when each booking's invite (by UID) and each request's alternatives e-mail (by recipient)
    was accepted; counts everything else. Runs in aiosmtpd's thread; ``time.monotonic`` is system-wide."""

    invites: dict[str, float] = field(default_factory=dict)
    alternatives: dict[str, float] = field(default_factory=dict)
    invites_wall: dict[str, float] = field(default_factory=dict)
    duplicate_invites: int = 0
    other: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        accepted = time.monotonic()
        # The sink shares this process, and the machine, with the load generator and the services: it
        # reads the headers alone, and parses the whole message (compat32, the default policy: a seventh
        # of the time of ``email.policy.default``) only for an invite, one in four messages.
        headers = HEADERS_ONLY.parsebytes(envelope.original_content)
        subject = str(make_header(decode_header(headers.get("Subject", ""))))
        if subject.startswith(INVITE_SUBJECT):
            message = message_from_bytes(envelope.original_content)
            for part in message.walk():
                if part.get_filename() == "invite.ics":
                    payload = part.get_payload(decode=True)
                    found = UID.search(payload if isinstance(payload, bytes) else b"")
                    if found:
                        booking_id = found.group(1).decode()
                        if booking_id in self.invites:
                            self.duplicate_invites += 1
                        else:
                            self.invites[booking_id] = accepted
                            self.invites_wall[booking_id] = time.time()
        elif subject.startswith(ALTERNATIVES_SUBJECT):
            for rcpt in envelope.rcpt_tos:
                self.alternatives.setdefault(rcpt.lower(), accepted)
        else:
            self.other += 1
        return "250 Message accepted for delivery"


# --- the services ------------------------------------------------------------------------------------------


def consultants_yaml(path: Path) -> None:
    hours = {day: ["08:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
    consultants = [
        {
            "id": f"konsulent-{n}",
            "name": f"Konsulent {n}",
            "email": f"konsulent-{n}@socialpaedagogerne-oestjylland.example",
            "phone": f"+45 20 00 00 0{n}",
            "working_hours": hours,
            "absences": [],
            "travel_buffer_minutes": 15,
            "max_talks_per_day": 8,
        }
        for n in range(1, 6)
    ]
    path.write_text(yaml.safe_dump({"consultants": consultants}), encoding="utf-8")


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def services(env: dict[str, str], ports: dict[str, int], logs: Path) -> Iterator[None]:
    children: list[subprocess.Popen[bytes]] = []
    try:
        for name in ("scheduler", "notifier", "booking"):
            log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - the child keeps it open
            children.append(
                subprocess.Popen(
                    [sys.executable, "-m", f"services.{name}"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            )
        deadline = time.monotonic() + 60
        for name, port in ports.items():
            while not ready(port):
                if time.monotonic() > deadline or any(c.poll() is not None for c in children):
                    raise SystemExit(f"the {name} service did not come up; see {logs}/")
                time.sleep(0.2)
        yield
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()


# --- the load ----------------------------------------------------------------------------------------------


def weekdays(first: int, last: int) -> list[date]:
    today = datetime.now(LOCAL_TZ).date()
    days = [today + timedelta(days=n) for n in range(first, last + 1)]
    return [d for d in days if d.weekday() < 5 and not DENMARK.is_closed(d)]


def request_body(n: int, rng: random.Random, days: list[date]) -> dict[str, Any]:
    duration = rng.choice((90, 105, 120))
    latest = (17 * 60 - duration) // 15  # quarter hours after midnight
    starts = []
    for _ in range(rng.randint(1, 3)):
        minute = rng.randint(8 * 4, latest) * 15
        day = rng.choice(days)
        starts.append(f"{day.isoformat()}T{minute // 60:02d}:{minute % 60:02d}")
    return {
        "workplace": {"name": f"Arbejdsplads {n}", "address": "Skovvej 12", "postcode": "8000", "city": "Aarhus C"},
        "contact": {"name": "Mette Hansen", "email": contact(n), "phone": "+45 20 30 40 50"},
        "theme": rng.choice(THEMES),
        "setting": rng.choice(("staff_meeting", "work_environment_group")),
        "participants": rng.randint(5, 60),
        "duration_minutes": duration,
        "preferred_starts": sorted(set(starts)),
    }


def contact(n: int) -> str:
    return f"bench-{n}@example.dk"


@dataclass
class Sent:
    n: int
    at: float  # monotonic, just before the POST
    warmup: bool
    wall: float = field(default_factory=time.time)
    booking_id: str | None = None
    http_seconds: float | None = None
    error: str | None = None


async def post_one(session: aiohttp.ClientSession, url: str, sent: Sent, body: dict[str, Any]) -> None:
    try:
        async with session.post(url, json=body, headers={"Idempotency-Key": f"bench-{sent.n}"}) as response:
            answer = await response.json(content_type=None)
            sent.http_seconds = time.monotonic() - sent.at
            if response.status == 201:
                sent.booking_id = answer["id"]
            else:
                sent.error = f"HTTP {response.status}: {str(answer)[:200]}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        sent.error = repr(exc)


async def drive(booking_port: int, rate: float, seconds: float, warmup: float, seed: int) -> list[Sent]:
    rng = random.Random(seed)
    days = weekdays(15, 300)
    url = f"http://{LOOPBACK}:{booking_port}/api/v1/bookings"
    total = int(rate * (warmup + seconds))
    sent: list[Sent] = []
    tasks: list[asyncio.Task[None]] = []
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n in range(total):
            delay = start + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            body = request_body(n, rng, days)
            entry = Sent(n=n, at=time.monotonic(), warmup=n < rate * warmup)
            sent.append(entry)
            tasks.append(asyncio.create_task(post_one(session, url, entry, body)))
        await asyncio.gather(*tasks)
        behind = loop.time() - start - (total - 1) / rate
    if behind > 0.5:
        print(f"note: the load generator finished {behind:.2f} s behind schedule", file=sys.stderr)
    return sent


# --- figures -----------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))  # nearest rank
    return ordered[index]


def row(name: str, values: list[float]) -> str:
    if not values:
        return f"{name:<28} {0:>6} {'-':>8} {'-':>8} {'-':>8} {'-':>8}"
    ms = [v * 1000 for v in values]
    return (
        f"{name:<28} {len(ms):>6} {statistics.median(ms):>8.0f} {percentile(ms, 95):>8.0f} "
        f"{percentile(ms, 99):>8.0f} {max(ms):>8.0f}"
    )


def outcome(sink: Sink, entry: Sent) -> tuple[str, float] | None:
    if entry.booking_id is not None and entry.booking_id in sink.invites:
        return "invite", sink.invites[entry.booking_id] - entry.at
    if contact(entry.n) in sink.alternatives:
        return "alternatives", sink.alternatives[contact(entry.n)] - entry.at
    return None


def report(sent: list[Sent], sink: Sink, args: argparse.Namespace, waited: float) -> bool:
    measured = [s for s in sent if not s.warmup]
    accepted = [s for s in measured if s.booking_id is not None]
    failed_posts = [s for s in measured if s.booking_id is None]
    invite, alternatives, lost = [], [], []
    for entry in accepted:
        result = outcome(sink, entry)
        if result is None:
            lost.append(entry)
        elif result[0] == "invite":
            invite.append(result[1])
        else:
            alternatives.append(result[1])
    http = [s.http_seconds for s in measured if s.http_seconds is not None]

    print()
    print(f"End to end: {args.rate:g} bookings/s for {args.seconds:g} s (after {args.warmup:g} s warm-up)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print()
    print(f"{'latency (ms)':<28} {'count':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}")
    print(row("POST -> invite accepted", invite))
    print(row("POST -> alternatives e-mail", alternatives))
    print(row("POST -> either (all)", invite + alternatives))
    print(row("POST -> 201 (HTTP)", http))
    print()
    print(f"POSTs sent: {len(measured)}, accepted: {len(accepted)}, refused or errors: {len(failed_posts)}")
    print(f"lost (accepted, no invite or alternatives e-mail {args.grace:g} s after the run): {len(lost)}")
    print(f"duplicate invites: {sink.duplicate_invites}; other e-mails (receipts, confirmations): {sink.other}")
    print(f"waited {waited:.1f} s after the last POST for the stragglers")
    for entry in failed_posts[:5]:
        print(f"  POST #{entry.n} failed: {entry.error}")
    for entry in lost[:5]:
        print(f"  lost: #{entry.n} booking {entry.booking_id}")
    everything = invite + alternatives
    met = not lost and not failed_posts and bool(everything) and percentile(everything, 99) <= 1.0
    print(f"target (0 lost, p99 <= 1 s): {'met' if met else 'MISSED'}")
    return met


Counts = dict[tuple[str, str, str], float]  # (collection, command, kind) -> commands sent
METRIC = re.compile(r'^inspiration_db_commands_total\{([^}]*)\} ([0-9.e+]+)$', re.MULTILINE)
WAITED = re.compile(r'^inspiration_db_command_seconds_total\{([^}]*)\} ([0-9.e+]+)$', re.MULTILINE)
LABEL = re.compile(r'(\w+)="([^"]*)"')


def db_commands(port: int) -> Counts:
    """The database commands a service has sent so far, from its ``/metrics``."""
    request = urllib.request.Request(
        f"http://{LOOPBACK}:{port}/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    counts: Counts = {}
    for labels, value in METRIC.findall(text):
        found = dict(LABEL.findall(labels))
        counts[(found["collection"], found["command"], found["kind"])] = float(value)
    for labels, value in WAITED.findall(text):  # the seconds waited for the answers, as kind "seconds"
        found = dict(LABEL.findall(labels))
        counts[(found["collection"], found["command"], "seconds")] = float(value)
    return counts


def all_db_commands(ports: dict[str, int]) -> dict[str, Counts]:
    return {name: db_commands(port) for name, port in ports.items()}


def operations_report(before: dict[str, Counts], after: dict[str, Counts], bookings: int) -> float:
    """Prints the operations per booking by service and kind, and the commands behind them; returns the total."""
    kinds = ("read", "write", "command")
    per = max(bookings, 1)
    print()
    print(f"database operations per booking (commands sent by the services / {bookings} bookings accepted)")
    print(f"{'service':<12}" + "".join(f"{k:>9}" for k in kinds) + f"{'total':>9}")
    grand = 0.0
    details: list[tuple[float, str]] = []
    sums = dict.fromkeys(kinds, 0.0)
    waits: list[tuple[float, str]] = []
    for service in after:
        spent = {key: value - before[service].get(key, 0.0) for key, value in after[service].items()}
        kind_of = {(c, m): k for (c, m, k) in spent if k != "seconds"}
        for (collection, command, kind), seconds in spent.items():
            sent = spent.get((collection, command, kind_of.get((collection, command), "")), 0.0)
            if kind == "seconds" and sent:
                waits.append((seconds / sent * 1000, f"{service}: {command} {collection or '-'}"))
        spent = {key: value for key, value in spent.items() if key[2] != "seconds"}
        by_kind = {k: sum(v for (_, _, kind), v in spent.items() if kind == k) for k in kinds}
        total = sum(by_kind.values())
        grand += total
        for k in kinds:
            sums[k] += by_kind[k]
        print(f"{service:<12}" + "".join(f"{by_kind[k] / per:>9.2f}" for k in kinds) + f"{total / per:>9.2f}")
        details.extend(
            (value / per, f"{service}: {command} {collection or '-'}")
            for (collection, command, _), value in spent.items()
            if value
        )
    print(f"{'all':<12}" + "".join(f"{sums[k] / per:>9.2f}" for k in kinds) + f"{grand / per:>9.2f}")
    print("  by command:", ", ".join(f"{what} {n:.2f}" for n, what in sorted(details, reverse=True)))
    print("  mean round trip (ms):", ", ".join(f"{what} {ms:.1f}" for ms, what in sorted(waits, reverse=True)))
    return grand / per


def cpu_seconds() -> dict[int, tuple[str, float]]:
    """CPU time used so far by every process on the machine (Linux ``/proc``): pid -> (name, seconds)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (cmdline[:80], (int(fields[11]) + int(fields[12])) / ticks)
    return found


OURS = ("services.", "secantus", "db_profile.py", "beam.smp")  # the processes under test, by command line


class LoadWatch:
    """Samples, once a second, the CPU time of every process that is not this benchmark's (the machine
    is shared): also those that start and end during the run."""

    def __init__(self) -> None:
        self._first = cpu_seconds()
        self._last: dict[int, tuple[str, float]] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(1.0):
            self._update()

    def _update(self) -> None:
        for pid, (name, total) in cpu_seconds().items():
            # A process that is exiting has no command line any more: keep the name it had.
            known = self._last.get(pid, self._first.get(pid, ("", 0.0)))[0]
            self._last[pid] = (known or name, total)

    def report(self, seconds: float) -> None:
        self._done.set()
        self._thread.join()
        self._update()
        spent: dict[str, float] = {}
        for pid, (name, total) in self._last.items():
            if pid == os.getpid() or any(ours in name for ours in OURS):
                continue
            used = total - self._first.get(pid, (name, 0.0))[1]
            spent[name.strip() or "?"] = spent.get(name.strip() or "?", 0.0) + used
        total_used = sum(spent.values())
        busiest = sorted(((used, name) for name, used in spent.items() if used > 0.05 * seconds), reverse=True)[:2]
        print(
            f"other processes on this machine used {total_used / seconds:.2f} of its {os.cpu_count()} cores meanwhile"
            + (f"; busiest: {', '.join(f'{name} ({used / seconds:.2f})' for used, name in busiest)}" if busiest else "")
            + (" (a disturbed run)" if total_used > 0.1 * seconds else "")
        )


def database_operations(mongodb_url: str) -> int:
    """Operations the database server has run so far (``serverStatus`` opcounters)."""
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
    try:
        counters = client.admin.command("serverStatus").get("opcounters", {})
        return sum(int(v) for v in counters.values())
    finally:
        client.close()


def db_profile(path: Path, bookings: int) -> None:
    """The server's CPU time by command shape (bench/db_profile.py), per booking, the costliest first."""
    rows = json.loads(path.read_text())
    total = sum(seconds for _, _, seconds, _ in rows)
    print()
    print(f"database server CPU (bench/db_profile.py): {total / max(bookings, 1) * 1000:.1f} ms per booking")
    print(f"{'ms/booking':>10} {'share':>6} {'ms/stmt':>8} {'stmts':>6}  command")
    for what, _, seconds, statements in rows[:15]:
        print(
            f"{seconds / max(bookings, 1) * 1000:>10.2f} {seconds / total:>6.0%} "
            f"{seconds / max(statements, 1) * 1000:>8.2f} {statements:>6}  {what}"
        )


def stages(mongodb_url: str, sent: list[Sent], sink: Sink) -> None:
    """Where the time goes, per placed booking, from the timestamps the services store (wall clock)."""
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url, tz_aware=True)
    try:
        db = client["bench"]
        placed = {s.booking_id: s for s in sent if not s.warmup and s.booking_id in sink.invites}
        ids = list(placed)
        bookings = {d["_id"]: d for d in db.bookings.find({"_id": {"$in": ids}}, {"created_at": 1})}
        placements = {d["_id"]: d for d in db.placements.find({"_id": {"$in": ids}}, {"created_at": 1})}
        invites = {
            d["booking_id"]: d
            for d in db.deliveries.find(
                {"booking_id": {"$in": ids}, "kind": "invite"}, {"booking_id": 1, "created_at": 1}
            )
        }
        names = (
            "POST -> booking stored",
            "-> scheduler starts",
            "-> notifier stores invite",
            "-> sink accepts invite",
        )
        spans: dict[str, list[float]] = {name: [] for name in names}
        for booking_id, entry in placed.items():
            booking, placement, invite = bookings.get(booking_id), placements.get(booking_id), invites.get(booking_id)
            if not (booking and placement and invite):
                continue
            moments = [
                entry.wall,
                booking["created_at"].timestamp(),
                placement["created_at"].timestamp(),
                invite["created_at"].timestamp(),
                sink.invites_wall[booking_id],
            ]
            for name, (a, b) in zip(names, itertools.pairwise(moments), strict=True):
                spans[name].append(b - a)
        print()
        print(f"{'stage (ms, wall clock)':<28} {'count':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}")
        for name in names:
            print(row(name, spans[name]))
    finally:
        client.close()


async def wait_for_outcomes(sent: list[Sent], sink: Sink, grace: float) -> float:
    started = time.monotonic()
    pending = [s for s in sent if s.booking_id is not None]
    while pending and time.monotonic() - started < grace:
        pending = [s for s in pending if outcome(sink, s) is None]
        await asyncio.sleep(0.2)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0, help="bookings per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to send at that rate")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load left out of the figures")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds to wait for the last messages")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--poll",
        type=float,
        default=1.0,
        help="OUTBOX_POLL_SECONDS and DELIVERY_POLL_SECONDS: a safety net only, since every service wakes its "
        "relay or sender when it stores something; shorter polls cost database round trips",
    )
    parser.add_argument(
        "--retry-writes",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the driver's retryable writes (default on, as in production); see the module docstring",
    )
    parser.add_argument(
        "--max-pool-size",
        type=int,
        default=4,
        help="maxPoolSize of each service's MongoDB client (0: the driver's default, 100); see the module docstring",
    )
    parser.add_argument("--stages", action="store_true", help="also break the latency down by stage")
    parser.add_argument(
        "--db-profile",
        type=Path,
        metavar="OUT.json",
        help="run SecantusDB under bench/db_profile.py and print its CPU time per command shape",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the services' logs (printed path)")
    args = parser.parse_args()

    extra = f"&maxPoolSize={args.max_pool_size}" if args.max_pool_size else ""
    work = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    consultants_file = work / "consultants.yaml"
    consultants_yaml(consultants_file)
    sink = Sink()
    smtp_port = free_port()
    controller = Controller(sink, hostname=LOOPBACK, port=smtp_port)
    controller.start()
    ports = {"booking": free_port(), "scheduler": free_port(), "notifier": free_port()}
    try:
        launcher = ["-m", "secantus"]
        if args.db_profile:
            launcher = [str(ROOT / "bench" / "db_profile.py"), str(args.db_profile), "--"]
        with secantus_server(launcher) as mongodb_url, local_vhost() as amqp_url:
            env = {
                **os.environ,
                "MONGODB_URL": mongodb_url + ("" if args.retry_writes else "&retryWrites=false") + extra,
                "MONGODB_DB": "bench",
                "AMQP_URL": amqp_url,
                "HTTP_HOST": LOOPBACK,
                "BOOKING_PORT": str(ports["booking"]),
                "SCHEDULER_PORT": str(ports["scheduler"]),
                "NOTIFIER_PORT": str(ports["notifier"]),
                "PUBLIC_BASE_URL": f"http://{LOOPBACK}:{ports['booking']}",
                "SMTP_HOST": LOOPBACK,
                "SMTP_PORT": str(smtp_port),
                "SMS_PROVIDER": "log",
                "CONSULTANTS_FILE": str(consultants_file),
                "ADMIN_TOKEN": ADMIN_TOKEN,
                # One client posts every booking: the abuse limits would refuse most of them.
                "RATE_LIMIT_PER_ADDRESS": "off",
                "RATE_LIMIT_PER_EMAIL": "off",
                "OUTBOX_POLL_SECONDS": str(args.poll),
                "DELIVERY_POLL_SECONDS": str(args.poll),
                "LOG_LEVEL": "WARNING",
                "MONGODB_COMMAND_METRICS": "true",
            }
            with services(env, ports, work):
                print(f"services up (logs in {work}); sending …", flush=True)
                commands_before = all_db_commands(ports)
                load = LoadWatch()
                ops_before, clock_before = database_operations(mongodb_url), time.monotonic()
                sent = asyncio.run(drive(ports["booking"], args.rate, args.seconds, args.warmup, args.seed))
                waited = asyncio.run(wait_for_outcomes(sent, sink, args.grace))
                ops = database_operations(mongodb_url) - ops_before
                busy = time.monotonic() - clock_before
                time.sleep(1.0)  # the last records (of sends, of outcomes) are written just after the last mail
                commands_after = all_db_commands(ports)
            report(sent, sink, args, waited)
            load.report(busy)
            accepted = sum(1 for s in sent if s.booking_id is not None)
            per_booking = operations_report(commands_before, commands_after, accepted)
            print(
                f"server's count (serverStatus opcounters, heartbeats included): {ops} operations, "
                f"{ops / busy:.0f}/s, {ops / max(accepted, 1):.1f} per booking"
            )
            print(f"target (<= 12 operations per booking): {'met' if per_booking <= 12 else 'MISSED'}")
            if args.db_profile:
                time.sleep(2.5)  # the profile's next write
                db_profile(args.db_profile, accepted)
            if args.stages:
                stages(mongodb_url, sent, sink)
    finally:
        controller.stop()
        if args.keep_logs:
            print(f"logs kept in {work}")
        else:
            for path in work.iterdir():
                path.unlink()
            work.rmdir()


if __name__ == "__main__":
    main()
