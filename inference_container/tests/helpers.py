"""Start the real inference service against the session fixtures, with chosen settings."""

from __future__ import annotations

import sys
from pathlib import Path

from flts.localstack.processes import ManagedProcess, free_port
from tests.helpers.fixtures import ROOT


def start_inference(
    run_dir: Path, name: str, broker: str, gateway: str, token: str, mlflow: str, **env: str
) -> ManagedProcess:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = ManagedProcess(
        name,
        [sys.executable, "-m", "inference_container.main"],
        run_dir / "logs" / f"{name}.log",
        env={
            "PORT": str(port),
            "HTTP_HOST": "127.0.0.1",
            "KAFKA_BOOTSTRAP_SERVERS": broker,
            "GATEWAY_URL": gateway,
            "GATEWAY_TOKEN": token,
            "MLFLOW_TRACKING_URI": mlflow,
            "SERVICE_NAME": name,
            "CONSUMER_GROUP_ID": name,
            "MODEL_CACHE_DIR": str(run_dir / f"{name}-models"),
            **env,
        },
        url=url,
        health_url=f"{url}/healthz",
        cwd=ROOT,
    ).start()
    process.wait_healthy(120)
    return process
