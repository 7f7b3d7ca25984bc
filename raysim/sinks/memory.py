"""An in-memory sink that records every event, for tests and previews."""

from __future__ import annotations

import asyncio
from typing import Any

from raysim.sinks.base import TopicCounts

__all__ = ["MemorySink"]


class MemorySink:
    """Keeps (topic, record, time_s) in order; delivery succeeds at once."""

    def __init__(self, topic_names: dict[str, str] | None = None) -> None:
        self._names = topic_names or {}
        self.events: list[tuple[str, dict[str, Any], float]] = []
        self._counts: dict[str, TopicCounts] = {
            name: TopicCounts() for name in self._names.values()
        }

    def send(self, topic: str, record: dict[str, Any], time_s: float) -> bool:
        name = self._names.get(topic, topic)
        counts = self._counts.setdefault(name, TopicCounts())
        self.events.append((topic, record, time_s))
        counts.produced += 1
        counts.delivered += 1
        return True

    async def send_async(
        self, topic: str, record: dict[str, Any], time_s: float
    ) -> None:
        while not self.send(topic, record, time_s):
            await asyncio.sleep(0)

    async def start(self) -> None:
        return None

    async def close(self, timeout_s: float) -> int:
        return 0

    def counts(self) -> dict[str, dict[str, int]]:
        return {name: c.as_dict() for name, c in self._counts.items()}

    def by_topic(self) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for topic, record, _ in self.events:
            grouped.setdefault(topic, []).append(record)
        return grouped
