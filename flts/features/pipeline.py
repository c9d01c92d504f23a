"""`prepare`: raw train (and test) frames → processed splits, the fitted scaler and the feature spec.

Order: normalise → split (last `test_fraction` by time when there is no test frame) → fit NaN fill
values and clipping bounds on train → clean, offset, log1p, time features, lags on each split → sample →
fit the scaler on train only → scale both splits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from flts.features.cleaning import fill_gap_rows, fit_clip_bounds, handle_nans, infer_step_seconds
from flts.features.config import FeatureConfig
from flts.features.errors import FeatureError, TooShortError
from flts.features.parsing import TIME_COLUMN, VALUE_TARGET, normalize_frame
from flts.features.scaling import FittedScaler
from flts.features.spec import FeatureSpec
from flts.features.steps import clean_normalized, engineer_cleaned
from flts.features.transforms import TIME_FEATURE_COLUMNS, lag_column_name


@dataclass(frozen=True)
class PreparedData:
    """Processed, scaled splits (`time` kept as the first column) and what produced them."""

    train: pd.DataFrame
    test: pd.DataFrame
    scaler: FittedScaler

    @property
    def spec(self) -> FeatureSpec:
        return self.scaler.spec


def sample_rows(frame: pd.DataFrame, rows: int, strategy: str, seed: int) -> pd.DataFrame:
    """Keep `rows` rows: the first, the last, or a random subset that keeps time order."""
    if rows <= 0 or rows >= len(frame):
        return frame
    if strategy == "head":
        return frame.iloc[:rows].reset_index(drop=True)
    if strategy == "tail":
        return frame.iloc[-rows:].reset_index(drop=True)
    chosen = np.sort(np.random.default_rng(seed).choice(len(frame), size=rows, replace=False))
    return frame.iloc[chosen].reset_index(drop=True)


def split_by_time(frame: pd.DataFrame, test_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last `test_fraction` of rows (the frame is sorted by time) become test."""
    cut = round(len(frame) * (1 - test_fraction))
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def fit_spec(train: pd.DataFrame, config: FeatureConfig, value_derived: bool) -> FeatureSpec:
    """Learn the non-scaler parameters from the normalised training frame."""
    raw_columns = tuple(name for name in train.columns if name != TIME_COLUMN)
    step = infer_step_seconds(train[TIME_COLUMN])
    medians = train[list(raw_columns)].median()
    fill_values = {name: float(value) if np.isfinite(value) else 0.0 for name, value in medians.items()}
    gapless = fill_gap_rows(train, step, config.max_gap_steps)
    filled = handle_nans(gapless, config.nan_strategy, fill_values)
    bounds = fit_clip_bounds(
        filled, list(raw_columns), config.clip_method, config.clip_iqr_factor, config.clip_percentile
    )
    log_names = set(config.log1p_columns)
    if value_derived and config.value_source in log_names:
        log_names.add(VALUE_TARGET)
    features = list(raw_columns)
    if config.time_features:
        features += TIME_FEATURE_COLUMNS
    features += [
        lag_column_name(name, k * config.lag_step) for k in range(1, config.lags + 1) for name in raw_columns
    ]
    return FeatureSpec(
        raw_columns=raw_columns,
        feature_columns=tuple(features),
        targets=config.targets,
        input_seq_len=config.input_seq_len,
        output_seq_len=config.output_seq_len,
        step_seconds=step,
        value_source=config.value_source if value_derived else None,
        duplicate_rule=config.duplicate_rule,
        max_gap_steps=config.max_gap_steps,
        nan_strategy=config.nan_strategy,
        fill_values=fill_values,
        clip_bounds=bounds,
        offset=config.offset,
        log1p_columns=tuple(name for name in raw_columns if name in log_names),
        time_features=config.time_features,
        lags=config.lags,
        lag_step=config.lag_step,
        scaler=config.scaler,
    )


def prepare(train_df: pd.DataFrame, test_df: pd.DataFrame | None, config: FeatureConfig) -> PreparedData:
    """Process raw frames; the scaler and every fitted value come from the training split only."""
    value_derived = VALUE_TARGET in config.targets and VALUE_TARGET not in train_df.columns
    normalize_args = (config.targets, config.value_source, config.duplicate_rule)
    train = normalize_frame(train_df, *normalize_args)
    if test_df is None:
        train, test = split_by_time(train, config.test_fraction)
    else:
        test = normalize_frame(test_df, *normalize_args)
    if len(train) < config.window_rows:
        raise TooShortError(f"train has {len(train)} rows; one window needs {config.window_rows}")
    spec = fit_spec(train, config, value_derived)
    cleaned_train, cleaned_test = clean_normalized(train, spec), clean_normalized(test, spec)
    features_train = engineer_cleaned(cleaned_train, spec)
    features_test = engineer_cleaned(cleaned_test, spec)
    strategy, seed = config.sample_strategy, config.sample_seed
    features_train = sample_rows(features_train, config.sample_train_rows, strategy, seed)
    features_test = sample_rows(features_test, config.sample_test_rows, strategy, seed)
    for name, split in (("train", features_train), ("test", features_test)):
        if len(split) < config.window_rows:
            raise TooShortError(
                f"{name} split has {len(split)} rows after processing; one window needs {config.window_rows}"
            )
    scaler = FittedScaler.fit(features_train, spec)
    return PreparedData(
        train=scaler.scale(features_train),
        test=scaler.scale(features_test),
        scaler=scaler,
    )


def transform_history(raw_history: pd.DataFrame, spec: FeatureSpec, scaler: FittedScaler) -> pd.DataFrame:
    """Serving: a raw history (columns in any order) → the processed frame the model was trained on."""
    if tuple(scaler.spec.feature_columns) != tuple(spec.feature_columns):
        raise FeatureError("the scaler and the feature spec describe different feature columns")
    return scaler.transform(raw_history)
