"""The forecast-vs-actual plot logged with every run (PNG bytes; headless backend)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np


def forecast_plot(
    batch: Any, predictions: np.ndarray, targets: Sequence[str], title: str, last: int = 720
) -> bytes:
    """Actual vs forecast of the first horizon step, per target, over the last `last` test windows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = batch.target_times[-last:, 0]
    figure, axes = plt.subplots(len(targets), 1, figsize=(11, 3 * len(targets)), sharex=True, squeeze=False)
    for index, target in enumerate(targets):
        axis = axes[index][0]
        axis.plot(times, batch.targets[-last:, 0, index], label="actual", linewidth=0.9)
        axis.plot(times, predictions[-last:, 0, index], label="forecast", linewidth=0.9)
        axis.set_ylabel(target)
        axis.legend(loc="upper right")
    axes[0][0].set_title(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()
