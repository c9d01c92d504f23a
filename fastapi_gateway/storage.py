"""MinIO access for the gateway: the only FLTS code that holds object-store credentials."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import BinaryIO

import urllib3
from minio import Minio
from minio.error import S3Error

from flts.contracts import ObjectInfo
from flts.log import log_event

from .settings import GatewaySettings

logger = logging.getLogger(__name__)
CHUNK = 256 * 1024
_MISSING = {"NoSuchKey", "NoSuchBucket", "NoSuchObject", "ResourceNotFound"}


class ObjectMissingError(LookupError):
    pass


class StoreUnavailableError(RuntimeError):
    """MinIO could not be reached or failed: a 503 for clients, never a 500."""


def build_minio(settings: GatewaySettings) -> Minio:
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5, read=settings.minio_timeout_sec),
        maxsize=settings.minio_pool_size,
        retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=(502, 503, 504)),
    )
    return Minio(
        settings.minio_endpoint,
        access_key=settings.minio_access_key.get_secret_value(),
        secret_key=settings.minio_secret_key.get_secret_value(),
        secure=settings.minio_secure,
        region=settings.minio_region,
        http_client=http,
    )


class ObjectStore:
    """Thin, error-classifying wrapper over the minio SDK."""

    def __init__(self, client: Minio) -> None:
        self.client = client

    def ensure_buckets(self, buckets: list[str] | frozenset[str]) -> list[str]:
        created = []
        for bucket in sorted(buckets):
            with self._errors(bucket):
                if not self.client.bucket_exists(bucket):
                    self.client.make_bucket(bucket)
                    created.append(bucket)
        if created:
            log_event(logger, "buckets_created", buckets=created)
        return created

    def ping(self) -> None:
        with self._errors():
            self.client.list_buckets()

    def put(self, bucket: str, key: str, data: BinaryIO, length: int, content_type: str, sha256: str) -> str:
        with self._errors(bucket, key):
            result = self.client.put_object(
                bucket, key, data, length, content_type=content_type, metadata={"sha256": sha256}
            )
        return str(result.etag)

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        with self._errors(bucket, key):
            stat = self.client.stat_object(bucket, key)
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=int(stat.size or 0),
            etag=stat.etag,
            content_type=stat.content_type,
            last_modified=stat.last_modified,
        )

    def open(self, bucket: str, key: str) -> tuple[Iterator[bytes], int | None]:
        """Return a chunk iterator over the object (the connection is released when it ends)."""
        with self._errors(bucket, key):
            response = self.client.get_object(bucket, key)
        length = response.headers.get("content-length")

        def chunks() -> Iterator[bytes]:
            try:
                yield from response.stream(CHUNK)
            finally:
                response.close()
                response.release_conn()

        return chunks(), int(length) if length is not None else None

    def list(self, bucket: str, prefix: str, limit: int) -> list[ObjectInfo]:
        items = []
        with self._errors(bucket):
            for obj in self.client.list_objects(bucket, prefix=prefix or None, recursive=True):
                if obj.is_dir:
                    continue
                items.append(
                    ObjectInfo(
                        bucket=bucket,
                        key=str(obj.object_name),
                        size=int(obj.size or 0),
                        etag=obj.etag,
                        last_modified=obj.last_modified,
                    )
                )
                if len(items) >= limit:
                    break
        return items

    class _errors:
        def __init__(self, bucket: str | None = None, key: str | None = None) -> None:
            self.where = "/".join(part for part in (bucket, key) if part)

        def __enter__(self) -> None:
            return None

        def __exit__(
            self, exc_type: type[BaseException] | None, exc: BaseException | None, _tb: object
        ) -> bool:
            if exc is None:
                return False
            if isinstance(exc, S3Error) and exc.code in _MISSING:
                raise ObjectMissingError(f"{self.where or 'object'} not found") from exc
            if isinstance(exc, S3Error | urllib3.exceptions.HTTPError | OSError):
                raise StoreUnavailableError(f"object store error on {self.where or 'store'}: {exc}") from exc
            return False
