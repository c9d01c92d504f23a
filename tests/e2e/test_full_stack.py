"""The whole product on the local stack (`flts up`): two sites, promotions, forecasts, the batch path,
the dashboards' metrics, a real Prometheus scraping every service, and a 20 s headless locust run."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flts.contracts import PerformanceEval, Promotion, Topic
from flts.kafka.watch import TopicWatcher
from flts.localstack.prometheus import SCRAPED_SERVICES, local_targets, prometheus_process, wait_for_scrapes
from flts.localstack.stack import StackState
from flts.synthetic import generate_dataset, split_train_test
from tests.conftest import ROOT
from tests.helpers.metric_catalogue import (
    iter_panels,
    panel_expressions,
    promql_metric_names,
    series_in_exposition,
)
from tests.helpers.stack import gateway_for, running_stack, watching

pytestmark = pytest.mark.e2e
SMALL = {"MODEL_PARAMS": json.dumps({"epochs": 3, "ensemble": 1, "batch_size": 128})}
SITES = [f"site_{uuid.uuid4().hex[:5]}_{n}" for n in ("a", "b")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    env = {"train_gru": SMALL, "train_lstm": SMALL}
    with running_stack(tmp_path_factory.mktemp("e2e"), None, env) as local:
        assert local.state is not None
        yield local.state


@pytest.fixture(scope="module")
def watcher(stack: StackState) -> Iterator[TopicWatcher]:
    with watching(stack, [Topic.MODEL_SELECTED, Topic.PERFORMANCE_EVAL]) as watch:
        yield watch


@pytest.fixture(scope="module")
def promotions(stack: StackState, watcher: TopicWatcher) -> dict[str, Promotion]:
    with gateway_for(stack) as gateway:
        for site_number, identifier in enumerate(SITES):
            train, test = split_train_test(generate_dataset(2500, seed=40 + site_number, site=site_number))
            gateway.upload_bytes("dataset", f"{identifier}_test.csv", test.to_csv(index=False).encode())
            gateway.upload_bytes("dataset", f"{identifier}.csv", train.to_csv(index=False).encode())
    found: dict[str, Promotion] = {}
    deadline = time.monotonic() + 600
    for identifier in SITES:
        value = watcher.wait_for(Topic.MODEL_SELECTED, lambda v, i=identifier: v["identifier"] == i, deadline)
        assert value is not None, f"{identifier} was never promoted"
        found[identifier] = Promotion.model_validate(value)
    return found


def _history(seed: int) -> dict[str, list[Any]]:
    frame = generate_dataset(30, seed=seed).tail(10)
    return {column: frame[column].tolist() for column in frame.columns}


def test_each_site_is_promoted_and_served_by_its_own_model(
    stack: StackState, promotions: dict[str, Promotion]
) -> None:
    assert promotions[SITES[0]].run_id != promotions[SITES[1]].run_id
    for identifier, promotion in promotions.items():
        answer = httpx.post(
            f"{stack.endpoints['inference']}/predict",
            json={"identifier": identifier, "history": _history(3)},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model_identifier"] == identifier and body["run_id"] == promotion.run_id
        assert body["config_hash"] == promotion.config_hash and len(body["forecast"]["down"]) == 1


def test_the_batch_path_writes_jsonl_parts_and_performance_eval(
    stack: StackState, promotions: dict[str, Promotion], watcher: TopicWatcher
) -> None:
    deadline = time.monotonic() + 180
    events: dict[str, PerformanceEval] = {}
    while len(events) < len(SITES):
        assert time.monotonic() < deadline, f"performance-eval only for {sorted(events)}"
        for value in watcher.values(Topic.PERFORMANCE_EVAL):
            if (
                value["identifier"] in promotions
                and value["run_id"] == promotions[value["identifier"]].run_id
            ):
                events[value["identifier"]] = PerformanceEval.model_validate(value)
        time.sleep(0.5)
    with gateway_for(stack) as gateway:
        for identifier, event in events.items():
            assert event.log_object_key.startswith(f"{identifier}/")
            lines = gateway.download_bytes("inference-logs", event.log_object_key).decode().splitlines()
            assert len(lines) == event.rows > 0 and event.mae > 0
            assert json.loads(lines[-1])["run_id"] == event.run_id


def test_every_dashboard_query_names_a_metric_the_services_export(
    stack: StackState, promotions: dict[str, Promotion]
) -> None:
    exported: set[str] = set()
    for name in SCRAPED_SERVICES:
        if name in stack.endpoints:
            exported |= series_in_exposition(httpx.get(f"{stack.endpoints[name]}/metrics", timeout=10).text)
    missing = {}
    for dashboard_file in sorted((ROOT / "monitoring" / "grafana" / "dashboards").glob("*.json")):
        for panel in iter_panels(json.loads(dashboard_file.read_text())):
            for expression in panel_expressions(panel):
                absent = promql_metric_names(expression) - exported
                if absent:
                    missing[f"{dashboard_file.stem}: {panel.get('title')}"] = sorted(absent)
    assert not missing, missing


def test_a_real_prometheus_scrapes_every_service_as_up(stack: StackState, tmp_path: Path) -> None:
    targets = local_targets(stack.endpoints)
    assert set(targets) == set(SCRAPED_SERVICES)
    prometheus = prometheus_process(
        tmp_path / "prometheus", targets, scrape_interval="1s", scrape_timeout="1s"
    )
    prometheus.start()
    try:
        prometheus.wait_healthy(60)
        health = wait_for_scrapes(prometheus.url, targets, timeout=60)
    finally:
        prometheus.stop()
    assert health == {job: "up" for job in targets}, health


def test_a_20_second_headless_locust_run_has_no_failures(
    stack: StackState, promotions: dict[str, Promotion], tmp_path: Path
) -> None:
    env = {
        "FLTS_IDENTIFIER": SITES[0],
        "GATEWAY_URL": stack.endpoints["fastapi-app"],
        "GATEWAY_TOKEN": stack.token,
        "DOWNLOAD_KEY": f"{SITES[0]}.csv",
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
    }
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("locust")),
            "-f",
            str(ROOT / "locust" / "locustfile.py"),
            "--headless",
            "-u",
            "40",
            "-r",
            "4",
            "-t",
            "20s",
            "--host",
            stack.endpoints["inference"],
            "--csv",
            str(tmp_path / "run"),
            "--only-summary",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert (tmp_path / "run_stats.csv").exists(), result.stderr[-2000:]
    with open(tmp_path / "run_stats.csv") as stats:
        rows = list(csv.DictReader(stats))
    total = next(row for row in rows if row["Name"] == "Aggregated")
    summary = {row["Name"]: (row["Request Count"], row["Failure Count"]) for row in rows}
    print("locust summary:", json.dumps(summary))
    assert int(total["Request Count"]) > 1000 and int(total["Failure Count"]) == 0, summary
    assert result.returncode == 0, result.stderr[-2000:]
