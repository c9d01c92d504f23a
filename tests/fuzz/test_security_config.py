"""Security settings that are not HTTP fuzzing: the gateway's token, non-root images.

Checked elsewhere, not repeated here: no secret literal in Dockerfiles or compose
(tests/static/test_no_secrets.py); only the gateway, inference, MLflow, Prometheus and Grafana publish
ports, each on 127.0.0.1 only, MinIO and Postgres none (tests/static/test_compose.py); models come only
from the project's MLflow by run id (tests/corpus, `model-selected` cases).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from flts.localstack.compose import compose_binary
from tests.faults import support
from tests.helpers.compose_tools import COMPOSE_FILE, ENV_EXAMPLE, repository_dockerfiles
from tests.helpers.fixtures import ROOT, start_gateway

GATEWAY_CLIENTS = [
    "fastapi-app",
    "preprocess",
    "train_gru",
    "train_lstm",
    "nonml_prophet",
    "eval",
    "inference",
]


def _compose_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    argv = [
        compose_binary(),
        "-f",
        str(COMPOSE_FILE),
        "--env-file",
        str(env_file),
        "config",
        "--format",
        "json",
    ]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False)


@pytest.mark.parametrize("token_line", ["", "GATEWAY_TOKEN="], ids=["unset", "empty"])
def test_compose_refuses_to_start_without_a_gateway_token(token_line: str, tmp_path: Path) -> None:
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines() if not line.startswith("GATEWAY_TOKEN=")]
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join([*lines, token_line]) + "\n")
    result = _compose_config(env_file)
    assert result.returncode != 0 and "GATEWAY_TOKEN" in result.stderr, result.stderr
    support.TALLY.add("security: compose without GATEWAY_TOKEN", tried=1, refused=1)


def test_every_gateway_client_gets_the_same_token_from_env(tmp_path: Path) -> None:
    import json

    result = _compose_config(ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    for name in GATEWAY_CLIENTS:
        assert services[name]["environment"]["GATEWAY_TOKEN"] == "change-me-gateway-token", name


@pytest.mark.parametrize("dockerfile", repository_dockerfiles(), ids=lambda path: str(path.relative_to(ROOT)))
def test_images_run_as_a_non_root_user(dockerfile: Path) -> None:
    users = re.findall(r"^\s*USER\s+(\S+)", dockerfile.read_text(), flags=re.MULTILINE | re.IGNORECASE)
    assert users, f"{dockerfile.relative_to(ROOT)} never switches to a non-root USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"{dockerfile.relative_to(ROOT)} ends as {users[-1]}"


@pytest.mark.integration
def test_a_gateway_without_a_token_says_it_is_open(run_dir: Path, broker: str, s3: str) -> None:
    process = start_gateway(run_dir, broker, s3, None, "gateway-open")
    try:
        log = process.log_path.read_text()
    finally:
        process.stop()
    assert '"event": "gateway_unauthenticated"' in log and "open" in log
