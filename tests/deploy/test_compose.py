"""Static checks of docker-compose.yml and .env.example (no Docker engine needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

INFRA = ("mongo", "rabbitmq", "mailpit")
APPS = {"booking": 8080, "scheduler": 8081, "notifier": 8082}
SCALABLE = ("scheduler", "notifier")

# Every variable the services read (DESIGN.md §3 and shared/settings.py).
SERVICE_VARIABLES = (
    "MONGODB_URL",
    "MONGODB_DB",
    "AMQP_URL",
    "BOOKING_PORT",
    "SCHEDULER_PORT",
    "NOTIFIER_PORT",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SMTP_STARTTLS",
    "MAIL_FROM",
    "SMS_PROVIDER",
    "SMS_API_URL",
    "SMS_API_TOKEN",
    "SMS_SENDER",
    "ADMIN_TOKEN",
    "CONSULTANTS_FILE",
    "PUBLIC_BASE_URL",
    "LOG_LEVEL",
    "REMINDER_BEFORE_HOURS",
)

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


def _defaults(value: Any) -> str:
    """Resolve Compose's ${VAR:-default} to its default, as with an empty .env."""
    return _INTERPOLATION.sub(lambda m: m.group("default") or "", str(value))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    svcs = compose["services"]
    assert isinstance(svcs, dict)
    return svcs


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: _defaults(v) for k, v in env.items()}


def _published_targets(service: dict[str, Any]) -> dict[int, int]:
    """Map container port -> host port (with defaults) of a service's `ports`."""
    result: dict[int, int] = {}
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            result[int(entry["target"])] = int(_defaults(entry["published"]))
            continue
        parts = _defaults(entry).split(":")
        result[int(parts[-1].split("/")[0])] = int(parts[-2])
    return result


def test_all_services_exist(services: dict[str, dict[str, Any]]) -> None:
    assert set(INFRA) | set(APPS) <= set(services)


@pytest.mark.parametrize("name", [*INFRA, *APPS])
def test_every_service_has_a_healthcheck_and_restart_policy(services: dict[str, dict[str, Any]], name: str) -> None:
    service = services[name]
    healthcheck = service.get("healthcheck")
    assert healthcheck, f"{name} has no healthcheck"
    assert not healthcheck.get("disable", False)
    assert healthcheck.get("test"), f"{name}: healthcheck without a test"
    assert service.get("restart") == "unless-stopped"


@pytest.mark.parametrize("name", list(APPS))
def test_app_services_wait_for_healthy_mongo_and_rabbitmq(services: dict[str, dict[str, Any]], name: str) -> None:
    depends_on = services[name]["depends_on"]
    assert isinstance(depends_on, dict), "depends_on must be the long form with conditions"
    for dependency in ("mongo", "rabbitmq"):
        assert depends_on[dependency]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", list(APPS))
def test_app_services_start_their_module_and_check_their_own_port(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    service = services[name]
    assert service["command"] == ["python", "-m", f"services.{name}"]
    env = _env(service)
    port = APPS[name]
    assert env[f"{name.upper()}_PORT"] == str(port)
    assert env["HEALTHCHECK_PORT"] == str(port)
    test = " ".join(service["healthcheck"]["test"])
    assert "/healthz" in test and "HEALTHCHECK_PORT" in test
    assert service.get("build"), f"{name} must be buildable from the Dockerfile"
    assert service.get("stop_grace_period"), f"{name}: no stop_grace_period for a clean SIGTERM"


@pytest.mark.parametrize("name", list(APPS))
def test_app_services_point_at_the_compose_infrastructure(services: dict[str, dict[str, Any]], name: str) -> None:
    env = _env(services[name])
    assert env["MONGODB_URL"].startswith("mongodb://mongo:27017/")
    assert "replicaSet=rs0" in env["MONGODB_URL"]
    assert "@rabbitmq:5672" in env["AMQP_URL"]
    assert env["SMTP_HOST"] == "mailpit"
    assert env["SMTP_PORT"] == "1025"


@pytest.mark.parametrize("name", SCALABLE)
def test_scalable_services_have_no_container_name_and_no_host_ports(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    service = services[name]
    assert "container_name" not in service
    assert "ports" not in service


def test_booking_is_published_on_8080(services: dict[str, dict[str, Any]]) -> None:
    assert _published_targets(services["booking"]).get(8080) == 8080
    assert "container_name" not in services["booking"]


def test_mongo_runs_as_a_single_node_replica_set_with_a_volume(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    mongo = services["mongo"]
    assert mongo["image"] == "mongo:8.0"
    command = mongo["command"]
    assert "--replSet" in command and command[command.index("--replSet") + 1] == "rs0"
    assert "--bind_ip_all" in command
    check = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in check, "the healthcheck must initiate the replica set when needed"
    assert "isWritablePrimary" in check, "healthy only once the node is primary"
    volumes = {v.split(":")[1]: v.split(":")[0] for v in mongo["volumes"]}
    assert volumes["/data/db"] in compose["volumes"], "MongoDB data must be on a named volume"


def test_rabbitmq_has_management_ui_healthcheck_and_volume(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    rabbitmq = services["rabbitmq"]
    assert rabbitmq["image"] == "rabbitmq:4-management"
    assert rabbitmq["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    assert _published_targets(rabbitmq).get(15672) == 15672
    assert rabbitmq.get("hostname"), "a fixed hostname keeps RabbitMQ's data across re-creation"
    volumes = {v.split(":")[1]: v.split(":")[0] for v in rabbitmq["volumes"]}
    assert volumes["/var/lib/rabbitmq"] in compose["volumes"]


def test_mailpit_serves_its_ui_on_8025(services: dict[str, dict[str, Any]]) -> None:
    mailpit = services["mailpit"]
    assert mailpit["image"].startswith("axllent/mailpit:")
    assert mailpit["image"].split(":", 1)[1] != "latest"
    assert _published_targets(mailpit).get(8025) == 8025


def test_scheduler_mounts_the_consultants_file_read_only(services: dict[str, dict[str, Any]]) -> None:
    scheduler = services["scheduler"]
    target = _env(scheduler)["CONSULTANTS_FILE"]
    mounts = [v for v in scheduler["volumes"] if isinstance(v, dict) and v["target"] == target]
    assert len(mounts) == 1, f"no volume mounted at CONSULTANTS_FILE={target}"
    assert mounts[0]["read_only"] is True
    assert _defaults(mounts[0]["source"]) == "./deploy/consultants.example.yaml"


def _env_example_names() -> dict[str, bool]:
    """Names in .env.example -> True if set, False if only shown commented out."""
    names: dict[str, bool] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]*)=", line.strip())
        if match:
            names[match.group(2)] = names.get(match.group(2), False) or not match.group(1)
    return names


def test_env_example_names_every_service_variable() -> None:
    names = _env_example_names()
    missing = [name for name in SERVICE_VARIABLES if name not in names]
    assert not missing, f".env.example does not mention {missing}"


def test_env_example_lines_are_valid_and_commented() -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    previous = ""
    for line in lines:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            assert re.match(r"^[A-Z][A-Z0-9_]*=\S*$", stripped), f"not NAME=value: {line!r}"
            assert previous.startswith("#") or re.match(r"^[A-Z][A-Z0-9_]*=", previous), (
                f"{stripped.split('=')[0]} has no comment above it"
            )
        previous = stripped


def test_every_compose_variable_is_in_env_example() -> None:
    used = set(_INTERPOLATION.findall(COMPOSE_FILE.read_text(encoding="utf-8")))
    names = _env_example_names()
    missing = sorted(name for name, _ in used if name not in names)
    assert not missing, f"docker-compose.yml uses {missing}, which .env.example does not mention"


def test_compose_file_matches_the_compose_specification() -> None:
    exe = shutil.which("check-jsonschema")
    if exe is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    result = subprocess.run(
        [exe, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    """`docker compose config` needs only the Compose plugin, not an engine."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI: `docker compose config` not run")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip("the docker CLI has no Compose plugin: `docker compose config` not run")
    result = subprocess.run(
        [docker, "compose", "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
