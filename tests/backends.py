"""Where the integration tests find MongoDB and RabbitMQ.

In order: ``MONGODB_URL`` / ``AMQP_URL`` if set; testcontainers (real ``mongo`` and ``rabbitmq``
images) if a Docker engine answers and has that image locally; otherwise a SecantusDB server started
on a free port and the RabbitMQ running on this machine, in a virtual host of its own.
``TEST_BACKEND=docker`` or ``TEST_BACKEND=local`` forces a choice.

An engine that answers is not enough: where no image registry can be reached (DESIGN.md §4),
testcontainers would fail to pull. So each backend is chosen by its own image being present (forced
with ``TEST_BACKEND=docker``, testcontainers pulls what is missing), and testcontainers' reaper
(Ryuk) is left out when its image is not present either: the containers are then stopped by the
fixtures themselves.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator

LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
MONGO_IMAGE = "mongo:8.0"
RABBITMQ_IMAGE = "rabbitmq:4-management"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


def docker_has_image(image: str) -> bool:
    """A Docker engine answers and has ``image`` locally (no pull needed)."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            client.images.get(image)
        finally:
            client.close()
        return True
    except Exception:
        return False


def backend(image: str) -> str:
    """``docker`` (testcontainers with ``image``) or ``local``; see the module's docstring."""
    forced = os.environ.get("TEST_BACKEND", "").lower()
    if forced in ("docker", "local"):
        return forced
    return "docker" if docker_has_image(image) else "local"


def _testcontainers_without_missing_reaper() -> None:
    """Leave testcontainers' reaper out when its image cannot be had without a registry."""
    from testcontainers.core.config import testcontainers_config

    if not testcontainers_config.ryuk_disabled and not docker_has_image(testcontainers_config.ryuk_image):
        testcontainers_config.ryuk_disabled = True


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@contextlib.contextmanager
def secantus_server() -> Iterator[str]:
    """A SecantusDB server on a free loopback port, with its data in a temporary folder."""
    port = free_port()
    storage = tempfile.mkdtemp(prefix="secantus-")
    log = open(os.path.join(storage, "server.log"), "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "secantus",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            os.path.join(storage, "data"),
            "--log-level",
            "WARNING",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port)
        yield f"mongodb://127.0.0.1:{port}/?directConnection=true"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(storage, ignore_errors=True)


@contextlib.contextmanager
def mongodb() -> Iterator[str]:
    if url := os.environ.get("MONGODB_URL"):
        yield url
    elif backend(MONGO_IMAGE) == "docker":
        from testcontainers.mongodb import MongoDbContainer

        _testcontainers_without_missing_reaper()
        with MongoDbContainer(MONGO_IMAGE) as container:
            yield container.get_connection_url()
    else:
        with secantus_server() as url:
            yield url


@contextlib.contextmanager
def rabbitmq() -> Iterator[str]:
    if url := os.environ.get("AMQP_URL"):
        yield url
    elif backend(RABBITMQ_IMAGE) == "docker":
        from testcontainers.rabbitmq import RabbitMqContainer

        _testcontainers_without_missing_reaper()
        with RabbitMqContainer(RABBITMQ_IMAGE) as container:
            params = container.get_connection_params()
            yield f"amqp://{container.username}:{container.password}@{params.host}:{params.port}/"
    else:
        with local_vhost() as url:
            yield url


@contextlib.contextmanager
def local_vhost() -> Iterator[str]:
    """A throw-away virtual host on the local RabbitMQ, so test runs never share queues with each
    other or with a system running on this machine. Falls back to ``/`` without ``rabbitmqctl``."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        yield LOCAL_AMQP
        return
    vhost = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    subprocess.run([ctl, "-q", "add_vhost", vhost], check=True, capture_output=True)
    try:
        subprocess.run(
            [ctl, "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True, capture_output=True
        )
        yield f"{LOCAL_AMQP}{vhost}"
    finally:
        subprocess.run([ctl, "-q", "delete_vhost", vhost], check=False, capture_output=True)
