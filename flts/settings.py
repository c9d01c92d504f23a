"""Typed settings: the only module that reads the environment.

`FltsSettings` holds the names every service shares (broker, gateway, MLflow, buckets, Kafka client
overrides). Each service subclasses it, builds it once in its `main` with `load_settings()` and passes it
down. A value that does not parse stops start-up with a message naming the variable.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceParseError

# DESIGN §3: one list of buckets, with the same defaults in every service.
DEFAULT_BUCKETS: dict[str, str] = {
    "dataset_bucket": "dataset",
    "processed_bucket": "processed-data",
    "mlflow_bucket": "mlflow",
    "promotion_bucket": "model-promotion",
    "inference_log_bucket": "inference-logs",
}


class SettingsError(SystemExit):
    """Start-up configuration is invalid; the message names every bad variable."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class FltsSettings(BaseSettings):
    """Settings shared by every FLTS service (environment variables, case-insensitive)."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, frozen=True)

    service_name: str = "flts"
    log_level: str = "INFO"
    identifier: str = "site"

    kafka_bootstrap_servers: str = "kafka:9092"
    gateway_url: str = "http://fastapi-app:8000"
    gateway_token: SecretStr | None = None
    gateway_timeout_sec: float = Field(default=30.0, gt=0)
    gateway_retries: int = Field(default=4, ge=1)
    mlflow_tracking_uri: str = "http://mlflow:5000"

    dataset_bucket: str = DEFAULT_BUCKETS["dataset_bucket"]
    processed_bucket: str = DEFAULT_BUCKETS["processed_bucket"]
    mlflow_bucket: str = DEFAULT_BUCKETS["mlflow_bucket"]
    promotion_bucket: str = DEFAULT_BUCKETS["promotion_bucket"]
    inference_log_bucket: str = DEFAULT_BUCKETS["inference_log_bucket"]

    # Kafka client behaviour; the defaults suit dev brokers and Apache Kafka alike (INFRA-NOTES).
    kafka_session_timeout_ms: int = Field(default=6000, ge=1000)
    kafka_heartbeat_interval_ms: int = Field(default=1000, ge=100)
    kafka_metadata_refresh_ms: int = Field(default=2000, ge=100)
    kafka_max_poll_interval_ms: int = Field(default=600_000, ge=10_000)
    kafka_topic_partitions: int = Field(default=3, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_delivery_timeout_sec: float = Field(default=30.0, gt=0)
    # Extra librdkafka properties as a JSON object, e.g. '{"security.protocol": "SSL"}'.
    kafka_extra_config: Annotated[dict[str, Any], NoDecode] = Field(default_factory=dict)
    consumer_group_id: str | None = None

    max_attempts: int = Field(default=3, ge=1)
    retry_backoff_sec: float = Field(default=0.5, ge=0)
    retry_backoff_max_sec: float = Field(default=30.0, ge=0)

    http_host: str = "0.0.0.0"
    port: int = Field(default=8000, ge=0, le=65535)

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("kafka_extra_config", mode="before")
    @classmethod
    def _parse_extra(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object")
        return value

    def buckets(self) -> list[str]:
        """Every bucket the pipeline uses: the ONE list `ensure_buckets()` creates."""
        return [getattr(self, name) for name in DEFAULT_BUCKETS]

    def kafka_common_config(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.kafka_bootstrap_servers, **self.kafka_extra_config}


S = TypeVar("S", bound=FltsSettings)


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build settings from the environment; on a bad value raise SettingsError naming the variable."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            variable = "_".join(str(part) for part in error["loc"]).upper() or "<settings>"
            given = error.get("input")
            shown = "" if isinstance(given, dict) else f" (got {given!r})"
            problems.append(f"{variable}{shown}: {error['msg']}")
        raise SettingsError(f"invalid {cls.__name__}: " + "; ".join(problems)) from exc
    except SourceParseError as exc:  # a complex value (JSON object) that is not JSON
        raise SettingsError(f"invalid {cls.__name__}: {exc}") from exc
