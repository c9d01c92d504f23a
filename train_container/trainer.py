"""Train one model family on one claim: data via the gateway, run in MLflow, lifecycle on Kafka.

Order per claim: ensure buckets → dedup (FINISHED run for this config, or for this very claim) →
open the run, publish RUNNING → load and verify the data → fit (epochs as JSON lines and MLflow
metrics) → evaluate on the test split in original units → log model, scaler, spec, plot → end the run →
publish SUCCESS (`train_success_publish`). A failure ends the run FAILED and publishes FAILED.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from prometheus_client import Counter, Gauge, Histogram

from flts.contracts import ClaimCheck, Topic, TrainingEvent, TrainingStatus
from flts.features import FittedScaler
from flts.kafka.consumer import Delivery, DependencyUnavailableError, PoisonMessageError
from flts.kafka.producer import EventProducer
from flts.log import log_event
from flts.models import ForecastModel, build_model, evaluation_batch, forecast_metrics
from flts.models.pyfunc import save_pyfunc_model
from flts.objectstore import GatewayClient, GatewayError
from flts.parquet import read_parquet

from .plots import forecast_plot
from .runs import FinishedRun, RunStore
from .settings import TrainSettings

logger = logging.getLogger(__name__)

TRAININGS = Counter(
    "trainer_runs_total", "Training runs by model type and final status", ["model_type", "status"]
)
TRAIN_SECONDS = Histogram(
    "trainer_seconds",
    "Wall time of one training (fit + evaluation + logging)",
    ["model_type"],
    buckets=(1, 5, 10, 20, 30, 60, 90, 120, 180, 300, 600),
)
TEST_RMSE = Gauge(
    "trainer_last_test_rmse", "Test RMSE (original units) of the last run", ["model_type", "identifier"]
)
SKIPPED = Counter("trainer_duplicates_skipped_total", "Claims skipped as already trained", ["model_type"])


class DataRejectedError(PoisonMessageError):
    """The claimed data is missing, corrupt or not what the claim says."""


@dataclass(frozen=True)
class TrainingData:
    train: pd.DataFrame
    test: pd.DataFrame
    scaler: FittedScaler
    scaler_bytes: bytes


def claim_id(claim: ClaimCheck) -> str:
    """Identity of a claim's content: a redelivered or re-emitted claim has the same id."""
    return hashlib.sha256(claim.to_bytes()).hexdigest()[:20]


class TrainingHandler:
    def __init__(
        self, settings: TrainSettings, gateway: GatewayClient, producer: EventProducer, runs: RunStore
    ) -> None:
        self.settings = settings
        self.gateway = gateway
        self.producer = producer
        self.runs = runs
        self.model_type = settings.model_type

    def handle(self, delivery: Delivery[ClaimCheck]) -> None:
        claim = delivery.value
        context = {
            "model_type": self.model_type,
            "identifier": claim.identifier,
            "config_hash": claim.config_hash,
        }
        self._ensure_buckets()
        identity = claim_id(claim)
        existing = self.runs.finished(
            claim.config_hash, None if self.settings.skip_duplicate_configs else identity
        )
        if existing is not None:
            SKIPPED.labels(self.model_type).inc()
            log_event(logger, "skip_duplicate_config", run_id=existing.run_id, **context)
            self._publish_success(claim, existing)  # re-announce: a crash may have lost the first one
            return

        started = time.perf_counter()
        tags = {
            **{k: str(v) for k, v in context.items()},
            "claim_id": identity,
            "object_key": claim.object_key,
        }
        run_id = self.runs.start(tags, self._params(claim))
        self._publish(TrainingStatus.RUNNING, claim, run_id)
        log_event(logger, "train_started", run_id=run_id, **context)
        try:
            data = self._load(claim)
            metrics = self._train_and_log(run_id, claim, data)
            self.runs.end(run_id, "FINISHED")
        except DependencyUnavailableError:
            self._end_quietly(run_id, "KILLED")
            raise  # retried by the loop; the run is redone then
        except Exception as exc:
            self._end_quietly(run_id, "FAILED")
            TRAININGS.labels(self.model_type, "FAILED").inc()
            log_event(logger, "train_failed", logging.ERROR, run_id=run_id, error=str(exc), **context)
            self._publish(TrainingStatus.FAILED, claim, run_id, error=f"{type(exc).__name__}: {exc}")
            raise
        TRAIN_SECONDS.labels(self.model_type).observe(time.perf_counter() - started)
        TRAININGS.labels(self.model_type, "SUCCESS").inc()
        TEST_RMSE.labels(self.model_type, claim.identifier).set(metrics["test_rmse"])
        finished = FinishedRun(run_id, self.settings.mlflow_experiment, metrics)
        self.runs.remember_finished(claim.config_hash, identity, finished)
        self._publish_success(claim, finished)

    # -- steps -----------------------------------------------------------------------------------
    def _ensure_buckets(self) -> None:
        buckets = [
            self.settings.mlflow_bucket,
            self.settings.promotion_bucket,
            self.settings.inference_log_bucket,
        ]
        try:
            self.gateway.ensure_buckets(buckets)
        except GatewayError as exc:
            raise DependencyUnavailableError(str(exc)) from exc

    def _params(self, claim: ClaimCheck) -> dict[str, Any]:
        model = build_model(self.model_type, **self.settings.hyper_parameters())
        return {
            "model_type": self.model_type,
            "config_hash": claim.config_hash,
            "identifier": claim.identifier,
            "train_object": claim.object_key,
            "train_rows": claim.rows,
            **{f"hp_{name}": value for name, value in model.hyper.model_dump(mode="json").items()},
        }

    def _download(self, bucket: str, key: str) -> bytes:
        try:
            return self.gateway.download_bytes(bucket, key)
        except GatewayError as exc:
            if exc.status == 404:
                raise DataRejectedError(f"claimed object {bucket}/{key} does not exist") from exc
            raise DependencyUnavailableError(str(exc)) from exc

    def _load(self, claim: ClaimCheck) -> TrainingData:
        prefix = posixpath.dirname(claim.object_key)
        frames = {}
        for name, key in (("train", claim.object_key), ("test", posixpath.join(prefix, "test.parquet"))):
            raw = self._download(claim.bucket, key)
            try:
                frame, lineage = read_parquet(raw)
            except Exception as exc:  # pyarrow raises several types for a corrupt file
                raise DataRejectedError(f"{claim.bucket}/{key} is not readable Parquet: {exc}") from exc
            if lineage.get("config_hash") != claim.config_hash:
                raise DataRejectedError(
                    f"{key} carries config_hash {lineage.get('config_hash')!r}, "
                    f"the claim says {claim.config_hash!r}"
                )
            frames[name] = frame
        scaler_bytes = self._download(claim.bucket, posixpath.join(prefix, "scaler.pkl"))
        try:
            scaler = FittedScaler.from_bytes(scaler_bytes)
        except Exception as exc:
            raise DataRejectedError(f"scaler for {prefix} cannot be loaded: {exc}") from exc
        return TrainingData(frames["train"], frames["test"], scaler, scaler_bytes)

    def _train_and_log(self, run_id: str, claim: ClaimCheck, data: TrainingData) -> dict[str, float]:
        spec = data.scaler.spec
        model = build_model(self.model_type, **self.settings.hyper_parameters())
        steps = iter(range(1, 1_000_000))  # one MLflow step per epoch across ensemble members

        def on_epoch(epoch: int, logs: dict[str, float]) -> None:
            step = next(steps)
            log_event(
                logger,
                "train_epoch",
                run_id=run_id,
                model_type=self.model_type,
                epoch=epoch,
                step=step,
                **{k: round(float(v), 6) for k, v in logs.items()},
            )
            for name in ("val_loss", "loss"):
                if name in logs:
                    self.runs.log_metric(run_id, name, logs[name], step=step)

        report = model.fit(data.train, data.scaler, on_epoch=on_epoch)
        batch = evaluation_batch(data.test, data.scaler)
        predictions = model.predict(batch)
        assert batch.targets is not None
        evaluation = forecast_metrics(batch.targets, predictions, spec.targets)
        metrics = _flat_metrics(evaluation, report.seconds, report.epochs, len(batch))
        self.runs.log_metrics(run_id, metrics)
        self._log_artifacts(run_id, model, data, batch, predictions)
        log_event(
            logger,
            "train_evaluated",
            run_id=run_id,
            model_type=self.model_type,
            identifier=claim.identifier,
            **{k: v for k, v in metrics.items() if not k.startswith("test_mse")},
        )
        return metrics

    def _log_artifacts(
        self, run_id: str, model: ForecastModel, data: TrainingData, batch: Any, predictions: Any
    ) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            save_pyfunc_model(model, data.scaler, folder / self.model_type)
            self.runs.log_folder(run_id, folder / self.model_type, self.model_type)
            (folder / "scaler").mkdir()
            (folder / "scaler" / "scaler.pkl").write_bytes(data.scaler_bytes)
            self.runs.log_folder(run_id, folder / "scaler", "scaler")
            self.runs.log_text(run_id, data.scaler.spec.to_json(), "feature_spec.json")
            plot = forecast_plot(
                batch, predictions, data.scaler.spec.targets, f"{self.model_type} on the test split"
            )
            (folder / "plots").mkdir()
            (folder / "plots" / "forecast_vs_actual.png").write_bytes(plot)
            self.runs.log_folder(run_id, folder / "plots", "plots")

    # -- events ----------------------------------------------------------------------------------
    def _publish(self, status: TrainingStatus, claim: ClaimCheck, run_id: str, **fields: Any) -> None:
        event = TrainingEvent.build(
            status,
            self.model_type,
            run_id=run_id,
            experiment=self.settings.mlflow_experiment,
            config_hash=claim.config_hash,
            identifier=claim.identifier,
            **fields,
        )
        self.producer.publish(Topic.MODEL_TRAINING, event, key=claim.identifier)

    def _publish_success(self, claim: ClaimCheck, run: FinishedRun) -> None:
        metrics = {k: v for k, v in run.metrics.items() if k.startswith("test_")}
        log_event(
            logger,
            "train_success_publish",
            run_id=run.run_id,
            model_type=self.model_type,
            identifier=claim.identifier,
            config_hash=claim.config_hash,
            test_rmse=metrics.get("test_rmse"),
        )
        self._publish(TrainingStatus.SUCCESS, claim, run.run_id, metrics=metrics)

    def _end_quietly(self, run_id: str, status: str) -> None:
        try:
            self.runs.end(run_id, status)
        except Exception as exc:  # MLflow down too: the run stays RUNNING and is never promoted
            log_event(logger, "run_end_failed", logging.WARNING, run_id=run_id, error=str(exc))


def _flat_metrics(
    evaluation: dict[str, object], seconds: float, epochs: int, windows: int
) -> dict[str, float]:
    metrics: dict[str, float] = {
        "test_rmse": float(evaluation["rmse_avg"]),  # type: ignore[arg-type]
        "test_mae": float(evaluation["mae_avg"]),  # type: ignore[arg-type]
        "test_mse": float(evaluation["mse_avg"]),  # type: ignore[arg-type]
        "test_nrmse": float(evaluation["nrmse_avg"]),  # type: ignore[arg-type]
        "train_seconds": float(seconds),
        "epochs_run": float(epochs),
        "test_windows": float(windows),
    }
    for name in ("rmse", "mae", "mse", "nrmse"):
        per_target = evaluation[name]
        assert isinstance(per_target, dict)
        for target, value in per_target.items():
            metrics[f"test_{name}_{target}"] = float(value)
    return metrics
