"""monitoring/prometheus.yml passes promtool, scrapes every service, and agrees with the local stack's
rendered configuration (flts/localstack/prometheus.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from flts.localstack import prometheus as local_prometheus
from tests.helpers.compose_tools import ROOT

CONFIG = ROOT / "monitoring" / "prometheus.yml"


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.skip("promtool absent: install Debian's `prometheus` package (.ci/run does)")
    return found


def _config() -> dict[str, Any]:
    return dict(yaml.safe_load(CONFIG.read_text()))


def _jobs() -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in _config()["scrape_configs"]}


def test_promtool_accepts_the_compose_config() -> None:
    result = subprocess.run(
        [promtool(), "check", "config", str(CONFIG)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_rendered_local_config(tmp_path: Path) -> None:
    targets = {name: f"127.0.0.1:{9100 + i}" for i, name in enumerate(local_prometheus.SCRAPED_SERVICES)}
    settings = [(local_prometheus.SCRAPE_INTERVAL, local_prometheus.SCRAPE_TIMEOUT), ("2s", "1s")]
    for interval, timeout in settings:
        path = tmp_path / f"local-{interval}.yml"
        path.write_text(local_prometheus.render_prometheus_config(targets, interval, timeout))
        result = subprocess.run(
            [promtool(), "check", "config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_service_with_metrics_is_scraped(compose_config: dict[str, Any]) -> None:
    jobs = _jobs()
    assert list(jobs) == list(local_prometheus.SCRAPED_SERVICES)
    long_running = {
        name
        for name, spec in compose_config["services"].items()
        if (spec.get("labels") or {}).get("flts.local") == "service"
    }
    assert long_running <= set(jobs), f"not scraped: {sorted(long_running - set(jobs))}"
    assert "mlflow" not in jobs, "MLflow serves no /metrics of ours"
    for name, job in jobs.items():
        assert job.get("metrics_path", "/metrics") == "/metrics"
        if "static_configs" in job:
            assert job["static_configs"] == [{"targets": [f"{name}:8000"]}], name
        else:  # replicas found through Docker's DNS
            assert job["dns_sd_configs"] == [
                {"names": [name], "type": "A", "port": 8000, "refresh_interval": "15s"}
            ], name
            assert name == "inference", "only inference scales with --scale"


def test_local_rendering_uses_the_same_scrape_settings() -> None:
    config = _config()
    assert config["global"] == {
        "scrape_interval": local_prometheus.SCRAPE_INTERVAL,
        "scrape_timeout": local_prometheus.SCRAPE_TIMEOUT,
        "evaluation_interval": local_prometheus.EVALUATION_INTERVAL,
        "external_labels": local_prometheus.EXTERNAL_LABELS,
    }
    overrides = {
        name: (job["scrape_interval"], job["scrape_timeout"])
        for name, job in _jobs().items()
        if "scrape_interval" in job
    }
    assert overrides == local_prometheus.JOB_SCRAPE_OVERRIDES

    rendered = yaml.safe_load(local_prometheus.render_prometheus_config({"inference": "127.0.0.1:1"}))
    assert rendered["global"] == config["global"]
    [job] = rendered["scrape_configs"]
    expected = local_prometheus.JOB_SCRAPE_OVERRIDES["inference"]
    assert (job["scrape_interval"], job["scrape_timeout"]) == expected
    assert job["static_configs"] == [{"targets": ["127.0.0.1:1"]}]


def test_local_targets_come_from_the_stack_endpoints() -> None:
    endpoints = {
        "kafka:9092": "127.0.0.1:1",
        "fastapi-app": "http://127.0.0.1:2",
        "fastapi-app:8000": "127.0.0.1:2",
        "eval": "http://127.0.0.1:3/",
        "mlflow:5000": "127.0.0.1:4",
    }
    assert local_prometheus.local_targets(endpoints) == {"fastapi-app": "127.0.0.1:2", "eval": "127.0.0.1:3"}
