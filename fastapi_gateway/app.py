"""The gateway's FastAPI application: object-store access over HTTP (DESIGN §1, §3)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram

from flts.contracts import DatasetUploaded
from flts.log import log_event

from .routes import health, objects
from .settings import GatewaySettings
from .storage import ObjectMissingError, ObjectStore, StoreUnavailableError

logger = logging.getLogger(__name__)

REQUESTS = Counter("gateway_requests_total", "Gateway HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "gateway_request_seconds",
    "Gateway request latency (until the response starts)",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BYTES = Counter("gateway_bytes_total", "Bytes moved through the gateway", ["direction"])


class UploadAnnouncer(Protocol):
    def announce(self, event: DatasetUploaded) -> None: ...


def create_app(settings: GatewaySettings, store: ObjectStore, announcer: UploadAnnouncer | None) -> FastAPI:
    app = FastAPI(
        title="FLTS object-store gateway",
        version="1.0",
        description="Upload, download, stat and list objects in the pipeline's buckets.",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.announcer = announcer
    app.state.token = settings.gateway_token.get_secret_value() if settings.gateway_token else None
    if not app.state.token:  # compose requires a token; only a hand-started local gateway runs open
        log_event(
            logger,
            "gateway_unauthenticated",
            logging.WARNING,
            detail="GATEWAY_TOKEN is empty: every data endpoint is open to anyone who can reach it",
        )
    app.state.allowed = settings.bucket_allow_list()
    app.state.bytes_metric = BYTES

    app.include_router(health.router)
    app.include_router(objects.router)

    @app.exception_handler(ObjectMissingError)
    async def _missing(_request: Request, exc: ObjectMissingError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(StoreUnavailableError)
    async def _unavailable(_request: Request, exc: StoreUnavailableError) -> JSONResponse:
        log_event(logger, "store_unavailable", logging.WARNING, error=str(exc))
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "2"})

    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        LATENCY.labels(request.method, template).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, template, str(response.status_code)).inc()
        return response

    return app
