"""A throwaway Kafka broker hosted in the driver process, for runs without a cluster.

It is librdkafka's mock cluster: in memory, loopback only, gone when closed. It creates
topics on first use (4 partitions each) and does not answer CreateTopics, so callers
must not run ensure_topics against it.
"""

from __future__ import annotations

import logging
from types import TracebackType

from confluent_kafka import Producer

from raysim.sinks.admin import LibrdkafkaLog

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
METADATA_TIMEOUT_S = 5.0

__all__ = ["EmbeddedBroker"]


class EmbeddedBroker:
    """One in-process Kafka broker listening on 127.0.0.1 only.

    Other processes on this machine (Ray workers) can connect to `bootstrap`; the
    broker lives as long as this object is open in the process that started it.
    """

    def __init__(self) -> None:
        self._host: Producer | None = None
        self._bootstrap: str | None = None
        self._closed = False

    @property
    def bootstrap(self) -> str:
        """The "127.0.0.1:port" address clients connect to."""
        if self._closed:
            raise RuntimeError("EmbeddedBroker is closed; create a new one.")
        if self._bootstrap is None:
            raise RuntimeError("EmbeddedBroker is not started; call start() first.")
        return self._bootstrap

    def start(self) -> str:
        """Start the broker and return its bootstrap address."""
        if self._closed:
            raise RuntimeError("EmbeddedBroker is closed; create a new one to start.")
        if self._host is not None:
            raise RuntimeError("EmbeddedBroker is already started at " + self.bootstrap)
        host = Producer({"test.mock.num.brokers": 1, "logger": LibrdkafkaLog()})
        brokers = host.list_topics(timeout=METADATA_TIMEOUT_S).brokers
        addresses = sorted(f"{b.host}:{b.port}" for b in brokers.values())
        if len(addresses) != 1 or not addresses[0].startswith(LOOPBACK + ":"):
            raise RuntimeError(
                f"Embedded broker must listen on {LOOPBACK} only, got {addresses}."
            )
        self._host = host
        self._bootstrap = addresses[0]
        logger.info("embedded Kafka broker listening on %s", self._bootstrap)
        return self._bootstrap

    def close(self) -> None:
        """Stop the broker; its topics and records are gone. Closing twice is fine."""
        if self._host is not None:
            self._host.poll(0)  # hands queued librdkafka log lines to the logger
            logger.debug("embedded Kafka broker at %s closing", self._bootstrap)
        self._host = None
        self._bootstrap = None
        self._closed = True

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
