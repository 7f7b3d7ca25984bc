"""raysim: an online store's shoppers, simulated on Ray, streamed to Kafka."""

from __future__ import annotations

from raysim.config import Config, load_config
from raysim.errors import (
    BrokerUnreachable,
    ConfigError,
    InputError,
    RaysimError,
    SinkError,
    WorkerLost,
)

__all__ = [
    "BrokerUnreachable",
    "Config",
    "ConfigError",
    "InputError",
    "RaysimError",
    "Simulation",
    "SinkError",
    "WorkerLost",
    "load_config",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # Simulation pulls in Ray; import it only when it is asked for.
    if name == "Simulation":
        from raysim.simulation import Simulation

        return Simulation
    raise AttributeError(f"module 'raysim' has no attribute {name!r}")
