"""Serving hot path: one regular window of raw rows → the scaled model input, numpy only.

It computes exactly what `transform_history` computes (a unit test holds the two equal) for the common
case: rows at the training step with no gaps or duplicates, no lags, no time features, no derived
`value` target, NaNs only under the `ffill` rule. `FastWindowTransform.applies()` says when; otherwise
callers use `transform_history` (pandas), which handles everything.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flts.features.scaling import FittedScaler
from flts.features.transforms import signed_log1p


class FastWindowTransform:
    def __init__(self, scaler: FittedScaler) -> None:
        spec = scaler.spec
        self.spec = spec
        self.columns = tuple(spec.raw_columns)
        self.eligible = (
            not spec.time_features
            and spec.lags == 0
            and spec.value_source is None
            and tuple(spec.feature_columns) == self.columns
        )
        center, scale = scaler.affine(spec.feature_columns)
        self.center = center.astype(np.float64)
        self.scale = np.where(scale == 0, 1.0, scale).astype(np.float64)
        self.fill = np.array([spec.fill_values.get(name, 0.0) for name in self.columns], dtype=np.float64)
        self.lower = np.array([spec.clip_bounds.get(name, (-np.inf, np.inf))[0] for name in self.columns])
        self.upper = np.array([spec.clip_bounds.get(name, (-np.inf, np.inf))[1] for name in self.columns])
        self.clipping = bool(spec.clip_bounds)
        self.log_mask = np.array([name in spec.log1p_columns for name in self.columns], dtype=bool)
        self.step_ns = round(spec.step_seconds * 1e9)

    def applies(self, times_ns: np.ndarray, values: np.ndarray) -> bool:
        """True when this window can take the fast path (regular steps, supported options)."""
        if not self.eligible or len(times_ns) < 1:
            return False
        if len(times_ns) > 1 and not np.all(np.diff(times_ns) == self.step_ns):
            return False
        return self.spec.nan_strategy == "ffill" or not np.isnan(values).any()

    def clean(self, values: np.ndarray) -> np.ndarray:
        """Raw values (rows, raw_columns) → cleaned raw values: NaN rule, then clipping."""
        cleaned = np.array(values, dtype=np.float64, copy=True)
        if np.isnan(cleaned).any():
            frame = pd.DataFrame(cleaned).ffill().bfill()
            cleaned = frame.to_numpy(dtype=np.float64)
            missing = np.isnan(cleaned)
            cleaned[missing] = np.broadcast_to(self.fill, cleaned.shape)[missing]
        if self.clipping:
            cleaned = np.clip(cleaned, self.lower, self.upper)
        return cleaned

    def scale_cleaned(self, cleaned: np.ndarray) -> np.ndarray:
        """Cleaned raw values → scaled features (offset, signed log1p, affine scaler)."""
        features = cleaned + self.spec.offset if self.spec.offset else cleaned.copy()
        if self.log_mask.any():
            features[..., self.log_mask] = signed_log1p(features[..., self.log_mask])
        return (features - self.center) / self.scale
