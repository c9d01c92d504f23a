"""Kafka helpers for tests: a tiny contract, raw producing, and reading a DLQ."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, Producer, TopicPartition

from flts.contracts import Contract, DeadLetter
from flts.kafka.watch import TopicWatcher


class Ping(Contract):
    id: str
    n: int


def produce_raw(bootstrap: str, topic: str, values: list[bytes], key: str = "k") -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for value in values:
        producer.produce(topic, value=value, key=key.encode())
    assert producer.flush(15) == 0


def dead_letters(bootstrap: str, dlq: str, count: int, timeout: float = 30.0) -> list[DeadLetter]:
    watcher = TopicWatcher(bootstrap, [dlq])
    try:
        records = watcher.wait_count(dlq, count, time.monotonic() + timeout)
    finally:
        watcher.close()
    return [DeadLetter.model_validate_json(record.raw) for record in records]


def committed_offset(bootstrap: str, group: str, topic: str, partition: int = 0) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        [tp] = consumer.committed([TopicPartition(topic, partition)], timeout=10)
        return int(tp.offset)
    finally:
        consumer.close()
