"""What the command-line tests share: Ray is never reached, logging is put back."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from raysim.simulation import Simulation


class StartAttempted(Exception):
    """Raised in place of connecting to Ray: the run got past every check."""


@pytest.fixture(autouse=True)
def offline_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test in its own directory, Ray unreachable, the raysim loggers restored.

    `raysim run` adds handlers to the raysim loggers; they come off afterwards.
    """

    def refuse(self: Simulation) -> None:
        raise StartAttempted(self.config.source)

    monkeypatch.setattr(Simulation, "_connect_ray", refuse)
    monkeypatch.chdir(tmp_path)
    saved = {}
    for name in ("raysim", "raysim.report"):
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
