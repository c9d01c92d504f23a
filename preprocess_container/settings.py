"""Preprocess settings: which datasets to process and every feature-pipeline option (flat env names).

Option defaults come from `FeatureConfig`, so the pipeline has one set of defaults.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from flts.features import FeatureConfig
from flts.features.config import ClipMethod, DuplicateRule, NanStrategy, SampleStrategy, ScalerKind
from flts.settings import FltsSettings

_DEFAULTS = FeatureConfig()


def _csv_list(value: Any) -> Any:
    """Accept `down,up` as well as a JSON list for list-valued variables."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class PreprocessSettings(FltsSettings):
    service_name: str = "preprocess"
    consumer_group_id: str | None = "preprocess"

    # Datasets processed at start-up: identifiers (comma-separated); file names are templates.
    dataset_name: str = ""
    train_file: str = "{identifier}.csv"
    test_file: str = "{identifier}_test.csv"
    force_reprocess: bool = False
    extra_hash_salt: str = ""
    process_on_startup: bool = True

    targets: Annotated[tuple[str, ...], NoDecode] = _DEFAULTS.targets
    value_source: str = _DEFAULTS.value_source
    nan_strategy: NanStrategy = _DEFAULTS.nan_strategy
    clip_method: ClipMethod = _DEFAULTS.clip_method
    clip_iqr_factor: float = Field(default=_DEFAULTS.clip_iqr_factor, gt=0)
    clip_percentile: float = Field(default=_DEFAULTS.clip_percentile, ge=0, lt=0.5)
    offset: float = _DEFAULTS.offset
    log1p_columns: Annotated[tuple[str, ...], NoDecode] = _DEFAULTS.log1p_columns
    time_features: bool = _DEFAULTS.time_features
    lags: int = Field(default=_DEFAULTS.lags, ge=0)
    lag_step: int = Field(default=_DEFAULTS.lag_step, ge=1)
    scaler: ScalerKind = _DEFAULTS.scaler
    sample_train_rows: int = Field(default=_DEFAULTS.sample_train_rows, ge=0)
    sample_test_rows: int = Field(default=_DEFAULTS.sample_test_rows, ge=0)
    sample_strategy: SampleStrategy = _DEFAULTS.sample_strategy
    sample_seed: int = _DEFAULTS.sample_seed
    test_fraction: float = Field(default=_DEFAULTS.test_fraction, gt=0, lt=1)
    duplicate_rule: DuplicateRule = _DEFAULTS.duplicate_rule
    max_gap_steps: int = Field(default=_DEFAULTS.max_gap_steps, ge=0)
    input_seq_len: int = Field(default=_DEFAULTS.input_seq_len, ge=1)
    output_seq_len: int = Field(default=_DEFAULTS.output_seq_len, ge=1)

    @field_validator("targets", "log1p_columns", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _csv_list(value)

    def identifiers(self) -> list[str]:
        return [name.strip() for name in self.dataset_name.split(",") if name.strip()]

    def feature_config(self) -> FeatureConfig:
        return FeatureConfig(**{name: getattr(self, name) for name in FeatureConfig.model_fields})

    def train_key(self, identifier: str) -> str:
        return self.train_file.format(identifier=identifier)

    def test_key(self, identifier: str) -> str:
        return self.test_file.format(identifier=identifier)
