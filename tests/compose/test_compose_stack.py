"""The Compose stack for real, as an admin runs it.

The project's image is built from the project's Dockerfile as it is; MongoDB, RabbitMQ and Mailpit
are stand-ins built on this machine (no registry can be reached here: ``build-images.sh`` beside
this file), swapped in by ``docker-compose.standins.yml``. Then, with ``docker-compose.yml`` as it is:
up with 3 schedulers and 2 notifiers, every container healthy; a booking posted to the published
port is placed and the consultant's invite reaches the SMTP container; one scheduler killed, the
others place the next booking; ``stop`` ends every application container with exit code 0 (so
within its grace period: Docker's SIGKILL after it would give 137); ``down`` and ``up`` keep the
bookings; ``down -v`` removes the volumes.

The tests in this module run in order on one stack (module-scoped), and once per run: it is the
only test that starts containers. They skip, with the reason, where no Docker engine answers
(``bash .ci/docker-engine.sh`` installs and starts Debian's). ``docker compose`` (v2) is used when
the Docker CLI has it, else ``docker-compose`` (1.29 on Debian 12); ``COMPOSE_TEST_COMMAND`` picks
one. Measured figures (image size, start to healthy, memory at rest) go to
``var/compose-report.json`` (or ``$COMPOSE_REPORT``) for the README; none is asserted.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import icalendar
import pytest
import yaml

from tests.backends import free_port
from tests.dates import closed

pytestmark = pytest.mark.compose

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
STANDINS_FILE = HERE / "docker-compose.standins.yml"
BUILD_IMAGES = HERE / "build-images.sh"
CONSULTANTS_FILE = ROOT / "deploy" / "consultants.example.yaml"
REPORT = Path(os.environ.get("COMPOSE_REPORT", ROOT / "var" / "compose-report.json"))

LOCAL_TZ = ZoneInfo("Europe/Copenhagen")
APPS = ("booking", "scheduler", "notifier")
INFRA = ("mongo", "rabbitmq", "mailpit")
SCALE = {"booking": 1, "scheduler": 3, "notifier": 2}
# Bounds for waiting, generous for a loaded 2-core machine; the figures themselves are measured.
HEALTHY_WITHIN = 300.0
PLACED_WITHIN = 120.0
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

T = TypeVar("T")


def run(
    args: list[str], *, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False, env=env)


def eventually(probe: Callable[[], T | None], what: str, timeout: float, diagnose: Callable[[], str]) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` and a diagnosis after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}\n{diagnose()}")
        time.sleep(0.5)


# --- the engine, the Compose command and the images -------------------------------------------------


def compose_command() -> list[str] | None:
    forced = os.environ.get("COMPOSE_TEST_COMMAND")
    if forced:
        return shlex.split(forced)
    docker = shutil.which("docker")
    if docker and run([docker, "compose", "version"], timeout=30).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.fixture(scope="module")
def compose_cli() -> list[str]:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no Docker CLI (bash .ci/docker-engine.sh installs Debian's docker.io)")
    info = run([docker, "info", "--format", "{{.ServerVersion}}"], timeout=30)
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        pytest.skip(f"no Docker engine answers ({reason}); bash .ci/docker-engine.sh installs and starts one")
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed (apt-get install docker-compose)")
    return command


@pytest.fixture(scope="module")
def standins(compose_cli: list[str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Build (or find cached) the stand-in images; their tags as STANDIN_* variables."""
    out = tmp_path_factory.mktemp("standins") / "standins.env"
    result = run(["bash", str(BUILD_IMAGES)], timeout=600, env={**os.environ, "STANDIN_ENV_FILE": str(out)})
    if result.returncode == 3:
        pytest.skip(f"the stand-in images cannot be built here: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, f"building the stand-in images failed:\n{result.stderr[-3000:]}"
    tags = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert set(tags) == {"STANDIN_PYTHON", "STANDIN_MONGO", "STANDIN_RABBITMQ", "STANDIN_MAILPIT"}
    return tags


# --- the stack -----------------------------------------------------------------------------------------


@dataclass
class Stack:
    command: list[str]
    project: str
    env_file: Path
    booking_port: int
    mailpit_port: int
    image: str
    report: dict[str, Any] = field(default_factory=dict)
    killed: set[str] = field(default_factory=set)
    first_booking: dict[str, str] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        files = ["-f", str(COMPOSE_FILE), "-f", str(STANDINS_FILE)]
        return run(
            [
                *self.command,
                "--project-directory",
                str(ROOT),
                "-p",
                self.project,
                "--env-file",
                str(self.env_file),
                *files,
                *args,
            ],
            timeout=timeout,
        )

    def must(self, *args: str, timeout: float = 600) -> str:
        result = self.compose(*args, timeout=timeout)
        output = result.stdout[-2000:] + result.stderr[-4000:]
        assert result.returncode == 0, f"compose {' '.join(args)} failed:\n{output}"
        return result.stdout

    def containers(self, service: str | None = None) -> list[dict[str, Any]]:
        """`docker inspect` of the project's containers (stopped ones too), optionally of one service."""
        filters = ["--filter", f"label=com.docker.compose.project={self.project}"]
        if service:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        ids = run(["docker", "ps", "-aq", *filters]).stdout.split()
        if not ids:
            return []
        inspected = run(["docker", "inspect", *ids])
        assert inspected.returncode == 0, inspected.stderr
        found: list[dict[str, Any]] = json.loads(inspected.stdout)
        return found

    def diagnose(self) -> str:
        ps = run(
            [
                "docker",
                "ps",
                "-a",
                "--filter",
                f"label=com.docker.compose.project={self.project}",
                "--format",
                "{{.Names}}\t{{.Status}}",
            ]
        ).stdout
        logs = self.compose("logs", "--no-color", "--tail", "25", timeout=120)
        return f"containers:\n{ps}\nlast log lines:\n{logs.stdout[-6000:]}{logs.stderr[-1000:]}"

    def up(self, *extra: str) -> float:
        """`up -d`, then wait until every running container is healthy; the seconds that took."""
        started = time.monotonic()
        self.must("up", "-d", *extra)
        eventually(self.all_healthy, "every container to be healthy", HEALTHY_WITHIN, self.diagnose)
        return time.monotonic() - started

    def all_healthy(self) -> bool:
        running = [c for c in self.containers() if c["State"]["Running"]]
        states = {c["Name"]: c["State"].get("Health", {}).get("Status", "no health check") for c in running}
        bad = [name for name, status in states.items() if status == "unhealthy"]
        if bad:
            pytest.fail(f"unhealthy: {bad}\n{self.diagnose()}")
        return bool(states) and all(status == "healthy" for status in states.values())

    # HTTP on the published ports, as a workplace and an admin reach them.

    def http(self, method: str, port: int, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                status = response.status
                content_type = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            raw, status, content_type = error.read(), error.code, error.headers.get("Content-Type", "")
        return status, json.loads(raw) if "json" in content_type else raw

    def post_booking(self, preferred_starts: list[datetime], contact_email: str) -> tuple[str, str]:
        """POST /api/v1/bookings; the booking's id and its status token (from ``status_url``)."""
        body = {
            "workplace": {"name": "Bostedet Lindely", "address": "Skovvej 12", "postcode": "8000", "city": "Aarhus C"},
            "contact": {"name": "Mette Hansen", "email": contact_email, "phone": "+45 20 30 40 50"},
            "theme": "selvledelse",
            "setting": "staff_meeting",
            "participants": 18,
            "duration_minutes": 90,
            "preferred_starts": [start.strftime("%Y-%m-%dT%H:%M") for start in preferred_starts],
            "notes": "Vi holder personalemøde i fællesrummet.",
        }
        status, created = self.http("POST", self.booking_port, "/api/v1/bookings", body)
        assert status == 201, f"booking refused: {status} {created}"
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(created["status_url"]).query)["token"][0]
        return str(created["id"]), token

    def booking(self, booking_id: str, token: str) -> dict[str, Any] | None:
        try:
            status, view = self.http("GET", self.booking_port, f"/api/v1/bookings/{booking_id}?token={token}")
        except OSError:  # booking restarting
            return None
        return view if status == 200 and isinstance(view, dict) else None

    def placed(self, booking_id: str, token: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            view = self.booking(booking_id, token)
            return view if view and view["status"] == "scheduled" else None

        return eventually(probe, f"booking {booking_id} to be scheduled", PLACED_WITHIN, self.diagnose)

    def mails_to(self, address: str) -> list[EmailMessage]:
        """Every mail the SMTP container kept for ``address`` (Mailpit's API: list, then raw)."""
        status, listing = self.http("GET", self.mailpit_port, "/api/v1/messages")
        assert status == 200, listing
        found = []
        for summary in listing["messages"]:
            if any(to["Address"].lower() == address.lower() for to in summary["To"]):
                status, raw = self.http("GET", self.mailpit_port, f"/api/v1/message/{summary['ID']}/raw")
                assert status == 200
                message = message_from_bytes(raw, policy=default_policy)
                assert isinstance(message, EmailMessage)
                found.append(message)
        return found

    def memory_at_rest(self) -> dict[str, str]:
        """`docker stats` memory per container, by container name."""
        ids = [c["Id"] for c in self.containers() if c["State"]["Running"]]
        stats = run(["docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}", *ids], timeout=120)
        return dict(line.split("\t", 1) for line in stats.stdout.splitlines() if "\t" in line)


def consultant() -> dict[str, Any]:
    data = yaml.safe_load(CONSULTANTS_FILE.read_text(encoding="utf-8"))
    first: dict[str, Any] = data["consultants"][0]
    return first


def free_weekdays(person: dict[str, Any], after_days: int, count: int, hour: int = 10) -> list[datetime]:
    """``count`` local starts at ``hour`` on days the consultant works and is not away, from
    ``after_days`` days ahead (the booking rules want 14 to 365 days ahead, weekdays, 08-17)."""
    absences = [(date.fromisoformat(a["start"]), date.fromisoformat(a["end"])) for a in person.get("absences", [])]
    day = datetime.now(LOCAL_TZ).date() + timedelta(days=after_days)
    starts: list[datetime] = []
    while len(starts) < count:
        works = WEEKDAYS[day.weekday()] in person["working_hours"] and not closed(day)
        away = any(start <= day <= end for start, end in absences)
        if works and not away:
            starts.append(datetime(day.year, day.month, day.day, hour, tzinfo=LOCAL_TZ))
        day += timedelta(days=1)
    assert starts[-1].date() <= datetime.now(LOCAL_TZ).date() + timedelta(days=365)
    return starts


def invite(messages: list[EmailMessage]) -> str | None:
    """The text/calendar part of the first mail that carries an invite (METHOD:REQUEST), if any."""
    for message in messages:
        for part in message.walk():
            if part.get_content_type() == "text/calendar":
                text = part.get_content()
                if isinstance(text, bytes):
                    text = text.decode("utf-8")
                if re.search(r"^METHOD:REQUEST\r?$", str(text), re.MULTILINE):
                    return str(text)
    return None


def remove_older_builds() -> None:
    """The image and its build cache stay for the next run; a rebuild leaves its predecessor and
    that one's builder stage dangling. Remove those, keeping the newest builder stage (the cache)."""
    run(["docker", "image", "prune", "-f", "--filter", "label=org.opencontainers.image.title=inspiration-talks"])
    listed = run(
        ["docker", "images", "-q", "--filter", "dangling=true", "--filter", "label=org.inspiration-talks.ci.inputs"]
    )
    builders = list(dict.fromkeys(listed.stdout.split()))  # newest first
    if len(builders) > 1:
        run(["docker", "rmi", *builders[1:]])


@pytest.fixture(scope="module")
def stack(
    compose_cli: list[str], standins: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    started = time.monotonic()
    folder = tmp_path_factory.mktemp("compose")
    project = f"inspiration-ci-{os.getpid()}"
    password = secrets.token_hex(16)
    app_env = folder / "app.env"
    # What the application containers get besides the Compose file's settings (APP_ENV_FILE).
    app_env.write_text(
        "\n".join(
            [
                f"ADMIN_TOKEN=compose-test-{secrets.token_hex(20)}",  # the services want 32+ characters
                "RATE_LIMIT_PER_ADDRESS=off",
                "RATE_LIMIT_PER_EMAIL=off",
                "",
            ]
        )
    )
    stack = Stack(
        command=compose_cli,
        project=project,
        env_file=folder / "compose.env",
        booking_port=free_port(),
        mailpit_port=free_port(),
        image="inspiration-talks:compose-test",
    )
    settings = {
        **standins,
        # This run's RabbitMQ user, as an admin sets it in .env (no guest/guest).
        "RABBITMQ_DEFAULT_USER": "inspiration",
        "RABBITMQ_DEFAULT_PASS": password,
        "AMQP_URL": f"amqp://inspiration:{password}@rabbitmq:5672/",
        # SecantusDB is a one-node server of its own, not a replica set named rs0.
        "MONGODB_URL": "mongodb://mongo:27017/?directConnection=true&retryWrites=false",
        "APP_ENV_FILE": str(app_env),
        "BOOKING_HOST_PORT": str(stack.booking_port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{stack.booking_port}",
        "MAILPIT_UI_PORT": str(stack.mailpit_port),
        "RABBITMQ_UI_PORT": str(free_port()),
        "IMAGE": stack.image.split(":")[0],
        "IMAGE_TAG": stack.image.split(":")[1],
    }
    stack.env_file.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    try:
        yield stack
    finally:
        stack.compose("down", "-v", "--remove-orphans", timeout=300)
        stack.report["compose_test_seconds"] = round(time.monotonic() - started, 1)
        remove_older_builds()
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(json.dumps(stack.report, indent=2, ensure_ascii=False) + "\n")


# --- the tests, in order ------------------------------------------------------------------------------


def test_the_projects_dockerfile_builds_on_the_local_base(stack: Stack) -> None:
    started = time.monotonic()
    stack.must("build", timeout=480)
    inspected = json.loads(run(["docker", "image", "inspect", stack.image]).stdout)[0]
    stack.report["build_seconds"] = round(time.monotonic() - started, 1)
    stack.report["image_size_mb"] = round(inspected["Size"] / 1e6)
    assert inspected["Config"]["User"].split(":")[0] not in ("", "0", "root"), "the image must not run as root"


def test_every_container_is_healthy_with_three_schedulers_and_two_notifiers(stack: Stack) -> None:
    scale = [f"--scale={service}={n}" for service, n in SCALE.items() if n > 1]
    stack.report["cold_start_to_healthy_seconds"] = round(stack.up(*scale), 1)
    containers = {service: len(stack.containers(service)) for service in (*APPS, *INFRA)}
    assert containers == {**SCALE, "mongo": 1, "rabbitmq": 1, "mailpit": 1}
    for container in stack.containers():
        assert container["State"]["Health"]["Status"] == "healthy", container["Name"]
    # /readyz on the published port: booking is connected to MongoDB and RabbitMQ.
    status, ready = stack.http("GET", stack.booking_port, "/readyz")
    assert status == 200, ready
    time.sleep(5)  # let the start settle before reading memory "at rest"
    stack.report["memory_at_rest"] = stack.memory_at_rest()
    compose_version = run([*stack.command, "version", "--short"]).stdout.strip()
    engine = run(["docker", "version", "--format", "{{.Server.Version}}"]).stdout.strip()
    stack.report["versions"] = {"compose": compose_version or "?", "docker_engine": engine}


def test_a_booking_is_placed_and_the_consultant_gets_the_invite(stack: Stack) -> None:
    anne = consultant()
    contact = f"mette.{secrets.token_hex(4)}@example.dk"
    starts = free_weekdays(anne, after_days=15, count=3)
    booking_id, token = stack.post_booking(starts, contact)
    view = stack.placed(booking_id, token)
    assert view["slot"]["consultant"]["id"] == anne["id"]
    assert view["slot"]["start"]["local"] in [start.isoformat() for start in starts]

    ics = eventually(
        lambda: invite(stack.mails_to(anne["email"])), "the consultant's invite (METHOD:REQUEST)", 60, stack.diagnose
    )
    [event] = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    placed_start = datetime.fromisoformat(view["slot"]["start"]["utc"].replace("Z", "+00:00"))
    assert event.decoded("DTSTART").astimezone(UTC) == placed_start, "the invite is for the time the talk was placed"
    assert eventually(lambda: stack.mails_to(contact), "the workplace's mail", 60, stack.diagnose)
    stack.first_booking = {"id": booking_id, "token": token, "start": view["slot"]["start"]["utc"]}


def test_with_one_scheduler_killed_the_others_place_the_next_booking(stack: Stack) -> None:
    schedulers = stack.containers("scheduler")
    victim = schedulers[0]
    assert run(["docker", "kill", victim["Id"]]).returncode == 0
    stack.killed.add(victim["Id"])

    def stopped() -> dict[str, Any] | None:
        [state] = [c["State"] for c in stack.containers("scheduler") if c["Id"] == victim["Id"]]
        return None if state["Running"] else state

    assert eventually(stopped, "the killed scheduler to stop", 30, stack.diagnose)["ExitCode"] == 137
    others = [c for c in stack.containers("scheduler") if c["Id"] != victim["Id"]]
    assert len(others) == SCALE["scheduler"] - 1
    assert all(c["State"]["Running"] and c["State"]["Health"]["Status"] == "healthy" for c in others)

    starts = free_weekdays(consultant(), after_days=22, count=3, hour=11)
    booking_id, token = stack.post_booking(starts, f"bo.{secrets.token_hex(4)}@example.dk")
    view = stack.placed(booking_id, token)
    assert view["slot"]["start"]["local"] in [start.isoformat() for start in starts]


def test_stop_ends_every_application_service_with_exit_code_zero(stack: Stack) -> None:
    started = time.monotonic()
    stack.must("stop", timeout=300)
    stack.report["stop_seconds"] = round(time.monotonic() - started, 1)
    exits = {}
    for service in APPS:
        for container in stack.containers(service):
            if container["Id"] in stack.killed:
                continue
            assert not container["State"]["Running"], container["Name"]
            exits[container["Name"].lstrip("/")] = container["State"]["ExitCode"]
    assert len(exits) == sum(SCALE.values()) - len(stack.killed)
    # 0: shut down on SIGTERM; 137 would be Docker's SIGKILL after the grace period.
    assert all(code == 0 for code in exits.values()), exits
    stack.report["exit_codes_after_stop"] = {
        c["Name"].lstrip("/"): c["State"]["ExitCode"] for c in stack.containers() if c["Id"] not in stack.killed
    }


def test_down_and_up_again_keeps_the_bookings(stack: Stack) -> None:
    stack.must("down", timeout=300)
    assert stack.containers() == []
    stack.report["warm_start_to_healthy_seconds"] = round(stack.up(), 1)
    first = stack.first_booking
    assert first, "no first booking to look for (an earlier test failed)"
    view = stack.booking(first["id"], first["token"])
    assert view is not None, "the first booking is gone after down and up"
    assert view["status"] == "scheduled"
    assert view["slot"]["start"]["utc"] == first["start"]


def test_down_with_volumes_removes_everything(stack: Stack) -> None:
    stack.must("down", "-v", timeout=300)
    assert stack.containers() == []
    volumes = run(["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={stack.project}"])
    assert volumes.stdout.split() == []
