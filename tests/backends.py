"""Where the integration tests find MongoDB and RabbitMQ.

In order: ``MONGODB_URL`` / ``AMQP_URL`` if set; testcontainers (real ``mongo`` and ``rabbitmq``
images) if a Docker engine answers and has that image locally; otherwise a SecantusDB server started
on a free port and the RabbitMQ running on this machine, in a virtual host of its own.
``TEST_BACKEND=docker`` or ``TEST_BACKEND=local`` forces a choice.

An engine that answers is not enough: where no image registry can be reached (as on the development machines),
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
from collections.abc import Iterator, Sequence

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


class SecantusProcess:
    """A SecantusDB server on a loopback port with its data in ``storage``; it can be killed and
    started again on the same port and data (as a crashed database server comes back)."""

    def __init__(self, storage: str, port: int | None = None, launcher: Sequence[str] = ("-m", "secantus")) -> None:
        self.storage = storage
        self.port = port or free_port()
        self.launcher = list(launcher)  # what runs the server: the module, or a wrapper (bench/db_profile.py)
        self.url = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(os.path.join(self.storage, "server.log"), "ab") as log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    *self.launcher,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--storage-path",
                    os.path.join(self.storage, "data"),
                    "--log-level",
                    "WARNING",
                    "--standalone",  # a plain server, as ``python -m dev`` starts it (see there)
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port)

    def kill(self) -> None:
        """SIGKILL: no chance to flush or close anything."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


@contextlib.contextmanager
def secantus_server(launcher: Sequence[str] = ("-m", "secantus")) -> Iterator[str]:
    """A SecantusDB server on a free loopback port, with its data in a temporary folder."""
    storage = tempfile.mkdtemp(prefix="secantus-")
    server = SecantusProcess(storage, launcher=launcher)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
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
