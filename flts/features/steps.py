"""`engineer_features`: a normalised raw frame → unscaled features, using only a spec's fitted values.

The same function serves the training split, the test split and a serving request, which is what keeps
training and serving from drifting apart.
"""

from __future__ import annotations

import pandas as pd

from flts.features.cleaning import apply_clip, fill_gap_rows, handle_nans
from flts.features.errors import MissingColumnsError
from flts.features.parsing import TIME_COLUMN, normalize_frame
from flts.features.spec import FeatureSpec
from flts.features.transforms import add_lags, apply_value_transforms, time_feature_frame


def select_raw_columns(frame: pd.DataFrame, raw_columns: tuple[str, ...]) -> pd.DataFrame:
    """`time` plus the raw columns in spec order; extra columns are ignored, missing ones named."""
    missing = [name for name in raw_columns if name not in frame.columns]
    if missing:
        raise MissingColumnsError(f"columns missing from the data: {missing} (expected {list(raw_columns)})")
    return frame[[TIME_COLUMN, *raw_columns]]


def clean_normalized(normalized: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Select the spec's columns, add gap rows, handle NaNs and clip."""
    selected = select_raw_columns(normalized, spec.raw_columns)
    gapless = fill_gap_rows(selected, spec.step_seconds, spec.max_gap_steps)
    filled = handle_nans(gapless, spec.nan_strategy, spec.fill_values)
    return apply_clip(filled, spec.clip_bounds)


def clean_raw_frame(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """A raw frame → the cleaned raw values (`time` + `spec.raw_columns`), before any transform."""
    normalized = normalize_frame(frame, spec.targets, spec.value_source or "", spec.duplicate_rule)
    return clean_normalized(normalized, spec)


def engineer_cleaned(cleaned: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Cleaned raw values → `time` + `spec.feature_columns` (offset, log1p, time features, lags)."""
    features = apply_value_transforms(cleaned, spec.offset, spec.log1p_columns)
    if spec.time_features:
        features = pd.concat([features, time_feature_frame(features[TIME_COLUMN])], axis=1)
    features = add_lags(features, spec.raw_columns, spec.lags, spec.lag_step)
    return features[[TIME_COLUMN, *spec.feature_columns]].reset_index(drop=True)


def engineer_features(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """A raw frame → unscaled features in spec order."""
    return engineer_cleaned(clean_raw_frame(frame, spec), spec)
