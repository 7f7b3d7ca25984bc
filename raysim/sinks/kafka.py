"""Kafka delivery for one simulator actor. Nothing here may block the event loop.

`produce()` and `poll(0)` run on the loop; `flush()` runs in a thread. Delivery reports
only update counters, so it does not matter which thread serves them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, Producer

from raysim.sinks.admin import LibrdkafkaLog
from raysim.sinks.base import TopicCounts

logger = logging.getLogger(__name__)

__all__ = ["KafkaSink", "producer_settings"]

POLL_INTERVAL_S = 0.05
BACKOFF_S = 0.005
PURGE_SETTLE_S = 1.0  # to serve the delivery reports of purged events
DEFAULT_PRODUCER_SETTINGS: dict[str, Any] = {
    "enable.idempotence": True,
    "compression.type": "lz4",
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "queue.buffering.max.messages": 500_000,
    "queue.buffering.max.kbytes": 512 * 1024,
}
# Keys the sink owns: a user's value for them would break the delivery accounting.
OWNED_KEYS = ("on_delivery", "delivery.report.only.error", "error_cb", "logger")


def producer_settings(bootstrap: str, user_settings: dict[str, Any]) -> dict[str, Any]:
    """The librdkafka settings of a run: our defaults, the user's, then ours again."""
    settings = dict(DEFAULT_PRODUCER_SETTINGS)
    settings.update({k: v for k, v in user_settings.items() if k not in OWNED_KEYS})
    settings["bootstrap.servers"] = bootstrap
    return settings


class KafkaSink:
    """One confluent-kafka producer, made in the process that uses it, kept for life."""

    def __init__(
        self,
        bootstrap: str,
        topic_names: dict[str, str],
        user_settings: dict[str, Any],
        client_id: str = "raysim",
    ) -> None:
        self._names = dict(topic_names)
        self._counts = {name: TopicCounts() for name in self._names.values()}
        self._settings = producer_settings(bootstrap, user_settings)
        self._settings.setdefault("client.id", client_id)
        self._producer: Producer | None = None
        self._poller: asyncio.Task[None] | None = None
        self._errors: dict[str, int] = {}
        self.broker_errors = 0
        self.backpressure_waits = 0
        self.purged = 0

    async def start(self) -> None:
        if self._producer is not None:
            raise RuntimeError("KafkaSink already started.")
        self._producer = Producer(
            {
                **self._settings,
                "on_delivery": self._on_delivery,
                "error_cb": self._on_error,
                "logger": LibrdkafkaLog(),
            }
        )
        self._poller = asyncio.get_running_loop().create_task(self._poll_forever())
        self._poller.add_done_callback(self._poller_done)

    def send(self, topic: str, record: dict[str, Any], time_s: float) -> bool:
        producer = self._producer
        if producer is None:
            raise RuntimeError("KafkaSink is not started; call start() first.")
        name = self._names[topic]
        try:
            producer.produce(
                name,
                orjson.dumps(record),
                record["user_id"].encode(),
                timestamp=int(time_s * 1000),
            )
        except BufferError:
            return False
        except (KafkaException, TypeError) as exc:
            counts = self._counts[name]
            counts.produced += 1
            counts.failed += 1
            self._note_error("produce", f"{name}: could not produce: {exc}")
            return True
        self._counts[name].produced += 1
        return True

    async def send_async(
        self, topic: str, record: dict[str, Any], time_s: float
    ) -> None:
        while not self.send(topic, record, time_s):
            # The local queue is full: let delivery reports drain it, then try again.
            self.backpressure_waits += 1
            self._producer.poll(0)  # type: ignore[union-attr]
            await asyncio.sleep(BACKOFF_S)

    async def close(self, timeout_s: float) -> int:
        """Flush within `timeout_s` in a thread; return the events still unaccounted.

        Events never sent by then are purged and so counted as failed; events already
        on the wire stay unaccounted (the broker may or may not have them): that is the
        number returned.
        """
        producer = self._producer
        if producer is None:
            return 0
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        remaining = await asyncio.to_thread(producer.flush, timeout_s)
        if remaining:
            # NOTE: purging only what is still queued keeps "failed" true: those were
            # never sent. Purging in-flight ones would call failed what may have landed.
            waiting = remaining
            producer.purge(in_queue=True, in_flight=False, blocking=False)
            remaining = await asyncio.to_thread(producer.flush, PURGE_SETTLE_S)
            logger.warning(
                "%d events were not delivered within %.1f s: %d never sent count as "
                "failed, %d sent have no answer from the broker",
                waiting,
                timeout_s,
                waiting - remaining,
                remaining,
            )
        return remaining

    def counts(self) -> dict[str, dict[str, int]]:
        return {name: c.as_dict() for name, c in self._counts.items()}

    def pending(self) -> int:
        """Events in the producer's queue or on the wire, without a delivery report."""
        return len(self._producer) if self._producer is not None else 0

    def pending_total(self) -> int:
        """Events produced and not yet reported delivered or failed, from the counts."""
        return sum(c.produced - c.delivered - c.failed for c in self._counts.values())

    def health(self) -> dict[str, Any]:
        """What the progress display needs to tell a stall from a quiet moment."""
        return {
            "queued": self.pending(),
            "broker_errors": self.broker_errors,
            "backpressure_waits": self.backpressure_waits,
            "errors": dict(self._errors),
        }

    async def _poll_forever(self) -> None:
        producer = self._producer
        assert producer is not None
        while True:
            producer.poll(0)
            await asyncio.sleep(POLL_INTERVAL_S)

    def _poller_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("delivery poller stopped", exc_info=task.exception())

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        counts = self._counts.get(msg.topic())
        if counts is None:
            return
        if err is None:
            counts.delivered += 1
        else:
            counts.failed += 1
            self._note_error(err.name(), f"{msg.topic()}: delivery failed: {err.str()}")

    def _on_error(self, err: KafkaError) -> None:
        self.broker_errors += 1
        self._note_error(err.name(), f"producer error: {err.str()}")

    def _note_error(self, kind: str, message: str) -> None:
        # Warn once per kind of error, then only count.
        seen = self._errors.get(kind, 0)
        self._errors[kind] = seen + 1
        if not seen:
            logger.warning("%s (further errors of this kind are only counted)", message)
