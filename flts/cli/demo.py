"""`flts demo`: the pipeline on a synthetic sample, on the local stack, with progress output.

It runs what exists and says plainly which stages are not part of this build yet.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import httpx

from flts.contracts import Topic
from flts.kafka.watch import TopicWatcher
from flts.localstack.stack import LocalStack, StackOptions, StackState
from flts.objectstore import GatewayClient
from flts.synthetic import write_sample


@dataclass(frozen=True)
class Stage:
    title: str
    services: tuple[str, ...]  # any one of them present = the stage exists
    topic: str


STAGES = (
    Stage("gateway announces the upload", ("fastapi-app",), Topic.DATASET_UPLOADED),
    Stage("preprocess publishes the claims", ("preprocess",), Topic.TRAINING_DATA),
    Stage(
        "trainers report their runs",
        ("train_gru", "train_lstm", "nonml_prophet", "train_naive"),
        Topic.MODEL_TRAINING,
    ),
    Stage("eval promotes a winner", ("eval",), Topic.MODEL_SELECTED),
)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_demo(options: StackOptions, rows: int = 5000, timeout: float = 600.0) -> int:
    stack = LocalStack(options)
    say("starting the local stack...")
    state = stack.up()
    try:
        for record in state.processes:
            say(f"  {record.name:<14} pid {record.pid:<7} {record.url}")
        return _follow_pipeline(state, rows, timeout)
    finally:
        say("stopping the local stack...")
        stopped = stack.down()
        say(f"stopped {len(stopped)} process(es); nothing left running.")


def _follow_pipeline(state: StackState, rows: int, timeout: float) -> int:
    running = {record.name for record in state.processes}
    identifier = "demo_site"
    watcher = TopicWatcher(state.endpoints["kafka:9092"], [stage.topic for stage in STAGES])
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            GatewayClient(state.endpoints["fastapi-app"], token=state.token) as gateway,
        ):
            train_path, test_path = write_sample(tmp, identifier, rows=rows)
            say(f"uploading synthetic sample ({rows} rows) as {identifier}.csv and {identifier}_test.csv")
            gateway.upload_file("dataset", f"{identifier}.csv", train_path)
            gateway.upload_file("dataset", f"{identifier}_test.csv", test_path)
        deadline = time.monotonic() + timeout
        missing = []
        for stage in STAGES:
            if not running.intersection(stage.services):
                missing.append(stage.title)
                say(f"not built yet: {stage.title} ({'/'.join(stage.services)} is not in docker-compose.yml)")
                continue
            say(f"waiting: {stage.title} ...")
            record = watcher.wait_for(
                stage.topic, lambda value: value.get("identifier") == identifier, deadline
            )
            if record is None:
                say(f"TIMEOUT: {stage.title} did not happen within {timeout:.0f}s")
                return 1
            say(f"done: {stage.title}: {json.dumps(record, default=str)[:300]}")
        _predict(state, identifier, missing)
        if missing:
            say(f"demo finished with {len(missing)} stage(s) not yet built: {'; '.join(missing)}")
        else:
            say("demo finished: the whole pipeline ran")
        return 0
    finally:
        watcher.close()


def _predict(state: StackState, identifier: str, missing: list[str]) -> None:
    url = state.endpoints.get("inference")
    if url is None:
        missing.append("inference serves /predict")
        say("not built yet: inference serves /predict (inference is not in docker-compose.yml)")
        return
    response = httpx.post(f"{url}/predict", json={"identifier": identifier}, timeout=30)
    body: Any = response.json()
    say(f"/predict -> {response.status_code}: {json.dumps(body)[:500]}")
