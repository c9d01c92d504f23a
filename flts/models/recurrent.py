"""GRU and LSTM families (TensorFlow / Keras 3, imported lazily so flts.features stays TF-free).

Each network learns a correction to the window mean of the (scaled) targets. Several seeds are trained
and averaged in original units, then blended per target with the naive window mean, the weight fitted on
the chronological validation split (it protects targets the network cannot learn). The saved artifact
is ONE plain `.keras` model taking scaled windows and returning original-unit forecasts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from flts.features import FittedScaler, make_windows
from flts.models.base import EpochCallback, FitReport, ForecastModel, Hyper, WindowBatch
from flts.models.blend import fit_blend_weights
from flts.models.naive import naive_forecast

KERAS_FILE = "model.keras"
_PREDICT_CHUNK = 8192


class RecurrentHyper(Hyper):
    units: int = Field(default=64, ge=1)
    ensemble: int = Field(default=2, ge=1)
    epochs: int = Field(default=60, ge=1)
    batch_size: int = Field(default=64, ge=1)
    patience: int = Field(default=6, ge=0)
    learning_rate: float = Field(default=1e-3, gt=0)
    val_fraction: float = Field(default=0.15, gt=0, lt=1)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    blend: bool = True
    refit: bool = False
    seed: int = 7


def limit_tensorflow_threads(intra_op: int = 1, inter_op: int = 1) -> None:
    """Cap TensorFlow's thread pools (call before any model is built; later calls are ignored)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:  # the runtime is already initialised: the pools are fixed now
        pass


def load_keras_model(path: str | Path) -> Any:
    """Load a saved `.keras` forecaster (registers the FLTS layers first)."""
    import keras

    from flts.models import keras_components  # noqa: F401  (registers the custom layers)

    return keras.models.load_model(path, compile=False)


class RecurrentModel(ForecastModel):
    """Shared GRU/LSTM implementation; subclasses pick the recurrent cell."""

    cell: ClassVar[Literal["GRU", "LSTM"]]
    hyper_class = RecurrentHyper
    hyper: RecurrentHyper

    def __init__(self, hyper: Hyper | None = None, **values: Any) -> None:
        super().__init__(hyper, **values)
        self.network: Any = None
        self.blend_weights: list[float] = []

    def _build_member(self, n_features: int, seed: int) -> Any:
        import keras

        from flts.models.keras_components import SelectFeatures, WindowLevel

        spec, hyper = self.spec, self.hyper
        assert spec is not None
        n_targets = len(spec.targets)
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((spec.input_seq_len, n_features))
        layer = keras.layers.GRU if self.cell == "GRU" else keras.layers.LSTM
        hidden = layer(hyper.units, dropout=hyper.dropout, seed=seed)(inputs)
        correction = keras.layers.Dense(spec.output_seq_len * n_targets, kernel_initializer="zeros")(hidden)
        correction = keras.layers.Reshape((spec.output_seq_len, n_targets))(correction)
        level = WindowLevel(spec.output_seq_len)(SelectFeatures(spec.target_indices)(inputs))
        outputs = keras.layers.Add()([level, correction])
        return keras.Model(inputs, outputs, name=f"{self.cell.lower()}_member_{seed}")

    def _build_serving(self, members: list[Any], scaler: FittedScaler, weights: list[float]) -> Any:
        import keras

        from flts.models.keras_components import DecodeTargets, NaiveBlend, SelectFeatures, WindowLevel

        spec = scaler.spec
        center, scale = scaler.affine(spec.targets)
        constants = {
            "center": center.tolist(),
            "scale": scale.tolist(),
            "logged": [name in spec.log1p_columns for name in spec.targets],
            "offset": spec.offset,
        }
        inputs = keras.Input((spec.input_seq_len, len(spec.feature_columns)))
        decoded = [DecodeTargets(**constants)(member(inputs)) for member in members]
        network = decoded[0] if len(decoded) == 1 else keras.layers.Average()(decoded)
        naive = WindowLevel(spec.output_seq_len)(
            DecodeTargets(**constants)(SelectFeatures(spec.target_indices)(inputs))
        )
        outputs = NaiveBlend(weights)([network, naive])
        return keras.Model(inputs, outputs, name=f"flts_{self.cell.lower()}")

    def fit(
        self, train: pd.DataFrame, scaler: FittedScaler, on_epoch: EpochCallback | None = None
    ) -> FitReport:
        started = time.perf_counter()
        spec = self.spec = scaler.spec
        hyper = self.hyper
        values = train[list(spec.feature_columns)].to_numpy(dtype=np.float64)
        inputs, targets = make_windows(values, spec.input_seq_len, spec.output_seq_len, spec.target_indices)
        inputs, targets = inputs.astype(np.float32), targets.astype(np.float32)
        n_val = max(1, int(len(inputs) * hyper.val_fraction))
        if len(inputs) - n_val < 1:
            raise ValueError(f"{len(inputs)} training windows are too few for a validation split")
        fit_data, val_data = (inputs[:-n_val], targets[:-n_val]), (inputs[-n_val:], targets[-n_val:])

        members, val_losses, best_epochs = [], [], []
        for index in range(hyper.ensemble):
            member, losses = self._train_member(
                index, fit_data, val_data, hyper.epochs, on_epoch, first_epoch=len(val_losses)
            )
            members.append(member)
            val_losses += losses
            best_epochs.append(int(np.argmin(losses)) + 1)

        weights = [1.0] * len(spec.targets)
        if hyper.blend:
            unblended = self._build_serving(members, scaler, weights)
            network_val = np.asarray(unblended.predict_on_batch(val_data[0]), dtype=np.float64)
            naive_val = naive_forecast(
                scaler.inverse_targets(val_data[0][..., spec.target_indices]), spec.output_seq_len
            )
            weights = fit_blend_weights(scaler.inverse_targets(val_data[1]), network_val, naive_val)
        if hyper.refit:  # the validation tail is the most recent data: retrain on everything
            members = [
                self._train_member(index, (inputs, targets), None, epochs, None, first_epoch=0)[0]
                for index, epochs in enumerate(best_epochs)
            ]
        self.blend_weights = weights
        self.network = self._build_serving(members, scaler, weights)
        details = {
            "blend_weights": dict(zip(spec.targets, weights, strict=True)),
            "members": hyper.ensemble,
            "best_epochs": best_epochs,
        }
        seconds = time.perf_counter() - started
        return FitReport(epochs=len(val_losses), val_loss=val_losses, seconds=seconds, details=details)

    def _train_member(
        self,
        index: int,
        fit_data: tuple[np.ndarray, np.ndarray],
        val_data: tuple[np.ndarray, np.ndarray] | None,
        epochs: int,
        on_epoch: EpochCallback | None,
        first_epoch: int,
    ) -> tuple[Any, list[float]]:
        """Train ensemble member `index` (early stopping when there is validation data)."""
        import keras

        from flts.models.keras_components import EpochReporter

        assert self.spec is not None
        hyper = self.hyper
        member = self._build_member(len(self.spec.feature_columns), hyper.seed + index)
        member.compile(optimizer=keras.optimizers.Adam(hyper.learning_rate), loss="mse")
        callbacks: list[Any] = [EpochReporter(on_epoch, index, first_epoch)]
        if val_data is not None:
            callbacks.append(
                keras.callbacks.EarlyStopping(patience=hyper.patience, restore_best_weights=True)
            )
        history = member.fit(
            *fit_data,
            validation_data=val_data,
            epochs=epochs,
            batch_size=hyper.batch_size,
            shuffle=True,
            callbacks=callbacks,
            verbose=0,
        )
        return member, [float(value) for value in history.history.get("val_loss", [])]

    def predict(self, batch: WindowBatch) -> np.ndarray:
        if self.network is None:
            raise RuntimeError(f"{self.model_type} model is not fitted")
        inputs = np.asarray(batch.inputs, dtype=np.float32)
        chunks = [
            np.asarray(self.network.predict_on_batch(inputs[start : start + _PREDICT_CHUNK]))
            for start in range(0, len(inputs), _PREDICT_CHUNK)
        ]
        return np.concatenate(chunks).astype(np.float64)

    def save_files(self, directory: Path) -> dict[str, Any]:
        self.network.save(directory / KERAS_FILE)
        return {"keras_file": KERAS_FILE, "blend_weights": self.blend_weights}

    def load_files(self, directory: Path, extras: dict[str, Any]) -> None:
        self.network = load_keras_model(directory / extras.get("keras_file", KERAS_FILE))
        self.blend_weights = [float(value) for value in extras.get("blend_weights", [])]


class GruModel(RecurrentModel):
    model_type = "GRU"
    cell = "GRU"


class LstmModel(RecurrentModel):
    model_type = "LSTM"
    cell = "LSTM"
