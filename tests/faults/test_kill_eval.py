"""kill -9 eval between the SUCCESS events of one lineage: after the restart it promotes exactly once."""

from __future__ import annotations

import signal
import time
import uuid

import pytest
from mlflow.tracking import MlflowClient

from flts.contracts import Topic, TrainingEvent, TrainingStatus
from flts.kafka.watch import TopicWatcher
from flts.localstack.stack import LocalStack, StackState
from flts.objectstore import GatewayClient
from tests.faults import support
from tests.helpers.kafka import produce_raw
from tests.helpers.mlflow_runs import fake_run

pytestmark = pytest.mark.integration


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


def test_eval_killed_between_success_events_promotes_exactly_once(
    local: LocalStack,
    stack: StackState,
    watcher: TopicWatcher,
    gateway: GatewayClient,
    mlflow: MlflowClient,
) -> None:
    identifier, digest = f"kill_eval_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex * 2
    # Eval derives its state from MLflow: the NAIVE run must not exist before eval is killed.
    runs = {"GRU": fake_run(mlflow, identifier, digest, "GRU", 12.0, 5.0, 100.0)}
    _success(stack, identifier, digest, "GRU", runs["GRU"])
    support.wait_until(
        lambda: support.log_events(stack, "eval", "promotion_waiting", identifier=identifier),
        60,
        "eval never saw the first SUCCESS",
    )
    local.kill("eval", signal.SIGKILL)
    runs["NAIVE"] = fake_run(mlflow, identifier, digest, "NAIVE", 9.0, 5.0, 100.0)
    _success(stack, identifier, digest, "NAIVE", runs["NAIVE"])  # arrives while eval is dead
    local.restart("eval")
    support.wait_until(lambda: support.promotions(watcher, identifier), 90, "not promoted after restart")
    for model_type in ("GRU", "NAIVE", "GRU"):  # replays after the promotion change nothing
        _success(stack, identifier, digest, model_type, runs[model_type])
    time.sleep(4)

    promoted = support.promotions(watcher, identifier)
    history = support.promotion_history(gateway, identifier, digest)
    lost = int(len(promoted) != 1)
    support.TALLY.add("faults: kill -9 eval between SUCCESS events", injected=1, survived=1 - lost, lost=lost)
    assert len(promoted) == 1, f"{len(promoted)} promotions"
    assert promoted[0].run_id == runs["NAIVE"]  # the better score of the two
    assert len(history) == 1
    pointer = gateway.get_json("model-promotion", f"{identifier}/current.json")
    assert pointer["run_id"] == runs["NAIVE"]
