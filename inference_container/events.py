"""Model lifecycle events: `model-selected` hot-swaps the model; `model-training` feeds the fast path."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from flts.contracts import ClaimCheck, Promotion, TrainingEvent, TrainingStatus
from flts.kafka.consumer import Delivery, PoisonMessageError
from flts.log import log_event

from .models import ModelStore, NoModelError
from .settings import InferenceSettings

if TYPE_CHECKING:
    from .batch_consumer import InferenceDataConsumer

logger = logging.getLogger(__name__)


class ModelEvents:
    def __init__(self, settings: InferenceSettings, store: ModelStore, batch: InferenceDataConsumer) -> None:
        self.settings = settings
        self.store = store
        self.batch = batch

    def on_promotion(self, delivery: Delivery[Promotion]) -> None:
        promotion = delivery.value
        try:
            self.store.promote(promotion)
        except NoModelError as exc:
            raise PoisonMessageError(str(exc)) from exc
        self.batch.release(promotion.identifier)

    def on_training(self, delivery: Delivery[TrainingEvent]) -> None:
        """With RUN_INFERENCE_ON_TRAIN_SUCCESS, forecast a new run's test split at once (not served)."""
        event = delivery.value
        if not self.settings.run_inference_on_train_success or event.status != TrainingStatus.SUCCESS:
            return
        if event.run_id is None:
            return
        metrics = event.metrics or {}
        candidate = Promotion(
            identifier=event.identifier,
            config_hash=event.config_hash,
            run_id=event.run_id,
            model_type=event.model_type,
            experiment=event.experiment or "",
            model_uri=f"runs:/{event.run_id}/{event.model_type}",
            rmse=metrics.get("test_rmse", float("nan")),
            mae=metrics.get("test_mae", float("nan")),
            mse=metrics.get("test_mse", float("nan")),
            score=float("nan"),
            weights={},
            timestamp=datetime.now(UTC),
        )
        try:
            loaded = self.store.load_unpromoted(candidate)
        except NoModelError as exc:
            log_event(logger, "fast_path_skipped", run_id=event.run_id, reason=str(exc))
            return
        key = f"{event.identifier}/{event.config_hash}/test.parquet"
        info = self.store.gateway.stat(self.settings.processed_bucket, key)
        if info is None:
            return
        claim = ClaimCheck(
            bucket=self.settings.processed_bucket,
            object_key=key,
            config_hash=event.config_hash,
            identifier=event.identifier,
            size=info.size,
            rows=0,
            created_at=datetime.now(UTC),
        )
        result = self.batch.forecaster.process(claim, loaded)
        log_event(
            logger,
            "fast_path_forecast",
            run_id=event.run_id,
            model_type=event.model_type,
            outcome=result.outcome,
            log_object_key=result.log_object_key,
        )
