"""Fixtures for the static checks: the repository's files, read as the tools that use them read them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.compose_tools import resolved_compose


@pytest.fixture(scope="session")
def compose_config() -> dict[str, Any]:
    """docker-compose.yml fully resolved (interpolated with .env.example, every profile)."""
    return resolved_compose()
