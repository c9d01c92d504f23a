"""Object-store access through the gateway (services hold no MinIO credentials; DESIGN §3).

Every call has a timeout and bounded retries on transport errors and 502/503/504; failures raise
`GatewayError` carrying the URL and status. Large objects stream: nothing is held in memory whole.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from flts.contracts import ObjectInfo
from flts.settings import FltsSettings

logger = logging.getLogger(__name__)
_CHUNK = 1 << 20
_RETRY_STATUS = {502, 503, 504}
_OBJECT_LIST = TypeAdapter(list[ObjectInfo])


class GatewayError(RuntimeError):
    """A gateway call failed; `status` is None when no HTTP answer came back."""

    def __init__(self, method: str, url: str, status: int | None, detail: str) -> None:
        super().__init__(f"{method} {url} -> {status if status is not None else 'no response'}: {detail}")
        self.method, self.url, self.status, self.detail = method, url, status, detail

    @property
    def unavailable(self) -> bool:
        """True when the gateway (or the store behind it) is down rather than the request wrong."""
        return self.status is None or self.status in _RETRY_STATUS


class ObjectNotFoundError(GatewayError):
    pass


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, GatewayError) and exc.unavailable


class GatewayClient:
    """Upload, download, stat and list objects via the FLTS gateway."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._retries = retries
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: FltsSettings) -> GatewayClient:
        token = settings.gateway_token.get_secret_value() if settings.gateway_token else None
        return cls(settings.gateway_url, token, settings.gateway_timeout_sec, settings.gateway_retries)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------------
    def _retrying(self) -> Retrying:
        return Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self._retries),
            wait=wait_exponential(multiplier=0.3, max=5),
            reraise=True,
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.base_url}{path}"
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise GatewayError(method, url, None, f"{type(exc).__name__}: {exc}") from exc
        _raise_for_status(method, url, response)
        return response

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in self._retrying():
            with attempt:
                return self._send(method, path, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _path(bucket: str, key: str) -> str:
        return f"{quote(bucket, safe='')}/{quote(key, safe='/')}"

    # -- writes ----------------------------------------------------------------------------------
    def upload_bytes(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> dict[str, Any]:
        """Store `data` at bucket/key (raw PUT)."""
        response = self._call(
            "PUT", f"/objects/{self._path(bucket, key)}", content=data, headers={"Content-Type": content_type}
        )
        return dict(response.json())

    def upload_file(
        self, bucket: str, key: str, path: str | os.PathLike[str], identifier: str | None = None
    ) -> dict[str, Any]:
        """Upload a file as multipart (streamed from disk; reopened on each retry)."""
        for attempt in self._retrying():
            with attempt, open(path, "rb") as handle:
                data = {"bucket": bucket, "key": key}
                if identifier:
                    data["identifier"] = identifier
                files = {"file": (Path(path).name, handle, "application/octet-stream")}
                return dict(self._send("POST", "/upload", data=data, files=files).json())
        raise AssertionError("unreachable")  # pragma: no cover

    def upload_stream(
        self, bucket: str, key: str, chunks: Iterable[bytes], content_type: str = "application/octet-stream"
    ) -> dict[str, Any]:
        """Upload from an iterable of chunks (one attempt: a stream cannot be replayed)."""
        response = self._send(
            "PUT",
            f"/objects/{self._path(bucket, key)}",
            content=iter(chunks),
            headers={"Content-Type": content_type},
        )
        return dict(response.json())

    def put_json(
        self, bucket: str, key: str, document: BaseModel | dict[str, Any] | list[Any]
    ) -> dict[str, Any]:
        """Store a JSON document as the raw object body (never a multipart envelope)."""
        body = (
            document.model_dump_json()
            if isinstance(document, BaseModel)
            else json.dumps(document, default=str)
        )
        return self.upload_bytes(bucket, key, body.encode(), "application/json")

    def ensure_buckets(self, buckets: Iterable[str]) -> None:
        for bucket in buckets:
            self._call("PUT", f"/buckets/{quote(bucket, safe='')}")

    # -- reads -----------------------------------------------------------------------------------
    def download_to(self, bucket: str, key: str, sink: BinaryIO) -> int:
        """Stream the object into `sink`; return the byte count. Retries restart a seekable sink."""
        url_path = f"/download/{self._path(bucket, key)}"
        start = sink.tell() if sink.seekable() else None
        for attempt in self._retrying():
            with attempt:
                if start is not None:
                    sink.seek(start)
                    sink.truncate()
                return self._stream_into(url_path, sink)
        raise AssertionError("unreachable")  # pragma: no cover

    def _stream_into(self, url_path: str, sink: BinaryIO) -> int:
        url = f"{self.base_url}{url_path}"
        try:
            with self._http.stream("GET", url_path) as response:
                if response.status_code >= 400:
                    response.read()
                    _raise_for_status("GET", url, response)
                written = 0
                for chunk in response.iter_bytes(_CHUNK):
                    sink.write(chunk)
                    written += len(chunk)
                return written
        except httpx.TransportError as exc:
            raise GatewayError("GET", url, None, f"{type(exc).__name__}: {exc}") from exc

    def download_file(self, bucket: str, key: str, path: str | os.PathLike[str]) -> int:
        with open(path, "wb") as handle:
            return self.download_to(bucket, key, handle)

    def download_bytes(self, bucket: str, key: str) -> bytes:
        return self._call("GET", f"/download/{self._path(bucket, key)}").content

    def iter_download(self, bucket: str, key: str) -> Generator[bytes, None, None]:
        """Yield the object's chunks (no retry once streaming has started)."""
        url_path = f"/download/{self._path(bucket, key)}"
        with self._http.stream("GET", url_path) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for_status("GET", f"{self.base_url}{url_path}", response)
            yield from response.iter_bytes(_CHUNK)

    def get_json(self, bucket: str, key: str) -> Any:
        return json.loads(self.download_bytes(bucket, key))

    def stat(self, bucket: str, key: str) -> ObjectInfo | None:
        """Object metadata, or None when it does not exist."""
        try:
            response = self._call("HEAD", f"/objects/{self._path(bucket, key)}")
        except ObjectNotFoundError:
            return None
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=int(response.headers.get("x-object-size", response.headers.get("content-length", 0))),
            etag=response.headers.get("etag"),
            content_type=response.headers.get("content-type"),
        )

    def exists(self, bucket: str, key: str) -> bool:
        return self.stat(bucket, key) is not None

    def list(self, bucket: str, prefix: str = "", limit: int = 1000) -> list[ObjectInfo]:
        response = self._call(
            "GET", f"/objects/{quote(bucket, safe='')}", params={"prefix": prefix, "limit": limit}
        )
        return _OBJECT_LIST.validate_python(response.json())

    def ready(self) -> None:
        """Raise GatewayError unless the gateway and its store answer."""
        self._send("GET", "/readyz")


def _raise_for_status(method: str, url: str, response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        detail = str(response.json().get("detail", response.text))
    except (ValueError, AttributeError):
        detail = response.text[:300] if method != "HEAD" else response.reason_phrase
    error = ObjectNotFoundError if response.status_code == 404 else GatewayError
    raise error(method, url, response.status_code, detail)
