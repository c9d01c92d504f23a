"""The per-target blend between a network and the naive window mean (pure numpy)."""

from __future__ import annotations

import numpy as np


def fit_blend_weights(truth: np.ndarray, network: np.ndarray, naive: np.ndarray) -> list[float]:
    """Per target, the weight w in [0, 1] minimising ‖truth - (w·network + (1-w)·naive)‖² (closed form)."""
    width = np.shape(truth)[-1]
    delta = (np.asarray(network, dtype=np.float64) - naive).reshape(-1, width)
    residual = (np.asarray(truth, dtype=np.float64) - naive).reshape(-1, width)
    denominator = np.sum(delta**2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(denominator > 0, np.sum(delta * residual, axis=0) / denominator, 0.0)
    return [float(value) for value in np.clip(np.nan_to_num(weights), 0.0, 1.0)]
