"""NAIVE: the mean of the last input window (or the last value), in original units. Keeps everyone honest."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from flts.features import FittedScaler
from flts.models.base import EpochCallback, FitReport, ForecastModel, Hyper, WindowBatch


class NaiveHyper(Hyper):
    method: Literal["mean", "last"] = "mean"


def naive_forecast(input_targets: np.ndarray, output_seq_len: int, method: str = "mean") -> np.ndarray:
    """(n, input_seq_len, targets) → (n, output_seq_len, targets): window mean or last value, repeated."""
    level = input_targets.mean(axis=1) if method == "mean" else input_targets[:, -1, :]
    return np.repeat(level[:, None, :], output_seq_len, axis=1)


class NaiveModel(ForecastModel):
    model_type = "NAIVE"
    hyper_class = NaiveHyper
    hyper: NaiveHyper

    def fit(
        self, train: pd.DataFrame, scaler: FittedScaler, on_epoch: EpochCallback | None = None
    ) -> FitReport:
        started = time.perf_counter()
        self.spec = scaler.spec
        return FitReport(seconds=time.perf_counter() - started)

    def predict(self, batch: WindowBatch) -> np.ndarray:
        output_seq_len = batch.target_times.shape[1]
        return naive_forecast(
            np.asarray(batch.input_targets, dtype=np.float64), output_seq_len, self.hyper.method
        )

    def save_files(self, directory: Path) -> dict[str, Any]:
        return {}

    def load_files(self, directory: Path, extras: dict[str, Any]) -> None:
        return None
