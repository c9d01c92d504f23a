"""Preprocess artifacts: train-only scaler, exact inverse, lineage in Parquet metadata."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from flts.features import FeatureConfig, FittedScaler, clean_raw_frame
from flts.lineage import SourceFile, build_active_config, canonical_json, config_hash, sha256_bytes
from flts.parquet import read_parquet
from flts.synthetic import generate_dataset, split_train_test
from preprocess_container.artifacts import build_outputs


def _build(train: pd.DataFrame, test: pd.DataFrame, config: FeatureConfig):  # type: ignore[no-untyped-def]
    train_csv, test_csv = train.to_csv(index=False).encode(), test.to_csv(index=False).encode()
    sources = [
        SourceFile(
            role="train", bucket="dataset", object_key="s.csv", sha256=sha256_bytes(train_csv), size=1
        ),
        SourceFile(
            role="test", bucket="dataset", object_key="s_test.csv", sha256=sha256_bytes(test_csv), size=1
        ),
    ]
    active = build_active_config(config, sources)
    digest = config_hash(active)
    outputs = build_outputs(
        "s", train_csv, test_csv, config, sources, active, digest, f"s/{digest}/", datetime.now(UTC)
    )
    return outputs, active, digest


def test_scaler_is_fitted_on_train_only_and_inverse_gives_cleaned_raw_values() -> None:
    train, test = split_train_test(generate_dataset(2000, seed=11))
    test = test.copy()
    test["rb_down"] *= 50  # a test range far outside train's
    config = FeatureConfig(scaler="minmax", log1p_columns=())
    outputs, active, digest = _build(train, test, config)
    scaler = FittedScaler.from_bytes(outputs.scaler_pickle)
    processed_train, lineage = read_parquet(outputs.train_parquet)
    processed_test, _ = read_parquet(outputs.test_parquet)

    assert lineage == {"config_hash": digest, "preprocess_config": canonical_json(active)}
    # Train spans [0, 1] exactly; test keeps train's min/max, so its rb_down goes far beyond 1.
    assert np.isclose(processed_train["rb_down"].min(), 0) and np.isclose(processed_train["rb_down"].max(), 1)
    assert processed_test["rb_down"].max() > 5

    spec = scaler.spec
    cleaned_test = clean_raw_frame(test, spec)
    restored = scaler.inverse_frame(processed_test)
    for column in spec.raw_columns:
        np.testing.assert_allclose(restored[column].to_numpy(), cleaned_test[column].to_numpy(), rtol=1e-9)
    assert outputs.meta.train.rows == len(processed_train) and outputs.meta.test.rows == len(processed_test)
