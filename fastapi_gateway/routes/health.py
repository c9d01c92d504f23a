"""/healthz, /readyz (MinIO reachable) and Prometheus /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from flts.metrics import render_latest

from ..storage import StoreUnavailableError

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok", "service": "fastapi-app"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    try:
        request.app.state.store.ping()
    except StoreUnavailableError as exc:
        return JSONResponse({"status": "not ready", "minio": str(exc)}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
def metrics() -> Response:
    body, content_type = render_latest()
    return Response(body, media_type=content_type)
