"""Helpers shared by the reliability suites (tests/faults, tests/corpus, tests/fuzz).

`Tally` collects what each suite injected and what it lost, refused or saw fail, so one run prints the
table that docs/reliability.md quotes (set FLTS_RELIABILITY_JSON=path to keep it as JSON too).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from flts.contracts import ClaimCheck, Promotion, Topic
from flts.kafka.watch import TopicWatcher
from flts.localstack.stack import LocalStack, StackOptions, StackState
from flts.objectstore import GatewayClient
from flts.synthetic import generate_dataset, split_train_test
from tests.helpers.fixtures import ROOT

SMALL_RECURRENT = {"MODEL_PARAMS": json.dumps({"epochs": 2, "ensemble": 1, "batch_size": 128})}


@dataclass
class Tally:
    """Per suite: counters such as injected/lost (faults), tried/refused (corpus), cases/5xx (fuzz)."""

    rows: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, suite: str, **counts: int) -> None:
        self.rows.setdefault(suite, Counter()).update(counts)

    def lines(self) -> list[str]:
        return [
            f"{suite:<44} " + ", ".join(f"{name}={value}" for name, value in counts.items())
            for suite, counts in sorted(self.rows.items())
        ]

    def dump(self) -> None:
        target = os.environ.get("FLTS_RELIABILITY_JSON")
        if target:
            Path(target).write_text(json.dumps({k: dict(v) for k, v in self.rows.items()}, indent=2))


TALLY = Tally()


def terminal_summary(terminalreporter: Any) -> None:
    """pytest_terminal_summary for the reliability suites (printed once however many conftests call it)."""
    if not TALLY.rows or getattr(terminalreporter, "_flts_reliability_done", False):
        return
    terminalreporter._flts_reliability_done = True
    terminalreporter.section("reliability figures")
    for line in TALLY.lines():
        terminalreporter.write_line(line)
    TALLY.dump()


def wait_until(
    condition: Callable[[], Any], timeout: float, message: str | Callable[[], str], every: float = 0.3
) -> Any:
    """Poll `condition` until it returns something truthy; fail with `message` (a string, or a callable
    evaluated at the failure) after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"{text} (after {timeout:.0f} s)")
        time.sleep(every)


def start_stack(services: list[str], state_path: Path, service_env: dict[str, dict[str, str]]) -> LocalStack:
    """A LocalStack with only `services` (and what they depend on); retries back off at most 4 s."""
    options = StackOptions(
        root=ROOT,
        services=services,
        state_path=state_path,
        service_env=service_env,
        extra_env={"RETRY_BACKOFF_MAX_SEC": "4"},
    )
    local = LocalStack(options)
    local.up()
    return local


def upload_site(gateway: GatewayClient, identifier: str, seed: int, rows: int = 2200) -> tuple[bytes, bytes]:
    """Upload a synthetic site (test file first, so the train upload triggers one preprocess run)."""
    train, test = split_train_test(generate_dataset(rows, seed=seed, site=seed % 3))
    train_csv, test_csv = train.to_csv(index=False).encode(), test.to_csv(index=False).encode()
    gateway.upload_bytes("dataset", f"{identifier}_test.csv", test_csv)
    gateway.upload_bytes("dataset", f"{identifier}.csv", train_csv)
    return train_csv, test_csv


def training_events(watcher: TopicWatcher, identifier: str) -> list[dict[str, Any]]:
    return [
        v
        for v in watcher.values(Topic.MODEL_TRAINING)
        if isinstance(v, dict) and v.get("identifier") == identifier
    ]


def promotions(watcher: TopicWatcher, identifier: str) -> list[Promotion]:
    return [
        Promotion.model_validate(v)
        for v in watcher.values(Topic.MODEL_SELECTED)
        if isinstance(v, dict) and v.get("identifier") == identifier
    ]


def lineage_runs(mlflow: MlflowClient, identifier: str, config_hash: str) -> list[Any]:
    experiment = mlflow.get_experiment_by_name("flts")
    assert experiment is not None
    return list(
        mlflow.search_runs(
            [experiment.experiment_id],
            f"tags.identifier = '{identifier}' and tags.config_hash = '{config_hash}'",
        )
    )


def finished_per_type(mlflow: MlflowClient, identifier: str, config_hash: str) -> Counter[str]:
    return Counter(
        r.data.tags["model_type"]
        for r in lineage_runs(mlflow, identifier, config_hash)
        if r.info.status == "FINISHED"
    )


def promotion_history(gateway: GatewayClient, identifier: str, config_hash: str) -> list[str]:
    prefix = f"{identifier}/{config_hash}/promotion-"
    return [o.key for o in gateway.list("model-promotion", prefix=prefix)]


def log_lines(state: StackState, service: str) -> Iterator[dict[str, Any]]:
    """The JSON log lines of a service (every incarnation: restarts append to the same file)."""
    path = Path(next(p.log for p in state.processes if p.name == service))
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                yield json.loads(line)
            except ValueError:
                continue


def log_events(state: StackState, service: str, event: str, **match: Any) -> list[dict[str, Any]]:
    return [
        line
        for line in log_lines(state, service)
        if line.get("event") == event and all(line.get(k) == v for k, v in match.items())
    ]


def pid_of(state: StackState, service: str) -> int:
    return next(p.pid for p in reversed(state.processes) if p.name == service)


def alive(pid: int) -> bool:
    from flts.localstack.processes import pid_alive

    return pid_alive(pid)


# -- the serving stack shared by tests/corpus and tests/fuzz -----------------------------------------


@dataclass(frozen=True)
class Serving:
    """A stack with one promoted site: preprocess, the naive trainer, eval, inference (and the gateway)."""

    local: LocalStack
    state: StackState
    identifier: str
    promotion: Promotion
    train_claim: ClaimCheck
    test_claim: ClaimCheck

    @property
    def bootstrap(self) -> str:
        return self.state.endpoints["kafka:9092"]


_SERVING: list[Serving] = []
SERVING_SERVICES = ["preprocess", "train_naive", "eval", "inference"]
SERVING_MAX_UPLOAD = 8 * 1024 * 1024  # small enough for the fuzz suite to stream past it


def serving_stack(state_path: Path) -> Serving:
    """Start the serving stack once per session (the corpus and the fuzz suites share it)."""
    if _SERVING:
        return _SERVING[0]
    local = start_stack(
        SERVING_SERVICES,
        state_path,
        {
            "eval": {"EXPECTED_MODEL_TYPES": "NAIVE", "PROMOTION_SEARCH_DELAY_SEC": "0.5"},
            "fastapi-app": {"MAX_UPLOAD_BYTES": str(SERVING_MAX_UPLOAD)},
        },
    )
    try:
        _SERVING.append(_promote_one_site(local))
    except BaseException:
        local.down()
        raise
    return _SERVING[0]


def stop_serving_stack() -> None:
    while _SERVING:
        _SERVING.pop().local.down()


def _promote_one_site(local: LocalStack) -> Serving:
    import httpx

    state = local.state
    assert state is not None
    identifier = f"served_{uuid.uuid4().hex[:6]}"
    watcher = TopicWatcher(
        state.endpoints["kafka:9092"], [Topic.TRAINING_DATA, Topic.INFERENCE_DATA, Topic.MODEL_SELECTED]
    )
    try:
        with GatewayClient(state.endpoints["fastapi-app"], token=state.token) as gateway:
            upload_site(gateway, identifier, seed=5)
        promotion = wait_until(lambda: promotions(watcher, identifier), 180, "no promotion")[0]
        claims = {
            topic: ClaimCheck.model_validate(
                watcher.wait_for(topic, lambda v: v.get("identifier") == identifier, time.monotonic() + 30)
            )
            for topic in (Topic.TRAINING_DATA, Topic.INFERENCE_DATA)
        }
    finally:
        watcher.close()
    url = state.endpoints["inference"]
    wait_until(lambda: httpx.get(f"{url}/readyz", timeout=10).status_code == 200, 120, "inference not ready")
    return Serving(
        local, state, identifier, promotion, claims[Topic.TRAINING_DATA], claims[Topic.INFERENCE_DATA]
    )
