"""A real Prometheus (Debian's `prometheus` binary) scraping the local stack.

`monitoring/prometheus.yml` is the compose configuration; this module renders the same scrape settings
for the local ports `flts up` hands out (a static test keeps the two in step), starts Prometheus as a
`ManagedProcess` like the other stand-ins in `infra.py`, and reads back the health of its targets.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import httpx

from flts.localstack.processes import ManagedProcess, free_port

# The scrape settings of monitoring/prometheus.yml.
SCRAPE_INTERVAL = "15s"
SCRAPE_TIMEOUT = "10s"
EVALUATION_INTERVAL = "15s"
METRICS_PATH = "/metrics"
EXTERNAL_LABELS = {"stack": "flts"}
# Jobs scraped more often than the global interval (the serving hot path).
JOB_SCRAPE_OVERRIDES: dict[str, tuple[str, str]] = {"inference": ("5s", "4s")}
# Every compose service with a /metrics endpoint, in the order of monitoring/prometheus.yml.
SCRAPED_SERVICES: tuple[str, ...] = (
    "fastapi-app",
    "preprocess",
    "train_gru",
    "train_lstm",
    "nonml_prophet",
    "train_naive",
    "eval",
    "inference",
)


def render_prometheus_config(
    targets: Mapping[str, str],
    scrape_interval: str = SCRAPE_INTERVAL,
    scrape_timeout: str = SCRAPE_TIMEOUT,
) -> str:
    """Prometheus configuration scraping `targets` (job name → "127.0.0.1:PORT").

    The output is JSON, which is valid YAML for Prometheus and needs no YAML library. A shorter
    `scrape_interval` (tests) also caps the per-job overrides so every job keeps timeout < interval.
    """
    jobs = []
    for job, address in targets.items():
        interval, timeout = JOB_SCRAPE_OVERRIDES.get(job, (scrape_interval, scrape_timeout))
        if scrape_interval != SCRAPE_INTERVAL:
            interval, timeout = scrape_interval, scrape_timeout
        jobs.append(
            {
                "job_name": job,
                "metrics_path": METRICS_PATH,
                "scrape_interval": interval,
                "scrape_timeout": timeout,
                "static_configs": [{"targets": [address]}],
            }
        )
    config = {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_timeout,
            "evaluation_interval": EVALUATION_INTERVAL,
            "external_labels": dict(EXTERNAL_LABELS),
        },
        "scrape_configs": jobs,
    }
    return json.dumps(config, indent=2) + "\n"


def local_targets(endpoints: Mapping[str, str]) -> dict[str, str]:
    """Scrape targets from `flts up` endpoints (service name → "http://127.0.0.1:PORT")."""
    return {
        name: endpoints[name].removeprefix("http://").rstrip("/")
        for name in SCRAPED_SERVICES
        if name in endpoints
    }


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if not found:
        raise FileNotFoundError("prometheus not on PATH (Debian: `apt-get install -y prometheus`)")
    return found


def prometheus_process(
    work_dir: Path,
    targets: Mapping[str, str],
    port: int | None = None,
    scrape_interval: str = SCRAPE_INTERVAL,
    scrape_timeout: str = SCRAPE_TIMEOUT,
) -> ManagedProcess:
    """Prometheus on a free local port scraping `targets`; config, data and log under `work_dir`."""
    port = port or free_port()
    work_dir.mkdir(parents=True, exist_ok=True)
    config_path = work_dir / "prometheus.yml"
    config_path.write_text(render_prometheus_config(targets, scrape_interval, scrape_timeout))
    url = f"http://127.0.0.1:{port}"
    argv = [
        prometheus_binary(),
        f"--config.file={config_path}",
        f"--storage.tsdb.path={work_dir / 'data'}",
        "--storage.tsdb.retention.time=1d",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    return ManagedProcess(
        "prometheus", argv, work_dir / "prometheus.log", url=url, health_url=f"{url}/-/ready"
    )


def target_health(prometheus_url: str, timeout: float = 5.0) -> dict[str, str]:
    """Health of every active target by job ("up", "down" or "unknown" before the first scrape)."""
    response = httpx.get(f"{prometheus_url}/api/v1/targets", params={"state": "active"}, timeout=timeout)
    response.raise_for_status()
    health: dict[str, str] = {}
    for target in response.json()["data"]["activeTargets"]:
        job = target["labels"]["job"]
        if health.get(job, "up") == "up":  # a job is only as healthy as its worst target
            health[job] = target["health"]
    return health


def wait_for_scrapes(prometheus_url: str, jobs: Iterable[str], timeout: float = 60.0) -> dict[str, str]:
    """Poll until every job in `jobs` has been scraped once (health not "unknown"); return the health."""
    wanted = set(jobs)
    deadline = time.monotonic() + timeout
    health: dict[str, str] = {}
    while time.monotonic() < deadline:
        health = target_health(prometheus_url)
        if wanted <= health.keys() and all(health[job] != "unknown" for job in wanted):
            return health
        time.sleep(0.5)
    return health
