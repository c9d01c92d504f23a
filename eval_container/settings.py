"""Eval settings: which families must report, how long to search MLflow, and the score weights."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from flts.settings import FltsSettings


class EvalSettings(FltsSettings):
    service_name: str = "eval"
    consumer_group_id: str | None = "eval"
    expected_model_types: Annotated[tuple[str, ...], NoDecode] = ("GRU", "LSTM", "PROPHET", "NAIVE")
    promotion_search_retries: int = Field(default=5, ge=1)
    promotion_search_delay_sec: float = Field(default=2.0, ge=0)
    promote_partial: bool = False
    score_weight_rmse: float = Field(default=0.5, ge=0)
    score_weight_mae: float = Field(default=0.3, ge=0)
    score_weight_mse: float = Field(default=0.2, ge=0)
    # Families whose runs may be promoted without model artifacts (metrics-only runs).
    metrics_only_model_types: Annotated[tuple[str, ...], NoDecode] = ("PROPHET",)
    registered_model_prefix: str = "flts-"
    mlflow_timeout_sec: float = Field(default=30.0, gt=0)

    @field_validator("expected_model_types", "metrics_only_model_types", mode="before")
    @classmethod
    def _upper_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in value.replace(";", ",").split(",") if part.strip()]
        return tuple(str(part).strip().upper() for part in value)

    def weights(self) -> dict[str, float]:
        return {"rmse": self.score_weight_rmse, "mae": self.score_weight_mae, "mse": self.score_weight_mse}
