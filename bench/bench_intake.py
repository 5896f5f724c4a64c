"""Booking intake against the floor: the same load, side by side, in one run.

    python bench/bench_intake.py [--seconds 15] [--connections 32] [--rounds 2]

Starts a fresh SecantusDB and a RabbitMQ virtual host of its own, the floor server
(``../shared/bench/floor_intake.py``: parse, insert, publish with confirm) and the booking service,
then drives each with ``wrk`` and ``../shared/bench/post_booking.lua`` (a valid booking with a new
Idempotency-Key per request), alternating rounds so both see the same machine state. Prints
requests/s, p50 and p99 of each, and the ratios (target: ≥ 0.8× throughput, ≤ 2× p99).

The booking's work does not all end with its answers: its outbox relay clears each published request
from its document a little later (sooner in the full system, where the scheduler's answer takes the
clear along). After each booking round the bench waits until none is left (``/metrics``:
``inspiration_outbox_uncleared``) and prints how long that took, so that the floor's next round does
not pay for the booking's; and the rate the booking keeps up with, those clears counted in.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.backends import free_port, local_vhost, secantus_server  # noqa: E402

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
ADMIN_TOKEN = "bench-intake-admin-token-5c1e8f3a9d27"
UNCLEARED = re.compile(r'^inspiration_outbox_uncleared\{collection="bookings"\} ([0-9.e+]+)$', re.MULTILINE)


def wrk(url: str, script: Path, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        check=True, capture_output=True, text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {p: float(v) * UNITS[u] for p, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)\b", out)}
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": latency["50"], "p99": latency["99"], "non2xx": float(non2xx.group(1)) if non2xx else 0}


async def drain(metrics_url: str, timeout: float = 120) -> float:
    """Seconds until the booking service has cleared every published request from its outbox."""
    started = time.monotonic()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as session:
        while time.monotonic() - started < timeout:
            async with session.get(metrics_url) as response:
                found = UNCLEARED.search(await response.text())
            if found is not None and float(found.group(1)) == 0:
                return time.monotonic() - started
            await asyncio.sleep(0.2)
    raise TimeoutError(metrics_url)


async def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-retry-writes", action=argparse.BooleanOptionalAction, default=True,
                        help="connect both servers with retryWrites=false (default: yes)")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "bench")
    args = parser.parse_args()
    script = args.shared / "post_booking.lua"

    with secantus_server() as server_url, local_vhost() as amqp_url:
        # Both servers alike without retryable writes: SecantusDB keeps a record of each retryable write
        # and every write gets slower as they pile up, so whichever ran later would lose.
        mongodb_url = f"{server_url}&retryWrites=false" if args.no_retry_writes else server_url
        env = {**os.environ, "MONGODB_URL": mongodb_url, "AMQP_URL": amqp_url, "LOG_LEVEL": "WARNING",
               # wrk posts every booking from one address: the abuse limits would refuse most of them.
               "RATE_LIMIT_PER_ADDRESS": "off", "RATE_LIMIT_PER_EMAIL": "off"}
        floor_port, booking_port = free_port(), free_port()
        floor = subprocess.Popen([sys.executable, str(args.shared / "floor_intake.py"), "--port", str(floor_port)],
                                 env={**env, "MONGODB_DB": "bench_floor"})
        booking = subprocess.Popen(
            [sys.executable, "-m", "services.booking"], cwd=ROOT,
            # The script's starts lie 30-300 days ahead: within the booking's default horizon.
            env={**env, "MONGODB_DB": "bench_booking", "BOOKING_PORT": str(booking_port), "HTTP_HOST": "127.0.0.1",
                 "ADMIN_TOKEN": ADMIN_TOKEN},
        )
        try:
            asyncio.run(wait_ready(f"http://127.0.0.1:{floor_port}/api/v1/bookings"))
            asyncio.run(wait_ready(f"http://127.0.0.1:{booking_port}/readyz"))
            targets = {"floor": f"http://127.0.0.1:{floor_port}/api/v1/bookings",
                       "booking": f"http://127.0.0.1:{booking_port}/api/v1/bookings"}
            metrics = f"http://127.0.0.1:{booking_port}/metrics"
            for url in targets.values():  # warm-up: connections, indexes, caches
                wrk(url, script, 3, args.connections)
            asyncio.run(drain(metrics))
            results: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
            for _ in range(args.rounds):
                for name, url in targets.items():
                    results[name].append(wrk(url, script, args.seconds, args.connections))
                    if name == "booking":
                        results[name][-1]["drain"] = asyncio.run(drain(metrics))
        finally:
            for process in (booking, floor):
                process.terminate()
                process.wait(timeout=30)

    print(f"\nwrk -t2 -c{args.connections} -d{args.seconds}s, {args.rounds} rounds each, alternating")
    print(f"{'server':<10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}{'cleared after':>15}")
    best: dict[str, dict[str, float]] = {}
    for name, runs in results.items():
        for run in runs:
            drained = f"{run['drain']:>13.1f} s" if "drain" in run else ""
            print(f"{name:<10}{run['rps']:>10.0f}{run['p50']:>10.2f}{run['p99']:>10.2f}{run['non2xx']:>10.0f}{drained}")
        best[name] = {k: sum(r[k] for r in runs) / len(runs) for k in ("rps", "p50", "p99")}
    throughput = best["booking"]["rps"] / best["floor"]["rps"]
    p99 = best["booking"]["p99"] / best["floor"]["p99"]
    print(f"\nmean of rounds: booking/floor throughput = {throughput:.2f}x (target >= 0.8), "
          f"p99 = {p99:.2f}x (target <= 2), p50 = {best['booking']['p50'] / best['floor']['p50']:.2f}x")
    # What the booking service alone keeps up with: its rounds' requests over the round and its clears.
    sustained = sum(r["rps"] * args.seconds / (args.seconds + r["drain"]) for r in results["booking"])
    sustained /= len(results["booking"])
    print(f"booking alone, its clears counted in: {sustained:.0f} requests/s sustained, "
          f"{sustained / best['floor']['rps']:.2f}x the floor's")


if __name__ == "__main__":
    main()
