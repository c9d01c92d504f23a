"""Every record of the bad-input corpus ends in its DLQ with a reason; no service dies, all keep working."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer
from mlflow.tracking import MlflowClient

from flts.contracts import DeadLetter, Topic, dlq_topic
from flts.kafka.watch import TopicWatcher
from flts.objectstore import GatewayClient
from tests.corpus import cases as corpus
from tests.faults import support

pytestmark = pytest.mark.integration
CONSUMERS = {
    Topic.DATASET_UPLOADED: {"preprocess"},
    Topic.TRAINING_DATA: {"train_naive"},
    Topic.INFERENCE_DATA: {"inference"},
    Topic.MODEL_TRAINING: {"eval", "inference"},  # inference follows it too (the fast path)
    Topic.MODEL_SELECTED: {"inference"},
}


@pytest.fixture(scope="module")
def watcher(serving: support.Serving) -> Iterator[TopicWatcher]:
    topics = [dlq_topic(t) for t in CONSUMERS] + [
        Topic.MODEL_SELECTED,
        Topic.TRAINING_DATA,
        Topic.MODEL_TRAINING,
    ]
    watch = TopicWatcher(serving.bootstrap, topics)
    yield watch
    watch.close()


@pytest.fixture(scope="module")
def pids(serving: support.Serving) -> dict[str, int]:
    """Every service's PID before the corpus: the same processes must still run after it."""
    return {name: support.pid_of(serving.state, name) for name in [*support.SERVING_SERVICES, "fastapi-app"]}


@pytest.fixture(scope="module")
def evil_model(
    serving: support.Serving, serving_mlflow: MlflowClient, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A loadable model folder on local disk, outside MLflow: inference must never serve it."""
    folder = tmp_path_factory.mktemp("evil")
    promotion = serving.promotion
    return Path(serving_mlflow.download_artifacts(promotion.run_id, promotion.model_type, str(folder)))


def _cases(
    topic: str, serving: support.Serving, gateway: GatewayClient, mlflow: MlflowClient, evil: Path
) -> list[corpus.Case]:
    if topic == Topic.DATASET_UPLOADED:
        return corpus.dataset_uploaded_cases(gateway)
    if topic in (Topic.TRAINING_DATA, Topic.INFERENCE_DATA):
        return corpus.claim_cases(topic, serving, gateway)
    if topic == Topic.MODEL_TRAINING:
        return corpus.model_training_cases(mlflow)
    return corpus.model_selected_cases(serving, mlflow, evil)


def _produce(bootstrap: str, topic: str, cases: list[corpus.Case]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 2_000_000})
    for case in cases:
        if case.produce:
            producer.produce(topic, value=case.value, key=case.key.encode())
    assert producer.flush(30) == 0


def _letters(watcher: TopicWatcher, topic: str) -> dict[str, list[DeadLetter]]:
    """Dead letters by the original record's key (one per consuming service)."""
    found: dict[str, list[DeadLetter]] = {}
    for record in watcher.records(dlq_topic(topic)):
        found.setdefault(record.key or "", []).append(DeadLetter.model_validate_json(record.raw))
    return found


@pytest.mark.parametrize("topic", list(CONSUMERS))
def test_every_bad_record_is_dead_lettered_with_a_reason(
    topic: str,
    serving: support.Serving,
    serving_gateway: GatewayClient,
    serving_mlflow: MlflowClient,
    watcher: TopicWatcher,
    pids: dict[str, int],
    evil_model: Path,
) -> None:
    cases = _cases(topic, serving, serving_gateway, serving_mlflow, evil_model)
    _produce(serving.bootstrap, topic, cases)
    wanted = {case.key for case in cases if case.expect == "dlq"}

    def complete() -> bool:
        letters = _letters(watcher, topic)
        return all({x.service for x in letters.get(key, [])} >= CONSUMERS[topic] for key in wanted)

    support.wait_until(complete, 120, lambda: f"not dead-lettered: {wanted - set(_letters(watcher, topic))}")
    time.sleep(2)  # an "ignored" case that would be dead-lettered (or promoted) shows up by now
    letters = _letters(watcher, topic)
    promoted = {v.get("identifier") for v in watcher.values(Topic.MODEL_SELECTED) if isinstance(v, dict)}
    refused, reasons = 0, {}
    for case in cases:
        if case.expect == "ignored":
            refused += int(case.key not in letters and case.key not in promoted)
            continue
        for letter in letters[case.key]:
            reasons[case.name] = f"{letter.error_type}: {letter.error[:100]}"
            assert letter.topic == topic and letter.service in CONSUMERS[topic], letter
            assert letter.error and letter.error_type, f"{case.name}: no reason given"
            if case.produce and case.value is not None:
                raw = base64.b64decode(letter.raw_value)
                truncated = letter.parse_context.get("raw_truncated")
                assert raw == (case.value[: len(raw)] if truncated else case.value), (
                    f"{case.name}: raw differs"
                )
        refused += 1
    crashed = [name for name, pid in pids.items() if not support.alive(pid)]
    support.TALLY.add(f"corpus: {topic}", tried=len(cases), refused=refused, crashed=len(crashed))
    for name, reason in reasons.items():
        print(f"{topic:<18} {name:<36} {reason}")
    assert refused == len(cases), f"{len(cases) - refused} bad records had an effect"
    assert not crashed, f"services died: {crashed}"


def test_after_the_corpus_every_service_is_alive_and_still_works(
    serving: support.Serving, serving_gateway: GatewayClient, watcher: TopicWatcher, pids: dict[str, int]
) -> None:
    assert [name for name, pid in pids.items() if not support.alive(pid)] == []
    identifier = serving.identifier
    claims = len([r for r in watcher.records(Topic.TRAINING_DATA) if r.key == identifier])
    successes = len([e for e in support.training_events(watcher, identifier) if e["status"] == "SUCCESS"])
    train_csv = serving_gateway.download_bytes("dataset", f"{identifier}.csv")
    serving_gateway.upload_bytes("dataset", f"{identifier}.csv", train_csv)  # a replay through every stage
    support.wait_until(
        lambda: len([r for r in watcher.records(Topic.TRAINING_DATA) if r.key == identifier]) > claims,
        60,
        "preprocess no longer works",
    )
    support.wait_until(
        lambda: (
            len([e for e in support.training_events(watcher, identifier) if e["status"] == "SUCCESS"])
            > successes
        ),
        60,
        "the trainer no longer works",
    )
    answer = httpx.post(
        f"{serving.state.endpoints['inference']}/predict", json={"identifier": identifier}, timeout=30
    )
    assert answer.status_code == 200 and answer.json()["run_id"] == serving.promotion.run_id, answer.text
    eval_up = httpx.get(f"{serving.state.endpoints['eval']}/readyz", timeout=10)
    assert eval_up.status_code == 200, eval_up.text
