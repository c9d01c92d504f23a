"""The consumer loop every FLTS service runs (DESIGN §2).

Discipline, in order:
- decode in one place: bytes → JSON → the topic's pydantic contract; a message that does not decode is
  poison: DLQ (raw bytes + parse context) and commit;
- hand the decoded message to the handler; commit its offset only after the handler returned;
- a failing handler is retried with exponential backoff, re-reading the message from the broker (seek),
  so the loop keeps polling; after `MAX_ATTEMPTS` failures the message goes to the DLQ and is committed;
- `DependencyUnavailableError` (a dependency is down) is retried without limit and never DLQ'd;
- `PoisonMessageError` from a handler goes to the DLQ at once;
- broker/topic errors from `poll()` are transient; a fatal client error stops the loop;
- SIGTERM / `stop()`: finish the current message, commit, close.
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from pydantic import BaseModel, ValidationError

from flts import metrics
from flts.contracts import DeadLetter, dlq_topic
from flts.kafka.producer import DeliveryError, EventProducer
from flts.log import log_event
from flts.settings import FltsSettings

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
# A dead letter carries at most this much of the original value (base64 adds a third): it must stay
# under the broker's default message size (1 MB) whatever the poison message's size.
MAX_DEAD_LETTER_RAW_BYTES = 256 * 1024


class PoisonMessageError(Exception):
    """The message can never be handled (bad content, missing object): dead-letter it now."""


class DependencyUnavailableError(Exception):
    """A dependency (gateway, MLflow, broker) is down: retry later, never dead-letter."""


@dataclass(frozen=True)
class Delivery(Generic[T]):
    """A decoded message with where it came from."""

    value: T
    topic: str
    partition: int
    offset: int
    key: str | None
    headers: dict[str, bytes] = field(default_factory=dict)
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class Subscription(Generic[T]):
    """What to decode a topic's messages into and who handles them."""

    model: type[T]
    handler: Callable[[Delivery[T]], None]


class DecodeError(Exception):
    def __init__(self, message: str, context: dict[str, Any]) -> None:
        super().__init__(message)
        self.context = context


def decode(raw: bytes | None, model: type[T]) -> T:
    """Bytes → JSON → contract; raise DecodeError with parse context on any failure."""
    if raw is None:
        raise DecodeError("empty message (no value)", {"stage": "bytes"})
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        context = {"stage": "json", "position": getattr(exc, "pos", getattr(exc, "start", None))}
        raise DecodeError(f"not JSON: {exc}", context) from exc
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        errors = [
            {"loc": ".".join(str(p) for p in err["loc"]), "msg": err["msg"], "type": err["type"]}
            for err in exc.errors()
        ]
        summary = "; ".join(f"{e['loc'] or '<root>'}: {e['msg']}" for e in errors[:5])
        raise DecodeError(
            f"does not match {model.__name__}: {summary}",
            {"stage": "schema", "model": model.__name__, "errors": errors},
        ) from exc


class ConsumerLoop:
    """Consume topics, decode, handle, commit after success; DLQ poison and exhausted messages."""

    def __init__(
        self,
        settings: FltsSettings,
        subscriptions: Mapping[str, Subscription[Any]],
        producer: EventProducer,
        group_id: str | None = None,
        consumer_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.subscriptions = dict(subscriptions)
        self.producer = producer
        self.group_id = group_id or settings.consumer_group_id or settings.service_name
        self._stop = threading.Event()
        self._failures: dict[tuple[str, int, int], int] = {}
        config: dict[str, Any] = {
            **settings.kafka_common_config(),
            "group.id": self.group_id,
            "client.id": settings.service_name,
            "logger": logging.getLogger("librdkafka"),  # client logs as JSON lines, not raw stderr
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": settings.kafka_session_timeout_ms,
            "heartbeat.interval.ms": settings.kafka_heartbeat_interval_ms,
            "topic.metadata.refresh.interval.ms": settings.kafka_metadata_refresh_ms,
            "max.poll.interval.ms": settings.kafka_max_poll_interval_ms,
        }
        config.update(consumer_overrides or {})
        self._consumer = Consumer(config)
        self.ready = threading.Event()

    # -- control ---------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish the current message, commit and close."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the loop cleanly (call from the main thread)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop())

    # -- loop ------------------------------------------------------------------------------------
    def run(self, max_messages: int | None = None, poll_timeout: float = 0.5) -> int:
        """Poll until stopped (or `max_messages` handled/dead-lettered); return how many were."""
        self._consumer.subscribe(list(self.subscriptions), on_assign=self._on_assign)
        log_event(logger, "consumer_started", topics=list(self.subscriptions), group_id=self.group_id)
        done = 0
        try:
            while not self._stop.is_set() and (max_messages is None or done < max_messages):
                message = self._consumer.poll(poll_timeout)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    self._on_poll_error(error)
                    continue
                if self.process(message):
                    done += 1
        finally:
            self._close()
        return done

    def process(self, message: Message) -> bool:
        """Handle one message; return True when its offset was committed (handled or DLQ'd)."""
        topic, partition, offset = coordinates(message)
        key = _text(message.key())
        where = {"topic": topic, "partition": partition, "offset": offset, "key": key}
        subscription = self.subscriptions[topic]
        try:
            value = decode(message.value(), subscription.model)
        except DecodeError as exc:
            log_event(logger, "message_poison", logging.WARNING, error=str(exc), **where)
            return self._dead_letter(message, exc, exc.context, attempts=0)

        delivery = Delivery(
            value=value,
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            headers=message_headers(message),
            timestamp_ms=message.timestamp()[1],
        )
        failure_key = (topic, partition, offset)
        started = time.perf_counter()
        try:
            subscription.handler(delivery)
        except PoisonMessageError as exc:
            log_event(logger, "message_poison", logging.WARNING, error=str(exc), **where)
            return self._dead_letter(message, exc, {"stage": "handler"}, attempts=1)
        except DependencyUnavailableError as exc:
            failures = self._failures.get(failure_key, 0) + 1
            self._failures[failure_key] = failures
            log_event(
                logger, "dependency_unavailable", logging.WARNING, error=str(exc), waits=failures, **where
            )
            metrics.MESSAGES.labels(self.settings.service_name, topic, "retried").inc()
            self._retry_later(message, failures)
            return False
        except Exception as exc:
            failures = self._failures.get(failure_key, 0) + 1
            self._failures[failure_key] = failures
            if failures >= self.settings.max_attempts:
                log_event(
                    logger,
                    "handler_exhausted",
                    logging.ERROR,
                    error=repr(exc),
                    attempts=failures,
                    exc_info=exc,
                    **where,
                )
                return self._dead_letter(message, exc, {"stage": "handler"}, attempts=failures)
            log_event(logger, "handler_failed", logging.WARNING, error=repr(exc), attempt=failures, **where)
            metrics.MESSAGES.labels(self.settings.service_name, topic, "retried").inc()
            self._retry_later(message, failures)
            return False
        metrics.HANDLER_SECONDS.labels(self.settings.service_name, topic).observe(
            time.perf_counter() - started
        )
        self._failures.pop(failure_key, None)
        self._commit(message)
        metrics.MESSAGES.labels(self.settings.service_name, topic, "handled").inc()
        return True

    # -- internals -------------------------------------------------------------------------------
    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log_event(logger, "partitions_assigned", partitions=[f"{p.topic}[{p.partition}]" for p in partitions])
        self.ready.set()

    def _on_poll_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise RuntimeError(f"fatal Kafka client error: {error}")
        # Unknown topic, broker down, coordinator moves: all transient; keep polling.
        log_event(logger, "kafka_transient_error", logging.WARNING, error=str(error), code=error.code())
        time.sleep(0.2)

    def _retry_later(self, message: Message, failures: int) -> None:
        """Back off, then seek back so the next poll re-reads this message (nothing is skipped)."""
        delay = min(
            self.settings.retry_backoff_sec * (2 ** (failures - 1)), self.settings.retry_backoff_max_sec
        )
        self._stop.wait(delay)
        self._consumer.seek(TopicPartition(*coordinates(message)))

    def _dead_letter(
        self, message: Message, exc: BaseException, context: dict[str, Any], attempts: int
    ) -> bool:
        topic, partition, offset = coordinates(message)
        letter = dead_letter_for(message, exc, context, attempts, self.settings.service_name)
        try:
            self.producer.publish(
                dlq_topic(topic), letter, key=letter.key, headers={"dlq_reason": str(exc)[:500]}
            )
        except DeliveryError as delivery_error:
            # The DLQ is unreachable: keep the message uncommitted and try again later.
            log_event(logger, "dlq_publish_failed", logging.ERROR, error=str(delivery_error), topic=topic)
            self._retry_later(message, attempts or 1)
            return False
        log_event(
            logger,
            "message_dead_lettered",
            logging.WARNING,
            topic=topic,
            partition=partition,
            offset=offset,
            error=str(exc),
            error_type=type(exc).__name__,
        )
        metrics.DLQ_MESSAGES.labels(self.settings.service_name, topic, type(exc).__name__).inc()
        metrics.MESSAGES.labels(self.settings.service_name, topic, "dead_lettered").inc()
        self._failures.pop((topic, partition, offset), None)
        self._commit(message)
        return True

    def _commit(self, message: Message) -> None:
        self._consumer.commit(message=message, asynchronous=False)

    def _close(self) -> None:
        try:
            self._consumer.close()  # leaves the group promptly; offsets were committed per message
        finally:
            log_event(logger, "consumer_stopped", group_id=self.group_id)


def dead_letter_for(
    message: Message, exc: BaseException, context: dict[str, Any], attempts: int, service: str
) -> DeadLetter:
    """The DLQ envelope for a message: raw bytes, reason and where it came from.

    Raw values above MAX_DEAD_LETTER_RAW_BYTES keep only their head (size and SHA-256 of the whole go in
    `parse_context`): base64 grows a value by a third, and an envelope past the broker's message size
    would never reach the DLQ, leaving the poison message uncommitted for ever.
    """
    topic, partition, offset = coordinates(message)
    raw = message.value() or b""
    if len(raw) > MAX_DEAD_LETTER_RAW_BYTES:
        context = {
            **context,
            "raw_truncated": True,
            "raw_size": len(raw),
            "raw_sha256": hashlib.sha256(raw).hexdigest(),
        }
        raw = raw[:MAX_DEAD_LETTER_RAW_BYTES]
    return DeadLetter(
        service=service,
        topic=topic,
        partition=partition,
        offset=offset,
        key=_text(message.key()),
        raw_value=DeadLetter.encode_raw(raw),
        error=str(exc)[:MAX_DEAD_LETTER_RAW_BYTES],
        error_type=type(exc).__name__,
        parse_context=context,
        attempts=attempts,
    )


def coordinates(message: Message) -> tuple[str, int, int]:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("a consumed message always has topic, partition and offset")
    return topic, partition, offset


def message_headers(message: Message) -> dict[str, bytes]:
    headers: list[tuple[str, Any]] = list(message.headers() or [])  # type: ignore[arg-type]
    return {
        name: b"" if value is None else value.encode() if isinstance(value, str) else bytes(value)
        for name, value in headers
    }


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    return raw.decode("utf-8", errors="replace")
