"""`flts demo` on a fresh state directory: it runs, shuts down, and leaves no process behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from flts.localstack.processes import group_members, pid_alive
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


def test_demo_runs_and_leaves_no_process_behind(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flts.cli.main",
            "--state-dir",
            str(state_dir),
            "demo",
            "--rows",
            "2000",
            "--timeout",
            "900",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    pids = [int(pid) for pid in re.findall(r"pid (\d+)", output)]
    names = re.findall(r"\]\s+(\S+)\s+pid \d+", output)
    assert {"kafka", "minio", "mlflow", "fastapi-app"} <= set(names), output
    assert "done: gateway announces the upload" in output
    assert "nothing left running" in output
    alive = [pid for pid in pids if pid_alive(pid)]
    leftovers = [member for pid in pids for member in group_members(pid) if pid_alive(member)]
    assert alive == [] and leftovers == [], f"left running: {alive} {leftovers}"
    assert not (state_dir / "state.json").exists()
