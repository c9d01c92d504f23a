"""The feature pipeline: train-only fitting, invertibility, sampling, bad inputs, column order, windows."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from flts.features import (
    EmptyDatasetError,
    FeatureConfig,
    FeatureSpec,
    FittedScaler,
    MissingColumnsError,
    MissingTimeColumnError,
    NonNumericColumnError,
    TimestampParseError,
    TooShortError,
    clean_raw_frame,
    make_windows,
    parse_csv,
    prepare,
    transform_history,
)
from flts.lineage import build_active_config, config_hash
from flts.models import evaluation_batch
from flts.synthetic import generate_dataset, split_train_test


@pytest.fixture(scope="module")
def raw_splits() -> tuple[pd.DataFrame, pd.DataFrame]:
    return split_train_test(generate_dataset(rows=1500, seed=3))


def to_csv_bytes(frame: pd.DataFrame, encoding: str = "utf-8") -> bytes:
    return frame.to_csv(index=False).encode(encoding)


def test_scaler_is_fitted_on_train_only(raw_splits: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = raw_splits
    wider_test = test.copy()
    wider_test["down"] = wider_test["down"] * 10
    config = FeatureConfig(scaler="minmax", log1p_columns=())
    prepared = prepare(train, wider_test, config)
    cleaned_train = clean_raw_frame(train, prepared.spec)
    estimator = prepared.scaler.estimator
    np.testing.assert_allclose(estimator.data_min_, cleaned_train.iloc[:, 1:].min().to_numpy())
    np.testing.assert_allclose(estimator.data_max_, cleaned_train.iloc[:, 1:].max().to_numpy())
    assert prepared.train["down"].max() == pytest.approx(1.0)
    assert prepared.test["down"].max() > 2.0  # test keeps train's scale instead of being refitted


@pytest.mark.parametrize(
    "config",
    [
        FeatureConfig(),
        FeatureConfig(scaler="minmax", offset=3.0, time_features=True),
        FeatureConfig(scaler="robust", log1p_columns=(), lags=2, lag_step=2),
        FeatureConfig(scaler="none", nan_strategy="interpolate"),
    ],
)
def test_inverse_transform_gives_back_cleaned_raw_values(
    raw_splits: tuple[pd.DataFrame, pd.DataFrame], config: FeatureConfig
) -> None:
    train, test = raw_splits
    prepared = prepare(train, test, config)
    cleaned = (
        clean_raw_frame(test, prepared.spec).iloc[config.lags * config.lag_step :].reset_index(drop=True)
    )
    restored = prepared.scaler.inverse_frame(prepared.test)
    assert (restored["time"] == cleaned["time"]).all()
    # atol: adding then removing the offset costs ~1e-16 absolute on the ~1e-8 variance columns
    np.testing.assert_allclose(
        restored.iloc[:, 1:].to_numpy(), cleaned.iloc[:, 1:].to_numpy(), rtol=1e-9, atol=1e-12
    )
    assert not prepared.test.isna().any().any()


def test_targets_of_windows_are_original_units(raw_splits: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = raw_splits
    prepared = prepare(train, test, FeatureConfig())
    batch = evaluation_batch(prepared.test, prepared.scaler)
    cleaned = clean_raw_frame(test, prepared.spec)
    np.testing.assert_allclose(batch.targets[:, 0, :], cleaned[["down", "up"]].to_numpy()[10:], rtol=1e-9)
    assert batch.target_times[0, 0] == cleaned["time"].to_numpy()[10]


@pytest.mark.parametrize("strategy", ["head", "tail", "random"])
def test_sampling_keeps_time_order(raw_splits: tuple[pd.DataFrame, pd.DataFrame], strategy: str) -> None:
    train, test = raw_splits
    config = FeatureConfig(
        sample_train_rows=300, sample_test_rows=50, sample_strategy=strategy, sample_seed=1
    )
    prepared = prepare(train, test, config)
    assert len(prepared.train) == 300 and len(prepared.test) == 50
    assert prepared.train["time"].is_monotonic_increasing and prepared.train["time"].is_unique
    if strategy == "random":
        gaps = prepared.train["time"].diff().dropna().nunique()
        assert gaps > 1  # a real subset, not a contiguous block
    assert prepared.scaler.estimator.n_samples_seen_ == 300


def test_split_without_test_file_takes_the_last_fifth(raw_splits: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, _ = raw_splits
    prepared = prepare(train, None, FeatureConfig())
    assert len(prepared.test) == round(len(train) * 0.2)
    assert prepared.train["time"].max() < prepared.test["time"].min()


BAD_CSVS = {
    "no time column": (b"stamp,down,up\n2020-01-01 00:00:00,1,2\n", MissingTimeColumnError),
    "unparsable timestamps": (b"time,down,up\n2020-01-01 00:00:00,1,2\nyesterday,3,4\n", TimestampParseError),
    "non-numeric feature": (b"time,down,up\n2020-01-01 00:00:00,1,2\n2020-01-01 00:02:00,lots,4\n", None),
    "empty": (b"", EmptyDatasetError),
    "header only": (b"time,down,up\n", EmptyDatasetError),
}


@pytest.mark.parametrize("problem", sorted(BAD_CSVS))
def test_bad_csv_raises_a_named_error(problem: str) -> None:
    data, error = BAD_CSVS[problem]
    with pytest.raises(error or NonNumericColumnError) as caught:
        frame = parse_csv(data)
        prepare(frame, None, FeatureConfig())
    assert isinstance(caught.value, ValueError) and str(caught.value)
    if problem == "non-numeric feature":
        assert "down" in str(caught.value)


def test_too_short_for_one_window_is_refused() -> None:
    frame = generate_dataset(rows=12)
    with pytest.raises(TooShortError):
        parse_csv(to_csv_bytes(frame), min_rows=FeatureConfig().window_rows + 2)
    with pytest.raises(TooShortError):
        prepare(frame, None, FeatureConfig())


def test_encodings_and_duplicate_columns_are_repaired() -> None:
    frame = generate_dataset(rows=40)[["time", "down", "up"]]
    frame["débit"] = 1.0
    parsed = parse_csv(to_csv_bytes(frame, "latin-1"))
    assert list(parsed.columns) == ["time", "down", "up", "débit"]
    assert parse_csv(b"\xef\xbb\xbf" + to_csv_bytes(frame)).columns[0] == "time"
    duplicated = frame.to_csv(index=False).replace("time,down,up,débit", "time,down,up,up").encode()
    assert list(parse_csv(duplicated).columns) == ["time", "down", "up"]


def test_shuffled_columns_give_identical_transform(raw_splits: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = raw_splits
    prepared = prepare(train, test, FeatureConfig(time_features=True))
    history = test.iloc[:60]
    shuffled = history[list(np.random.default_rng(0).permutation(history.columns))]
    expected = transform_history(history, prepared.spec, prepared.scaler)
    pd.testing.assert_frame_equal(transform_history(shuffled, prepared.spec, prepared.scaler), expected)
    pd.testing.assert_frame_equal(
        expected, prepared.test.iloc[: len(expected)], check_exact=False, rtol=1e-12
    )
    with pytest.raises(MissingColumnsError, match="rnti_count"):
        transform_history(history.drop(columns=["rnti_count"]), prepared.spec, prepared.scaler)


def test_duplicate_timestamps_collapse_and_short_gaps_fill() -> None:
    frame = generate_dataset(rows=200, nan_fraction=0.0)
    with_gap = frame.drop(index=[50, 51]).reset_index(drop=True)
    with_duplicate = pd.concat([with_gap, with_gap.iloc[[10]]]).reset_index(drop=True)
    prepared = prepare(with_duplicate, None, FeatureConfig(test_fraction=0.25))
    times = pd.concat([prepared.train["time"], prepared.test["time"]])
    assert times.is_unique and len(times) == 200
    assert (times.diff().dropna() == pd.Timedelta(minutes=2)).all()


def test_value_target_is_derived_and_served(raw_splits: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = raw_splits
    prepared = prepare(train, test, FeatureConfig(targets=("value",)))
    spec = prepared.spec
    assert spec.value_source == "down" and "down" not in spec.feature_columns
    assert spec.feature_columns[-1] == "value" and len(spec.feature_columns) == 11
    assert "value" in spec.log1p_columns
    served = transform_history(test.iloc[:30], spec, prepared.scaler)
    np.testing.assert_allclose(served["value"], prepared.test["value"].iloc[:30])


def test_scaler_and_spec_round_trip(raw_splits: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = raw_splits
    prepared = prepare(train, test, FeatureConfig())
    restored = FittedScaler.from_bytes(prepared.scaler.to_bytes())
    assert FeatureSpec.from_json(prepared.spec.to_json()) == prepared.spec == restored.spec
    pd.testing.assert_frame_equal(restored.transform(test), prepared.test)
    assert len(config_hash(build_active_config(FeatureConfig(), []))) == 64


def test_windows_stay_inside_the_split() -> None:
    rows = np.arange(30, dtype=float).reshape(15, 2)
    inputs, targets = make_windows(rows, 10, 2, target_indices=[1])
    assert inputs.shape == (4, 10, 2) and targets.shape == (4, 2, 1)
    assert targets[0, 0, 0] == rows[10, 1] and targets[-1, -1, 0] == rows[14, 1]
    np.testing.assert_array_equal(inputs[1], rows[1:11])
    with pytest.raises(TooShortError):
        make_windows(rows[:11], 10, 2)


def test_importing_features_does_not_import_tensorflow() -> None:
    code = (
        "import sys, flts.features, flts.models; print('tensorflow' in sys.modules, 'prophet' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False False"
