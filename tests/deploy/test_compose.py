"""Static checks of docker-compose.yml and .env.example (no Docker engine needed).

The Compose file must run unchanged with Compose v2 and with Debian 12's docker-compose 1.29; what
needs a newer Compose is in the optional docker-compose.v2.yml. The stack itself runs in
tests/compose/.
"""

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
COMPOSE_V2_FILE = ROOT / "docker-compose.v2.yml"
STANDINS_FILE = ROOT / "tests" / "compose" / "docker-compose.standins.yml"
ENV_EXAMPLE = ROOT / ".env.example"

INFRA = ("mongo", "rabbitmq", "mailpit")
APPS = {"booking": 8080, "scheduler": 8081, "notifier": 8082}
SCALABLE = ("scheduler", "notifier")

# Every variable the services read (README.md, "Configuration", and shared/infra/settings.py).
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

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<sep>:?[-?])(?P<default>[^}]*))?\}")


def _defaults(value: Any) -> str:
    """Resolve Compose's ${VAR:-default} to its default, as with an empty .env (a required
    ${VAR:?message} to "")."""
    return _INTERPOLATION.sub(lambda m: m.group("default") if m.group("sep") in (":-", "-") else "", str(value))


def _required(value: Any) -> list[str]:
    """The variables that ${VAR:?message} makes required in ``value``."""
    return [m.group("name") for m in _INTERPOLATION.finditer(str(value)) if m.group("sep") == ":?"]


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
    assert _required(services[name]["environment"]["AMQP_URL"]) == ["AMQP_URL"], "AMQP_URL must come from .env"
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


def test_rabbitmq_credentials_come_from_env_and_are_never_guest(services: dict[str, dict[str, Any]]) -> None:
    environment = services["rabbitmq"]["environment"]
    for name in ("RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"):
        assert _required(environment[name]) == [name], f"{name} must be required from .env, without a default"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert "guest" not in _defaults(re.sub(r"(?m)#.*$", "", text)), "no guest/guest in the Compose file"
    assert _env_example_values()["AMQP_URL"] == "", ".env.example leaves the password and AMQP_URL to the admin"
    assert _env_example_values()["RABBITMQ_DEFAULT_PASS"] == ""


def test_nothing_newer_than_docker_compose_1_29(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    """Compose 1.29 (Debian 12) refuses a top-level `name`, `start_interval` and the long `env_file`
    form; those belong in the optional docker-compose.v2.yml."""
    assert "name" not in compose
    for name, service in services.items():
        assert "start_interval" not in service.get("healthcheck", {}), name
        assert all(isinstance(entry, str) for entry in service.get("env_file", [])), name
    v2 = yaml.safe_load(COMPOSE_V2_FILE.read_text(encoding="utf-8"))
    assert v2["name"] == "inspiration"
    assert set(v2["services"]) <= set(services)
    assert "COMPOSE_PROJECT_NAME" in _env_example_values(), "1.29 takes the project name from .env"


def test_rabbitmq_has_management_ui_healthcheck_and_volume(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    rabbitmq = services["rabbitmq"]
    assert rabbitmq["image"] == "rabbitmq:4-management"
    assert rabbitmq["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "check_port_connectivity"]
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


def _env_example_values() -> dict[str, str]:
    """NAME=value lines of .env.example that are set (not commented out)."""
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if match:
            values[match.group(1)] = match.group(2)
    return values


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
    used = {m.group("name") for m in _INTERPOLATION.finditer(COMPOSE_FILE.read_text(encoding="utf-8"))}
    names = _env_example_names()
    missing = sorted(name for name in used if name not in names)
    assert not missing, f"docker-compose.yml uses {missing}, which .env.example does not mention"


def test_compose_files_match_the_compose_specification() -> None:
    exe = shutil.which("check-jsonschema")
    if exe is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    result = subprocess.run(
        [exe, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE), str(COMPOSE_V2_FILE), str(STANDINS_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _filled_env_file(tmp_path: Path) -> Path:
    """.env.example with the blanks an admin must fill in filled in, as a file for --env-file."""
    values = _env_example_values()
    values.update(
        RABBITMQ_DEFAULT_PASS="0123456789abcdef0123456789abcdef",
        AMQP_URL="amqp://inspiration:0123456789abcdef0123456789abcdef@rabbitmq:5672/",
        ADMIN_TOKEN="0123456789abcdef0123456789abcdef0123456789abcdef",
    )
    env_file = tmp_path / "filled.env"
    values["APP_ENV_FILE"] = str(env_file)
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return env_file


def _compose_commands() -> list[tuple[str, list[str]]]:
    """(label, command) of every Compose installed here: v2 (`docker compose`) and 1.29 (`docker-compose`)."""
    found = []
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode == 0:
        found.append(("docker compose", [docker, "compose"]))
    legacy = shutil.which("docker-compose")
    if legacy:
        found.append(("docker-compose", [legacy]))
    return found


@pytest.mark.parametrize("label", ["docker compose", "docker-compose"])
def test_compose_config_accepts_the_file_with_the_env_example(label: str, tmp_path: Path) -> None:
    """`config` needs only Compose, not an engine: v2 and Debian 12's 1.29 both accept the file."""
    commands = dict(_compose_commands())
    if label not in commands:
        pytest.skip(f"{label} is not installed here: not run")
    files = ["-f", str(COMPOSE_FILE)]
    if label == "docker compose":
        files += ["-f", str(COMPOSE_V2_FILE)]
    env_file = _filled_env_file(tmp_path)
    result = subprocess.run(
        [*commands[label], "--project-directory", str(ROOT), "--env-file", str(env_file), *files, "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_refuses_to_start_without_rabbitmq_credentials(tmp_path: Path) -> None:
    """An .env copied from .env.example but not filled in: a clear message, not guest/guest."""
    commands = _compose_commands()
    if not commands:
        pytest.skip("no Compose installed here: not run")
    env_file = tmp_path / "unfilled.env"
    env_file.write_text(ENV_EXAMPLE.read_text(encoding="utf-8") + f"APP_ENV_FILE={env_file}\n", encoding="utf-8")
    for _label, command in commands:
        result = subprocess.run(
            [
                *command,
                "--project-directory",
                str(ROOT),
                "--env-file",
                str(env_file),
                "-f",
                str(COMPOSE_FILE),
                "config",
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode != 0
        assert re.search(r"RABBITMQ_DEFAULT_(USER|PASS)|AMQP_URL", result.stderr), result.stderr
