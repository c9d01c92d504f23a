"""`flts demo`: the whole pipeline on a synthetic sample, on the local stack, with progress output.

Upload → preprocess claims → every trainer's RUNNING/SUCCESS → eval's promotion and scoreboard →
a forecast from /predict → the URLs to look at, then everything stops (unless --keep).
"""

from __future__ import annotations

import json
import tempfile
import time
from typing import Any

import httpx

from flts.contracts import Topic
from flts.kafka.watch import TopicWatcher
from flts.localstack.stack import LocalStack, StackOptions, StackState
from flts.objectstore import GatewayClient
from flts.synthetic import write_sample

IDENTIFIER = "demo_site"


class DemoError(RuntimeError):
    pass


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_demo(options: StackOptions, rows: int = 5000, timeout: float = 900.0, keep: bool = False) -> int:
    stack = LocalStack(options)
    say("starting the local stack (tansu broker, moto S3, MLflow server and every service)...")
    state = stack.up()
    try:
        for record in state.processes:
            say(f"  {record.name:<14} pid {record.pid:<7} {record.url}")
        _follow_pipeline(state, rows, timeout)
        if keep:
            say("the stack keeps running (--keep): `flts status`, `flts down` to stop it")
        return 0
    except DemoError as exc:
        say(f"FAILED: {exc} (logs: {options.state_dir / 'logs'})")
        return 1
    finally:
        if not keep:
            say("stopping the local stack...")
            stopped = stack.down()
            say(f"stopped {len(stopped)} process(es); nothing left running.")


def _follow_pipeline(state: StackState, rows: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    watcher = TopicWatcher(
        state.endpoints["kafka:9092"],
        [
            Topic.DATASET_UPLOADED,
            Topic.TRAINING_DATA,
            Topic.MODEL_TRAINING,
            Topic.MODEL_SELECTED,
            Topic.PERFORMANCE_EVAL,
        ],
    )
    try:
        _upload(state, rows)
        uploaded = _wait(watcher, Topic.DATASET_UPLOADED, deadline)
        say(f"gateway announced the upload: {uploaded['object_key']} ({uploaded['size']} bytes)")
        claim = _wait(watcher, Topic.TRAINING_DATA, deadline)
        say(
            f"preprocess published the claims: {claim['rows']} training rows, "
            f"config_hash {claim['config_hash'][:12]}…"
        )
        promotion = _follow_training(watcher, deadline)
        say(
            f"eval promoted {promotion['model_type']} (run {promotion['run_id'][:8]}, "
            f"score {promotion['score']:.4g})"
        )
        _print_scoreboard(state)
        _print_forecast(state, deadline)
        evaluation = _wait(watcher, Topic.PERFORMANCE_EVAL, deadline)
        say(
            f"batch forecast over the test split: {evaluation['rows']} windows, MAE {evaluation['mae']:.4g}, "
            f"results in inference-logs/{evaluation['log_object_key']}"
        )
        say("look around while it runs (`flts demo --keep`):")
        say(f"  MLflow UI          http://{state.endpoints['mlflow:5000']}")
        say(f"  inference metrics  {state.endpoints['inference']}/metrics")
        say(f"  scoreboard         {state.endpoints['eval']}/scoreboard/{IDENTIFIER}")
        say(f"  gateway            {state.endpoints['fastapi-app']} (bearer token {state.token})")
        say("demo finished: the whole pipeline ran")
    finally:
        watcher.close()


def _upload(state: StackState, rows: int) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        GatewayClient(state.endpoints["fastapi-app"], token=state.token) as gw,
    ):
        train_path, test_path = write_sample(tmp, IDENTIFIER, rows=rows)
        say(f"uploading a synthetic sample ({rows} rows) as {IDENTIFIER}.csv and {IDENTIFIER}_test.csv")
        gw.upload_file("dataset", f"{IDENTIFIER}_test.csv", test_path)
        gw.upload_file("dataset", f"{IDENTIFIER}.csv", train_path)


def _wait(watcher: TopicWatcher, topic: str, deadline: float) -> dict[str, Any]:
    value = watcher.wait_for(topic, lambda v: v.get("identifier") == IDENTIFIER, deadline)
    if value is None:
        raise DemoError(f"nothing on {topic} for {IDENTIFIER} in time")
    return dict(value)


def _follow_training(watcher: TopicWatcher, deadline: float) -> dict[str, Any]:
    """Print every trainer's lifecycle event until eval promotes."""
    shown: set[tuple[str, str]] = set()
    while time.monotonic() < deadline:
        events = [v for v in watcher.values(Topic.MODEL_TRAINING) if v.get("identifier") == IDENTIFIER]
        for event in events:
            seen = (event["operation"], str(event.get("run_id")))
            if seen in shown:  # a re-announced SUCCESS (redelivered claim) is shown once
                continue
            shown.add(seen)
            metrics = event.get("metrics") or {}
            extra = f" test RMSE {metrics['test_rmse']:.4g}" if "test_rmse" in metrics else ""
            say(f"  trainer: {event['operation']} ({event['status']}){extra}")
            if event["status"] == "FAILED":
                say(f"    error: {event.get('error')}")
        selected = [v for v in watcher.values(Topic.MODEL_SELECTED) if v.get("identifier") == IDENTIFIER]
        if selected:
            return dict(selected[0])
        time.sleep(0.5)
    raise DemoError("no promotion in time")


def _print_scoreboard(state: StackState) -> None:
    board = httpx.get(f"{state.endpoints['eval']}/scoreboard/{IDENTIFIER}", timeout=10).json()
    say("scoreboard (lower score wins):")
    say(f"  {'model':<9}{'RMSE':>14}{'MAE':>14}{'score':>14}  run")
    for entry in board.get("scoreboard", []):
        say(
            f"  {entry['model_type']:<9}{entry['rmse']:>14.4g}{entry['mae']:>14.4g}{entry['score']:>14.4g}  "
            f"{entry['run_id'][:8]}"
        )


def _print_forecast(state: StackState, deadline: float) -> None:
    url = state.endpoints["inference"]
    while time.monotonic() < deadline:
        answer = httpx.post(f"{url}/predict", json={"identifier": IDENTIFIER, "horizon": 5}, timeout=30)
        if answer.status_code == 200:
            body = answer.json()
            say(f'/predict {{"identifier": "{IDENTIFIER}", "horizon": 5}} → {body["model_type"]} forecast:')
            for index, stamp in enumerate(body["timestamps"]):
                values = ", ".join(f"{name}={series[index]:.4g}" for name, series in body["forecast"].items())
                say(f"  {stamp}  {values}")
            return
        if answer.status_code != 503:
            raise DemoError(f"/predict answered {answer.status_code}: {json.dumps(answer.json())[:300]}")
        time.sleep(1)
    raise DemoError("inference never served the promoted model")
