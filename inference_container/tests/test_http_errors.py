"""Each /predict error status against the real service: 503, 504, 429 (integer Retry-After), 415, 422."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flts.objectstore import GatewayClient
from flts.synthetic import generate_dataset
from inference_container.tests.helpers import start_inference
from tests.helpers.promoted import promote_model

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def identifier(gateway: str, gateway_token: str, mlflow_server: str) -> str:
    name = f"errors_{uuid.uuid4().hex[:6]}"
    with GatewayClient(gateway, token=gateway_token) as client:
        promote_model(client, mlflow_server, name)
    return name


def _history(rows: int = 10) -> dict[str, list[object]]:
    frame = generate_dataset(rows + 5, seed=1).tail(rows)
    return {column: frame[column].tolist() for column in frame.columns}


@pytest.fixture
def service(
    request: pytest.FixtureRequest,
    run_dir: Path,
    broker: str,
    gateway: str,
    gateway_token: str,
    mlflow_server: str,
) -> Iterator[str]:
    env = getattr(request, "param", {})
    name = f"inference-{uuid.uuid4().hex[:6]}"
    process = start_inference(run_dir, name, broker, gateway, gateway_token, mlflow_server, **env)
    try:
        yield process.url
    finally:
        process.stop()


@pytest.mark.parametrize("service", [{"PROMOTION_BUCKET": "inference-logs"}], indirect=True)
def test_503_before_any_model_is_loaded(service: str) -> None:
    answer = httpx.post(f"{service}/predict", json={}, timeout=30)
    assert answer.status_code == 503 and "no promoted model" in answer.json()["detail"]
    assert answer.headers["Retry-After"].isdigit()
    assert httpx.get(f"{service}/readyz", timeout=30).status_code == 503


@pytest.mark.parametrize("service", [{"REQUEST_TIMEOUT_MS": "0.01"}], indirect=True)
def test_504_past_the_deadline(service: str, identifier: str) -> None:
    answer = httpx.post(
        f"{service}/predict", json={"identifier": identifier, "history": _history()}, timeout=30
    )
    assert answer.status_code == 504 and "ms" in answer.json()["detail"]


@pytest.mark.parametrize(
    "service", [{"HTTP_QUEUE_MAXSIZE": "1", "INFERENCE_WORKERS": "1", "MIN_WORKERS": "1"}], indirect=True
)
def test_429_with_integer_retry_after_when_the_queue_is_full(service: str, identifier: str) -> None:
    body = {"identifier": identifier, "history": _history()}
    assert httpx.post(f"{service}/predict", json=body, timeout=30).status_code == 200  # model loaded

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as client:
            return await asyncio.gather(*(client.post(f"{service}/predict", json=body) for _ in range(200)))

    answers = asyncio.run(burst())
    statuses = {a.status_code for a in answers}
    assert statuses <= {200, 429} and 429 in statuses and 200 in statuses, statuses
    rejected = next(a for a in answers if a.status_code == 429)
    assert rejected.headers["Retry-After"].isdigit() and "queue full" in rejected.json()["detail"]


def test_415_and_422_name_the_problem(service: str, identifier: str) -> None:
    wrong_type = httpx.post(f"{service}/predict", content=b"a=b", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415 and "application/json" in wrong_type.json()["detail"]
    history = _history()
    del history["rb_up"]
    missing = httpx.post(
        f"{service}/predict", json={"identifier": identifier, "history": history}, timeout=30
    )
    assert missing.status_code == 422 and "rb_up" in missing.json()["detail"]
    assert httpx.post(f"{service}/scale_workers", json={"workers": "many"}).status_code == 422
