"""A Kafka producer whose failed delivery raises instead of vanishing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from flts.contracts import Contract
from flts.settings import FltsSettings

logger = logging.getLogger(__name__)


class DeliveryError(RuntimeError):
    """A message was not acknowledged by the broker."""


class EventProducer:
    """Idempotent producer; `publish()` returns only once the broker has acknowledged the message."""

    def __init__(self, settings: FltsSettings, overrides: Mapping[str, Any] | None = None) -> None:
        self._timeout = settings.kafka_delivery_timeout_sec
        config: dict[str, Any] = {
            **settings.kafka_common_config(),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": int(self._timeout * 1000),
            "client.id": settings.service_name,
            "logger": logging.getLogger("librdkafka"),  # client logs as JSON lines, not raw stderr
        }
        config.update(overrides or {})
        self._producer = Producer(config)

    def publish(
        self,
        topic: str,
        value: Contract | bytes,
        key: str | None = None,
        headers: Mapping[str, str | bytes] | None = None,
    ) -> None:
        """Send one message and wait for its acknowledgement; raise DeliveryError otherwise."""
        self.publish_many(topic, [(key, value)], headers=headers)

    def publish_many(
        self,
        topic: str,
        items: list[tuple[str | None, Contract | bytes]],
        headers: Mapping[str, str | bytes] | None = None,
    ) -> None:
        """Send several messages, then wait once for all of them; any failure raises."""
        failures: list[str] = []
        delivered = 0

        def on_delivery(err: KafkaError | None, _msg: Any) -> None:
            nonlocal delivered
            if err is not None:
                failures.append(str(err))
            else:
                delivered += 1

        for key, value in items:
            payload = value.to_bytes() if isinstance(value, Contract) else value
            while True:
                try:
                    self._producer.produce(
                        topic,
                        value=payload,
                        key=key.encode() if key is not None else None,
                        headers=list((headers or {}).items()) or None,
                        on_delivery=on_delivery,
                    )
                    break
                except BufferError:
                    self._producer.poll(0.5)  # local queue full: let deliveries drain
                except KafkaException as exc:  # refused before sending (e.g. larger than message.max.bytes)
                    raise DeliveryError(f"delivery to {topic!r} refused: {exc}") from exc
        remaining = self._producer.flush(self._timeout)
        if failures or remaining or delivered < len(items):
            reason = "; ".join(failures) or f"{remaining} message(s) not delivered in {self._timeout}s"
            raise DeliveryError(f"delivery to {topic!r} failed: {reason}")

    def close(self) -> None:
        self._producer.flush(self._timeout)
