"""What every sink offers the simulator, and the per-topic delivery counts it keeps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Sink", "TopicCounts"]


@dataclass
class TopicCounts:
    """Counts for one topic, from delivery reports, never by assumption."""

    produced: int = 0  # accepted into the client's queue
    delivered: int = 0  # acknowledged by the broker
    failed: int = 0  # reported as failed by the client

    def as_dict(self) -> dict[str, int]:
        return {
            "produced": self.produced,
            "delivered": self.delivered,
            "failed": self.failed,
        }


class Sink(Protocol):
    """Where events go. `send` never blocks; `send_async` waits out back-pressure."""

    def send(self, topic: str, record: dict[str, Any], time_s: float) -> bool:
        """Queue one event; False when the queue is full and nothing was queued."""
        ...

    async def send_async(
        self, topic: str, record: dict[str, Any], time_s: float
    ) -> None:
        """Queue one event, waiting for room as long as it takes."""
        ...

    async def start(self) -> None: ...

    async def close(self, timeout_s: float) -> int:
        """Deliver what is queued within `timeout_s`; return how many are pending."""
        ...

    def counts(self) -> dict[str, dict[str, int]]:
        """Configured topic name -> produced / delivered / failed."""
        ...
