"""One small local stack for every fault test: preprocess, GRU and naive trainers, eval, inference.

Eval expects only NAIVE and GRU (two families keep trainings short); retries back off at most 4 s.
`trained_after_trainer_kill` runs the trainer-kill scenario once; later tests use its promoted site.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from flts.contracts import Promotion, Topic, TrainingStatus, dlq_topic
from flts.kafka.watch import TopicWatcher
from flts.localstack.stack import LocalStack, StackState
from flts.objectstore import GatewayClient
from tests.faults import support

SERVICES = ["preprocess", "train_gru", "train_naive", "eval", "inference"]
WATCHED = [
    Topic.TRAINING_DATA,
    Topic.INFERENCE_DATA,
    Topic.MODEL_TRAINING,
    Topic.MODEL_SELECTED,
    Topic.PERFORMANCE_EVAL,
    *(dlq_topic(t) for t in Topic),
]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    support.terminal_summary(terminalreporter)


@pytest.fixture(scope="package")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = support.start_stack(
        SERVICES,
        tmp_path_factory.mktemp("faults"),
        {
            "train_gru": support.SMALL_RECURRENT,
            "eval": {"EXPECTED_MODEL_TYPES": "NAIVE,GRU", "PROMOTION_SEARCH_DELAY_SEC": "0.5"},
            "inference": {"QUEUE_MAXSIZE": "2"},
        },
    )
    try:
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="package")
def stack(local: LocalStack) -> StackState:
    assert local.state is not None
    return local.state


@pytest.fixture(scope="package")
def watcher(stack: StackState) -> Iterator[TopicWatcher]:
    watch = TopicWatcher(stack.endpoints["kafka:9092"], [str(t) for t in WATCHED])
    yield watch
    watch.close()


@pytest.fixture(scope="package")
def gateway(stack: StackState) -> Iterator[GatewayClient]:
    with GatewayClient(stack.endpoints["fastapi-app"], token=stack.token, timeout=60) as client:
        yield client


@pytest.fixture(scope="package")
def mlflow(stack: StackState) -> MlflowClient:
    return MlflowClient(tracking_uri=f"http://{stack.endpoints['mlflow:5000']}")


@dataclass(frozen=True)
class TrainerKill:
    identifier: str
    config_hash: str
    killed_run_id: str
    killed_after_epochs: int
    promotion: Promotion


def _running_gru(watcher: TopicWatcher, identifier: str) -> dict[str, Any] | None:
    return next(
        (
            e
            for e in support.training_events(watcher, identifier)
            if e["model_type"] == "GRU" and e["status"] == TrainingStatus.RUNNING
        ),
        None,
    )


@pytest.fixture(scope="package")
def trained_after_trainer_kill(
    local: LocalStack, stack: StackState, watcher: TopicWatcher, gateway: GatewayClient
) -> TrainerKill:
    """Upload a site, SIGKILL the GRU trainer after its first epoch, restart it, wait for the promotion."""
    identifier = f"kill_trainer_{uuid.uuid4().hex[:6]}"
    support.upload_site(gateway, identifier, seed=11)
    running = support.wait_until(lambda: _running_gru(watcher, identifier), 120, "GRU never started")
    run_id = running["run_id"]
    support.wait_until(
        lambda: support.log_events(stack, "train_gru", "train_epoch", run_id=run_id), 120, "no epoch"
    )
    epochs = len(support.log_events(stack, "train_gru", "train_epoch", run_id=run_id))
    successes = [e for e in support.training_events(watcher, identifier) if e["status"] == "SUCCESS"]
    assert not any(e["model_type"] == "GRU" for e in successes), "GRU finished before the kill"
    local.kill("train_gru", signal.SIGKILL)
    time.sleep(1)
    local.restart("train_gru")
    promotion = support.wait_until(
        lambda: support.promotions(watcher, identifier), 300, "not promoted after the trainer restart"
    )[0]
    return TrainerKill(identifier, running["config_hash"], run_id, epochs, promotion)


@pytest.fixture(scope="package")
def served(trained_after_trainer_kill: TrainerKill, stack: StackState) -> TrainerKill:
    """The trainer-kill site, once inference answers /readyz."""
    import httpx

    url = stack.endpoints["inference"]
    support.wait_until(
        lambda: httpx.get(f"{url}/readyz", timeout=10).status_code == 200, 120, "inference never ready"
    )
    return trained_after_trainer_kill
