"""Topic creation at start-up: every pipeline topic and its DLQ, created up front.

Creating topics before subscribing avoids the long "unknown topic" window some brokers have after a
late creation (INFRA-NOTES).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from flts.contracts import ALL_TOPICS, dlq_topic
from flts.log import log_event
from flts.settings import FltsSettings

logger = logging.getLogger(__name__)


def pipeline_topics() -> list[str]:
    """Every topic FLTS uses, with its dead-letter topic."""
    return [name for topic in ALL_TOPICS for name in (topic, dlq_topic(topic))]


class BrokerUnavailableError(RuntimeError):
    """The broker did not answer in time."""


@retry(
    retry=retry_if_exception_type(BrokerUnavailableError),
    wait=wait_exponential(multiplier=0.5, max=5),
    stop=stop_after_delay(60),
    reraise=True,
)
def ensure_topics(settings: FltsSettings, topics: Iterable[str] | None = None) -> list[str]:
    """Create the given topics (default: all pipeline topics); return those that were new."""
    wanted = list(topics) if topics is not None else pipeline_topics()
    admin = AdminClient(settings.kafka_common_config())
    try:
        existing = set(admin.list_topics(timeout=10).topics)
    except KafkaException as exc:
        raise BrokerUnavailableError(f"broker {settings.kafka_bootstrap_servers} unavailable: {exc}") from exc
    missing = [name for name in wanted if name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [
            NewTopic(
                name,
                num_partitions=settings.kafka_topic_partitions,
                replication_factor=settings.kafka_replication_factor,
            )
            for name in missing
        ],
        request_timeout=15,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise BrokerUnavailableError(f"could not create topic {name!r}: {exc}") from exc
    log_event(logger, "topics_created", topics=created)
    return created
