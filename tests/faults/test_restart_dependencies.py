"""Restart the MLflow server and the gateway while a site trains: services wait and retry, nothing is lost.

"Nobody crash-loops": every pipeline service is still the process it was before the restarts.
"""

from __future__ import annotations

import time
import uuid

import pytest
from mlflow.tracking import MlflowClient

from flts.contracts import TrainingStatus
from flts.kafka.watch import TopicWatcher
from flts.localstack.stack import LocalStack, StackState
from flts.objectstore import GatewayClient
from tests.faults import support
from tests.faults.conftest import SERVICES

pytestmark = pytest.mark.integration
# A handler that waits for a dependency, and a progress metric skipped while MLflow was away.
RETRY_EVENTS = ("dependency_unavailable", "handler_failed", "batch_forecast_retry", "mlflow_metric_failed")


def _retries(stack: StackState) -> dict[str, int]:
    return {
        service: sum(len(support.log_events(stack, service, event)) for event in RETRY_EVENTS)
        for service in SERVICES
    }


def test_mlflow_and_gateway_restarts_during_training_lose_nothing(
    local: LocalStack,
    stack: StackState,
    watcher: TopicWatcher,
    gateway: GatewayClient,
    mlflow: MlflowClient,
) -> None:
    pids = {service: support.pid_of(stack, service) for service in SERVICES}
    retries_before = _retries(stack)
    identifier = f"restart_deps_{uuid.uuid4().hex[:6]}"
    support.upload_site(gateway, identifier, seed=23)
    running = support.wait_until(
        lambda: next(
            (
                e
                for e in support.training_events(watcher, identifier)
                if e["model_type"] == "GRU" and e["status"] == TrainingStatus.RUNNING
            ),
            None,
        ),
        120,
        "GRU never started",
    )
    started = time.monotonic()
    local.restart_infra("mlflow")
    local.restart("fastapi-app")
    outage = time.monotonic() - started

    promoted = support.wait_until(
        lambda: support.promotions(watcher, identifier), 300, "not promoted after the restarts"
    )
    time.sleep(3)
    config_hash = running["config_hash"]
    finished = support.finished_per_type(mlflow, identifier, config_hash)
    history = support.promotion_history(gateway, identifier, config_hash)
    crashed = [s for s, pid in pids.items() if not support.alive(pid) or support.pid_of(stack, s) != pid]
    retried = {s: n - retries_before[s] for s, n in _retries(stack).items() if n > retries_before[s]}
    lost = int(finished != {"GRU": 1, "NAIVE": 1}) + int(len(promoted) != 1)
    support.TALLY.add(
        "faults: restart MLflow + gateway mid-training",
        injected=2,
        survived=2 if lost == 0 and not crashed else 0,
        lost=lost,
        crashed=len(crashed),
        retries_logged=sum(retried.values()),
    )
    print(f"outage {outage:.1f} s; retries logged after the restarts: {retried}")
    assert not crashed, f"services died or restarted: {crashed}"
    assert finished == {"GRU": 1, "NAIVE": 1}
    assert len(promoted) == 1 and len(history) == 1
