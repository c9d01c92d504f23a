"""Sliding windows, always built inside one split: the first `input_seq_len` rows are never targets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flts.features.errors import TooShortError


def count_windows(rows: int, input_seq_len: int, output_seq_len: int) -> int:
    return max(0, rows - input_seq_len - output_seq_len + 1)


def make_windows(
    array: np.ndarray,
    input_seq_len: int,
    output_seq_len: int,
    target_indices: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (n, input_seq_len, features) and targets (n, output_seq_len, targets) of one split.

    Window i reads rows [i, i+input_seq_len) and predicts rows [i+input_seq_len, i+input_seq_len+
    output_seq_len); `target_indices` picks the target columns (all columns when None).
    """
    values = np.asarray(array, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    n_windows = count_windows(len(values), input_seq_len, output_seq_len)
    if n_windows <= 0:
        raise TooShortError(
            f"{len(values)} rows cannot make one window of {input_seq_len} inputs + {output_seq_len} targets"
        )
    inputs = make_input_windows(values[: n_windows + input_seq_len - 1], input_seq_len)
    columns = list(range(values.shape[1])) if target_indices is None else list(target_indices)
    target_rows = np.lib.stride_tricks.sliding_window_view(
        values[input_seq_len:, columns], output_seq_len, axis=0
    )
    return inputs, np.ascontiguousarray(target_rows.transpose(0, 2, 1))


def make_input_windows(array: np.ndarray, input_seq_len: int) -> np.ndarray:
    """Every input window (n_rows - input_seq_len + 1, input_seq_len, features), the last one included."""
    values = np.asarray(array, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if len(values) < input_seq_len:
        raise TooShortError(f"{len(values)} rows are fewer than one input window of {input_seq_len}")
    view = np.lib.stride_tricks.sliding_window_view(values, input_seq_len, axis=0)
    return np.ascontiguousarray(view.transpose(0, 2, 1))


def target_row_index(n_windows: int, input_seq_len: int, output_seq_len: int) -> np.ndarray:
    """Row positions (n_windows, output_seq_len) of each window's targets within the split."""
    return input_seq_len + np.arange(n_windows)[:, None] + np.arange(output_seq_len)[None, :]
