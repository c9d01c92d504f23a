"""The model call on the serving hot path.

Keras families are served through one XLA-compiled function per padded batch size (1, 4, 16, … BATCH_SIZE):
a fixed set of shapes compiled at load time, so no request pays for tracing, and each call costs a
fraction of `predict_on_batch`. The network is the very one the trainer saved (same weights, same
graph), so the answers equal the trainer's to float32 rounding; other families use `model.predict`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from flts.log import log_event
from flts.models import ForecastModel, WindowBatch

logger = logging.getLogger(__name__)


def _buckets(limit: int) -> list[int]:
    """Padded batch sizes 1, 4, 16, … up to `limit`: few compiled programs (each costs ~17 MB for the
    default ensemble), and padding a small batch costs little next to a call's fixed overhead."""
    sizes, size = [], 1
    while size < limit:
        sizes.append(size)
        size *= 4
    return [*sizes, limit]


class ModelRunner:
    def __init__(self, model: ForecastModel, max_batch: int, compile_xla: bool = True) -> None:
        self.model = model
        self.max_batch = max_batch
        self.sizes = _buckets(max_batch)
        self._function: Any = None
        network = getattr(model, "network", None)
        if compile_xla and network is not None:
            try:
                self._function = self._compile(network)
            except Exception as exc:  # an XLA-less build still serves, through predict_on_batch
                log_event(logger, "xla_unavailable", logging.WARNING, error=str(exc))
                self._function = None

    def _compile(self, network: Any) -> Any:
        import tensorflow as tf

        shape = [None, *network.inputs[0].shape[1:]]
        function = tf.function(
            lambda x: network(x, training=False),
            input_signature=[tf.TensorSpec(shape, tf.float32)],
            jit_compile=True,
            reduce_retracing=True,
        )
        for size in self.sizes:  # compile every bucket now, not on a request
            function(np.zeros([size, *shape[1:]], dtype=np.float32))
        return function

    def predict(self, batch: WindowBatch) -> np.ndarray:
        if self._function is None:
            return np.asarray(self.model.predict(batch), dtype=np.float64)
        inputs = np.asarray(batch.inputs, dtype=np.float32)
        parts = []
        for start in range(0, len(inputs), self.max_batch):
            chunk = inputs[start : start + self.max_batch]
            size = next(s for s in self.sizes if s >= len(chunk))
            if size != len(chunk):
                chunk = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), np.float32)])
            parts.append(np.asarray(self._function(chunk))[: min(len(inputs) - start, self.max_batch)])
        return np.concatenate(parts).astype(np.float64)
