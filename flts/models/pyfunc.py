"""The MLflow pyfunc flavour of an FLTS model, so `mlflow models serve` can serve the very same model.

The MLflow model folder (logged under the run's `<MODEL_TYPE>/` artifact path) holds `MLmodel` and a
`data/flts/` folder with the FLTS model folder (`model/`) and the fitted scaler (`scaler.pkl`). Its `predict`
takes one raw history (columns in any order, with `time`) and returns the forecast in original units.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from flts.features import TIME_COLUMN, FittedScaler, transform_history
from flts.models.base import ForecastModel, forecast_batch
from flts.models.registry import load_model

MODEL_DIR, SCALER_FILE = "model", "scaler.pkl"


class FltsPyfuncModel:
    """What MLflow's loader returns: raw history DataFrame in, forecast DataFrame out."""

    def __init__(self, model: ForecastModel, scaler: FittedScaler) -> None:
        self.model, self.scaler = model, scaler

    def predict(self, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        processed = transform_history(model_input, self.scaler.spec, self.scaler)
        batch = forecast_batch(processed, self.scaler)
        values = self.model.predict(batch)[0]
        frame = pd.DataFrame(values, columns=list(self.scaler.spec.targets))
        frame.insert(0, TIME_COLUMN, pd.to_datetime(batch.target_times[0]).strftime("%Y-%m-%d %H:%M:%S"))
        return frame


def _load_pyfunc(data_path: str) -> FltsPyfuncModel:
    """MLflow's `loader_module` entry point."""
    data = Path(data_path)
    return FltsPyfuncModel(
        load_model(data / MODEL_DIR), FittedScaler.from_bytes((data / SCALER_FILE).read_bytes())
    )


def load_model_folder(model_dir: Path) -> tuple[ForecastModel, FittedScaler]:
    """The FLTS model and scaler inside a downloaded MLflow model folder (the run's `<MODEL_TYPE>/`)."""
    import yaml

    flavor = yaml.safe_load((model_dir / "MLmodel").read_text())["flavors"]["python_function"]
    data = model_dir / flavor["data"]
    return load_model(data / MODEL_DIR), FittedScaler.from_bytes((data / SCALER_FILE).read_bytes())


def save_pyfunc_model(
    model: ForecastModel, scaler: FittedScaler, path: Path, pip_requirements: list[str] | None = None
) -> Path:
    """Write an MLflow pyfunc model folder at `path` (which must not exist yet)."""
    import mlflow.pyfunc

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "flts"  # MLflow copies it to <model>/data/flts
        model.save(data / MODEL_DIR)
        (data / SCALER_FILE).write_bytes(scaler.to_bytes())
        mlflow.pyfunc.save_model(
            path=str(path),
            loader_module=__name__,
            data_path=str(data),
            pip_requirements=pip_requirements or ["flts"],  # explicit: skips slow requirement inference
        )
    return path
