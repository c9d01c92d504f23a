"""GRU and LSTM families (TensorFlow / Keras 3, imported lazily so flts.features stays TF-free).

Each member network reads the scaled window twice — as is, and minus its window mean (shape without
level) — and learns a correction to the window mean of the scaled (log1p) targets. Each member is then
blended per target with the naive window mean in original units, the weight fitted on the chronological
validation split (it protects targets the network cannot learn), and the blended members are averaged.
The saved artifact is ONE plain `.keras` model: scaled windows in, original-unit forecasts out.
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
InputView = Literal["raw", "centered", "both"]


class RecurrentHyper(Hyper):
    units: int = Field(default=64, ge=1)
    ensemble: int = Field(default=5, ge=1)
    epochs: int = Field(default=60, ge=1)
    batch_size: int = Field(default=64, ge=1)
    patience: int = Field(default=6, ge=0)
    learning_rate: float = Field(default=1e-3, gt=0)
    val_fraction: float = Field(default=0.15, gt=0, lt=1)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    blend: bool = True
    seed: int = 7
    # what member i reads (cycled): the scaled window, the window minus its mean, or both side by side
    input_views: tuple[InputView, ...] = Field(default=("both",), min_length=1)


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


def decode_constants(scaler: FittedScaler) -> dict[str, Any]:
    """`DecodeTargets` arguments: the scaler's affine and the value transforms of the targets."""
    spec = scaler.spec
    center, scale = scaler.affine(spec.targets)
    return {
        "center": center.tolist(),
        "scale": scale.tolist(),
        "logged": [name in spec.log1p_columns for name in spec.targets],
        "offset": spec.offset,
    }


class RecurrentModel(ForecastModel):
    """Shared GRU/LSTM implementation; subclasses pick the recurrent cell."""

    cell: ClassVar[Literal["GRU", "LSTM"]]
    hyper_class = RecurrentHyper
    hyper: RecurrentHyper

    def __init__(self, hyper: Hyper | None = None, **values: Any) -> None:
        super().__init__(hyper, **values)
        self.network: Any = None
        self.blend_weights: list[list[float]] = []

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

        members: list[Any] = []
        val_losses: list[float] = []
        for index in range(hyper.ensemble):
            member, losses = self._train_member(index, fit_data, val_data, on_epoch, len(val_losses))
            members.append(member)
            val_losses += losses

        weights = [[1.0] * len(spec.targets) for _ in members]
        if hyper.blend:  # per member: averaging blended members beat blending their average
            naive_val = naive_forecast(
                scaler.inverse_targets(val_data[0][..., spec.target_indices]), spec.output_seq_len
            )
            truth_val = scaler.inverse_targets(val_data[1])
            weights = [
                fit_blend_weights(truth_val, self._decode(member, scaler, val_data[0]), naive_val)
                for member in members
            ]
        self.blend_weights = weights
        self.network = self._build_serving(members, scaler, weights)
        details = {
            "blend_weights": {name: [w[i] for w in weights] for i, name in enumerate(spec.targets)},
            "members": hyper.ensemble,
            "validation_windows": n_val,
        }
        seconds = time.perf_counter() - started
        return FitReport(epochs=len(val_losses), val_loss=val_losses, seconds=seconds, details=details)

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
        self.blend_weights = [
            [float(value) for value in member] for member in extras.get("blend_weights", [])
        ]

    def _build_member(self, n_features: int, seed: int, view: InputView) -> Any:
        """One network: scaled window → scaled targets = window mean of the targets + a learnt correction."""
        import keras

        from flts.models.keras_components import CenterWindow, SelectFeatures, WindowLevel

        spec, hyper = self.spec, self.hyper
        assert spec is not None
        n_targets = len(spec.targets)
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((spec.input_seq_len, n_features))
        sequence = inputs
        if view == "centered":
            sequence = CenterWindow()(inputs)
        elif view == "both":
            sequence = keras.layers.Concatenate()([inputs, CenterWindow()(inputs)])
        layer = keras.layers.GRU if self.cell == "GRU" else keras.layers.LSTM
        hidden = layer(hyper.units, dropout=hyper.dropout, seed=seed)(sequence)
        # zero-initialised: training starts from the naive forecast instead of from noise
        correction = keras.layers.Dense(spec.output_seq_len * n_targets, kernel_initializer="zeros")(hidden)
        correction = keras.layers.Reshape((spec.output_seq_len, n_targets))(correction)
        level = WindowLevel(spec.output_seq_len)(SelectFeatures(spec.target_indices)(inputs))
        outputs = keras.layers.Add()([level, correction])
        return keras.Model(inputs, outputs, name=f"{self.cell.lower()}_member_{seed}")

    def _build_serving(self, members: list[Any], scaler: FittedScaler, weights: list[list[float]]) -> Any:
        """Scaled windows → original units: each member decoded and blended with the naive mean, averaged."""
        import keras

        from flts.models.keras_components import DecodeTargets, NaiveBlend, SelectFeatures, WindowLevel

        spec, constants = scaler.spec, decode_constants(scaler)
        inputs = keras.Input((spec.input_seq_len, len(spec.feature_columns)))
        naive = WindowLevel(spec.output_seq_len)(
            DecodeTargets(**constants)(SelectFeatures(spec.target_indices)(inputs))
        )
        blended = [
            NaiveBlend(member_weights)([DecodeTargets(**constants)(member(inputs)), naive])
            for member, member_weights in zip(members, weights, strict=True)
        ]
        outputs = blended[0] if len(blended) == 1 else keras.layers.Average()(blended)
        return keras.Model(inputs, outputs, name=f"flts_{self.cell.lower()}")

    def _decode(self, member: Any, scaler: FittedScaler, inputs: np.ndarray) -> np.ndarray:
        """One member's unblended forecasts in original units."""
        unblended = self._build_serving([member], scaler, [[1.0] * len(scaler.spec.targets)])
        return np.asarray(unblended.predict_on_batch(inputs), dtype=np.float64)

    def _train_member(
        self,
        index: int,
        fit_data: tuple[np.ndarray, np.ndarray],
        val_data: tuple[np.ndarray, np.ndarray],
        on_epoch: EpochCallback | None,
        first_epoch: int,
    ) -> tuple[Any, list[float]]:
        """Train ensemble member `index` with early stopping; return it and its per-epoch val_loss."""
        import keras

        from flts.models.keras_components import EpochReporter

        assert self.spec is not None
        hyper = self.hyper
        view = hyper.input_views[index % len(hyper.input_views)]
        member = self._build_member(len(self.spec.feature_columns), hyper.seed + index, view)
        member.compile(optimizer=keras.optimizers.Adam(hyper.learning_rate), loss="mse")
        history = member.fit(
            *fit_data,
            validation_data=val_data,
            epochs=hyper.epochs,
            batch_size=hyper.batch_size,
            shuffle=True,
            callbacks=[
                keras.callbacks.EarlyStopping(patience=hyper.patience, restore_best_weights=True),
                EpochReporter(on_epoch, index, first_epoch),
            ],
            verbose=0,
        )
        return member, [float(value) for value in history.history["val_loss"]]


class GruModel(RecurrentModel):
    model_type = "GRU"
    cell = "GRU"


class LstmModel(RecurrentModel):
    model_type = "LSTM"
    cell = "LSTM"
