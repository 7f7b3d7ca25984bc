"""Shared fixtures: a Kafka-protocol broker on loopback and per-test topic names."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from raysim.config import TOPIC_KEYS, TopicsConfig
from raysim.testing import TansuProcess


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """Bootstrap address of a broker: RAYSIM_TEST_BOOTSTRAP, or a Tansu we start."""
    given = os.environ.get("RAYSIM_TEST_BOOTSTRAP")
    if given:
        yield given
        return
    try:
        process = TansuProcess().start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield process.bootstrap
    finally:
        process.stop()


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
