"""Value transforms (offset, signed log1p) and derived columns (cyclical time features, lags)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from flts.features.parsing import TIME_COLUMN

TIME_FEATURE_COLUMNS: tuple[str, ...] = (
    "minute_of_day_sin",
    "minute_of_day_cos",
    "day_of_week_sin",
    "day_of_week_cos",
)


def signed_log1p(values: np.ndarray) -> np.ndarray:
    """sign(x)·log1p(|x|): log1p for non-negative traffic, still invertible if a value is negative."""
    return np.sign(values) * np.log1p(np.abs(values))


def signed_expm1(values: np.ndarray) -> np.ndarray:
    """Inverse of `signed_log1p`."""
    return np.sign(values) * np.expm1(np.abs(values))


def apply_value_transforms(frame: pd.DataFrame, offset: float, log1p_columns: Sequence[str]) -> pd.DataFrame:
    """Add `offset` to every feature column, then signed-log1p the `log1p_columns`."""
    out = frame.copy()
    columns = [name for name in out.columns if name != TIME_COLUMN]
    if offset:
        out[columns] = out[columns] + offset
    for name in log1p_columns:
        out[name] = signed_log1p(out[name].to_numpy(dtype=float))
    return out


def invert_value_transforms(values: np.ndarray, logged: Sequence[bool], offset: float) -> np.ndarray:
    """Undo log1p (where `logged`, along the last axis) and the offset."""
    out = np.array(values, dtype=float, copy=True)
    mask = np.asarray(logged, dtype=bool)
    if mask.any():
        out[..., mask] = signed_expm1(out[..., mask])
    return out - offset


def time_feature_frame(times: pd.Series) -> pd.DataFrame:
    """sin/cos of the minute of the day (period 1440) and of the day of the week (period 7)."""
    minute = (times.dt.hour * 60 + times.dt.minute + times.dt.second / 60.0).to_numpy(dtype=float)
    weekday = (times.dt.dayofweek + minute / 1440.0).to_numpy(dtype=float)
    day_angle, week_angle = 2 * np.pi * minute / 1440.0, 2 * np.pi * weekday / 7.0
    values = np.column_stack([np.sin(day_angle), np.cos(day_angle), np.sin(week_angle), np.cos(week_angle)])
    return pd.DataFrame(values, columns=list(TIME_FEATURE_COLUMNS), index=times.index)


def lag_column_name(column: str, shift: int) -> str:
    return f"{column}_lag{shift}"


def add_lags(frame: pd.DataFrame, columns: Sequence[str], lags: int, step: int) -> pd.DataFrame:
    """Add `<col>_lag<k·step>` for k = 1..lags and drop the first `lags·step` rows (they have no lag)."""
    if lags <= 0:
        return frame
    shifted = {
        lag_column_name(name, k * step): frame[name].shift(k * step)
        for k in range(1, lags + 1)
        for name in columns
    }
    out = pd.concat([frame, pd.DataFrame(shifted, index=frame.index)], axis=1)
    return out.iloc[lags * step :].reset_index(drop=True)
