"""`FeatureConfig`: every option that changes the processed data (it is hashed into `config_hash`).

Rules the options rely on:

* Rows are sorted by `time`. Duplicate timestamps collapse into one row (`duplicate_rule`: the mean of
  the duplicates by default, or the first / last row).
* The sampling step is the most common difference between consecutive timestamps of the training data.
  A gap of up to `max_gap_steps` missing steps is filled with rows on that grid whose values come from the
  NaN rule; a longer gap is left as it is (the series just continues; no data is invented), so a window
  may span it.
* NaNs: `ffill` carries the last observation forward (causal, as in serving) and back-fills a leading
  NaN; `interpolate` interpolates linearly; `drop` removes the row. A column with no value at all takes
  the training median.
* Clipping bounds, medians and the scaler are fitted on the training split only and applied to test and
  to serving history.

Why the defaults (bench/accuracy.py, GRU, average NRMSE on a real station; ±0.004 is seed noise): log1p
of the traffic columns 0.82 vs 0.85 without; standard ≈ minmax scaling, robust worse; time features
and lags gained nothing (lags would also eat the first test rows); clipping is off because it would
clip the test truth too, and log1p already tames the tails (huge train-only outliers were tested).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NanStrategy = Literal["ffill", "interpolate", "drop"]
ClipMethod = Literal["none", "iqr", "percentile"]
ScalerKind = Literal["minmax", "standard", "robust", "maxabs", "none"]
SampleStrategy = Literal["head", "tail", "random"]
DuplicateRule = Literal["mean", "first", "last"]

# Traffic volumes (bits per window) and the user count are heavy-tailed in every station: log1p them.
HEAVY_TAILED_COLUMNS: tuple[str, ...] = ("down", "up", "rnti_count")


class FeatureConfig(BaseModel):
    """Options of the one feature pipeline; the defaults win the accuracy benchmark (bench/accuracy.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    targets: tuple[str, ...] = Field(default=("down", "up"), min_length=1)
    # Seed convention: a requested `value` target missing from the data is this column, renamed.
    value_source: str = "down"
    nan_strategy: NanStrategy = "ffill"
    clip_method: ClipMethod = "none"
    clip_iqr_factor: float = Field(default=1.5, gt=0)
    clip_percentile: float = Field(default=0.01, ge=0, lt=0.5)
    offset: float = 0.0
    log1p_columns: tuple[str, ...] = HEAVY_TAILED_COLUMNS
    time_features: bool = False
    lags: int = Field(default=0, ge=0)
    lag_step: int = Field(default=1, ge=1)
    scaler: ScalerKind = "standard"
    sample_train_rows: int = Field(default=0, ge=0)
    sample_test_rows: int = Field(default=0, ge=0)
    sample_strategy: SampleStrategy = "head"
    sample_seed: int = 42
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    duplicate_rule: DuplicateRule = "mean"
    max_gap_steps: int = Field(default=5, ge=0)
    input_seq_len: int = Field(default=10, ge=1)
    output_seq_len: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _distinct_targets(self) -> FeatureConfig:
        if len(set(self.targets)) != len(self.targets):
            raise ValueError(f"targets must be distinct, got {list(self.targets)}")
        return self

    @property
    def window_rows(self) -> int:
        """Rows one training window needs: inputs plus targets."""
        return self.input_seq_len + self.output_seq_len
