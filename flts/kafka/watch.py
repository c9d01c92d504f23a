"""A read-only observer of topics (no consumer group): for the demo, benchmarks and tests.

It assigns every partition from the beginning, so it sees what was published before it started and
never takes part in a group rebalance.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from flts.kafka.consumer import coordinates, message_headers


@dataclass(frozen=True)
class Observed:
    topic: str
    partition: int
    offset: int
    key: str | None
    raw: bytes
    headers: dict[str, bytes]

    def json(self) -> Any:
        return json.loads(self.raw)


class TopicWatcher:
    """Collect every record of the given topics in a background thread."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "flts-watcher",  # required by the client; offsets are never committed
                "enable.auto.commit": False,
                "topic.metadata.refresh.interval.ms": 1000,
            }
        )
        self._topics = topics
        self._records: dict[str, list[Observed]] = defaultdict(list)
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._assigned: set[tuple[str, int]] = set()
        self._thread = threading.Thread(target=self._run, name="topic-watcher", daemon=True)
        self._thread.start()

    def _assign_new_partitions(self) -> None:
        metadata = self._consumer.list_topics(timeout=5)
        fresh = []
        for topic in self._topics:
            info = metadata.topics.get(topic)
            if info is None or info.error is not None:
                continue
            for partition in info.partitions:
                if (topic, partition) not in self._assigned:
                    self._assigned.add((topic, partition))
                    fresh.append(TopicPartition(topic, partition, OFFSET_BEGINNING))
        if fresh:
            self._consumer.incremental_assign(fresh)

    def _run(self) -> None:
        last_refresh = 0.0
        while not self._stop.is_set():
            if time.monotonic() - last_refresh > 2.0:
                with contextlib.suppress(KafkaException):  # broker briefly unreachable: retry next time
                    self._assign_new_partitions()
                last_refresh = time.monotonic()
            message = self._consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            topic, partition, offset = coordinates(message)
            key = message.key()
            record = Observed(
                topic=topic,
                partition=partition,
                offset=offset,
                key=key.decode(errors="replace") if key else None,
                raw=message.value() or b"",
                headers=message_headers(message),
            )
            with self._lock:
                self._records[record.topic].append(record)
                self._lock.notify_all()

    def records(self, topic: str) -> list[Observed]:
        with self._lock:
            return list(self._records[topic])

    def values(self, topic: str) -> list[Any]:
        """Decoded JSON of every record (records that are not JSON are skipped)."""
        decoded = []
        for record in self.records(topic):
            try:
                decoded.append(record.json())
            except ValueError:
                continue
        return decoded

    def wait_for(self, topic: str, predicate: Callable[[Any], bool], deadline: float) -> Any | None:
        """The first JSON value on `topic` matching `predicate`, or None at the monotonic `deadline`."""
        while True:
            for value in self.values(topic):
                if isinstance(value, dict) and predicate(value):
                    return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with self._lock:
                self._lock.wait(min(remaining, 0.5))

    def wait_count(self, topic: str, count: int, deadline: float) -> list[Observed]:
        while len(self.records(topic)) < count and time.monotonic() < deadline:
            with self._lock:
                self._lock.wait(0.5)
        return self.records(topic)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._consumer.close()
