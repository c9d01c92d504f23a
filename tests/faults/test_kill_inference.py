"""kill -9 inference while it works through an `inference-data` burst (QUEUE_MAXSIZE=2).

After the restart every record ends done (its JSONL object), expired or dead-lettered, and none is
written twice: each result object's key is derived from the claim, so the set of objects must be exactly
one per claim and each object must hold each forecast row once.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter

import pytest

from flts.contracts import ClaimCheck, DeadLetter, Topic, dlq_topic
from flts.kafka.watch import TopicWatcher
from flts.localstack.stack import LocalStack, StackState
from flts.objectstore import GatewayClient
from inference_container.batch_forecast import prediction_hash
from tests.faults import support
from tests.faults.conftest import TrainerKill
from tests.helpers.kafka import produce_raw

pytestmark = pytest.mark.integration
BURST = 16


def _log_key(claim: ClaimCheck, run_id: str) -> str:
    """The result object's key, as `BatchForecaster.log_key` derives it."""
    return f"{claim.identifier}/{claim.created_at:%Y%m%d}/{run_id}-{prediction_hash(claim)[:20]}.jsonl"


def test_inference_killed_during_a_burst_ends_every_record_exactly_once(
    served: TrainerKill,
    local: LocalStack,
    stack: StackState,
    watcher: TopicWatcher,
    gateway: GatewayClient,
) -> None:
    identifier, run_id = served.identifier, served.promotion.run_id
    original = next(
        ClaimCheck.model_validate(v)
        for v in watcher.values(Topic.INFERENCE_DATA)
        if v["identifier"] == identifier and v["config_hash"] == served.config_hash
    )
    # Distinct claims on the same object: each has its own prediction hash, hence its own result key.
    burst = [original.model_copy(update={"size": original.size + 1 + i}) for i in range(BURST)]
    expected = {_log_key(claim, run_id) for claim in burst}
    assert len(expected) == BURST
    produce_raw(
        stack.endpoints["kafka:9092"], Topic.INFERENCE_DATA, [c.to_bytes() for c in burst], key=identifier
    )

    def written() -> set[str]:
        return {o.key for o in gateway.list("inference-logs", prefix=f"{identifier}/")} & expected

    support.wait_until(lambda: len(written()) >= 2, 120, "the burst never started")
    done_before_kill = len(written())
    local.kill("inference", signal.SIGKILL)
    time.sleep(1)
    local.restart("inference")
    support.wait_until(lambda: written() == expected, 240, "records missing after the restart", every=1)
    time.sleep(3)  # anything processed twice would show up now

    letters = [
        DeadLetter.model_validate_json(r.raw)
        for r in watcher.records(dlq_topic(Topic.INFERENCE_DATA))
        if r.key == identifier
    ]
    keys = {o.key for o in gateway.list("inference-logs", prefix=f"{identifier}/")}
    extra = keys - expected - {_log_key(original, run_id)}
    duplicated_rows = 0
    rows_per_object = set()
    for key in expected:
        lines = gateway.download_bytes("inference-logs", key).decode().strip().splitlines()
        stamps = Counter(json.dumps(json.loads(line)["timestamps"]) for line in lines)
        duplicated_rows += sum(count - 1 for count in stamps.values())
        rows_per_object.add(len(lines))
    lost = BURST - len(written()) - len(letters)
    reannounced = support.log_events(stack, "inference", "batch_forecast_reannounced", identifier=identifier)
    support.TALLY.add(
        "faults: kill -9 inference during a burst",
        injected=1,
        survived=int(lost == 0),
        records=BURST,
        lost=lost,
        done_before_kill=done_before_kill,
        duplicated_rows=duplicated_rows,
        reannounced=len(reannounced),  # written before the kill, uncommitted, announced again
    )
    assert done_before_kill < BURST, "the kill came after the burst: nothing was in flight"
    assert lost == 0 and not letters
    assert not extra, f"objects written that no claim asked for: {extra}"
    assert duplicated_rows == 0 and len(rows_per_object) == 1  # every object: each row once, same rows
    evaluated = Counter(
        v["log_object_key"] for v in watcher.values(Topic.PERFORMANCE_EVAL) if v["identifier"] == identifier
    )
    assert set(evaluated) >= expected, "a record ended without its performance-eval event"
