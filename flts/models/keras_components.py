"""Keras pieces of the recurrent families: serializable layers and the epoch-progress callback.

The layers put everything after scaling inside the saved `.keras` model. This module imports Keras, so
only the recurrent families import it (lazily). Loading a saved model needs it imported first
(`recurrent.load_keras_model` does it) so the `flts>` layer names resolve.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import ops

# exp(80) ≈ 5.5e34 still fits float32: a diverged output saturates instead of becoming inf.
_MAX_LOG_VALUE = 80.0


@keras.saving.register_keras_serializable(package="flts")
class SelectFeatures(keras.layers.Layer):
    """Keep the feature columns at `indices` (the targets) along the last axis."""

    def __init__(self, indices: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.indices = [int(index) for index in indices]

    def call(self, inputs: Any) -> Any:
        return ops.take(inputs, self.indices, axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "indices": self.indices}


@keras.saving.register_keras_serializable(package="flts")
class WindowLevel(keras.layers.Layer):
    """The mean over the input window, repeated for each of the `output_seq_len` forecast steps."""

    def __init__(self, output_seq_len: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.output_seq_len = int(output_seq_len)

    def call(self, inputs: Any) -> Any:
        return ops.repeat(ops.mean(inputs, axis=1, keepdims=True), self.output_seq_len, axis=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "output_seq_len": self.output_seq_len}


@keras.saving.register_keras_serializable(package="flts")
class CenterWindow(keras.layers.Layer):
    """Each feature minus its mean over the input window: the network sees shape, not level."""

    def call(self, inputs: Any) -> Any:
        return inputs - ops.mean(inputs, axis=1, keepdims=True)


@keras.saving.register_keras_serializable(package="flts")
class DecodeTargets(keras.layers.Layer):
    """Scaled targets → original units: undo the affine scaler, log1p (where `logged`) and the offset."""

    def __init__(
        self,
        center: Sequence[float],
        scale: Sequence[float],
        logged: Sequence[bool],
        offset: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.center = [float(value) for value in center]
        self.scale = [float(value) for value in scale]
        self.logged = [bool(value) for value in logged]
        self.offset = float(offset)

    def call(self, inputs: Any) -> Any:
        unscaled = inputs * ops.convert_to_tensor(self.scale) + ops.convert_to_tensor(self.center)
        magnitude = ops.minimum(ops.abs(unscaled), _MAX_LOG_VALUE)
        delogged = ops.sign(unscaled) * ops.expm1(magnitude)
        mask = ops.convert_to_tensor(self.logged)
        return ops.where(mask, delogged, unscaled) - self.offset

    def get_config(self) -> dict[str, Any]:
        constants = {"center": self.center, "scale": self.scale, "logged": self.logged, "offset": self.offset}
        return {**super().get_config(), **constants}


@keras.saving.register_keras_serializable(package="flts")
class NaiveBlend(keras.layers.Layer):
    """Per target: weight·network + (1 - weight)·naive mean (weights fitted on the validation split)."""

    def __init__(self, weights: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.blend_weights = [float(value) for value in weights]

    def call(self, inputs: Sequence[Any]) -> Any:
        network, naive = inputs
        weight = ops.convert_to_tensor(self.blend_weights)
        return weight * network + (1.0 - weight) * naive

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "weights": self.blend_weights}


class EpochReporter(keras.callbacks.Callback):
    """Forwards each finished epoch to `on_epoch(epoch, metrics)`; numbering continues across members."""

    def __init__(
        self, on_epoch: Callable[[int, dict[str, float]], None] | None, member: int, first_epoch: int
    ):
        super().__init__()
        self.on_epoch, self.member, self.first_epoch = on_epoch, member, first_epoch

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.on_epoch is not None:
            metrics = {key: float(value) for key, value in (logs or {}).items()}
            self.on_epoch(self.first_epoch + epoch + 1, {**metrics, "member": float(self.member)})
