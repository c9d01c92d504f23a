"""Model families behind one registry; every family predicts ORIGINAL units for the same windows.

    model = build_model("GRU", epochs=30)
    report = model.fit(prepared.train, prepared.scaler, on_epoch=callback)
    batch = evaluation_batch(prepared.test, prepared.scaler)
    metrics = forecast_metrics(batch.targets, model.predict(batch), prepared.spec.targets)
    model.save(folder); load_model(folder).predict(batch)

Importing this package does not import TensorFlow or Prophet; the families do, when used.
"""

from flts.models.base import (
    EpochCallback,
    FitReport,
    ForecastModel,
    WindowBatch,
    evaluation_batch,
    forecast_batch,
    read_manifest,
)
from flts.models.evaluation import forecast_metrics, mae, mse, nrmse, rmse
from flts.models.naive import naive_forecast
from flts.models.registry import MODEL_REGISTRY, UnknownModelTypeError, build_model, load_model, model_class

__all__ = [
    "MODEL_REGISTRY",
    "EpochCallback",
    "FitReport",
    "ForecastModel",
    "UnknownModelTypeError",
    "WindowBatch",
    "build_model",
    "evaluation_batch",
    "forecast_batch",
    "forecast_metrics",
    "load_model",
    "mae",
    "model_class",
    "mse",
    "naive_forecast",
    "nrmse",
    "read_manifest",
    "rmse",
]
