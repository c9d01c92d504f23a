"""Model families: train on small synthetic data, save, reload, reproduce; NAIVE is the window mean."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from flts.features import FeatureConfig, PreparedData, prepare
from flts.models import (
    MODEL_REGISTRY,
    UnknownModelTypeError,
    build_model,
    evaluation_batch,
    forecast_batch,
    forecast_metrics,
    load_model,
    nrmse,
    rmse,
)
from flts.models.blend import fit_blend_weights
from flts.synthetic import generate_dataset, split_train_test

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TINY_HYPER: dict[str, dict[str, Any]] = {
    "NAIVE": {},
    "GRU": {"units": 8, "epochs": 2, "ensemble": 2, "batch_size": 128, "patience": 1},
    "LSTM": {"units": 8, "epochs": 2, "ensemble": 1, "batch_size": 128, "patience": 1},
    "PROPHET": {"n_changepoints": 5},
}


@pytest.fixture(scope="module")
def raw_test() -> pd.DataFrame:
    return split_train_test(generate_dataset(rows=900, seed=11))[1]


@pytest.fixture(scope="module")
def prepared() -> PreparedData:
    train, test = split_train_test(generate_dataset(rows=900, seed=11))
    return prepare(train, test, FeatureConfig())


@pytest.fixture(scope="module", autouse=True)
def few_threads() -> None:
    from flts.models.recurrent import limit_tensorflow_threads

    limit_tensorflow_threads(1, 1)


def test_registry_has_every_family_and_refuses_unknowns() -> None:
    assert set(MODEL_REGISTRY) == {"NAIVE", "GRU", "LSTM", "PROPHET"}
    with pytest.raises(UnknownModelTypeError, match="TCN"):
        build_model("TCN")
    with pytest.raises(ValidationError):
        build_model("GRU", unitz=3)
    assert build_model("gru", epochs="3").hyper.epochs == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize("model_type", sorted(TINY_HYPER))
def test_family_trains_saves_loads_and_reproduces(
    model_type: str, prepared: PreparedData, raw_test: pd.DataFrame, tmp_path: Path
) -> None:
    epochs: list[tuple[int, dict[str, float]]] = []
    model = build_model(model_type, **TINY_HYPER[model_type])
    report = model.fit(
        prepared.train, prepared.scaler, on_epoch=lambda epoch, logs: epochs.append((epoch, logs))
    )
    batch = evaluation_batch(prepared.test, prepared.scaler)
    forecast = model.predict(batch)
    assert forecast.shape == batch.targets.shape and np.isfinite(forecast).all()
    metrics = forecast_metrics(batch.targets, forecast, prepared.spec.targets)
    assert metrics["nrmse_avg"] < 2.0

    folder = model.save(tmp_path / model_type)
    reloaded = load_model(folder)
    assert reloaded.model_type == model_type and reloaded.spec == prepared.spec
    np.testing.assert_allclose(reloaded.predict(batch), forecast, rtol=1e-5)

    history = prepared.scaler.transform(raw_test.iloc[:40])  # serving: a raw history → next step
    future = forecast_batch(history, prepared.scaler)
    assert future.target_times[0, 0] == history["time"].iloc[-1] + pd.Timedelta(minutes=2)
    assert reloaded.predict(future).shape == (1, 1, 2)

    if model_type in ("GRU", "LSTM"):
        assert report.epochs == len(epochs) == len(report.val_loss) > 0
        assert "val_loss" in epochs[0][1]
        weights = report.details["blend_weights"]  # per target: one weight per ensemble member
        assert all(0.0 <= weight <= 1.0 for member_weights in weights.values() for weight in member_weights)


def test_keras_artifact_is_a_plain_model_that_serves_original_units(
    prepared: PreparedData, tmp_path: Path
) -> None:
    from flts.models.recurrent import load_keras_model

    model = build_model("GRU", **TINY_HYPER["GRU"])
    model.fit(prepared.train, prepared.scaler)
    folder = model.save(tmp_path / "GRU")
    network = load_keras_model(folder / "model.keras")
    batch = evaluation_batch(prepared.test, prepared.scaler)
    direct = np.asarray(network(batch.inputs[:16]))
    np.testing.assert_allclose(direct, model.predict(batch)[:16], rtol=1e-5)
    assert direct.mean() > 1e6  # `down` and `up` are in bits, not in scaled units


def test_naive_equals_mean_of_the_input_window(prepared: PreparedData) -> None:
    model = build_model("NAIVE")
    model.fit(prepared.train, prepared.scaler)
    batch = evaluation_batch(prepared.test, prepared.scaler)
    cleaned = prepared.scaler.inverse_frame(prepared.test)[["down", "up"]].to_numpy()
    expected = np.stack([cleaned[i : i + 10].mean(axis=0) for i in range(len(batch))])
    np.testing.assert_allclose(model.predict(batch)[:, 0, :], expected, rtol=1e-9)
    last = build_model("NAIVE", method="last").predict(batch)
    np.testing.assert_allclose(last[:, 0, :], cleaned[9 : 9 + len(batch)], rtol=1e-9)


def test_blend_weight_is_the_least_squares_mix() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(500, 1, 2))
    naive = truth + rng.normal(size=truth.shape)
    network = np.stack([truth[..., 0], rng.normal(size=truth.shape[:2]) * 5], axis=-1)
    weights = fit_blend_weights(truth, network, naive)
    assert weights[0] == pytest.approx(1.0, abs=0.02) and weights[1] < 0.1


def test_metrics_in_original_units() -> None:
    truth = np.array([[[2.0, 10.0]], [[4.0, 30.0]]])
    forecast = np.array([[[3.0, 10.0]], [[3.0, 10.0]]])
    np.testing.assert_allclose(rmse(truth, forecast), [1.0, np.sqrt(200.0)])
    np.testing.assert_allclose(nrmse(truth, forecast), [1.0 / 3.0, np.sqrt(200.0) / 20.0])
    report = forecast_metrics(truth, forecast, ["down", "up"])
    assert report["mae"] == {"down": 1.0, "up": 10.0} and report["mae_avg"] == 5.5
