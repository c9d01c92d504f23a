"""Load scenarios for FLTS: /predict with real histories (most of the load), empty `{}` predict,
/healthz, and downloads through the gateway.

Headless, writing CSVs:

    locust -f locust/locustfile.py --headless -u 40 -r 4 -t 20s --host http://127.0.0.1:8000 --csv out/run
    docker compose run --rm -e LOCUST_HOST=http://inference:8000 locust \
        -f /mnt/locust/locustfile.py --headless -u 40 -r 4 -t 20s

Environment (all optional):
    LOCUST_HOST           the inference URL (locust's own variable, same as --host)
    FLTS_IDENTIFIER       identifier sent with every predict; unset = the service's default model
    PREDICT_WEIGHT        weight of predict-with-history (default 20)
    EMPTY_PREDICT_WEIGHT  weight of the empty `{}` predict (default 3)
    HEALTHZ_WEIGHT        weight of GET /healthz (default 1)
    DOWNLOAD_WEIGHT       weight of the gateway download (default 1; 0 disables it)
    GATEWAY_URL, GATEWAY_TOKEN   the gateway and its bearer token; the download task is skipped unless
                          both are set
    DOWNLOAD_BUCKET, DOWNLOAD_KEY   the object downloaded (default dataset/<FLTS_IDENTIFIER>.csv)
    HISTORY_ROWS          rows per history window (default 10, 2-minute steps)
    HISTORY_POOL          distinct windows generated at start (default 256)
    PREDICT_HORIZON       `horizon` sent with each predict (default: the model's own)
    ACCEPT_429            "1": a 429 with an integer Retry-After counts as success (overload runs)
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass

import histories  # next to this file; locust puts this directory on sys.path while loading

from locust import FastHttpUser, constant, events, task

logger = logging.getLogger("flts.locust")
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


@dataclass(frozen=True)
class LoadSettings:
    """Everything the scenarios read from the environment, read once."""

    identifier: str | None
    predict_weight: int
    empty_predict_weight: int
    healthz_weight: int
    download_weight: int
    gateway_url: str | None
    gateway_token: str | None
    download_bucket: str
    download_key: str | None
    history_rows: int
    history_pool: int
    horizon: int | None
    accept_429: bool

    @classmethod
    def from_env(cls) -> LoadSettings:
        env = os.environ
        identifier = env.get("FLTS_IDENTIFIER", "").strip() or None
        horizon = env.get("PREDICT_HORIZON", "").strip()
        return cls(
            identifier=identifier,
            predict_weight=_int(env, "PREDICT_WEIGHT", 20),
            empty_predict_weight=_int(env, "EMPTY_PREDICT_WEIGHT", 3),
            healthz_weight=_int(env, "HEALTHZ_WEIGHT", 1),
            download_weight=_int(env, "DOWNLOAD_WEIGHT", 1),
            gateway_url=env.get("GATEWAY_URL", "").strip().rstrip("/") or None,
            gateway_token=env.get("GATEWAY_TOKEN", "").strip() or None,
            download_bucket=env.get("DOWNLOAD_BUCKET", "").strip() or "dataset",
            download_key=env.get("DOWNLOAD_KEY", "").strip() or (f"{identifier}.csv" if identifier else None),
            history_rows=_int(env, "HISTORY_ROWS", 10),
            history_pool=max(1, _int(env, "HISTORY_POOL", 256)),
            horizon=int(horizon) if horizon else None,
            accept_429=env.get("ACCEPT_429", "").strip().lower() in {"1", "true", "yes"},
        )

    @property
    def download_enabled(self) -> bool:
        configured = self.gateway_url and self.gateway_token and self.download_key
        return bool(self.download_weight > 0 and configured)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


SETTINGS = LoadSettings.from_env()
_BODIES: list[bytes] = []


@events.init.add_listener
def _generate_histories(environment: object, **_: object) -> None:
    """Build the pool of predict bodies once per process, before any user starts."""
    if _BODIES:
        return
    source, bodies = histories.build_history_bodies(
        count=SETTINGS.history_pool,
        rows=SETTINGS.history_rows,
        identifier=SETTINGS.identifier,
        horizon=SETTINGS.horizon,
    )
    _BODIES.extend(bodies)
    logger.info(
        "generated %d history windows of %d rows (%s); identifier=%s; download=%s",
        len(bodies),
        SETTINGS.history_rows,
        source,
        SETTINGS.identifier or "(service default)",
        "on" if SETTINGS.download_enabled else "off",
    )


class InferenceUser(FastHttpUser):
    """One client of the inference service (and, lightly, of the gateway)."""

    wait_time = constant(0)  # as fast as the service answers: the user count sets the load
    # Keep the load on the service, not on reconnects; bounded so a stuck server fails fast.
    network_timeout = 30.0
    connection_timeout = 10.0

    def _predict(self, body: bytes, name: str) -> None:
        with self.client.post(
            "/predict", data=body, headers=JSON_HEADERS, name=name, catch_response=True
        ) as response:
            if response.status_code == 200:
                try:
                    answer = json.loads(response.content or b"")
                except ValueError:
                    response.failure("200 with a body that is not JSON")
                    return
                if not isinstance(answer, dict) or "run_id" not in answer:
                    response.failure("200 without run_id in the body")
                return
            if response.status_code == 429 and SETTINGS.accept_429:
                if str(response.headers.get("Retry-After", "")).isdigit():
                    response.success()
                else:
                    response.failure("429 without an integer Retry-After")
                return
            response.failure(f"{response.status_code}: {(response.text or '')[:200]}")

    @task(SETTINGS.predict_weight)
    def predict_history(self) -> None:
        self._predict(random.choice(_BODIES), "POST /predict (history)")

    @task(SETTINGS.empty_predict_weight)
    def predict_empty(self) -> None:
        self._predict(b"{}", "POST /predict (empty)")

    @task(SETTINGS.healthz_weight)
    def healthz(self) -> None:
        self.client.get("/healthz", name="GET /healthz")

    @task(SETTINGS.download_weight if SETTINGS.download_enabled else 0)
    def gateway_download(self) -> None:
        url = f"{SETTINGS.gateway_url}/download/{SETTINGS.download_bucket}/{SETTINGS.download_key}"
        headers = {"Authorization": f"Bearer {SETTINGS.gateway_token}"}
        with self.client.get(
            url, headers=headers, name="GET gateway /download/[bucket]/[key]", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(
                    f"{response.status_code} downloading {SETTINGS.download_bucket}/{SETTINGS.download_key}"
                )
