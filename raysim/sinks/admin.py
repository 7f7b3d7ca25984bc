"""Broker checks and topic creation, done once by the driver before any actor starts.

Nothing here produces events; every failure is a SinkError in the broker's words.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic

from raysim.errors import BrokerUnreachable, SinkError

logger = logging.getLogger(__name__)

# Keys of a producer config that every Kafka client (admin, consumer) understands:
# where and how to connect, never how to batch or deliver.
CLIENT_KEYS = frozenset(
    {
        "client.id",
        "client.dns.lookup",
        "client.rack",
        "security.protocol",
        "enable.ssl.certificate.verification",
        "oauth_cb",
        "broker.address.family",
        "broker.address.ttl",
        "connections.max.idle.ms",
        "metadata.max.age.ms",
        "topic.metadata.refresh.interval.ms",
        "api.version.request",
        "api.version.request.timeout.ms",
        "api.version.fallback.ms",
        "broker.version.fallback",
        "reconnect.backoff.ms",
        "reconnect.backoff.max.ms",
        "retry.backoff.ms",
        "retry.backoff.max.ms",
        "debug",
    }
)
CLIENT_KEY_PREFIXES = ("sasl.", "ssl.", "socket.", "https.")
PROBE_INTERVAL_S = 1.0

__all__ = [
    "CLIENT_KEYS",
    "LibrdkafkaLog",
    "check_reachable",
    "client_config",
    "ensure_topics",
]


class LibrdkafkaLog:
    """Forwards librdkafka's own log lines to a Python logger at DEBUG.

    librdkafka reports every failed connect attempt, many times a second. Whatever
    matters to a user is raised as an error instead, so the lines are detail only.
    """

    def __init__(self, name: str = "raysim.librdkafka") -> None:
        self._logger = logging.getLogger(name)

    def log(self, level: int, msg: str, *args: Any) -> None:
        self._logger.debug(msg, *args)


def client_config(bootstrap: str, conf: Mapping[str, Any] | None) -> dict[str, Any]:
    """The connection and security keys of `conf`, pointed at `bootstrap`.

    Producer-only keys (batching, acks, delivery callbacks) are dropped, so the
    result suits an AdminClient or a Consumer.
    """
    kept = {
        key: value
        for key, value in (conf or {}).items()
        if key in CLIENT_KEYS or key.startswith(CLIENT_KEY_PREFIXES)
    }
    kept["bootstrap.servers"] = bootstrap
    kept["logger"] = LibrdkafkaLog()
    return kept


def _describe(error: KafkaError) -> str:
    """librdkafka's message without the broker-name prefix and the state suffix."""
    text = re.sub(r"^\S+/\w+: ", "", error.str())
    return text.split(" (after ", 1)[0]


def _metadata(
    bootstrap: str, conf: Mapping[str, Any] | None, timeout_s: float
) -> tuple[AdminClient, ClusterMetadata]:
    """An admin client and the cluster's metadata, or BrokerUnreachable in time."""
    errors: list[KafkaError] = []
    admin_conf = client_config(bootstrap, conf)
    admin_conf["error_cb"] = errors.append
    admin = AdminClient(admin_conf)
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        try:
            wait_s = max(0.05, min(PROBE_INTERVAL_S, remaining))
            metadata = admin.list_topics(timeout=wait_s)
        except KafkaException as exc:
            admin.poll(0)  # serves error_cb and the queued log lines
            if deadline - time.monotonic() > 0:
                continue
            causes = [e for e in errors if e.code() != KafkaError._ALL_BROKERS_DOWN]
            detail = _describe(causes[-1]) if causes else _describe(exc.args[0])
            raise BrokerUnreachable(
                f"Kafka at {bootstrap} is not reachable within {timeout_s:g} s "
                f"({detail}); check kafka.bootstrap_servers and that the broker runs."
            ) from exc
        return admin, metadata


def check_reachable(
    bootstrap: str, producer_conf: Mapping[str, Any] | None, timeout_s: float = 10
) -> None:
    """Return once the broker answers a metadata request; raise BrokerUnreachable
    naming the address if it does not within `timeout_s`."""
    started = time.monotonic()
    _, metadata = _metadata(bootstrap, producer_conf, timeout_s)
    logger.debug(
        "Kafka at %s answered in %.2f s with %d broker(s)",
        bootstrap,
        time.monotonic() - started,
        len(metadata.brokers),
    )


def ensure_topics(
    bootstrap: str,
    producer_conf: Mapping[str, Any] | None,
    names: list[str],
    partitions: int,
    replication_factor: int,
    timeout_s: float = 10,
) -> list[str]:
    """Create the topics of `names` that do not exist yet; return those created.

    Existing topics are left as they are, whatever their partition count.
    """
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}.")
    if replication_factor < 1:
        raise ValueError(f"replication_factor must be >= 1, got {replication_factor}.")
    if any(not name for name in names):
        raise ValueError(f"topic names must be non-empty strings, got {names!r}.")
    admin, metadata = _metadata(bootstrap, producer_conf, timeout_s)
    missing = [name for name in dict.fromkeys(names) if name not in metadata.topics]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(name, partitions, replication_factor) for name in missing],
        request_timeout=timeout_s,
        operation_timeout=timeout_s,
    )
    created = []
    for name in missing:
        try:
            futures[name].result(timeout=timeout_s + 1)
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise SinkError(
                f"Could not create topic {name!r} on Kafka at {bootstrap}: "
                f"{error.str().rstrip('.')}."
            ) from exc
        except concurrent.futures.TimeoutError as exc:
            raise SinkError(
                f"Could not create topic {name!r} on Kafka at {bootstrap}: no answer "
                f"within {timeout_s:g} s."
            ) from exc
        created.append(name)
    if created:
        logger.info("created topics %s on %s", ", ".join(created), bootstrap)
    return created
