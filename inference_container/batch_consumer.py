"""The `inference-data` consumer: bounded queue with pause/resume, TTL, DLQ, commits that never skip.

The polling thread owns the Kafka consumer (polls, pauses, commits); worker threads forecast. Every
polled record is tracked until it ends as done, expired, duplicate or dead-lettered; an offset is
committed only when every record before it in its partition has ended. When the queue holds
QUEUE_MAXSIZE records the partitions are paused, and resumed once it drains to half: nothing is dropped.
A claim for an identifier without a promoted model is parked (not committed) until one is promoted.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from flts.contracts import ClaimCheck, Topic, dlq_topic
from flts.kafka.consumer import (
    DecodeError,
    DependencyUnavailableError,
    PoisonMessageError,
    coordinates,
    dead_letter_for,
    decode,
    message_headers,
)
from flts.kafka.producer import DeliveryError, EventProducer
from flts.log import log_event

from . import metrics
from .batch_forecast import BatchForecaster
from .models import ModelStore, NoModelError
from .settings import InferenceSettings

logger = logging.getLogger(__name__)


@dataclass
class Record:
    claim: ClaimCheck
    message: Message
    topic: str
    partition: int
    offset: int
    attempts: int = 0


class OffsetTracker:
    """Per partition: offsets in flight; the commit point is the lowest one still in flight."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, int], set[int]] = defaultdict(set)
        self._highest: dict[tuple[str, int], int] = {}

    def track(self, topic: str, partition: int, offset: int) -> None:
        self._pending[(topic, partition)].add(offset)
        self._highest[(topic, partition)] = max(offset, self._highest.get((topic, partition), -1))

    def finish(self, topic: str, partition: int, offset: int) -> None:
        self._pending[(topic, partition)].discard(offset)

    def commit_points(self) -> list[TopicPartition]:
        points = []
        for (topic, partition), pending in self._pending.items():
            nxt = min(pending) if pending else self._highest[(topic, partition)] + 1
            points.append(TopicPartition(topic, partition, nxt))
        return points

    def in_flight(self) -> int:
        return sum(len(p) for p in self._pending.values())


class InferenceDataConsumer:
    def __init__(
        self,
        settings: InferenceSettings,
        store: ModelStore,
        forecaster: BatchForecaster,
        producer: EventProducer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.forecaster = forecaster
        self.producer = producer
        self.clock = clock
        self.work: queue.Queue[Record] = queue.Queue()
        self.done: queue.Queue[tuple[Record, str]] = queue.Queue()
        self.tracker = OffsetTracker()
        self.parked: dict[str, list[Record]] = defaultdict(list)
        self._parked_lock = threading.Lock()
        self._stop = threading.Event()
        self._paused = False
        self._committed: dict[tuple[str, int], int] = {}
        self.outcomes: dict[str, int] = defaultdict(int)
        # Accounting per message key (the identifier): every record ends in exactly one outcome.
        self.outcomes_by_key: dict[str | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.ready = threading.Event()  # set once partitions are assigned
        self._consumer = Consumer(
            {
                "group.id": settings.consumer_group_id or "inference",
                "client.id": settings.service_name,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": settings.kafka_session_timeout_ms,
                "heartbeat.interval.ms": settings.kafka_heartbeat_interval_ms,
                "topic.metadata.refresh.interval.ms": settings.kafka_metadata_refresh_ms,
                "max.poll.interval.ms": settings.kafka_max_poll_interval_ms,
                "logger": logging.getLogger("librdkafka"),
                **settings.kafka_common_config(),  # KAFKA_EXTRA_CONFIG may override any of the above
            }
        )

    # -- polling thread --------------------------------------------------------------------------
    def run(self) -> None:
        self._consumer.subscribe([Topic.INFERENCE_DATA], on_assign=lambda *_: self.ready.set())
        workers = [
            threading.Thread(target=self._work, name=f"batch-forecast-{i}", daemon=True)
            for i in range(self.settings.batch_job_workers)
        ]
        for worker in workers:
            worker.start()
        try:
            while not self._stop.is_set():
                self._drain_done()
                self._apply_backpressure()
                message = self._consumer.poll(0.2)
                if message is None:
                    continue
                if message.error() is not None:
                    log_event(logger, "kafka_transient_error", logging.WARNING, error=str(message.error()))
                    continue
                self._accept(message)
        finally:
            self._stop.set()
            for worker in workers:
                worker.join(timeout=30)
            self._drain_done()
            self._consumer.close()

    def stop(self) -> None:
        self._stop.set()

    def _accept(self, message: Message) -> None:
        topic, partition, offset = coordinates(message)
        self.tracker.track(topic, partition, offset)
        try:
            claim = decode(message.value(), ClaimCheck)
        except DecodeError as exc:
            self._dead_letter(message, exc, exc.context)
            self._finish(topic, partition, offset, "dlq", _key(message))
            return
        record = Record(claim, message, topic, partition, offset)
        deadline = message_headers(message).get("deadline")
        if self.settings.enable_ttl and deadline and _expired(deadline, self.clock()):
            log_event(
                logger,
                "record_expired",
                identifier=claim.identifier,
                offset=offset,
                deadline=deadline.decode(),
            )
            self._finish(topic, partition, offset, "expired", _key(message))
            return
        self.work.put(record)
        depth = self.work.qsize()
        metrics.KAFKA_QUEUE_DEPTH.set(depth)
        log_event(
            logger,
            "queue_enqueued",
            identifier=claim.identifier,
            partition=partition,
            offset=offset,
            depth=depth,
        )

    def _apply_backpressure(self) -> None:
        if not self.settings.use_bounded_queue:
            return
        depth = self.work.qsize()
        if not self._paused and depth >= self.settings.queue_maxsize:
            self._consumer.pause(self._consumer.assignment())
            self._paused = True
            log_event(logger, "queue_paused", depth=depth, maxsize=self.settings.queue_maxsize)
        elif self._paused and depth <= self.settings.queue_maxsize // 2:
            self._consumer.resume(self._consumer.assignment())
            self._paused = False
            log_event(logger, "queue_resumed", depth=depth)

    def _drain_done(self) -> None:
        changed = False
        while True:
            try:
                record, outcome = self.done.get_nowait()
            except queue.Empty:
                break
            self._finish(
                record.topic, record.partition, record.offset, outcome, _key(record.message), commit=False
            )
            changed = True
        if changed:
            self._commit()

    def _finish(
        self, topic: str, partition: int, offset: int, outcome: str, key: str | None, commit: bool = True
    ) -> None:
        self.tracker.finish(topic, partition, offset)
        self.outcomes[outcome] += 1
        self.outcomes_by_key[key][outcome] += 1
        metrics.KAFKA_RECORDS.labels(outcome).inc()
        if commit:
            self._commit()

    def _commit(self) -> None:
        points = [
            p for p in self.tracker.commit_points() if self._committed.get((p.topic, p.partition)) != p.offset
        ]
        if not points:
            return
        try:
            self._consumer.commit(offsets=points, asynchronous=False)
        except Exception as exc:  # a failed commit only means a redelivery later (handlers are idempotent)
            log_event(logger, "commit_failed", logging.WARNING, error=str(exc))
            return
        for point in points:
            self._committed[(point.topic, point.partition)] = point.offset

    def _dead_letter(
        self, message: Message, exc: BaseException, context: dict[str, Any], attempts: int = 0
    ) -> None:
        letter = dead_letter_for(message, exc, context, attempts, self.settings.service_name)
        while not self._stop.is_set():
            try:
                self.producer.publish(dlq_topic(Topic.INFERENCE_DATA), letter, key=letter.key)
                break
            except DeliveryError as delivery_error:
                log_event(logger, "dlq_publish_failed", logging.ERROR, error=str(delivery_error))
                time.sleep(1)
        log_event(
            logger,
            "message_dead_lettered",
            logging.WARNING,
            topic=letter.topic,
            offset=letter.offset,
            error=letter.error,
        )

    # -- worker threads --------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                record = self.work.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [record]
            if self.settings.enable_microbatch:  # drain what is already waiting, up to BATCH_SIZE
                gather_until = time.monotonic() + self.settings.batch_timeout_ms / 1000.0
                while len(batch) < self.settings.batch_size and time.monotonic() <= gather_until:
                    try:
                        batch.append(self.work.get_nowait())
                    except queue.Empty:
                        time.sleep(0.001)
            metrics.KAFKA_QUEUE_DEPTH.set(self.work.qsize())
            for item in batch:
                self._process(item)

    def _process(self, record: Record) -> None:
        claim = record.claim
        try:
            model = self.store.get(claim.identifier)
            if model.promotion.identifier != claim.identifier:
                raise NoModelError(f"no model promoted for {claim.identifier} yet")
        except NoModelError:
            with self._parked_lock:
                self.parked[claim.identifier].append(record)
            log_event(
                logger,
                "record_parked",
                identifier=claim.identifier,
                offset=record.offset,
                reason="no promoted model yet",
            )
            return
        except Exception as exc:  # gateway/MLflow down: retry the record later
            self._retry(record, exc)
            return
        try:
            result = self.forecaster.process(claim, model)
            if result.history is not None:
                self.store.update_history(claim.identifier, result.history)
            self.done.put((record, result.outcome))
        except PoisonMessageError as exc:
            self._dead_letter(record.message, exc, {"stage": "handler"}, attempts=record.attempts + 1)
            self.done.put((record, "dlq"))
        except DependencyUnavailableError as exc:
            self._retry(record, exc)
        except Exception as exc:
            record.attempts += 1
            if record.attempts >= self.settings.max_attempts:
                self._dead_letter(record.message, exc, {"stage": "handler"}, attempts=record.attempts)
                self.done.put((record, "dlq"))
            else:
                self._retry(record, exc)

    def _retry(self, record: Record, exc: BaseException) -> None:
        log_event(
            logger,
            "batch_forecast_retry",
            logging.WARNING,
            identifier=record.claim.identifier,
            offset=record.offset,
            error=str(exc),
        )
        self._stop.wait(min(self.settings.retry_backoff_sec * 4, self.settings.retry_backoff_max_sec))
        self.work.put(record)

    def release(self, identifier: str) -> int:
        """A model was promoted for `identifier`: queue its parked records again."""
        with self._parked_lock:
            records = self.parked.pop(identifier, [])
        for record in records:
            self.work.put(record)
        if records:
            log_event(logger, "records_released", identifier=identifier, count=len(records))
        return len(records)


def _key(message: Message) -> str | None:
    raw = message.key()
    return raw.decode("utf-8", errors="replace") if raw else None


def _expired(deadline: bytes, now_seconds: float) -> bool:
    try:
        return int(deadline.decode()) < now_seconds * 1000
    except ValueError:
        return False  # an unreadable deadline is no deadline
