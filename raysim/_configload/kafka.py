"""The kafka section: bootstrap servers, topic names Kafka accepts, producer keys."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from raysim._configload.checker import BAD, Checker, KeyPath
from raysim.config import (
    TOPIC_KEYS,
    CreateTopicsConfig,
    KafkaConfig,
    TopicsConfig,
    is_secret,
)

__all__ = ["Sections"]

_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
_HOST_PORT = re.compile(r"(?:[A-Za-z_]+://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d+)")


class Sections:
    """What every section reader shares, and the kafka section itself."""

    def __init__(self, checker: Checker, file: Path) -> None:
        self.c = checker
        self.file = file

    def field(
        self,
        data: dict[str, Any],
        path: KeyPath,
        key: str,
        default: Any,
        read: Callable[[KeyPath, Any], Any],
        *,
        nullable: bool = False,
    ) -> Any:
        if key not in data:
            return default
        value = data[key]
        if value is None and nullable:
            return None
        got = read(path + (key,), value)
        return default if got is BAD else got

    def kafka(self, value: Any) -> KafkaConfig:
        c, path = self.c, ("kafka",)
        known = ("bootstrap_servers", "topics", "producer", "create_topics")
        data = c.mapping(path, value, known)
        d = KafkaConfig()
        return KafkaConfig(
            bootstrap_servers=self.field(
                data, path, "bootstrap_servers", d.bootstrap_servers, self.bootstrap
            ),
            topics=self.topics(data.get("topics")),
            producer=self.producer(data.get("producer")),
            create_topics=self.create_topics(data.get("create_topics")),
        )

    def bootstrap(self, path: KeyPath, value: Any) -> Any:
        rule = "must be 'embedded' or host:port, or a list of them"
        if isinstance(value, str):
            if value.strip() == "embedded":
                return "embedded"
            items = [(path, item.strip()) for item in value.split(",")]
        elif isinstance(value, list) and value:
            items = [(path + (i,), item) for i, item in enumerate(value)]
        else:
            self.c.add(path, rule, value)
            return BAD
        servers = []
        for at, item in items:
            if self.host_port(at, item, rule) is BAD:
                return BAD
            servers.append(item)
        return ",".join(servers)

    def host_port(self, path: KeyPath, value: Any, rule: str) -> Any:
        if not isinstance(value, str):
            self.c.add(path, rule, value)
            return BAD
        match = _HOST_PORT.fullmatch(value)
        if match is None:
            self.c.add(path, f"{rule} (host:port such as broker:9092)", value)
            return BAD
        if not 1 <= int(match.group(2)) <= 65535:
            self.c.add(path, "port must be in 1..65535", value)
            return BAD
        return value

    def topics(self, value: Any) -> TopicsConfig:
        c, path = self.c, ("kafka", "topics")
        data = c.mapping(path, value, TOPIC_KEYS)
        names = {
            key: self.field(data, path, key, key, self.topic_name) for key in TOPIC_KEYS
        }
        seen: dict[str, str] = {}
        for key, name in names.items():
            # Kafka treats "." and "_" as the same in metric names, so it refuses both.
            same = name.replace(".", "_")
            if same in seen:
                c.add(
                    path + (key,),
                    f"must differ from kafka.topics.{seen[same]} (each topic needs its "
                    "own name; '.' and '_' count as the same)",
                    name,
                )
            else:
                seen[same] = key
        return TopicsConfig(**names)

    def topic_name(self, path: KeyPath, value: Any) -> Any:
        name = self.c.string(path, value)
        if name is BAD:
            return BAD
        if not _TOPIC_NAME.fullmatch(name) or name in (".", ".."):
            self.c.add(
                path,
                "must be a Kafka topic name: 1-249 characters of a-z, A-Z, 0-9, '.', "
                "'_' and '-', and not '.' or '..'",
                value,
            )
            return BAD
        return name

    def producer(self, value: Any) -> dict[str, Any]:
        path = ("kafka", "producer")
        data = self.c.mapping(path, value)
        settings: dict[str, Any] = {}
        for key, item in data.items():
            at = path + (key,)
            if key == "bootstrap.servers":
                self.c.add(
                    at,
                    "set kafka.bootstrap_servers instead; the sink fills this in",
                    item,
                )
            elif isinstance(item, dict):
                inner = next(iter(item), "ms")
                self.c.add(
                    at,
                    "must be a string, number or boolean; write a librdkafka setting "
                    f"as one dotted key, e.g. {key}.{inner}: ...",
                    item,
                )
            elif isinstance(item, (str, int, float, bool)):
                settings[key] = item
            else:
                self.c.add(at, "must be a string, number or boolean", item)
        for key, reason in refused_settings(settings):
            rule = f"librdkafka refuses it: {reason}"
            if NO_SUCH_PROPERTY in reason:
                # The name is wrong, so the value is beside the point; it may also be
                # a secret under a misspelt name (sasl.pasword) that masking misses.
                self.c.add(path + (key,), rule)
            else:
                self.c.add(path + (key,), rule, settings[key])
            del settings[key]
        return settings

    def create_topics(self, value: Any) -> CreateTopicsConfig:
        c, path = self.c, ("kafka", "create_topics")
        data = c.mapping(path, value, ("enabled", "partitions", "replication_factor"))
        d = CreateTopicsConfig()
        return CreateTopicsConfig(
            enabled=self.field(data, path, "enabled", d.enabled, c.boolean),
            partitions=self.field(
                data, path, "partitions", d.partitions, lambda p, v: c.integer(p, v, 1)
            ),
            replication_factor=self.field(
                data,
                path,
                "replication_factor",
                d.replication_factor,
                lambda p, v: c.integer(p, v, 1),
            ),
        )


NO_SUCH_PROPERTY = "No such configuration property"


class _Quiet:
    """Swallows a throwaway client's log lines."""

    def log(self, *args: Any) -> None:
        return None


def refused_settings(settings: dict[str, Any]) -> list[tuple[str, str]]:
    """The librdkafka settings a producer would refuse, each with librdkafka's reason.

    librdkafka checks names and values when a client is made; no broker is contacted,
    since the throwaway producers get no bootstrap servers.
    """
    left = {k: v for k, v in settings.items() if k != "bootstrap.servers"}
    reason = _refusal(left)
    if reason is None or "configuration property" not in reason:
        return []
    refused = []
    for key, value in left.items():
        # One at a time: librdkafka names an alias (linger.ms) by its canonical name.
        reason = _refusal({key: value})
        # Only a name or value librdkafka does not know: whether certificates or SASL
        # providers are there is a matter of the machine that runs the producer.
        if reason is not None and "configuration property" in reason:
            if is_secret(key) and NO_SUCH_PROPERTY not in reason:
                reason = "not a valid value"  # librdkafka's reason may quote it
            refused.append((key, reason))
    return refused


def _refusal(settings: dict[str, Any]) -> str | None:
    from confluent_kafka import KafkaException, Producer

    try:
        Producer({**settings, "logger": _Quiet()})
    except KafkaException as exc:
        error = exc.args[0] if exc.args else exc
        return error.str() if hasattr(error, "str") else str(error)
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None
