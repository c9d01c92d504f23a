"""What every model family shares: window batches, the `ForecastModel` interface and the manifest.

Every family predicts in ORIGINAL units for the same windows, so metrics compare like with like. A
model directory always holds `flts_model.json` (the manifest: family, hyper-parameters, feature spec and
small fitted constants) next to the family's own files.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from flts.features import TIME_COLUMN, FeatureSpec, FittedScaler, make_input_windows, make_windows
from flts.features.windows import target_row_index

MANIFEST_NAME = "flts_model.json"
MANIFEST_FORMAT = "flts-model/1"

# Called once per finished epoch with e.g. {"loss": …, "val_loss": …, "member": …}.
EpochCallback = Callable[[int, dict[str, float]], None]


class Hyper(BaseModel):
    """Base of every family's hyper-parameters: typed, frozen, unknown names refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class WindowBatch:
    """Windows of one split: scaled inputs, their targets in original units, and the forecast times."""

    inputs: np.ndarray  # (n, input_seq_len, features), scaled, float32
    input_targets: np.ndarray  # (n, input_seq_len, targets), original units
    target_times: np.ndarray  # (n, output_seq_len), datetime64[ns]
    targets: np.ndarray | None  # (n, output_seq_len, targets), original units; None for a forecast

    def __len__(self) -> int:
        return len(self.inputs)


def evaluation_batch(frame: pd.DataFrame, scaler: FittedScaler) -> WindowBatch:
    """Every window inside one processed split, with its targets (the same for every family)."""
    spec = scaler.spec
    values = frame[list(spec.feature_columns)].to_numpy(dtype=np.float64)
    inputs, targets = make_windows(values, spec.input_seq_len, spec.output_seq_len, spec.target_indices)
    rows = target_row_index(len(inputs), spec.input_seq_len, spec.output_seq_len)
    times = frame[TIME_COLUMN].to_numpy(dtype="datetime64[ns]")
    return WindowBatch(
        inputs=inputs.astype(np.float32),
        input_targets=scaler.inverse_targets(inputs[..., spec.target_indices]),
        target_times=times[rows],
        targets=scaler.inverse_targets(targets),
    )


def forecast_batch(frame: pd.DataFrame, scaler: FittedScaler) -> WindowBatch:
    """The last input window of a processed history and the `output_seq_len` timestamps after it."""
    spec = scaler.spec
    values = frame[list(spec.feature_columns)].to_numpy(dtype=np.float64)
    inputs = make_input_windows(values[-spec.input_seq_len :], spec.input_seq_len)
    last = frame[TIME_COLUMN].to_numpy(dtype="datetime64[ns]")[-1]
    step = np.timedelta64(round(spec.step_seconds * 1e9), "ns")
    return WindowBatch(
        inputs=inputs.astype(np.float32),
        input_targets=scaler.inverse_targets(inputs[..., spec.target_indices]),
        target_times=(last + step * np.arange(1, spec.output_seq_len + 1))[None, :],
        targets=None,
    )


@dataclass
class FitReport:
    """What a fit produced, for logging: epochs run, per-epoch validation loss, wall time, extras."""

    epochs: int = 0
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


class ForecastModel(ABC):
    """A model family: fit on a processed train split, predict original units, save and load."""

    model_type: ClassVar[str]
    hyper_class: ClassVar[type[Hyper]]

    def __init__(self, hyper: Hyper | None = None, **values: Any) -> None:
        self.hyper = hyper if hyper is not None else self.hyper_class(**values)
        self.spec: FeatureSpec | None = None

    @abstractmethod
    def fit(
        self, train: pd.DataFrame, scaler: FittedScaler, on_epoch: EpochCallback | None = None
    ) -> FitReport:
        """Train on a processed train split (validation = its chronological tail)."""

    @abstractmethod
    def predict(self, batch: WindowBatch) -> np.ndarray:
        """Forecasts (n, output_seq_len, targets) in original units."""

    @abstractmethod
    def save_files(self, directory: Path) -> dict[str, Any]:
        """Write the family's files into `directory`; return small constants for the manifest."""

    @abstractmethod
    def load_files(self, directory: Path, extras: dict[str, Any]) -> None:
        """Restore from the family's files and the manifest's constants."""

    def save(self, directory: str | Path) -> Path:
        """Write the model folder (the manifest plus the family's files)."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        if self.spec is None:
            raise RuntimeError(f"{self.model_type} model is not fitted")
        extras = self.save_files(path)
        manifest = {
            "format": MANIFEST_FORMAT,
            "model_type": self.model_type,
            "hyper": self.hyper.model_dump(mode="json"),
            "feature_spec": self.spec.to_json_dict(),
            "extras": extras,
        }
        (path / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        return path

    @classmethod
    def from_manifest(cls, directory: Path, manifest: dict[str, Any]) -> ForecastModel:
        # Hyper-parameters only describe how it was trained; a name a newer version dropped must not
        # make a saved model unloadable (the weights and the spec are what serving needs).
        known = cls.hyper_class.model_fields
        model = cls(cls.hyper_class(**{k: v for k, v in manifest["hyper"].items() if k in known}))
        model.spec = FeatureSpec.from_json_dict(manifest["feature_spec"])
        model.load_files(directory, manifest.get("extras", {}))
        return model


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a saved model folder."""
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST_NAME} in {directory}: not an FLTS model folder")
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path} has format {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}")
    return manifest
