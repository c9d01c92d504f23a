"""Cleaning steps on a normalised frame: gap rows, NaN handling and clipping (rules in config.py)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from flts.features.parsing import TIME_COLUMN


def infer_step_seconds(times: pd.Series) -> float:
    """The sampling step: the most common positive difference between consecutive timestamps."""
    deltas = times.diff().dt.total_seconds().dropna()
    deltas = deltas[deltas > 0]
    if deltas.empty:
        return 0.0
    return float(deltas.mode().iloc[0])


def fill_gap_rows(frame: pd.DataFrame, step_seconds: float, max_gap_steps: int) -> pd.DataFrame:
    """Insert all-NaN rows on the step grid inside gaps of at most `max_gap_steps` missing steps."""
    if step_seconds <= 0 or max_gap_steps <= 0 or len(frame) < 2:
        return frame
    times = frame[TIME_COLUMN]
    step = pd.Timedelta(seconds=step_seconds)
    ratio = (times.diff() / step).to_numpy(dtype=float)
    missing = np.rint(ratio) - 1
    fillable = (np.abs(ratio - np.rint(ratio)) < 1e-6) & (missing >= 1) & (missing <= max_gap_steps)
    if not fillable.any():
        return frame
    inserted = [
        times.iloc[position - 1] + step * k
        for position in np.flatnonzero(fillable)
        for k in range(1, int(missing[position]) + 1)
    ]
    gap_rows = pd.DataFrame({TIME_COLUMN: pd.to_datetime(inserted)}).astype({TIME_COLUMN: "datetime64[ns]"})
    merged = pd.concat([frame, gap_rows], ignore_index=True)
    return merged.sort_values(TIME_COLUMN, kind="stable").reset_index(drop=True)


def handle_nans(frame: pd.DataFrame, strategy: str, fill_values: Mapping[str, float]) -> pd.DataFrame:
    """Fill or drop NaNs in the feature columns; a column with no value at all takes `fill_values`."""
    columns = [name for name in frame.columns if name != TIME_COLUMN]
    out = frame.copy()
    if strategy == "drop":
        return out.dropna(subset=columns).reset_index(drop=True)
    if strategy == "interpolate":
        out[columns] = out[columns].interpolate(method="linear", limit_direction="both")
    else:
        out[columns] = out[columns].ffill().bfill()
    return out.fillna({name: fill_values.get(name, 0.0) for name in columns})


def fit_clip_bounds(
    frame: pd.DataFrame, columns: list[str], method: str, iqr_factor: float, percentile: float
) -> dict[str, tuple[float, float]]:
    """Per-column clipping bounds fitted on the training frame (empty for method `none`)."""
    if method == "none":
        return {}
    values = frame[columns]
    if method == "iqr":
        q1, q3 = values.quantile(0.25), values.quantile(0.75)
        lower, upper = q1 - iqr_factor * (q3 - q1), q3 + iqr_factor * (q3 - q1)
    else:
        lower, upper = values.quantile(percentile), values.quantile(1 - percentile)
    return {name: (float(lower[name]), float(upper[name])) for name in columns}


def apply_clip(frame: pd.DataFrame, bounds: Mapping[str, tuple[float, float]]) -> pd.DataFrame:
    """Clip each bounded column to its fitted [lower, upper]."""
    if not bounds:
        return frame
    out = frame.copy()
    for name, (lower, upper) in bounds.items():
        out[name] = out[name].clip(lower, upper)
    return out
