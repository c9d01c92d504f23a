"""Run the official Compose binary on the repository's compose files (static tests, local checks)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from flts.localstack.compose import compose_binary

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCALE_FILE = ROOT / "docker-compose.scale.yml"
ENV_EXAMPLE = ROOT / ".env.example"
_NOT_SOURCE = {".venv", ".git", ".flts", "node_modules", "build", "dist"}


def run_compose(*args: str, files: tuple[Path, ...] = (COMPOSE_FILE,)) -> subprocess.CompletedProcess[str]:
    """The Compose binary (not its Python wrapper, which always exits 0) with `.env.example` and an
    environment that holds nothing the calling process happens to export."""
    argv = [compose_binary()]
    for file in files:
        argv += ["-f", str(file)]
    argv += ["--env-file", str(ENV_EXAMPLE), *args]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False)


def resolved_compose(files: tuple[Path, ...] = (COMPOSE_FILE,)) -> dict[str, Any]:
    """The fully resolved model (interpolated with `.env.example`, every profile included)."""
    result = run_compose("--profile", "*", "config", "--format", "json", files=files)
    if result.returncode != 0:
        raise AssertionError(f"docker-compose config failed: {result.stderr.strip()}")
    return dict(json.loads(result.stdout))


def repository_dockerfiles() -> list[Path]:
    """Every Dockerfile in the repository (virtualenvs and build output excluded)."""
    found = []
    for path in ROOT.rglob("*Dockerfile*"):
        if path.is_file() and not _NOT_SOURCE.intersection(path.relative_to(ROOT).parts):
            found.append(path)
    return sorted(found)
