"""Turn raw histories into model inputs and run batches of them (the one serving code path).

`parse_history` validates a request's columns; `prepare_window` builds the exact model input training
saw (the numpy fast path, or `transform_history` when the window needs pandas: gaps, lags, …);
`run_batch` stacks windows of the same model into one model call and decodes original units, rolling
forward for horizons longer than the model's output length.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from flts.features import TIME_COLUMN, FeatureError, transform_history
from flts.models import WindowBatch

from .models import LoadedModel


class InputError(ValueError):
    """The request's input is unusable; the message names the field or column (HTTP 422)."""


@dataclass
class Window:
    """One request's model input, ready to batch."""

    model: LoadedModel
    times_ns: np.ndarray  # (input_seq_len,) int64 epoch ns of the input rows
    cleaned: np.ndarray  # (input_seq_len, raw_columns) cleaned raw values
    scaled: np.ndarray  # (input_seq_len, features) float32
    horizon: int
    rolling: bool  # the fast transform applies: longer horizons roll forward


def parse_times(values: Sequence[Any]) -> np.ndarray:
    """Timestamps (ISO strings, or epoch seconds / milliseconds) → int64 epoch ns."""
    if not len(values):
        raise InputError("history.time is empty")
    try:
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            numbers = np.asarray(values, dtype=np.float64)
            unit = 1e6 if numbers.max() > 1e11 else 1e9  # ms or s
            return (numbers * unit).astype(np.int64)
        return np.asarray(values, dtype="datetime64[ns]").astype(np.int64)
    except (ValueError, TypeError) as exc:
        raise InputError(f"history.time has a value that is not a timestamp: {exc}") from exc


def parse_history(model: LoadedModel, history: Mapping[str, Sequence[Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Columns of raw values (any order, extra columns ignored) → (times_ns, values in spec order)."""
    spec = model.spec
    if TIME_COLUMN not in history:
        raise InputError("history needs a 'time' column")
    missing = [name for name in spec.raw_columns if name not in history]
    if missing:
        raise InputError(f"history is missing column(s) {missing}; the model needs {list(spec.raw_columns)}")
    rows = len(history[TIME_COLUMN])
    uneven = [name for name in (TIME_COLUMN, *spec.raw_columns) if len(history[name]) != rows]
    if uneven:
        raise InputError(f"history columns {uneven} do not have {rows} values like 'time'")
    if rows < spec.history_rows:
        raise InputError(f"history has {rows} rows; the model needs at least {spec.history_rows}")
    times = parse_times(history[TIME_COLUMN])
    try:
        values = np.array([history[name] for name in spec.raw_columns], dtype=np.float64).T
    except (ValueError, TypeError) as exc:
        bad = next((n for n in spec.raw_columns if not _numeric(history[n])), "?")
        raise InputError(f"history column {bad!r} has a value that is not a number") from exc
    return times, values


def _numeric(values: Sequence[Any]) -> bool:
    try:
        np.asarray(values, dtype=np.float64)
        return True
    except (ValueError, TypeError):
        return False


def prepare_window(model: LoadedModel, times_ns: np.ndarray, values: np.ndarray, horizon: int) -> Window:
    """The model input for the last window of a raw history (fast path when it applies)."""
    spec = model.spec
    fast = model.fast
    if not np.all(np.diff(times_ns) > 0):
        order = np.argsort(times_ns, kind="stable")
        times_ns, values = times_ns[order], values[order]
    tail_times, tail_values = times_ns[-spec.input_seq_len :], values[-spec.input_seq_len :]
    if fast.applies(tail_times, tail_values):
        cleaned = fast.clean(tail_values)
        scaled = fast.scale_cleaned(cleaned).astype(np.float32)
        return Window(model, tail_times, cleaned, scaled, horizon, rolling=True)
    frame = pd.DataFrame(values, columns=list(spec.raw_columns))
    frame.insert(0, TIME_COLUMN, pd.to_datetime(times_ns))
    try:
        processed = transform_history(frame, spec, model.scaler)
    except FeatureError as exc:
        raise InputError(str(exc)) from exc
    if len(processed) < spec.input_seq_len:
        raise InputError(f"history gives {len(processed)} usable rows; the model needs {spec.input_seq_len}")
    tail = processed.tail(spec.input_seq_len)
    cleaned = model.scaler.inverse_frame(tail)[list(spec.raw_columns)].to_numpy(dtype=np.float64)
    scaled = tail[list(spec.feature_columns)].to_numpy(dtype=np.float32)
    times = tail[TIME_COLUMN].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    if horizon > spec.output_seq_len and not fast.eligible:
        raise InputError(
            f"horizon {horizon} needs rolling forecasts, which this model's features (lags or time features) "
            f"do not allow; the most is {spec.output_seq_len}"
        )
    return Window(model, times, cleaned, scaled, horizon, rolling=fast.eligible)


def run_batch(windows: Sequence[Window]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Forecast every window; returns per window (times_ns (horizon,), values (horizon, targets))."""
    results: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(windows)
    by_model: dict[int, list[int]] = {}
    for index, window in enumerate(windows):
        by_model.setdefault(id(window.model), []).append(index)
    for indices in by_model.values():
        group = [windows[i] for i in indices]
        for i, result in zip(indices, _run_group(group), strict=True):
            results[i] = result
    return [r for r in results if r is not None]


def _run_group(windows: Sequence[Window]) -> list[tuple[np.ndarray, np.ndarray]]:
    loaded = windows[0].model
    spec = loaded.spec
    step = np.int64(round(spec.step_seconds * 1e9))
    raw_targets = [spec.raw_columns.index(name) for name in spec.targets]
    horizon = max(window.horizon for window in windows)
    times = np.stack([w.times_ns for w in windows])
    cleaned = np.stack([w.cleaned for w in windows])
    scaled = np.stack([w.scaled for w in windows])
    out_times: list[np.ndarray] = []
    out_values: list[np.ndarray] = []
    produced = 0
    while produced < horizon:
        future = times[:, -1:] + step * np.arange(1, spec.output_seq_len + 1, dtype=np.int64)
        batch = WindowBatch(
            inputs=scaled,
            input_targets=cleaned[..., raw_targets],
            target_times=future.astype("datetime64[ns]"),
            targets=None,
        )
        forecast = loaded.runner.predict(batch)  # (n, out, targets), original units
        out_times.append(future)
        out_values.append(forecast)
        produced += spec.output_seq_len
        if produced >= horizon:
            break
        # Roll forward: forecast rows join the window (other columns persist their last value).
        new_rows = np.repeat(cleaned[:, -1:, :], spec.output_seq_len, axis=1)
        new_rows[..., raw_targets] = forecast
        new_rows = np.stack([loaded.fast.clean(rows) for rows in new_rows])
        cleaned = np.concatenate([cleaned, new_rows], axis=1)[:, -spec.input_seq_len :]
        times = np.concatenate([times, future], axis=1)[:, -spec.input_seq_len :]
        scaled = loaded.fast.scale_cleaned(cleaned).astype(np.float32)
    all_times = np.concatenate(out_times, axis=1)
    all_values = np.concatenate(out_values, axis=1)
    return [(all_times[i, : w.horizon], all_values[i, : w.horizon]) for i, w in enumerate(windows)]
