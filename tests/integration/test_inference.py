"""Inference on the full local stack: no train/serve skew, errors, hot swap, live resizing, batch path."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from flts.contracts import ClaimCheck, PerformanceEval, Promotion, Topic
from flts.kafka.watch import TopicWatcher
from flts.localstack.stack import LocalStack, StackState
from flts.models import evaluation_batch
from flts.models.pyfunc import load_model_folder
from flts.objectstore import GatewayClient
from flts.parquet import read_parquet
from flts.synthetic import generate_dataset, split_train_test
from tests.helpers.kafka import produce_raw
from tests.helpers.stack import gateway_for, running_stack, watching

pytestmark = pytest.mark.integration
SMALL = {"MODEL_PARAMS": json.dumps({"epochs": 3, "ensemble": 1, "batch_size": 128})}
IDENTIFIER = f"serve_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {"train_gru": SMALL, "train_lstm": SMALL, "inference": {"QUEUE_MAXSIZE": "2"}}
    with running_stack(tmp_path_factory.mktemp("inference"), None, env) as stack:
        yield stack


@pytest.fixture(scope="module")
def stack(local: LocalStack) -> StackState:
    assert local.state is not None
    return local.state


@pytest.fixture(scope="module")
def watcher(stack: StackState) -> Iterator[TopicWatcher]:
    topics = [Topic.MODEL_SELECTED, Topic.PERFORMANCE_EVAL, Topic.INFERENCE_DATA, Topic.MODEL_TRAINING]
    with watching(stack, topics) as watch:
        yield watch


@pytest.fixture(scope="module")
def gateway(stack: StackState) -> Iterator[GatewayClient]:
    with gateway_for(stack) as client:
        yield client


@pytest.fixture(scope="module")
def promoted(stack: StackState, gateway: GatewayClient, watcher: TopicWatcher) -> Promotion:
    train, test = split_train_test(generate_dataset(2500, seed=31))
    gateway.upload_bytes("dataset", f"{IDENTIFIER}_test.csv", test.to_csv(index=False).encode())
    gateway.upload_bytes("dataset", f"{IDENTIFIER}.csv", train.to_csv(index=False).encode())
    value = watcher.wait_for(
        Topic.MODEL_SELECTED, lambda v: v["identifier"] == IDENTIFIER, time.monotonic() + 400
    )
    assert value is not None, "no promotion"
    url = stack.endpoints["inference"]
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/readyz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "inference never became ready"
        time.sleep(0.5)
    return Promotion.model_validate(value)


def _mlflow(stack: StackState) -> MlflowClient:
    return MlflowClient(tracking_uri=f"http://{stack.endpoints['mlflow:5000']}")


def _history(frame: pd.DataFrame) -> dict[str, list[Any]]:
    history: dict[str, list[Any]] = {
        "time": pd.to_datetime(frame["time"]).dt.strftime("%Y-%m-%d %H:%M:%S").tolist()
    }
    for column in frame.columns:
        if column != "time":
            history[column] = frame[column].astype(float).tolist()
    return history


def _predict(stack: StackState, body: dict[str, Any], timeout: float = 30) -> httpx.Response:
    return httpx.post(f"{stack.endpoints['inference']}/predict", json=body, timeout=timeout)


def test_predict_equals_the_trainers_own_prediction_and_column_order_does_not_matter(
    promoted: Promotion, stack: StackState, gateway: GatewayClient, tmp_path: Path
) -> None:
    run_id, model_type = promoted.run_id, promoted.model_type
    model, scaler = load_model_folder(
        Path(_mlflow(stack).download_artifacts(run_id, model_type, str(tmp_path)))
    )
    test_frame, _ = read_parquet(
        gateway.download_bytes("processed-data", f"{IDENTIFIER}/{promoted.config_hash}/test.parquet")
    )
    batch = evaluation_batch(test_frame, scaler)
    expected = model.predict(batch)
    raw = scaler.inverse_frame(test_frame)
    seq = scaler.spec.input_seq_len
    for index in (0, 57, len(batch) - 1):
        window = raw.iloc[index : index + seq]
        history = _history(window)
        answer = _predict(stack, {"identifier": IDENTIFIER, "history": history})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["run_id"] == run_id and body["model_type"] == model_type
        assert body["config_hash"] == promoted.config_hash
        for t, target in enumerate(scaler.spec.targets):
            assert body["forecast"][target][0] == pytest.approx(expected[index, 0, t], rel=1e-4)
        last = window["time"].iloc[-1]
        assert pd.Timestamp(body["timestamps"][0]) == last + pd.Timedelta(minutes=2)

        shuffled = dict(random.Random(index).sample(list(history.items()), len(history)))
        shuffled["unused_extra_column"] = [1.0] * seq
        again = _predict(stack, {"identifier": IDENTIFIER, "history": shuffled}).json()
        assert again["forecast"] == body["forecast"]


def test_horizon_and_empty_body(promoted: Promotion, stack: StackState) -> None:
    history = _history(generate_dataset(30, seed=2).tail(12).reset_index(drop=True))
    answer = _predict(stack, {"identifier": IDENTIFIER, "history": history, "horizon": 5}).json()
    assert answer["horizon"] == 5 and len(answer["forecast"]["down"]) == 5
    steps = pd.to_datetime(answer["timestamps"])
    assert steps[0] == pd.Timestamp(history["time"][-1]) + pd.Timedelta(minutes=2)
    assert (steps.to_series().diff().dropna() == pd.Timedelta(minutes=2)).all()
    empty = _predict(stack, {})
    assert empty.status_code == 200, empty.text
    assert empty.json()["run_id"] == promoted.run_id or empty.json()["model_identifier"] != IDENTIFIER
    own = _predict(stack, {"identifier": IDENTIFIER})
    assert own.status_code == 200 and own.json()["run_id"] == promoted.run_id


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"identifier": IDENTIFIER, "history": {"down": [1.0] * 10}}, "'time'"),
        (
            {"identifier": IDENTIFIER, "history": {"time": ["2024-01-01 00:00:00"] * 10, "down": [1.0] * 10}},
            "missing column",
        ),
        ({"identifier": IDENTIFIER, "horizon": 0}, "horizon"),
        ({"identifier": IDENTIFIER, "horizon": 10_000}, "maximum"),
        ({"identifier": IDENTIFIER, "surprise": 1}, "surprise"),
        ({"identifier": IDENTIFIER, "history": "not columns"}, "history"),
    ],
)
def test_bad_input_is_422_naming_the_problem(
    promoted: Promotion, stack: StackState, body: dict[str, Any], word: str
) -> None:
    answer = _predict(stack, body)
    assert answer.status_code == 422 and word in answer.json()["detail"], answer.text


def test_short_history_and_non_numbers_are_422(promoted: Promotion, stack: StackState) -> None:
    history = _history(generate_dataset(20, seed=4).tail(10).reset_index(drop=True))
    short = {k: v[:5] for k, v in history.items()}
    assert "at least" in _predict(stack, {"identifier": IDENTIFIER, "history": short}).json()["detail"]
    history["up"][3] = "lots"
    answer = _predict(stack, {"identifier": IDENTIFIER, "history": history})
    assert answer.status_code == 422 and "'up'" in answer.json()["detail"]
    bad_json = httpx.post(
        f"{stack.endpoints['inference']}/predict",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert bad_json.status_code == 422


def _stream(
    stack: StackState, body: dict[str, Any], stop: threading.Event, seen: list[httpx.Response]
) -> None:
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            seen.append(client.post(f"{stack.endpoints['inference']}/predict", json=body))


def test_promotion_during_a_stream_of_requests_swaps_with_no_failed_request(
    promoted: Promotion, stack: StackState, watcher: TopicWatcher
) -> None:
    naive = next(
        v
        for v in watcher.values(Topic.MODEL_TRAINING)
        if v["identifier"] == IDENTIFIER and v["model_type"] == "NAIVE" and v["status"] == "SUCCESS"
    )
    new = promoted.model_copy(
        update={
            "run_id": naive["run_id"],
            "model_type": "NAIVE",
            "model_uri": f"runs:/{naive['run_id']}/NAIVE",
        }
    )
    body = {"identifier": IDENTIFIER, "history": _history(generate_dataset(20, seed=5).tail(10))}
    stop, seen = threading.Event(), []
    threads = [threading.Thread(target=_stream, args=(stack, body, stop, seen)) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    produce_raw(stack.endpoints["kafka:9092"], Topic.MODEL_SELECTED, [new.to_bytes()], key=IDENTIFIER)
    deadline = time.monotonic() + 60
    while not any(r.status_code == 200 and r.json()["run_id"] == new.run_id for r in seen[-20:]):
        assert time.monotonic() < deadline, "the new model never answered"
        time.sleep(0.2)
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join()
    assert seen and all(r.status_code == 200 for r in seen), {r.status_code for r in seen}
    runs = [r.json()["run_id"] for r in seen]
    switch = runs.index(new.run_id)
    assert set(runs[:switch]) == {promoted.run_id} and runs[-1] == new.run_id
    # put the real winner back for the other tests
    produce_raw(stack.endpoints["kafka:9092"], Topic.MODEL_SELECTED, [promoted.to_bytes()], key=IDENTIFIER)
    deadline = time.monotonic() + 30
    while _predict(stack, body).json()["run_id"] != promoted.run_id:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_scale_workers_under_load_changes_the_pool_with_no_failed_request(
    promoted: Promotion, stack: StackState
) -> None:
    url = stack.endpoints["inference"]
    body = {"identifier": IDENTIFIER, "history": _history(generate_dataset(20, seed=6).tail(10))}
    stop, seen = threading.Event(), []
    threads = [threading.Thread(target=_stream, args=(stack, body, stop, seen)) for _ in range(4)]
    for thread in threads:
        thread.start()
    changes = []
    for workers in (4, 1, 3, 2):
        time.sleep(0.5)
        answer = httpx.post(f"{url}/scale_workers", json={"workers": workers})
        assert answer.status_code == 200
        changes.append(answer.json())
        text = httpx.get(f"{url}/metrics").text
        assert f"inference_workers {float(workers)}" in text
    stop.set()
    for thread in threads:
        thread.join()
    assert [c["workers"] for c in changes] == [4, 1, 3, 2] and changes[1]["previous"] == 4
    assert len(seen) > 20 and all(r.status_code == 200 for r in seen)
    assert httpx.post(f"{url}/scale_workers", json={"workers": 1000}).status_code == 422


def test_a_burst_larger_than_the_queue_is_processed_completely(
    promoted: Promotion, stack: StackState, gateway: GatewayClient, watcher: TopicWatcher
) -> None:
    claim = next(
        ClaimCheck.model_validate(v)
        for v in watcher.values(Topic.INFERENCE_DATA)
        if v["identifier"] == IDENTIFIER and v["config_hash"] == promoted.config_hash
    )
    # Ten distinct claims (different sizes make different prediction hashes) with QUEUE_MAXSIZE=2.
    burst = [claim.model_copy(update={"size": claim.size + i + 1}) for i in range(10)]
    produce_raw(
        stack.endpoints["kafka:9092"], Topic.INFERENCE_DATA, [c.to_bytes() for c in burst], key=IDENTIFIER
    )
    expected = {c.size for c in burst}

    def evaluated() -> list[PerformanceEval]:
        return [
            PerformanceEval.model_validate(v)
            for v in watcher.values(Topic.PERFORMANCE_EVAL)
            if v["identifier"] == IDENTIFIER
        ]

    deadline = time.monotonic() + 180
    while len(evaluated()) < 1 + len(burst):  # the original claim plus the burst
        assert time.monotonic() < deadline, f"only {len(evaluated())} performance-eval events"
        time.sleep(0.5)
    keys = {e.log_object_key for e in evaluated()}
    assert len(keys) == 1 + len(burst)
    for key in keys:
        lines = gateway.download_bytes("inference-logs", key).decode().strip().splitlines()
        record = json.loads(lines[0])
        assert record["identifier"] == IDENTIFIER and set(record["forecast"]) == {"down", "up"}
        assert len(lines) == evaluated()[0].rows
    assert expected  # every burst claim has its own result object, nothing dropped
    log = Path(next(p.log for p in stack.processes if p.name == "inference")).read_text()
    assert '"event": "queue_paused"' in log and '"event": "queue_enqueued"' in log
    metrics_text = httpx.get(f"{stack.endpoints['inference']}/metrics").text
    done = next(
        float(line.split()[-1])
        for line in metrics_text.splitlines()
        if line.startswith('inference_kafka_records_total{outcome="done"}')
    )
    assert done >= 1 + len(burst)
    assert np.isfinite([e.mae for e in evaluated()]).all()
