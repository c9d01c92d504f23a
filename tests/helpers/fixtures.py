"""Session fixtures shared by every test tree: real tansu, moto, MLflow (Postgres when present), gateway."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flts.localstack import infra
from flts.localstack.processes import ManagedProcess, free_port
from flts.settings import FltsSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flts-run")


@pytest.fixture(scope="session")
def broker(run_dir: Path) -> Iterator[str]:
    """Bootstrap address of a real tansu broker."""
    process = infra.broker_process(run_dir / "logs").start()
    try:
        process.wait_healthy(60)
        yield process.url
    finally:
        process.stop()


@pytest.fixture(scope="session")
def s3(run_dir: Path) -> Iterator[str]:
    """URL of a real moto S3 server."""
    process = infra.s3_process(run_dir / "logs").start()
    try:
        process.wait_healthy(30)
        yield process.url
    finally:
        process.stop()


@pytest.fixture(scope="session")
def mlflow_backend_uri(run_dir: Path) -> str:
    """Postgres on 127.0.0.1:5432 when present (a fresh database), SQLite otherwise."""
    if infra.postgres_available():
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/flts_test_{uuid.uuid4().hex[:8]}"
        try:
            infra.ensure_postgres_database(url)
            return url
        except Exception as exc:  # a Postgres we cannot use is the same as none
            print(f"Postgres present but unusable ({exc}); MLflow falls back to SQLite")
    return f"sqlite:///{run_dir / 'mlflow.db'}"


@pytest.fixture(scope="session")
def mlflow_server(run_dir: Path, s3: str, mlflow_backend_uri: str) -> Iterator[str]:
    infra.create_buckets(s3, ["mlflow"])
    process = infra.mlflow_process(run_dir / "logs", s3, mlflow_backend_uri).start()
    try:
        process.wait_healthy(120)
        yield process.url
    finally:
        process.stop()


@pytest.fixture(scope="session")
def gateway_token() -> str:
    return secrets.token_urlsafe(16)


def start_gateway(
    run_dir: Path, broker: str, s3: str, token: str | None, name: str, **env: str
) -> ManagedProcess:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {
        "PORT": str(port),
        "HTTP_HOST": "127.0.0.1",
        "KAFKA_BOOTSTRAP_SERVERS": broker,
        "MINIO_ENDPOINT": s3.removeprefix("http://"),
        "MINIO_ACCESS_KEY": infra.LOCAL_S3_KEY,
        "MINIO_SECRET_KEY": infra.LOCAL_S3_SECRET,
        "GATEWAY_TOKEN": token or "",
        **env,
    }
    process = ManagedProcess(
        name,
        [os.fspath(Path(os.sys.executable)), "-m", "fastapi_gateway.main"],
        run_dir / "logs" / f"{name}.log",
        env=environment,
        url=url,
        health_url=f"{url}/readyz",
        cwd=ROOT,
    ).start()
    process.wait_healthy(60)
    return process


@pytest.fixture(scope="session")
def gateway(run_dir: Path, broker: str, s3: str, gateway_token: str) -> Iterator[str]:
    """URL of the real gateway process (token required) on moto, announcing uploads on tansu."""
    process = start_gateway(
        run_dir, broker, s3, gateway_token, "gateway", MAX_UPLOAD_BYTES=str(64 * 1024 * 1024)
    )
    try:
        yield process.url
    finally:
        process.stop()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Per-test names for topics, groups and keys, so tests never see each other's messages."""
    suffix = uuid.uuid4().hex[:8]
    return lambda base: f"{base}-{suffix}"


@pytest.fixture
def settings_factory(broker: str) -> Callable[..., FltsSettings]:
    def build(**overrides: object) -> FltsSettings:
        values: dict[str, object] = {
            "kafka_bootstrap_servers": broker,
            "service_name": "test",
            "retry_backoff_sec": 0.05,
            "retry_backoff_max_sec": 0.5,
        }
        values.update(overrides)
        return FltsSettings(**values)  # type: ignore[arg-type]

    return build
