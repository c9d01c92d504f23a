"""`flts demo` on a fresh state directory: the whole pipeline runs, then nothing is left running."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flts.localstack.processes import group_members, pid_alive
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
SMALL = json.dumps({"epochs": 2, "ensemble": 1})  # compose hands GRU_PARAMS/LSTM_PARAMS to the trainers


def test_demo_runs_the_pipeline_and_leaves_no_process_behind(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    result = subprocess.run(
        [sys.executable, "-m", "flts.cli.main", "--state-dir", str(state_dir), "demo", "--rows", "2000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
        env={**os.environ, "GRU_PARAMS": SMALL, "LSTM_PARAMS": SMALL},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    pids = [int(pid) for pid in re.findall(r"pid (\d+)", output)]
    names = re.findall(r"\]\s+(\S+)\s+pid \d+", output)
    assert {"kafka", "minio", "mlflow", "fastapi-app", "preprocess", "eval", "inference"} <= set(names), (
        output
    )
    for line in (
        "gateway announced the upload",
        "preprocess published the claims",
        "Trained: GRU",
        "eval promoted",
        "scoreboard (lower score wins)",
        "forecast:",
        "batch forecast over the test split",
        "demo finished: the whole pipeline ran",
        "nothing left running",
    ):
        assert line in output, f"missing {line!r} in:\n{output}"
    alive = [pid for pid in pids if pid_alive(pid)]
    leftovers = [member for pid in pids for member in group_members(pid) if pid_alive(member)]
    assert alive == [] and leftovers == [], f"left running: {alive} {leftovers}"
    assert not (state_dir / "state.json").exists()
