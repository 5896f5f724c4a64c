"""The booking API against its own OpenAPI description, with schemathesis generating the requests.

The three services run as processes on real backends; schemathesis reads ``/api/openapi.json`` and sends
well over a thousand generated requests (valid and invalid bodies, parameters and headers, as a workplace
and as an admin). None may be answered with a 5xx, and every answer must be what the description says:
its status, content type, headers and body schema.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from shared.infra.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_end_to_end import CONSULTANT
from tests.processes import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

EXAMPLES_PER_OPERATION = 150  # 12 operations: about 1,800 generated requests
MINIMUM_CASES = 1000
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)


@pytest_asyncio.fixture
async def booking_url(settings: Settings, tmp_path: Path) -> AsyncIterator[str]:
    consultants = tmp_path / "consultants.yaml"
    consultants.write_text(yaml.safe_dump({"consultants": [CONSULTANT]}), encoding="utf-8")
    scheduler = ServiceProcess("scheduler", settings, tmp_path, CONSULTANTS_FILE=str(consultants))
    notifier = ServiceProcess("notifier", settings, tmp_path, SMTP_PORT="9")  # mail goes nowhere: not tested here
    booking = ServiceProcess(
        "booking", settings, tmp_path, SCHEDULER_URL=scheduler.url, NOTIFIER_URL=notifier.url
    )
    services = [scheduler, notifier, booking]
    try:
        for service in services:
            service.start()
        for service in services:
            await service.wait_ready()
        yield booking.url
    finally:
        for service in services:
            service.stop()


@pytest.mark.skipif(shutil.which("st") is None, reason="schemathesis (the test extras) is not installed")
async def test_generated_requests_get_documented_answers_and_never_a_server_error(
    booking_url: str, tmp_path: Path
) -> None:
    report = tmp_path / "schemathesis.json"
    command = [
        "st",
        "run",
        f"{booking_url}/api/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        "20261130",
        "--header",
        f"Authorization: Bearer {ADMIN_TOKEN}",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    run = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=900)

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    cases = _generated_cases(report)
    print(f"\nschemathesis: {cases} generated requests, no failure")
    assert cases >= MINIMUM_CASES, f"only {cases} requests were generated"


def _generated_cases(report: Path) -> int:
    """How many requests schemathesis sent, from its NDJSON event stream."""
    sent = 0
    for line in report.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        for name, body in event.items():
            if name == "ScenarioFinished" and isinstance(body, dict):
                recorder = body.get("recorder", {})
                sent += len(recorder.get("interactions", {}))
    return sent
