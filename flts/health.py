"""A small HTTP app for services without an HTTP API of their own: /healthz, /readyz, /metrics."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence

import uvicorn
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse

from flts.log import log_event
from flts.metrics import render_latest

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[], None]
"""Raises (any exception, with a useful message) when a dependency is not ready."""


def build_health_app(
    service: str, checks: Mapping[str, ReadinessCheck] | None = None, routers: Sequence[APIRouter] = ()
) -> FastAPI:
    """/healthz: the process answers. /readyz: every check passes (503 naming the failing ones)."""
    app = FastAPI(title=f"{service}", docs_url=None, redoc_url=None)
    for router in routers:
        app.include_router(router)
    named_checks = dict(checks or {})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        failures: dict[str, str] = {}
        for name, check in named_checks.items():
            try:
                check()
            except Exception as exc:  # a readiness probe reports, it never raises
                failures[name] = f"{type(exc).__name__}: {exc}"
        if failures:
            return JSONResponse({"status": "not ready", "failures": failures}, status_code=503)
        return JSONResponse({"status": "ready", "checks": sorted(named_checks)})

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        body, content_type = render_latest()
        return Response(body, media_type=content_type)

    return app


class BackgroundServer:
    """Run an ASGI app with uvicorn in a daemon thread (for services whose main loop is Kafka)."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self._server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
        )
        # uvicorn installs no signal handlers outside the main thread: the service's own loop owns them.
        self._thread = threading.Thread(target=self._server.run, name="health-http", daemon=True)

    def start(self) -> BackgroundServer:
        self._thread.start()
        log_event(logger, "health_server_started", port=self._server.config.port)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
