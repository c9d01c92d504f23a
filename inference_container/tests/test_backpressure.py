"""The inference-data consumer against a real broker: bounded queue, TTL expiry, micro-batch draining.

`pytest inference_container/tests/test_backpressure.py` starts tansu, moto, the gateway and MLflow
(session fixtures), promotes a real model, and runs the service's consumer in-process on its own topic
group so every record can be accounted for.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flts.contracts import ClaimCheck, Topic
from flts.kafka.producer import EventProducer
from flts.kafka.topics import ensure_topics
from flts.objectstore import GatewayClient
from flts.tracking import RunArtifactDownloader
from inference_container.batch_consumer import InferenceDataConsumer
from inference_container.batch_forecast import BatchForecaster
from inference_container.models import ModelStore
from inference_container.settings import InferenceSettings
from tests.helpers.promoted import promote_model

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def promoted(gateway: str, gateway_token: str, mlflow_server: str) -> tuple[str, ClaimCheck]:
    identifier = f"bp_{uuid.uuid4().hex[:6]}"
    with GatewayClient(gateway, token=gateway_token) as client:
        _, claim = promote_model(client, mlflow_server, identifier)
    return identifier, claim


@pytest.fixture
def consumer_factory(
    broker: str, gateway: str, gateway_token: str, mlflow_server: str, tmp_path: Any
) -> Iterator[Callable[..., InferenceDataConsumer]]:
    running: list[tuple[InferenceDataConsumer, threading.Thread]] = []

    def build(**overrides: Any) -> InferenceDataConsumer:
        settings = InferenceSettings(
            kafka_bootstrap_servers=broker,
            gateway_url=gateway,
            gateway_token=gateway_token,
            mlflow_tracking_uri=mlflow_server,
            consumer_group_id=f"bp-{uuid.uuid4().hex[:6]}",
            model_cache_dir=str(tmp_path / "models"),
            kafka_topic_partitions=1,
            kafka_extra_config={"auto.offset.reset": "latest"},  # only this test's records
            **overrides,
        )
        ensure_topics(settings)
        gateway_client = GatewayClient.from_settings(settings)
        producer = EventProducer(settings)
        store = ModelStore(settings, gateway_client, RunArtifactDownloader(mlflow_server))
        consumer = InferenceDataConsumer(
            settings, store, BatchForecaster(settings, gateway_client, producer), producer
        )
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        running.append((consumer, thread))
        assert consumer.ready.wait(60), "no partitions assigned"
        time.sleep(1)  # the group's starting offsets are fetched right after assignment
        return consumer

    yield build
    for consumer, thread in running:
        consumer.stop()
        thread.join(timeout=30)


def _burst(broker: str, claims: list[ClaimCheck], key: str, deadline_ms: int | None = None) -> None:
    """Publish claims under a key of the test's own, so its accounting ignores other tests' records."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker})
    headers = [("deadline", str(deadline_ms).encode())] if deadline_ms is not None else None
    for claim in claims:
        producer.produce(Topic.INFERENCE_DATA, value=claim.to_bytes(), key=key.encode(), headers=headers)
    assert producer.flush(15) == 0


def _variants(claim: ClaimCheck, count: int) -> list[ClaimCheck]:
    """Distinct claims for the same data (each has its own prediction hash and result object)."""
    base = claim.size + int(uuid.uuid4().int % 10_000_000) * 100
    return [claim.model_copy(update={"size": base + i}) for i in range(count)]


KEY = f"bp-{uuid.uuid4().hex[:6]}"


def _counts(consumer: InferenceDataConsumer, key: str = KEY) -> dict[str, int]:
    return {outcome: count for outcome, count in consumer.outcomes_by_key[key].items() if count}


def _wait(condition: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.2)


def test_a_burst_larger_than_the_bounded_queue_pauses_and_loses_nothing(
    broker: str,
    promoted: tuple[str, ClaimCheck],
    consumer_factory: Callable[..., InferenceDataConsumer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, claim = promoted
    consumer = consumer_factory(queue_maxsize=2, enable_microbatch=False)
    paused = []
    original = consumer._apply_backpressure

    def spy() -> None:
        original()
        paused.append(consumer._paused)
        assert consumer.work.qsize() <= consumer.settings.queue_maxsize + 1  # paused before it overflows

    consumer._apply_backpressure = spy  # type: ignore[method-assign]
    claims = _variants(claim, 12)
    _burst(broker, claims, KEY)
    _wait(lambda: sum(_counts(consumer).values()) >= 12, 180, f"{consumer.outcomes}")
    assert _counts(consumer) == {"done": 12}
    assert any(paused), "the partitions were never paused"
    assert consumer.tracker.in_flight() == 0
    for point in consumer.tracker.commit_points():  # committed up to the last record, nothing skipped
        assert consumer._committed[(point.topic, point.partition)] == point.offset


def test_expired_records_are_skipped_counted_and_committed(
    broker: str, promoted: tuple[str, ClaimCheck], consumer_factory: Callable[..., InferenceDataConsumer]
) -> None:
    _, claim = promoted
    consumer = consumer_factory(enable_ttl=True)
    past = int(time.time() * 1000) - 60_000
    _burst(broker, _variants(claim, 5), KEY + "ttl", deadline_ms=past)
    future = int(time.time() * 1000) + 600_000
    _burst(broker, _variants(claim, 2), KEY + "ttl", deadline_ms=future)
    _wait(lambda: sum(_counts(consumer, KEY + "ttl").values()) >= 7, 120, f"{consumer.outcomes}")
    assert _counts(consumer, KEY + "ttl") == {"expired": 5, "done": 2}
    _wait(lambda: consumer.tracker.in_flight() == 0, 10, "records still in flight")


def test_micro_batch_draining_takes_several_records_per_batch(
    broker: str, promoted: tuple[str, ClaimCheck], consumer_factory: Callable[..., InferenceDataConsumer]
) -> None:
    _, claim = promoted
    consumer = consumer_factory(enable_microbatch=True, batch_size=4, batch_timeout_ms=200, queue_maxsize=16)
    drained: list[int] = []
    original = consumer._process
    batch_marker = {"size": 0}

    def counting(record: Any) -> None:
        batch_marker["size"] += 1
        original(record)

    consumer._process = counting  # type: ignore[method-assign]
    original_get = consumer.work.get

    def get(*args: Any, **kwargs: Any) -> Any:
        if batch_marker["size"]:
            drained.append(batch_marker["size"])
            batch_marker["size"] = 0
        return original_get(*args, **kwargs)

    consumer.work.get = get  # type: ignore[method-assign]
    _burst(broker, _variants(claim, 8), KEY + "mb")
    _wait(lambda: sum(_counts(consumer, KEY + "mb").values()) >= 8, 180, f"{consumer.outcomes}")
    assert _counts(consumer, KEY + "mb") == {"done": 8}
    assert max([*drained, batch_marker["size"]]) > 1, f"batches were {drained}"


def test_malformed_records_are_dead_lettered_and_committed(
    broker: str, promoted: tuple[str, ClaimCheck], consumer_factory: Callable[..., InferenceDataConsumer]
) -> None:
    from tests.helpers.kafka import dead_letters, produce_raw

    _, claim = promoted
    consumer = consumer_factory()
    key = f"bad-{uuid.uuid4().hex[:6]}"
    missing = claim.model_copy(update={"object_key": f"{claim.identifier}/nope/test.parquet", "object": ""})
    produce_raw(
        broker, Topic.INFERENCE_DATA, [b"{oops", json.dumps({"v": 1}).encode(), missing.to_bytes()], key=key
    )
    _wait(lambda: _counts(consumer, key).get("dlq", 0) >= 3, 120, f"{consumer.outcomes}")
    letters = [d for d in dead_letters(broker, f"DLQ-{Topic.INFERENCE_DATA}", 3, timeout=30) if d.key == key]
    assert len(letters) == 3 and any("does not exist" in d.error for d in letters)
