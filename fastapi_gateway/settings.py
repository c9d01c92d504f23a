"""Gateway settings: the shared base plus MinIO access and upload limits."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from flts.settings import FltsSettings


class GatewaySettings(FltsSettings):
    service_name: str = "fastapi-app"

    minio_endpoint: str = "minio:9000"
    minio_access_key: SecretStr
    minio_secret_key: SecretStr
    minio_secure: bool = False
    minio_region: str = "us-east-1"
    minio_timeout_sec: float = Field(default=30.0, gt=0)
    minio_pool_size: int = Field(default=32, ge=1)

    # Comma-separated buckets the gateway serves; empty = the pipeline's own buckets.
    allowed_buckets: str = ""
    max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    max_key_length: int = Field(default=512, ge=8, le=1024)
    publish_dataset_uploads: bool = True

    @field_validator("minio_endpoint")
    @classmethod
    def _no_scheme(cls, value: str) -> str:
        if "://" in value:
            raise ValueError("must be host:port without a scheme (set MINIO_SECURE for https)")
        return value

    def bucket_allow_list(self) -> frozenset[str]:
        configured = [name.strip() for name in self.allowed_buckets.split(",") if name.strip()]
        return frozenset(configured or self.buckets())
