"""Message, pointer and DLQ contracts (DESIGN §2, §3): the one place they are defined.

Every message is decoded here, by the consumer loop, into one of these models; no message travels as a
bare dict. Unknown fields are refused so a renamed field fails loudly instead of silently.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1


class Topic(StrEnum):
    DATASET_UPLOADED = "dataset-uploaded"
    TRAINING_DATA = "training-data"
    INFERENCE_DATA = "inference-data"
    MODEL_TRAINING = "model-training"
    MODEL_SELECTED = "model-selected"
    PERFORMANCE_EVAL = "performance-eval"


ALL_TOPICS: tuple[str, ...] = tuple(t.value for t in Topic)


def dlq_topic(topic: str) -> str:
    return f"DLQ-{topic}"


def utc_now() -> datetime:
    return datetime.now(UTC)


class Contract(BaseModel):
    """Base for wire models: strict about unknown fields, JSON round-trippable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class DatasetUploaded(Contract):
    v: Literal[1] = 1  # SCHEMA_VERSION; another version is refused
    bucket: str
    object_key: str
    identifier: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ClaimCheck(Contract):
    """A pointer to processed data: `training-data` and `inference-data` carry these."""

    v: Literal[1] = 1  # SCHEMA_VERSION; another version is refused
    bucket: str
    object_key: str
    object: str = ""  # = object_key; kept for consumers of the earlier format
    config_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    identifier: str
    size: int = Field(ge=0)
    rows: int = Field(ge=0)
    created_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _object_defaults_to_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("object") and "object_key" in data:
            data = {**data, "object": data["object_key"]}
        return data


class TrainingStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


_OPERATION = {
    TrainingStatus.RUNNING: "Training Started",
    TrainingStatus.SUCCESS: "Trained",
    TrainingStatus.FAILED: "Training Failed",
}


class TrainingEvent(Contract):
    """Lifecycle of one training run on `model-training`."""

    operation: str
    status: TrainingStatus
    model_type: str
    run_id: str | None = None
    experiment: str | None = None
    config_hash: str
    identifier: str
    metrics: dict[str, float] | None = None
    error: str | None = None

    @classmethod
    def build(cls, status: TrainingStatus, model_type: str, **fields: object) -> TrainingEvent:
        operation = f"{_OPERATION[status]}: {model_type}"
        return cls(operation=operation, status=status, model_type=model_type, **fields)


class Promotion(Contract):
    """The promotion decision: `model-selected` payload and the content of every pointer."""

    identifier: str
    config_hash: str
    run_id: str
    model_type: str
    experiment: str
    model_uri: str
    rmse: float
    mae: float
    mse: float
    score: float
    weights: dict[str, float]
    timestamp: datetime


class PerformanceEval(Contract):
    identifier: str
    run_id: str
    model_type: str
    config_hash: str
    rows: int = Field(ge=0)
    mae: float
    rmse: float
    log_object_key: str


class DeadLetter(Contract):
    """A message that could not be handled, with its raw bytes (base64) and the reason."""

    service: str
    topic: str
    partition: int
    offset: int
    key: str | None
    raw_value: str  # base64 of the original bytes, whatever they were
    raw_value_encoding: Literal["base64"] = "base64"
    error: str
    error_type: str
    parse_context: dict[str, object] = Field(default_factory=dict)
    attempts: int = Field(ge=0)
    timestamp: datetime = Field(default_factory=utc_now)

    @staticmethod
    def encode_raw(raw: bytes | None) -> str:
        return base64.b64encode(raw or b"").decode("ascii")

    def raw_bytes(self) -> bytes:
        return base64.b64decode(self.raw_value)


class ObjectInfo(Contract):
    """What the gateway reports about a stored object."""

    bucket: str
    key: str
    size: int
    etag: str | None = None
    content_type: str | None = None
    last_modified: datetime | None = None
