"""Rolling forecasts over claimed test data: JSONL results and a `performance-eval` event per claim.

Idempotent: the result object's key is derived from (identifier, claim date, run_id, prediction_hash),
so processing a claim again (redelivery, restart) rewrites the same object instead of appending twice,
and an existing object means the work is already done.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from flts.contracts import ClaimCheck, PerformanceEval, Topic
from flts.features import FittedScaler, transform_history
from flts.kafka.consumer import DependencyUnavailableError, PoisonMessageError
from flts.kafka.producer import EventProducer
from flts.log import log_event
from flts.models import evaluation_batch
from flts.objectstore import GatewayClient, GatewayError
from flts.parquet import read_parquet

from . import metrics
from .models import LoadedModel, RawHistory, history_from_processed
from .settings import InferenceSettings

logger = logging.getLogger(__name__)


class ClaimRejectedError(PoisonMessageError):
    """The claimed object is missing or unreadable."""


@dataclass(frozen=True)
class BatchResult:
    outcome: str  # "done" or "duplicate"
    log_object_key: str
    rows: int
    history: RawHistory | None = None  # the raw tail of the claim's data, for `{}` requests


def prediction_hash(claim: ClaimCheck) -> str:
    """Identity of the input data a claim points at."""
    return hashlib.sha256(
        f"{claim.bucket}/{claim.object_key}|{claim.config_hash}|{claim.size}".encode()
    ).hexdigest()


class BatchForecaster:
    def __init__(self, settings: InferenceSettings, gateway: GatewayClient, producer: EventProducer) -> None:
        self.settings = settings
        self.gateway = gateway
        self.producer = producer
        self._seen: OrderedDict[tuple[str, str], str] = OrderedDict()

    def log_key(self, claim: ClaimCheck, run_id: str) -> str:
        day = claim.created_at.strftime("%Y%m%d")
        return f"{claim.identifier}/{day}/{run_id}-{prediction_hash(claim)[:20]}.jsonl"

    def process(self, claim: ClaimCheck, model: LoadedModel) -> BatchResult:
        run_id = model.promotion.run_id
        key = self.log_key(claim, run_id)
        dedupe_key = (run_id, prediction_hash(claim))
        if dedupe_key in self._seen or self._exists(key):
            if dedupe_key not in self._seen:
                # Written by an earlier incarnation, which may have died before announcing it.
                self._announce_stored(claim, model, key)
            self._remember(dedupe_key, key)
            metrics.KAFKA_RECORDS.labels("duplicate").inc()
            return BatchResult("duplicate", key, 0)
        model_frame = self._model_frame(claim, self._load(claim), model)
        batch = evaluation_batch(model_frame, model.scaler)
        predictions = self._predict(model, batch)
        assert batch.targets is not None
        targets = list(model.spec.targets)
        errors = predictions - batch.targets
        mae = float(np.mean(np.abs(errors)))
        rmse = float(np.sqrt(np.mean(errors**2)))
        self._write(key, claim, model, batch.target_times, predictions, batch.targets, targets)
        event = PerformanceEval(
            identifier=claim.identifier,
            run_id=run_id,
            model_type=model.promotion.model_type,
            config_hash=model.promotion.config_hash,
            rows=len(batch),
            mae=mae,
            rmse=rmse,
            log_object_key=key,
        )
        self.producer.publish(Topic.PERFORMANCE_EVAL, event, key=claim.identifier)
        metrics.PERFORMANCE_MAE.labels(claim.identifier).set(mae)
        metrics.PERFORMANCE_RMSE.labels(claim.identifier).set(rmse)
        self._remember(dedupe_key, key)
        log_event(
            logger,
            "batch_forecast_done",
            identifier=claim.identifier,
            run_id=run_id,
            rows=len(batch),
            mae=mae,
            rmse=rmse,
            log_object_key=key,
        )
        return BatchResult("done", key, len(batch), history_from_processed(model_frame, model.scaler))

    # -- steps -----------------------------------------------------------------------------------
    def _load(self, claim: ClaimCheck) -> object:
        try:
            data = self.gateway.download_bytes(claim.bucket, claim.object_key)
        except GatewayError as exc:
            if exc.status == 404:
                raise ClaimRejectedError(
                    f"claimed object {claim.bucket}/{claim.object_key} does not exist"
                ) from exc
            raise DependencyUnavailableError(str(exc)) from exc
        try:
            frame, lineage = read_parquet(data)
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise ClaimRejectedError(f"{claim.object_key} is not readable Parquet: {exc}") from exc
        if lineage.get("config_hash") != claim.config_hash:
            raise ClaimRejectedError(f"{claim.object_key} is not the data of config_hash {claim.config_hash}")
        return frame

    def _model_frame(self, claim: ClaimCheck, frame: object, model: LoadedModel) -> object:
        """The claim's processed data as the model's own pipeline produces it (no train/serve skew)."""
        if claim.config_hash == model.promotion.config_hash:
            return frame
        scaler_key = posixpath.join(posixpath.dirname(claim.object_key), "scaler.pkl")
        try:
            claim_scaler = FittedScaler.from_bytes(self.gateway.download_bytes(claim.bucket, scaler_key))
        except GatewayError as exc:
            raise DependencyUnavailableError(str(exc)) from exc
        raw = claim_scaler.inverse_frame(frame)  # back to raw units, then through the model's pipeline
        return transform_history(raw, model.spec, model.scaler)

    def _predict(self, model: LoadedModel, batch: object) -> np.ndarray:
        chunk = self.settings.batch_size if self.settings.enable_microbatch else 1
        inputs = batch.inputs  # type: ignore[attr-defined]
        parts = []
        for start in range(0, len(inputs), chunk):
            part = _slice(batch, start, start + chunk)
            parts.append(model.runner.predict(part))
        return np.concatenate(parts) if parts else np.zeros((0,))

    def _write(
        self,
        key: str,
        claim: ClaimCheck,
        model: LoadedModel,
        times: np.ndarray,
        predictions: np.ndarray,
        actuals: np.ndarray,
        targets: list[str],
    ) -> None:
        promotion = model.promotion
        stamps = np.datetime_as_string(times.astype("datetime64[ns]"), unit="s")
        lines = []
        for i in range(len(predictions)):
            lines.append(
                json.dumps(
                    {
                        "identifier": claim.identifier,
                        "run_id": promotion.run_id,
                        "model_type": promotion.model_type,
                        "config_hash": promotion.config_hash,
                        "data_config_hash": claim.config_hash,
                        "timestamps": stamps[i].tolist(),
                        "forecast": {t: predictions[i, :, j].tolist() for j, t in enumerate(targets)},
                        "actual": {t: actuals[i, :, j].tolist() for j, t in enumerate(targets)},
                    }
                )
            )
        body = ("\n".join(lines) + "\n").encode()
        try:
            self.gateway.upload_bytes(self.settings.inference_log_bucket, key, body, "application/x-ndjson")
        except GatewayError as exc:
            raise DependencyUnavailableError(str(exc)) from exc

    def _announce_stored(self, claim: ClaimCheck, model: LoadedModel, key: str) -> None:
        """Publish `performance-eval` again from a stored result (at least once, never lost)."""
        try:
            lines = self.gateway.download_bytes(self.settings.inference_log_bucket, key).splitlines()
        except GatewayError as exc:
            raise DependencyUnavailableError(str(exc)) from exc
        rows = [json.loads(line) for line in lines if line.strip()]
        targets = list(model.spec.targets)
        errors = np.array(
            [[np.subtract(r["forecast"][t], r["actual"][t]) for t in targets] for r in rows], dtype=float
        )
        event = PerformanceEval(
            identifier=claim.identifier,
            run_id=model.promotion.run_id,
            model_type=model.promotion.model_type,
            config_hash=model.promotion.config_hash,
            rows=len(rows),
            mae=float(np.mean(np.abs(errors))) if rows else 0.0,
            rmse=float(np.sqrt(np.mean(errors**2))) if rows else 0.0,
            log_object_key=key,
        )
        self.producer.publish(Topic.PERFORMANCE_EVAL, event, key=claim.identifier)
        log_event(logger, "batch_forecast_reannounced", identifier=claim.identifier, log_object_key=key)

    def _exists(self, key: str) -> bool:
        try:
            return self.gateway.exists(self.settings.inference_log_bucket, key)
        except GatewayError as exc:
            raise DependencyUnavailableError(str(exc)) from exc

    def _remember(self, dedupe_key: tuple[str, str], key: str) -> None:
        self._seen[dedupe_key] = key
        self._seen.move_to_end(dedupe_key)
        while len(self._seen) > self.settings.dedupe_cache_max:
            self._seen.popitem(last=False)


def _slice(batch: object, start: int, stop: int) -> object:
    from flts.models import WindowBatch

    assert isinstance(batch, WindowBatch)
    return WindowBatch(
        inputs=batch.inputs[start:stop],
        input_targets=batch.input_targets[start:stop],
        target_times=batch.target_times[start:stop],
        targets=None if batch.targets is None else batch.targets[start:stop],
    )
