"""Forecast metrics in original units: per target and averaged over targets (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _per_target(values: np.ndarray) -> np.ndarray:
    """(…, targets) → (rows, targets): every axis but the last is a sample axis."""
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(-1, array.shape[-1]) if array.ndim > 1 else array[:, None]


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Mean squared error per target."""
    return np.mean((_per_target(y_pred) - _per_target(y_true)) ** 2, axis=0)


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Root mean squared error per target."""
    return np.sqrt(mse(y_true, y_pred))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Mean absolute error per target."""
    return np.mean(np.abs(_per_target(y_pred) - _per_target(y_true)), axis=0)


def nrmse(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """RMSE divided by the mean of the true values, per target (the published protocol's score)."""
    mean_true = np.mean(_per_target(y_true), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean_true != 0, rmse(y_true, y_pred) / np.abs(mean_true), np.nan)


METRICS = {"mae": mae, "rmse": rmse, "mse": mse, "nrmse": nrmse}


def forecast_metrics(y_true: np.ndarray, y_pred: np.ndarray, targets: Sequence[str]) -> dict[str, object]:
    """{"mae": {target: v}, …, "mae_avg": v, …} for mae, rmse, mse and nrmse (averages over targets)."""
    if np.shape(y_true) != np.shape(y_pred):
        raise ValueError(f"shapes differ: true {np.shape(y_true)} vs predicted {np.shape(y_pred)}")
    report: dict[str, object] = {}
    for name, metric in METRICS.items():
        values = metric(y_true, y_pred)
        if len(values) != len(targets):
            raise ValueError(f"{len(values)} target columns but {len(targets)} target names")
        report[name] = {target: float(value) for target, value in zip(targets, values, strict=True)}
        report[f"{name}_avg"] = float(np.mean(values))
    return report
