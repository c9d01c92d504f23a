"""Eval on the local stack: real trainer runs, fabricated runs for exact scores, kill and restart."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mlflow.tracking import MlflowClient

from flts.contracts import Promotion, Topic, TrainingEvent, TrainingStatus, dlq_topic
from flts.kafka.watch import TopicWatcher
from flts.localstack.stack import LocalStack, StackState
from flts.objectstore import GatewayClient
from flts.synthetic import generate_dataset, split_train_test
from tests.helpers.kafka import produce_raw
from tests.helpers.mlflow_runs import fake_run
from tests.helpers.stack import gateway_for, running_stack, watching

pytestmark = pytest.mark.integration
TYPES = ["GRU", "LSTM", "PROPHET", "NAIVE"]
SMALL = {"MODEL_PARAMS": json.dumps({"epochs": 2, "ensemble": 1, "batch_size": 128})}
WATCHED = [Topic.MODEL_SELECTED, Topic.MODEL_TRAINING, dlq_topic(Topic.MODEL_TRAINING)]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    services = ["eval", "preprocess", "train_gru", "train_lstm", "nonml_prophet", "train_naive"]
    env = {"train_gru": SMALL, "train_lstm": SMALL, "eval": {"PROMOTION_SEARCH_DELAY_SEC": "0.5"}}
    with running_stack(tmp_path_factory.mktemp("eval"), services, env) as stack:
        yield stack


@pytest.fixture(scope="module")
def stack(local: LocalStack) -> StackState:
    assert local.state is not None
    return local.state


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


def _selected(watcher: TopicWatcher, identifier: str) -> list[Promotion]:
    return [
        Promotion.model_validate(v)
        for v in watcher.values(Topic.MODEL_SELECTED)
        if v["identifier"] == identifier
    ]


def _wait(condition: Any, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.3)


def _success(stack: StackState, identifier: str, config_hash: str, model_type: str, run_id: str) -> None:
    event = TrainingEvent.build(
        TrainingStatus.SUCCESS,
        model_type,
        run_id=run_id,
        experiment="flts",
        config_hash=config_hash,
        identifier=identifier,
    )
    produce_raw(stack.endpoints["kafka:9092"], Topic.MODEL_TRAINING, [event.to_bytes()], key=identifier)


def _history(gateway: GatewayClient, identifier: str, config_hash: str) -> list[str]:
    return [o.key for o in gateway.list("model-promotion", prefix=f"{identifier}/{config_hash}/promotion-")]


def _upload_site(gateway: GatewayClient, identifier: str, seed: int) -> None:
    train, test = split_train_test(generate_dataset(2200, seed=seed, site=seed % 3))
    gateway.upload_bytes("dataset", f"{identifier}_test.csv", test.to_csv(index=False).encode())
    gateway.upload_bytes("dataset", f"{identifier}.csv", train.to_csv(index=False).encode())


def test_real_trainings_for_two_sites_are_promoted_independently_once_each(
    stack: StackState, watcher: TopicWatcher, gateway: GatewayClient, mlflow: MlflowClient
) -> None:
    sites = [f"site_{uuid.uuid4().hex[:6]}" for _ in range(2)]
    for seed, identifier in enumerate(sites, start=3):
        _upload_site(gateway, identifier, seed)
    _wait(lambda: all(_selected(watcher, s) for s in sites), 400, "both sites must be promoted")
    time.sleep(3)  # late SUCCESS re-announcements must not re-promote
    for identifier in sites:
        [promotion] = _selected(watcher, identifier)
        runs = mlflow.search_runs(
            [mlflow.get_experiment_by_name("flts").experiment_id],
            f"tags.identifier = '{identifier}' and tags.config_hash = '{promotion.config_hash}'",
        )
        weights = {"rmse": 0.5, "mae": 0.3, "mse": 0.2}
        scores = {r.info.run_id: sum(weights[m] * r.data.metrics[f"test_{m}"] for m in weights) for r in runs}
        assert sorted(r.data.tags["model_type"] for r in runs) == sorted(TYPES)
        assert promotion.run_id == min(scores, key=scores.__getitem__)
        assert promotion.score == pytest.approx(scores[promotion.run_id])
        assert promotion.model_uri == f"runs:/{promotion.run_id}/{promotion.model_type}"
        own = gateway.download_bytes("model-promotion", f"{identifier}/current.json")
        assert Promotion.model_validate_json(own) == promotion  # plain JSON, identical to the payload
        assert len(_history(gateway, identifier, promotion.config_hash)) == 1
        scoreboard = httpx.get(f"{stack.endpoints['eval']}/scoreboard/{identifier}").json()
        assert scoreboard["promotion"]["run_id"] == promotion.run_id and len(scoreboard["scoreboard"]) == 4
        version = mlflow.get_model_version_by_alias(f"flts-{identifier}", "champion")
        assert version.run_id == promotion.run_id
    latest = Promotion.model_validate(gateway.get_json("model-promotion", "global/current.json"))
    assert latest.identifier in sites
    assert gateway.get_json("model-promotion", "current.json") == gateway.get_json(
        "model-promotion", "global/current.json"
    )


def test_extra_success_for_a_promoted_hash_repromotes_nothing(
    stack: StackState, watcher: TopicWatcher, gateway: GatewayClient, mlflow: MlflowClient
) -> None:
    identifier, digest = f"extra_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex * 2
    runs = {t: fake_run(mlflow, identifier, digest, t, 10.0 + i, 5.0, 100.0) for i, t in enumerate(TYPES)}
    for model_type, run_id in runs.items():
        _success(stack, identifier, digest, model_type, run_id)
    _wait(lambda: _selected(watcher, identifier), 60, "not promoted")
    for _ in range(3):
        _success(stack, identifier, digest, "GRU", runs["GRU"])
    time.sleep(4)
    assert len(_selected(watcher, identifier)) == 1
    assert len(_history(gateway, identifier, digest)) == 1


def test_eval_killed_between_success_events_still_promotes_exactly_once(
    local: LocalStack, stack: StackState, watcher: TopicWatcher, gateway: GatewayClient, mlflow: MlflowClient
) -> None:
    identifier, digest = f"restart_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex * 2
    runs = {t: fake_run(mlflow, identifier, digest, t, 20.0 - i, 5.0, 100.0) for i, t in enumerate(TYPES)}
    for model_type in TYPES[:2]:
        _success(stack, identifier, digest, model_type, runs[model_type])
    time.sleep(3)
    local.kill("eval")
    for model_type in TYPES[2:]:
        _success(stack, identifier, digest, model_type, runs[model_type])
    local.restart("eval")
    _wait(lambda: _selected(watcher, identifier), 90, "not promoted after restart")
    time.sleep(4)
    [promotion] = _selected(watcher, identifier)
    assert promotion.model_type == "NAIVE"  # lowest rmse of the four
    assert len(_history(gateway, identifier, digest)) == 1


def test_a_run_without_artifacts_is_not_promoted(
    stack: StackState, watcher: TopicWatcher, mlflow: MlflowClient
) -> None:
    identifier, digest = f"noart_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex * 2
    runs = {
        "GRU": fake_run(
            mlflow, identifier, digest, "GRU", 1.0, 1.0, 1.0, with_model=False
        ),  # best, but no model
        "LSTM": fake_run(mlflow, identifier, digest, "LSTM", 5.0, 5.0, 5.0),
        "PROPHET": fake_run(
            mlflow, identifier, digest, "PROPHET", 9.0, 9.0, 9.0, with_model=False
        ),  # allowed
        "NAIVE": fake_run(mlflow, identifier, digest, "NAIVE", 7.0, 7.0, 7.0),
    }
    for model_type, run_id in runs.items():
        _success(stack, identifier, digest, model_type, run_id)
    # GRU has no model: the lineage is incomplete, so nothing is promoted (PROMOTE_PARTIAL is off).
    time.sleep(6)
    assert _selected(watcher, identifier) == []
    better_gru = fake_run(mlflow, identifier, digest, "GRU", 2.0, 2.0, 2.0)
    _success(stack, identifier, digest, "GRU", better_gru)
    _wait(lambda: _selected(watcher, identifier), 60, "not promoted")
    [promotion] = _selected(watcher, identifier)
    assert promotion.run_id == better_gru and promotion.run_id != runs["GRU"]


def test_a_tie_goes_to_the_newest_run(stack: StackState, watcher: TopicWatcher, mlflow: MlflowClient) -> None:
    identifier, digest = f"tie_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex * 2
    runs = {}
    for model_type in TYPES:
        runs[model_type] = fake_run(mlflow, identifier, digest, model_type, 3.0, 3.0, 3.0)
        time.sleep(0.05)
    for model_type, run_id in runs.items():
        _success(stack, identifier, digest, model_type, run_id)
    _wait(lambda: _selected(watcher, identifier), 60, "not promoted")
    assert _selected(watcher, identifier)[0].run_id == runs[TYPES[-1]]


def test_malformed_events_go_to_the_dlq_and_eval_goes_on(
    stack: StackState, watcher: TopicWatcher, mlflow: MlflowClient
) -> None:
    key = f"bad_{uuid.uuid4().hex[:6]}"
    bad = [b"not json at all", b'{"status": "SUCCESS"}', b'{"operation": 1, "status": "DONE"}']
    produce_raw(stack.endpoints["kafka:9092"], Topic.MODEL_TRAINING, bad, key=key)

    def dead() -> list[dict[str, Any]]:
        return [json.loads(r.raw) for r in watcher.records(dlq_topic(Topic.MODEL_TRAINING)) if r.key == key]

    _wait(lambda: len(dead()) == 3, 60, "malformed events not dead-lettered")
    assert all(letter["service"] == "eval" for letter in dead())
    test_a_tie_goes_to_the_newest_run(stack, watcher, mlflow)  # and eval still promotes
