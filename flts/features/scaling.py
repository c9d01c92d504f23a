"""`FittedScaler`: the scaler fitted on the training split, bundled with its `FeatureSpec`.

It is self-contained (`to_bytes` / `from_bytes`): with it alone, serving can turn a raw history into
model inputs (`transform`) and model outputs back into original units (`inverse_targets`).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from flts.features.errors import FeatureError
from flts.features.parsing import TIME_COLUMN
from flts.features.spec import FeatureSpec
from flts.features.steps import engineer_features
from flts.features.transforms import invert_value_transforms

SCALER_FORMAT = "flts-fitted-scaler/1"


def make_estimator(kind: str) -> Any | None:
    """A fresh scikit-learn scaler of `kind`, or None for `none`."""
    from sklearn import preprocessing  # lazy: importing flts.features stays cheap

    estimators = {
        "minmax": preprocessing.MinMaxScaler,
        "standard": preprocessing.StandardScaler,
        "robust": preprocessing.RobustScaler,
        "maxabs": preprocessing.MaxAbsScaler,
    }
    if kind == "none":
        return None
    if kind not in estimators:
        raise FeatureError(f"unknown scaler {kind!r}; choose one of {[*estimators, 'none']}")
    return estimators[kind]()


def affine_parameters(estimator: Any | None, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(center, scale) of a fitted per-column scaler: unscaled = scaled·scale + center.

    Read from the estimator's attributes rather than probed, which would lose precision to cancellation.
    """
    center, scale = np.zeros(width), np.ones(width)
    if estimator is None:
        return center, scale
    name = type(estimator).__name__
    if name == "MinMaxScaler":
        return -estimator.min_ / estimator.scale_, 1.0 / estimator.scale_
    if name == "StandardScaler":
        mean, std = estimator.mean_, estimator.scale_
        return (center if mean is None else mean), (scale if std is None else std)
    if name == "RobustScaler":
        middle, spread = estimator.center_, estimator.scale_
        return (center if middle is None else middle), (scale if spread is None else spread)
    if name == "MaxAbsScaler":
        return center, estimator.scale_
    raise FeatureError(f"cannot invert scaler {name}")


@dataclass(frozen=True)
class FittedScaler:
    """A per-column affine scaler over `spec.feature_columns`, fitted on train only."""

    spec: FeatureSpec
    estimator: Any | None

    @classmethod
    def fit(cls, features: pd.DataFrame, spec: FeatureSpec) -> FittedScaler:
        """Fit on the (training) feature frame."""
        estimator = make_estimator(spec.scaler)
        if estimator is not None:
            estimator.fit(features[list(spec.feature_columns)].to_numpy(dtype=float))
        return cls(spec=spec, estimator=estimator)

    def scale(self, features: pd.DataFrame) -> pd.DataFrame:
        """Unscaled features (`time` + feature columns) → scaled, same layout."""
        columns = list(self.spec.feature_columns)
        values = features[columns].to_numpy(dtype=float)
        if self.estimator is not None:
            values = self.estimator.transform(values)
        out = pd.DataFrame(values, columns=columns, index=features.index)
        out.insert(0, TIME_COLUMN, features[TIME_COLUMN].to_numpy())
        return out

    def transform(self, raw: pd.DataFrame) -> pd.DataFrame:
        """A raw frame (any column order) → processed frame, exactly as for training."""
        return self.scale(engineer_features(raw, self.spec))

    def affine(self, columns: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(center, scale) per column such that unscaled = scaled·scale + center."""
        center, scale = affine_parameters(self.estimator, len(self.spec.feature_columns))
        positions = [self.spec.feature_columns.index(name) for name in columns]
        return center[positions], scale[positions]

    def inverse_columns(self, values: np.ndarray, columns: Sequence[str]) -> np.ndarray:
        """Scaled values of `columns` (last axis) → original units (undo scaling, log1p, offset)."""
        center, scale = self.affine(columns)
        unscaled = np.asarray(values, dtype=float) * scale + center
        logged = [name in self.spec.log1p_columns for name in columns]
        return invert_value_transforms(unscaled, logged, self.spec.offset)

    def inverse_targets(self, values: np.ndarray) -> np.ndarray:
        """Scaled targets (last axis in `spec.targets` order) → original units."""
        return self.inverse_columns(values, self.spec.targets)

    def inverse_frame(self, processed: pd.DataFrame) -> pd.DataFrame:
        """A processed frame → `time` + raw columns in original units (the cleaned raw values)."""
        columns = list(self.spec.raw_columns)
        values = self.inverse_columns(processed[columns].to_numpy(dtype=float), columns)
        out = pd.DataFrame(values, columns=columns, index=processed.index)
        out.insert(0, TIME_COLUMN, processed[TIME_COLUMN].to_numpy())
        return out

    def to_bytes(self) -> bytes:
        payload = {"format": SCALER_FORMAT, "spec": self.spec.to_json_dict(), "estimator": self.estimator}
        return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes) -> FittedScaler:
        """Load what `to_bytes` wrote (trusted input: our own object store)."""
        payload = pickle.loads(data)
        if not isinstance(payload, dict) or payload.get("format") != SCALER_FORMAT:
            raise FeatureError("not an FLTS fitted scaler (wrong or missing format marker)")
        return cls(spec=FeatureSpec.from_json_dict(payload["spec"]), estimator=payload["estimator"])
