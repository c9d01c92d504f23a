"""The serving stack (shared with tests/fuzz, started once per session) and its clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from flts.objectstore import GatewayClient
from tests.faults import support


def pytest_terminal_summary(terminalreporter: Any) -> None:
    support.terminal_summary(terminalreporter)


@pytest.fixture(scope="session")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Serving]:
    yield support.serving_stack(tmp_path_factory.mktemp("serving"))
    support.stop_serving_stack()


@pytest.fixture(scope="session")
def serving_gateway(serving: support.Serving) -> Iterator[GatewayClient]:
    with GatewayClient(serving.state.endpoints["fastapi-app"], token=serving.state.token) as client:
        yield client


@pytest.fixture(scope="session")
def serving_mlflow(serving: support.Serving) -> MlflowClient:
    return MlflowClient(tracking_uri=f"http://{serving.state.endpoints['mlflow:5000']}")
