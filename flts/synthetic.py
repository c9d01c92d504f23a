"""Synthetic base-station traffic with the 12 columns of DESIGN §5, for tests and the demo.

The shape imitates LTE PDCCH data at 2-minute steps: a daily and a weekly cycle, bursts, multiplicative
noise, heavy-tailed traffic columns and a few NaNs. Deterministic for a given seed; `site` shifts the
level and phase so several sites differ visibly.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

COLUMNS: tuple[str, ...] = (
    "time",
    "down",
    "up",
    "rnti_count",
    "mcs_down",
    "mcs_down_var",
    "mcs_up",
    "mcs_up_var",
    "rb_down",
    "rb_down_var",
    "rb_up",
    "rb_up_var",
)
STEP = pd.Timedelta(minutes=2)


def generate_dataset(
    rows: int = 5000,
    seed: int = 7,
    start: str = "2018-03-28 15:56:00",
    site: int = 0,
    nan_fraction: float = 0.002,
) -> pd.DataFrame:
    """Return `rows` rows of synthetic traffic; `time` is "YYYY-mm-dd HH:MM:SS" like the real files."""
    if rows <= 0:
        raise ValueError("rows must be positive")
    rng = np.random.default_rng(seed + 1009 * site)
    times = pd.date_range(pd.Timestamp(start), periods=rows, freq=STEP)
    minutes = (times - times[0]).total_seconds().to_numpy() / 60.0
    phase = 2 * np.pi * (minutes / 1440.0 + 0.07 * site)
    daily = 0.55 + 0.45 * np.sin(phase - np.pi / 2)
    weekly = 1.0 - 0.25 * (times.dayofweek.to_numpy() >= 5)
    level = (1.0 + 0.35 * site) * daily * weekly

    bursts = np.zeros(rows)
    for start_idx in rng.choice(rows, size=max(1, rows // 400), replace=False):
        length = int(rng.integers(2, 8))
        bursts[start_idx : start_idx + length] += rng.gamma(2.0, 1.5)

    def noisy(base: np.ndarray, sigma: float) -> np.ndarray:
        return base * rng.lognormal(0.0, sigma, rows)

    activity = level + 0.6 * bursts
    down = noisy(1.5e8 * activity, 0.35)
    up = noisy(2.0e6 * activity, 0.45)
    rnti = np.maximum(1, rng.poisson(9000 * activity + 200)).astype(float)
    mcs_down = np.clip(18 + 4 * np.sin(phase) + rng.normal(0, 1.5, rows), 0, 28)
    mcs_up = np.clip(12 + 3 * np.cos(phase) + rng.normal(0, 1.5, rows), 0, 28)
    rb_down = noisy(0.03 * activity + 0.002, 0.25)
    rb_up = noisy(0.0006 * activity + 0.00005, 0.3)

    frame = pd.DataFrame(
        {
            "time": times.strftime("%Y-%m-%d %H:%M:%S"),
            "down": down,
            "up": up,
            "rnti_count": rnti,
            "mcs_down": mcs_down,
            "mcs_down_var": np.abs(rng.normal(85, 8, rows)),
            "mcs_up": mcs_up,
            "mcs_up_var": np.abs(rng.normal(55, 10, rows)),
            "rb_down": rb_down,
            "rb_down_var": np.abs(rb_down * rng.normal(1.5e-6, 4e-7, rows)),
            "rb_up": rb_up,
            "rb_up_var": np.abs(rb_up * rng.normal(6e-5, 2e-5, rows)),
        },
        columns=list(COLUMNS),
    )
    n_nan = round(nan_fraction * rows)
    if n_nan:
        feature_columns = list(COLUMNS[1:])
        for row in rng.choice(rows, size=n_nan, replace=False):
            frame.loc[row, feature_columns[int(rng.integers(len(feature_columns)))]] = np.nan
    return frame


def split_train_test(frame: pd.DataFrame, test_fraction: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Chronological split: the last `test_fraction` of rows become the test file."""
    cut = int(len(frame) * (1 - test_fraction))
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def write_sample(
    directory: str | os.PathLike[str],
    identifier: str = "site_a",
    rows: int = 5000,
    seed: int = 7,
    site: int = 0,
) -> tuple[str, str]:
    """Write `<identifier>.csv` and `<identifier>_test.csv` (80/20) and return their paths."""
    train, test = split_train_test(generate_dataset(rows=rows, seed=seed, site=site))
    train_path = os.path.join(directory, f"{identifier}.csv")
    test_path = os.path.join(directory, f"{identifier}_test.csv")
    train.to_csv(train_path, index=False)
    test.to_csv(test_path, index=False)
    return train_path, test_path
