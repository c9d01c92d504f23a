"""MLflow access shared by trainers, eval and inference: one client, errors classified.

MLflow's own HTTP retries are bounded here (a down server must surface as DependencyUnavailableError in
seconds, not minutes) so the consumer loop's backoff decides what happens next.
"""

from __future__ import annotations

import os
from pathlib import Path
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


class RunArtifactDownloader:
    """`download_artifacts(run_id, path, dst)` over the tracking server's HTTP artifact proxy.

    Serving processes use it instead of `MlflowClient`: the same files, without importing MLflow
    (about 45 MB of resident memory in the inference process). Raises FileNotFoundError when the run has
    nothing under `path`, httpx errors when the server is unreachable.
    """

    def __init__(self, tracking_uri: str, timeout_sec: float = 30.0) -> None:
        self.base_url = tracking_uri.rstrip("/")
        self.timeout = timeout_sec

    def download_artifacts(self, run_id: str, path: str, dst_path: str) -> str:
        import httpx

        target = Path(dst_path)
        found = False
        with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
            pending = [path]
            while pending:
                folder = pending.pop()
                listing = client.get(
                    "/api/2.0/mlflow/artifacts/list", params={"run_id": run_id, "path": folder}
                )
                listing.raise_for_status()
                for entry in listing.json().get("files", []):
                    found = True
                    if entry.get("is_dir"):
                        pending.append(entry["path"])
                        continue
                    destination = target / entry["path"]
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    params = {"path": entry["path"], "run_uuid": run_id}
                    with client.stream("GET", "/get-artifact", params=params) as response:
                        response.raise_for_status()
                        with open(destination, "wb") as handle:
                            for chunk in response.iter_bytes(1 << 20):
                                handle.write(chunk)
        if not found:
            raise FileNotFoundError(f"run {run_id} has no artifacts under {path!r}")
        return str(target / path)
