"""The one feature pipeline used by preprocess, trainers and inference (pure; no I/O, no TensorFlow).

prepared = prepare(train_df, test_df_or_None, FeatureConfig())
prepared.train / prepared.test          # processed frames: `time` + spec.feature_columns (scaled)
prepared.scaler.to_bytes()              # scaler.pkl (self-contained: carries the FeatureSpec)
prepared.spec.to_json()                 # feature_spec.json
transform_history(raw_df, spec, scaler) # serving: raw history → the processed frame training saw
"""

from flts.features.config import FeatureConfig
from flts.features.errors import (
    EmptyDatasetError,
    FeatureError,
    MalformedCsvError,
    MissingColumnsError,
    MissingTimeColumnError,
    NonNumericColumnError,
    TimestampParseError,
    TooShortError,
)
from flts.features.parsing import TIME_COLUMN, normalize_frame, parse_csv
from flts.features.pipeline import PreparedData, prepare, sample_rows, split_by_time, transform_history
from flts.features.scaling import FittedScaler
from flts.features.spec import FeatureSpec
from flts.features.steps import clean_raw_frame, engineer_features
from flts.features.windows import make_input_windows, make_windows, target_row_index

__all__ = [
    "TIME_COLUMN",
    "EmptyDatasetError",
    "FeatureConfig",
    "FeatureError",
    "FeatureSpec",
    "FittedScaler",
    "MalformedCsvError",
    "MissingColumnsError",
    "MissingTimeColumnError",
    "NonNumericColumnError",
    "PreparedData",
    "TimestampParseError",
    "TooShortError",
    "clean_raw_frame",
    "engineer_features",
    "make_input_windows",
    "make_windows",
    "normalize_frame",
    "parse_csv",
    "prepare",
    "sample_rows",
    "split_by_time",
    "target_row_index",
    "transform_history",
]
