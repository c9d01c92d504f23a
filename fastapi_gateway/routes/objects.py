"""Data endpoints: upload (multipart and raw), download (streamed), stat, list, ensure bucket."""

from __future__ import annotations

import hashlib
import logging
import tempfile
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUploadFile

from flts.contracts import DatasetUploaded, ObjectInfo
from flts.kafka.producer import DeliveryError
from flts.log import log_event

from ..auth import TokenDep
from ..storage import CHUNK, ObjectStore
from ..validation import check_bucket, check_key, identifier_from_key

logger = logging.getLogger(__name__)
router = APIRouter(dependencies=[TokenDep], tags=["objects"])
_SPOOL_BYTES = 8 * 1024 * 1024


def _store(request: Request) -> ObjectStore:
    return request.app.state.store  # type: ignore[no-any-return]


def _validated(request: Request, bucket: str, key: str) -> tuple[str, str]:
    settings = request.app.state.settings
    return check_bucket(bucket, request.app.state.allowed), check_key(key, settings.max_key_length)


def _too_large(limit: int) -> HTTPException:
    return HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"upload larger than {limit} bytes")


def _check_declared_length(request: Request) -> None:
    limit = request.app.state.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise _too_large(limit)


async def _store_upload(
    request: Request,
    bucket: str,
    key: str,
    data: BinaryIO,
    size: int,
    sha256: str,
    content_type: str,
    identifier: str | None = None,
) -> dict[str, Any]:
    if size == 0:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "empty body: nothing to store")
    data.seek(0)
    etag = await run_in_threadpool(_store(request).put, bucket, key, data, size, content_type, sha256)
    request.app.state.bytes_metric.labels("in").inc(size)
    log_event(logger, "object_stored", bucket=bucket, key=key, size=size, sha256=sha256)
    result: dict[str, Any] = {"bucket": bucket, "key": key, "size": size, "sha256": sha256, "etag": etag}
    settings = request.app.state.settings
    announcer = request.app.state.announcer
    if bucket == settings.dataset_bucket and settings.publish_dataset_uploads and announcer is not None:
        identifier = identifier or request.query_params.get("identifier") or identifier_from_key(key)
        event = DatasetUploaded(
            bucket=bucket, object_key=key, identifier=identifier, size=size, sha256=sha256
        )
        try:
            await run_in_threadpool(announcer.announce, event)
        except DeliveryError as exc:
            # Stored but not announced: the client retries the (idempotent) upload.
            raise HTTPException(503, f"stored {bucket}/{key} but could not announce it: {exc}") from exc
        result["announced"] = identifier
    return result


@router.post("/upload", status_code=201, summary="Upload a file (multipart: file, bucket, key)")
async def upload(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "POST /upload takes multipart/form-data")
    if "content-length" not in request.headers:
        raise HTTPException(status.HTTP_411_LENGTH_REQUIRED, "POST /upload needs a Content-Length")
    _check_declared_length(request)
    form = await request.form(max_files=1, max_fields=8)
    try:
        upload_file, bucket, key = form.get("file"), form.get("bucket"), form.get("key")
        if not isinstance(upload_file, StarletteUploadFile):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "multipart field 'file' (a file) is required")
        if not isinstance(bucket, str) or not isinstance(key, str):
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, "multipart fields 'bucket' and 'key' are required"
            )
        bucket, key = _validated(request, bucket, key)
        size, sha256 = await run_in_threadpool(_digest, upload_file.file)
        if size > request.app.state.settings.max_upload_bytes:
            raise _too_large(request.app.state.settings.max_upload_bytes)
        identifier = form.get("identifier")
        return await _store_upload(
            request,
            bucket,
            key,
            upload_file.file,
            size,
            sha256,
            upload_file.content_type or "application/octet-stream",
            identifier if isinstance(identifier, str) and identifier else None,
        )
    finally:
        await form.close()


def _digest(data: BinaryIO) -> tuple[int, str]:
    data.seek(0)
    digest, size = hashlib.sha256(), 0
    while chunk := data.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


@router.put("/objects/{bucket}/{key:path}", status_code=201, summary="Store the raw request body")
async def put_object(request: Request, bucket: str, key: str) -> dict[str, Any]:
    bucket, key = _validated(request, bucket, key)
    _check_declared_length(request)
    limit = request.app.state.settings.max_upload_bytes
    digest, size = hashlib.sha256(), 0
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            digest.update(chunk)
            spool.write(chunk)  # rolls over to disk past _SPOOL_BYTES: memory stays bounded
        content_type = request.headers.get("content-type", "application/octet-stream")
        return await _store_upload(request, bucket, key, spool, size, digest.hexdigest(), content_type)  # type: ignore[arg-type]


@router.get("/download/{bucket}/{key:path}", summary="Stream an object")
async def download(request: Request, bucket: str, key: str) -> StreamingResponse:
    bucket, key = _validated(request, bucket, key)
    chunks, length = await run_in_threadpool(_store(request).open, bucket, key)
    headers = {"Content-Length": str(length)} if length is not None else {}
    if length:
        request.app.state.bytes_metric.labels("out").inc(length)
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


@router.head("/objects/{bucket}/{key:path}", summary="Stat an object (size, etag, type in headers)")
@router.head("/download/{bucket}/{key:path}", include_in_schema=False)
async def stat_object(request: Request, bucket: str, key: str) -> Response:
    bucket, key = _validated(request, bucket, key)
    info = await run_in_threadpool(_store(request).stat, bucket, key)
    headers = {"Content-Length": str(info.size), "X-Object-Size": str(info.size)}
    if info.etag:
        headers["ETag"] = info.etag
    if info.last_modified:
        headers["Last-Modified"] = info.last_modified.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return Response(status_code=200, headers=headers, media_type=info.content_type)


@router.get("/objects/{bucket}", summary="List objects under a prefix")
async def list_objects(
    request: Request,
    bucket: str,
    prefix: Annotated[str, Query(max_length=1024)] = "",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[ObjectInfo]:
    bucket = check_bucket(bucket, request.app.state.allowed)
    if prefix and (prefix.startswith("/") or ".." in prefix.split("/")):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"bad prefix {prefix[:80]!r}")
    return await run_in_threadpool(_store(request).list, bucket, prefix, limit)


@router.put("/buckets/{bucket}", status_code=204, summary="Create an allow-listed bucket if missing")
async def ensure_bucket(request: Request, bucket: str) -> Response:
    bucket = check_bucket(bucket, request.app.state.allowed)
    await run_in_threadpool(_store(request).ensure_buckets, [bucket])
    return Response(status_code=204)
