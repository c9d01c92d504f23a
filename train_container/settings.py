"""Trainer settings: the model family, its hyper-parameters and the dedup policy."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from flts.models import MODEL_REGISTRY
from flts.settings import FltsSettings


class TrainSettings(FltsSettings):
    service_name: str = "trainer"
    model_type: str = "GRU"
    # One consumer group per model type; defaults to train-<model type>.
    consumer_group_id: str | None = None
    mlflow_experiment: str = "flts"
    # Hyper-parameters for the family, as a JSON object (e.g. '{"epochs": 5, "units": 32}').
    model_params: Annotated[dict[str, Any], NoDecode] = Field(default_factory=dict)
    epochs: int | None = Field(default=None, ge=1)  # shortcut for model_params["epochs"]
    skip_duplicate_configs: bool = True
    dup_cache_max: int = Field(default=1000, ge=1)
    mlflow_timeout_sec: float = Field(default=30.0, gt=0)

    @field_validator("model_type")
    @classmethod
    def _known_family(cls, value: str) -> str:
        name = value.strip().upper()
        if name not in MODEL_REGISTRY:
            raise ValueError(f"unknown model type {value!r}; known: {sorted(MODEL_REGISTRY)}")
        return name

    @field_validator("model_params", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            import json

            value = json.loads(value) if value.strip() else {}
        return value

    @model_validator(mode="after")
    def _defaults(self) -> TrainSettings:
        if self.consumer_group_id is None:
            object.__setattr__(self, "consumer_group_id", f"train-{self.model_type.lower()}")
        if self.service_name == "trainer":
            object.__setattr__(self, "service_name", f"train-{self.model_type.lower()}")
        return self

    def hyper_parameters(self) -> dict[str, Any]:
        params = dict(self.model_params)
        if self.epochs is not None and self.model_type in {"GRU", "LSTM"}:
            params["epochs"] = self.epochs
        return params
