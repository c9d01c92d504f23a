"""Inference settings: HTTP micro-batching and workers, the Kafka batch path, model resolution."""

from __future__ import annotations

import socket

from pydantic import Field, model_validator

from flts.settings import FltsSettings


class InferenceSettings(FltsSettings):
    service_name: str = "inference"
    consumer_group_id: str | None = "inference"
    # Each replica follows promotions with its own group (every replica must see every promotion).
    instance_id: str = Field(default_factory=socket.gethostname)

    # HTTP /predict: bounded queue → micro-batches → worker pool.
    http_queue_maxsize: int = Field(default=2048, ge=1)
    batch_size: int = Field(default=64, ge=1, le=4096)
    batch_timeout_ms: float = Field(default=0.0, ge=0)  # 0: batch whatever waits (no added latency)
    inference_workers: int = Field(default=2, ge=1)
    min_workers: int = Field(default=1, ge=1)
    max_workers: int = Field(default=8, ge=1)
    request_timeout_ms: float = Field(default=5000.0, gt=0)
    max_horizon: int = Field(default=60, ge=1)
    max_request_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)  # larger /predict bodies: 413
    retry_after_sec: int = Field(default=1, ge=1)
    predict_log_every: int = Field(default=1000, ge=1)

    # Kafka `inference-data`: rolling forecasts over claimed test data.
    use_bounded_queue: bool = True
    queue_maxsize: int = Field(default=8, ge=1)
    enable_microbatch: bool = True
    enable_ttl: bool = True
    dedupe_cache_max: int = Field(default=10_000, ge=1)
    batch_job_workers: int = Field(default=1, ge=1, le=8)
    run_inference_on_train_success: bool = False

    model_threads: int = Field(default=1, ge=1)  # TensorFlow intra/inter-op threads
    compile_xla: bool = True  # serve Keras models through XLA-compiled, padded batch sizes
    model_cache_dir: str = "/tmp/flts-models"
    mlflow_timeout_sec: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _worker_bounds(self) -> InferenceSettings:
        if not self.min_workers <= self.inference_workers <= self.max_workers:
            raise ValueError(
                f"INFERENCE_WORKERS={self.inference_workers} must lie within "
                f"MIN_WORKERS={self.min_workers} and MAX_WORKERS={self.max_workers}"
            )
        return self
