"""kill -9 the GRU trainer after its first epoch: the claim is redelivered, trained once, promoted once."""

from __future__ import annotations

import time

import pytest
from mlflow.tracking import MlflowClient

from flts.kafka.watch import TopicWatcher
from flts.localstack.stack import StackState
from flts.objectstore import GatewayClient
from tests.faults import support
from tests.faults.conftest import TrainerKill

pytestmark = pytest.mark.integration


def test_a_trainer_killed_mid_training_trains_the_claim_once_and_promotes_it_once(
    trained_after_trainer_kill: TrainerKill,
    stack: StackState,
    watcher: TopicWatcher,
    gateway: GatewayClient,
    mlflow: MlflowClient,
) -> None:
    kill = trained_after_trainer_kill
    assert kill.killed_after_epochs >= 1  # the kill landed inside model.fit, not before or after it
    time.sleep(3)  # late SUCCESS re-announcements must not re-promote

    finished = support.finished_per_type(mlflow, kill.identifier, kill.config_hash)
    promoted = support.promotions(watcher, kill.identifier)
    history = support.promotion_history(gateway, kill.identifier, kill.config_hash)
    lost = int(finished["GRU"] != 1) + int(len(promoted) != 1)
    support.TALLY.add("faults: kill -9 trainer mid-training", injected=1, survived=1 - lost, lost=lost)

    assert finished == {"GRU": 1, "NAIVE": 1}, "each family trains the claim exactly once"
    orphan = mlflow.get_run(kill.killed_run_id)
    assert orphan.info.status == "RUNNING", "the killed run is left open, never FINISHED"
    assert kill.promotion.run_id != kill.killed_run_id
    assert len(promoted) == 1 and len(history) == 1
    restarted = support.log_events(stack, "train_gru", "train_started", identifier=kill.identifier)
    assert len(restarted) == 2, "the restarted trainer got the uncommitted claim again"
