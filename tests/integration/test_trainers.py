"""Trainers on the local stack: every family trains (small epochs), logs to MLflow, dedups, fails cleanly."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from flts.contracts import ClaimCheck, Topic, dlq_topic
from flts.kafka.watch import TopicWatcher
from flts.localstack.stack import StackState
from flts.models import evaluation_batch, forecast_metrics
from flts.models.pyfunc import load_model_folder
from flts.objectstore import GatewayClient
from flts.parquet import read_parquet
from flts.synthetic import generate_dataset, split_train_test
from tests.helpers.kafka import produce_raw
from tests.helpers.stack import gateway_for, running_stack, watching

pytestmark = pytest.mark.integration
FAMILIES = {"train_gru": "GRU", "train_lstm": "LSTM", "nonml_prophet": "PROPHET", "train_naive": "NAIVE"}
SMALL = {"MODEL_PARAMS": json.dumps({"epochs": 2, "ensemble": 1, "batch_size": 128})}
WATCHED = [Topic.MODEL_TRAINING, Topic.TRAINING_DATA, dlq_topic(Topic.TRAINING_DATA)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    env = {"train_gru": SMALL, "train_lstm": SMALL}
    with running_stack(tmp_path_factory.mktemp("train"), ["preprocess", *FAMILIES], env) as local:
        assert local.state is not None
        yield local.state


@pytest.fixture(scope="module")
def watcher(stack: StackState) -> Iterator[TopicWatcher]:
    with watching(stack, WATCHED) as watch:
        yield watch


@pytest.fixture(scope="module")
def gateway(stack: StackState) -> Iterator[GatewayClient]:
    with gateway_for(stack) as client:
        yield client


@pytest.fixture(scope="module")
def mlflow(stack: StackState) -> MlflowClient:
    return MlflowClient(tracking_uri=f"http://{stack.endpoints['mlflow:5000']}")


def _events(watcher: TopicWatcher, identifier: str) -> list[dict[str, Any]]:
    return [v for v in watcher.values(Topic.MODEL_TRAINING) if v.get("identifier") == identifier]


def _wait(condition: Any, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.5)


@pytest.fixture(scope="module")
def trained(gateway: GatewayClient, watcher: TopicWatcher) -> tuple[str, ClaimCheck]:
    """One synthetic site through preprocess and all four trainers."""
    identifier = f"site_{uuid.uuid4().hex[:6]}"
    train, test = split_train_test(generate_dataset(2500, seed=21))
    gateway.upload_bytes("dataset", f"{identifier}_test.csv", test.to_csv(index=False).encode())
    gateway.upload_bytes("dataset", f"{identifier}.csv", train.to_csv(index=False).encode())

    def all_succeeded() -> bool:
        done = {e["model_type"] for e in _events(watcher, identifier) if e["status"] == "SUCCESS"}
        failed = [e for e in _events(watcher, identifier) if e["status"] == "FAILED"]
        assert not failed, failed
        return done == set(FAMILIES.values())

    _wait(all_succeeded, 300, "not every family reported SUCCESS")
    claim = next(
        ClaimCheck.model_validate(v)
        for v in watcher.values(Topic.TRAINING_DATA)
        if v["identifier"] == identifier
    )
    return identifier, claim


def test_each_family_reports_running_then_success(
    trained: tuple[str, ClaimCheck], watcher: TopicWatcher
) -> None:
    identifier, claim = trained
    for model_type in FAMILIES.values():
        events = [e for e in _events(watcher, identifier) if e["model_type"] == model_type]
        statuses = [e["status"] for e in events]
        assert statuses[0] == "RUNNING" and "SUCCESS" in statuses, statuses
        success = next(e for e in events if e["status"] == "SUCCESS")
        assert success["operation"] == f"Trained: {model_type}" and success["run_id"] == events[0]["run_id"]
        assert success["config_hash"] == claim.config_hash
        assert {"test_rmse", "test_mae", "test_mse"} <= set(success["metrics"])


@pytest.mark.parametrize("model_type", list(FAMILIES.values()))
def test_mlflow_run_has_params_metrics_artifacts_and_reproduces_its_metrics(
    model_type: str,
    trained: tuple[str, ClaimCheck],
    watcher: TopicWatcher,
    mlflow: MlflowClient,
    gateway: GatewayClient,
    tmp_path: Path,
) -> None:
    identifier, claim = trained
    run_id = next(
        e["run_id"]
        for e in _events(watcher, identifier)
        if e["model_type"] == model_type and e["status"] == "SUCCESS"
    )
    run = mlflow.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["model_type"] == model_type and run.data.tags["config_hash"] == claim.config_hash
    assert run.data.tags["identifier"] == identifier
    assert {"model_type", "config_hash", "identifier", "train_rows"} <= set(run.data.params)
    metrics = run.data.metrics
    assert {"test_rmse", "test_mae", "test_mse", "test_rmse_down", "test_rmse_up", "test_mae_up"} <= set(
        metrics
    )
    if model_type in {"GRU", "LSTM"}:
        history = mlflow.get_metric_history(run_id, "val_loss")
        assert [point.step for point in history] == [1, 2]
    artifacts = {a.path for a in mlflow.list_artifacts(run_id)}
    assert {model_type, "scaler", "feature_spec.json", "plots"} <= artifacts
    assert [a.path for a in mlflow.list_artifacts(run_id, "scaler")] == ["scaler/scaler.pkl"]
    assert [a.path for a in mlflow.list_artifacts(run_id, "plots")] == ["plots/forecast_vs_actual.png"]

    local = Path(mlflow.download_artifacts(run_id, model_type, str(tmp_path)))
    assert (local / "MLmodel").exists()
    model, scaler = load_model_folder(local)
    prefix = claim.object_key.rsplit("/", 1)[0]
    test_frame, _ = read_parquet(gateway.download_bytes("processed-data", f"{prefix}/test.parquet"))
    batch = evaluation_batch(test_frame, scaler)
    assert batch.targets is not None
    reproduced = forecast_metrics(batch.targets, model.predict(batch), scaler.spec.targets)
    assert np.isclose(reproduced["rmse_avg"], metrics["test_rmse"], rtol=1e-5)
    assert np.isclose(reproduced["mae_avg"], metrics["test_mae"], rtol=1e-5)


def test_a_redelivered_claim_trains_nothing(
    trained: tuple[str, ClaimCheck], stack: StackState, watcher: TopicWatcher, mlflow: MlflowClient
) -> None:
    identifier, claim = trained
    before = len(_events(watcher, identifier))
    produce_raw(stack.endpoints["kafka:9092"], Topic.TRAINING_DATA, [claim.to_bytes()], key=identifier)
    _wait(lambda: len(_events(watcher, identifier)) >= before + len(FAMILIES), 120, "no re-announcement")
    new = _events(watcher, identifier)[before:]
    assert {e["status"] for e in new} == {"SUCCESS"}  # re-announced, no RUNNING: nothing trained
    runs = mlflow.search_runs(
        [mlflow.get_experiment_by_name("flts").experiment_id], f"tags.config_hash = '{claim.config_hash}'"
    )
    assert sorted(r.data.tags["model_type"] for r in runs) == sorted(FAMILIES.values())


@pytest.mark.parametrize("problem", ["missing", "corrupt"])
def test_missing_or_corrupt_object_fails_cleanly_and_the_trainer_goes_on(
    problem: str,
    trained: tuple[str, ClaimCheck],
    stack: StackState,
    watcher: TopicWatcher,
    gateway: GatewayClient,
) -> None:
    _, good = trained
    identifier = f"broken_{problem}_{uuid.uuid4().hex[:6]}"
    fake_hash = uuid.uuid4().hex * 2
    key = f"{identifier}/{fake_hash}/train.parquet"
    if problem == "corrupt":
        gateway.upload_bytes("processed-data", key, b"PAR1 this is not parquet")
    claim = good.model_copy(
        update={"identifier": identifier, "object_key": key, "object": key, "config_hash": fake_hash}
    )
    produce_raw(stack.endpoints["kafka:9092"], Topic.TRAINING_DATA, [claim.to_bytes()], key=identifier)

    def failed_everywhere() -> bool:
        return {e["model_type"] for e in _events(watcher, identifier) if e["status"] == "FAILED"} == set(
            FAMILIES.values()
        )

    _wait(failed_everywhere, 120, "not every trainer reported FAILED")
    failures = [e for e in _events(watcher, identifier) if e["status"] == "FAILED"]
    word = "does not exist" if problem == "missing" else "not readable parquet"
    assert all(word in e["error"].lower() for e in failures), failures
    letters = [
        json.loads(r.raw) for r in watcher.records(dlq_topic(Topic.TRAINING_DATA)) if r.key == identifier
    ]
    _wait(
        lambda: (
            len([r for r in watcher.records(dlq_topic(Topic.TRAINING_DATA)) if r.key == identifier])
            == len(FAMILIES)
        ),
        30,
        "one DLQ record per trainer expected",
    )
    letters = [
        json.loads(r.raw) for r in watcher.records(dlq_topic(Topic.TRAINING_DATA)) if r.key == identifier
    ]
    assert {letter["error_type"] for letter in letters} == {"DataRejectedError"}
    for record in stack.processes:  # every trainer is still alive
        if record.name in FAMILIES:
            assert Path(f"/proc/{record.pid}").exists(), f"{record.name} died"
