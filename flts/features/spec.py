"""`FeatureSpec`: what the pipeline did and learned, saved as JSON next to every model.

It fixes the column order (raw inputs and processed features), the targets, the window lengths and every
fitted parameter except the scaler (NaN fill values, clipping bounds), so serving rebuilds exactly the
features training saw.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

SPEC_VERSION = 1


class FeatureSpec(BaseModel):
    """Column order, targets, window lengths and the fitted, non-scaler transforms."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = SPEC_VERSION
    raw_columns: tuple[str, ...]
    feature_columns: tuple[str, ...]
    targets: tuple[str, ...]
    input_seq_len: int
    output_seq_len: int
    step_seconds: float
    value_source: str | None = None
    duplicate_rule: str = "mean"
    max_gap_steps: int = 0
    nan_strategy: str = "ffill"
    fill_values: dict[str, float] = {}
    clip_bounds: dict[str, tuple[float, float]] = {}
    offset: float = 0.0
    log1p_columns: tuple[str, ...] = ()
    time_features: bool = False
    lags: int = 0
    lag_step: int = 1
    scaler: str = "none"

    @property
    def target_indices(self) -> list[int]:
        """Positions of the targets among `feature_columns` (the window feature axis)."""
        return [self.feature_columns.index(name) for name in self.targets]

    @property
    def history_rows(self) -> int:
        """Raw rows a forecast needs: one input window plus the rows lags consume."""
        return self.input_seq_len + self.lags * self.lag_step

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json_dict(cls, payload: dict[str, Any]) -> FeatureSpec:
        return cls.model_validate(payload)

    @classmethod
    def from_json(cls, text: str | bytes) -> FeatureSpec:
        return cls.model_validate(json.loads(text))
