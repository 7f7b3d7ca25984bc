"""Experiment configuration: frozen dataclasses built from YAML.

All validation happens in load_config, before any actor starts; nothing here touches
Ray or Kafka. The YAML reading itself (lines, interpolation, overrides, the problem
collector) lives in the private raysim._configload package.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from raysim.errors import ConfigError

__all__ = [
    "CatalogConfig",
    "ClockConfig",
    "Config",
    "CreateTopicsConfig",
    "KafkaConfig",
    "LoggingConfig",
    "Range",
    "RayConfig",
    "SimulationConfig",
    "StoreConfig",
    "ThrottleConfig",
    "TopicsConfig",
    "UsersConfig",
    "dump_config",
    "is_secret",
    "load_config",
]

logger = logging.getLogger(__name__)

TOPIC_KEYS = ("users", "marketings", "sessions", "orders", "behaviours")
DEFAULT_USERS = 1000  # generated when neither users.path nor users.generate is given
DEFAULT_PRODUCTS = 200  # generated when neither catalog.path nor catalog.generate is
# NOTE: the driver reads the users file once and hands the records to the coordinator
# only; simulators lease them in batches. The catalog, parsed down to five fields per
# product, goes to every simulator. Both files are read whole by the driver, so their
# size is capped (users.max_bytes, catalog.max_bytes) and a larger file is refused
# before anything starts, with its size named.
DEFAULT_USERS_MAX_BYTES = 256 * 2**20
DEFAULT_CATALOG_MAX_BYTES = 64 * 2**20
MAX_GENERATED_USERS = 10_000_000
MAX_GENERATED_PRODUCTS = 1_000_000
CLOCK_MODES = ("realtime", "accelerated", "backfill")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# dump_config and every problem line mask the value of a key containing one of these:
# the words, and the two librdkafka keys that hold secrets without saying so.
SECRET_WORDS = ("password", "secret", "token", "ssl.key.pem", "oauthbearer.config")
SECRET_MASK = "***"


@dataclass(frozen=True)
class Range:
    """A closed interval [min, max] that values are drawn from uniformly."""

    min: float
    max: float


@dataclass(frozen=True)
class UsersConfig:
    path: str | None = None  # absolute once loaded
    id_field: str = "user_id"  # falls back to "id" when records lack it
    generate: int | None = None  # exactly one of path / generate
    keep_fields: tuple[str, ...] = ()  # sensitive fields to keep anyway
    max_bytes: int = DEFAULT_USERS_MAX_BYTES  # a larger users file is refused


@dataclass(frozen=True)
class CatalogConfig:
    path: str | None = None  # absolute once loaded
    generate: int | None = None  # exactly one of path / generate; default 200
    max_bytes: int = DEFAULT_CATALOG_MAX_BYTES  # a larger products file is refused


@dataclass(frozen=True)
class ThrottleConfig:
    cpu_percent: float = 90.0
    factor: float = 0.5
    min_concurrency: int = 10
    interval_s: float = 1.0


@dataclass(frozen=True)
class SimulationConfig:
    actors: int | str = "auto"  # "auto": one per physical core of each node
    concurrency: int = 100  # sessions in flight per actor
    sessions_per_user: Range | None = None  # sessions a user has in a run; None: no cap
    session_duration_s: Range = Range(60.0, 900.0)
    gap_s: Range = Range(600.0, 86_400.0)  # between the end of one session and the next
    throttle: ThrottleConfig = field(default_factory=ThrottleConfig)


@dataclass(frozen=True)
class StoreConfig:
    """Rates and prices of the simulated store; the defaults look like a real shop."""

    currency: str = "USD"
    tax_rate: float = 0.08
    shipping_fee: float = 4.99
    free_shipping_over: float = 50.0
    add_to_cart_rate: float = 0.12  # share of sessions that add to cart
    checkout_rate: float = 0.45  # share of carts that begin checkout
    purchase_rate: float = 0.60  # share of checkouts that purchase
    channels: dict[str, float] = field(
        default_factory=lambda: {
            "organic_search": 0.33,
            "direct": 0.22,
            "paid_search": 0.16,
            "social": 0.12,
            "email": 0.09,
            "referral": 0.05,
            "display": 0.03,
        }
    )
    devices: dict[str, float] = field(
        default_factory=lambda: {"mobile": 0.62, "desktop": 0.33, "tablet": 0.05}
    )


@dataclass(frozen=True)
class ClockConfig:
    mode: str = "realtime"  # "realtime" | "accelerated" | "backfill"
    speed: float = 1.0  # accelerated: simulated seconds per wall second
    # accelerated: event time at the start (None: now, UTC); backfill: required
    start: datetime | None = None
    end: datetime | None = None  # backfill: simulated time runs from start to end
    max_skew_s: float = 60.0  # backfill: how far actors may drift apart in event time


@dataclass(frozen=True)
class TopicsConfig:
    users: str = "users"
    marketings: str = "marketings"
    sessions: str = "sessions"
    orders: str = "orders"
    behaviours: str = "behaviours"

    def names(self) -> dict[str, str]:
        """Logical topic -> configured Kafka topic name."""
        return {key: getattr(self, key) for key in TOPIC_KEYS}


@dataclass(frozen=True)
class CreateTopicsConfig:
    enabled: bool = True
    partitions: int = 6
    replication_factor: int = 1


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap_servers: str = "embedded"  # "embedded" or "host:port,host:port"
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    producer: dict[str, Any] = field(default_factory=dict)  # librdkafka keys, as given
    create_topics: CreateTopicsConfig = field(default_factory=CreateTopicsConfig)


@dataclass(frozen=True)
class RayConfig:
    address: str | None = (
        None  # None: a local instance; "auto" or "ray://...": a cluster
    )
    namespace: str = "raysim"


@dataclass(frozen=True)
class LoggingConfig:
    dir: str = "logs"  # absolute once loaded
    level: str = "INFO"


@dataclass(frozen=True)
class Config:
    name: str = "raysim"
    seed: int = 0
    duration_s: float | None = None  # None: until Ctrl+C (or every user is done)
    users: UsersConfig = field(default_factory=UsersConfig)
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    source: str = "<defaults>"  # the file this config came from


def load_config(
    path: str | os.PathLike[str], overrides: list[str] | tuple[str, ...] = ()
) -> Config:
    """Read, interpolate, override and validate a YAML experiment.

    `overrides` are the CLI's `--set KEY=VALUE` strings: KEY is a dotted key path
    (under `kafka.producer` the rest is one librdkafka key) and VALUE is read as YAML.
    `${VAR}` and `${VAR:-default}` in string values are replaced from the environment
    (`$$` is a literal `$`). Raises ConfigError listing every problem found.
    """
    # NOTE: imported here because the builder needs the dataclasses defined above.
    from raysim._configload.builder import Builder
    from raysim._configload.checker import Checker
    from raysim._configload.overrides import apply_overrides, interpolate
    from raysim._configload.yamlread import read_yaml

    shown = os.fspath(path)
    if isinstance(overrides, str):
        overrides = [overrides]
    checker = Checker(shown)
    tree = read_yaml(Path(shown), checker)
    if tree is None:
        tree = {}
    apply_overrides(checker, tree, overrides)
    tree = interpolate(checker, tree, ())
    config = Builder(checker, Path(shown)).build(tree)
    if checker.problems:
        raise ConfigError(checker.problems)
    logger.debug("loaded config %s from %s", config.name, config.source)
    return config


def dump_config(config: Config) -> dict[str, Any]:
    """The config as plain data for logs and reports, with every secret shown as ***.

    A key is secret when it contains "password", "secret" or "token" (any case), e.g.
    `sasl.password` or `sasl.oauthbearer.token`.
    """
    return _plain(dataclasses.asdict(config))


def is_secret(key: object) -> bool:
    """Tell whether a config key names a secret, whose value is never shown."""
    return isinstance(key, str) and any(word in key.lower() for word in SECRET_WORDS)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: SECRET_MASK if is_secret(key) else _plain(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
