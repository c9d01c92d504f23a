"""MLflow access shared by trainers, eval and inference: one client, errors classified.

MLflow's own HTTP retries are bounded here (a down server must surface as DependencyUnavailableError in
seconds, not minutes) so the consumer loop's backoff decides what happens next.
"""

from __future__ import annotations

import os
from typing import Any

from flts.kafka.consumer import DependencyUnavailableError

_UNAVAILABLE_HINTS = (
    "max retries exceeded",
    "connection refused",
    "connection aborted",
    "failed to establish",
    "temporarily_unavailable",
    "read timed out",
    "remote end closed",
    "503",
    "502",
    "504",
)


def configure_mlflow_client(tracking_uri: str, timeout_sec: float = 30.0, retries: int = 2) -> Any:
    """An `MlflowClient` with bounded HTTP retries and timeout (set before MLflow reads them)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(timeout_sec)))
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def is_unavailable(exc: BaseException) -> bool:
    """True when an MLflow call failed because the server (or its store) is down, not because of us."""
    import requests

    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return True
    text = str(exc).lower()
    return any(hint in text for hint in _UNAVAILABLE_HINTS)


def reraise_unavailable(exc: BaseException) -> None:
    """Turn an 'MLflow is down' error into DependencyUnavailableError; leave others alone."""
    if is_unavailable(exc):
        raise DependencyUnavailableError(f"MLflow unavailable: {exc}") from exc
