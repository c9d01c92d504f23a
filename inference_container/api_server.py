"""HTTP API on port 8000: /predict, /scale_workers, /metrics, /healthz, /readyz."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import numpy as np
from fastapi import Body, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool

from flts.log import log_event
from flts.metrics import render_latest

from . import metrics
from .batcher import DeadlineExceededError, MicroBatcher, QueueFullError
from .inferencer import InputError, Window, parse_history, prepare_window
from .models import LoadedModel, ModelStore, NoModelError
from .settings import InferenceSettings

logger = logging.getLogger(__name__)


class PredictRequest(BaseModel):
    """Body of POST /predict. `{}` forecasts from the latest data the service holds."""

    model_config = ConfigDict(extra="forbid")

    identifier: str | None = Field(default=None, min_length=1, max_length=200)
    history: dict[str, list[float | int | str | None]] | None = Field(
        default=None, description="columns of raw values with a 'time' column, at least input_seq_len rows"
    )
    horizon: int | None = Field(default=None, ge=1)
    inference_length: int | None = Field(default=None, ge=1, description="alias of horizon")

    @model_validator(mode="after")
    def _one_horizon(self) -> PredictRequest:
        if (
            self.horizon is not None
            and self.inference_length is not None
            and self.horizon != self.inference_length
        ):
            raise ValueError("give horizon or inference_length, not two different values")
        return self

    def steps(self, default: int) -> int:
        return self.horizon or self.inference_length or default


class ScaleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workers: int = Field(ge=0)


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def create_app(
    settings: InferenceSettings,
    store: ModelStore,
    batcher_factory: Callable[[], MicroBatcher],
    background: Callable[[], Callable[[], None]] | None = None,
) -> FastAPI:
    state: dict[str, Any] = {}
    counter = {"n": 0}  # predict_inference_start is logged for the first request and then sampled

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        batcher = batcher_factory()
        await batcher.start()
        state["batcher"] = batcher
        stop_background = background() if background else None
        try:
            yield
        finally:
            if stop_background:
                stop_background()
            await batcher.stop()

    app = FastAPI(title="FLTS inference", version="1.0", lifespan=lifespan)
    request_schema = PredictRequest.model_json_schema()

    @app.post(
        "/predict",
        openapi_extra={
            "requestBody": {"content": {"application/json": {"schema": request_schema}}, "required": False}
        },
        responses={
            422: {"description": "bad input"},
            429: {"description": "queue full"},
            503: {"description": "no model"},
            504: {"description": "deadline passed"},
        },
    )
    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        status = 200
        try:
            response = await _predict(request)
            status = response.status_code
            return response
        finally:
            metrics.REQUESTS.labels("/predict", str(status)).inc()
            metrics.REQUEST_SECONDS.labels("/predict").observe(time.perf_counter() - started)

    async def _predict(request: Request) -> Response:
        body = await request.body()
        content_type = request.headers.get("content-type", "application/json")
        if body and "json" not in content_type:
            return _error(415, f"POST /predict takes application/json, not {content_type}")
        try:
            parsed = PredictRequest.model_validate_json(body or b"{}")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()[:5]
            )
            return _error(422, problems)
        try:
            loaded = store.cached(parsed.identifier) or await run_in_threadpool(store.get, parsed.identifier)
        except NoModelError as exc:
            return _error(503, str(exc), {"Retry-After": "5"})
        counter["n"] += 1
        if counter["n"] % settings.predict_log_every == 1 or logger.isEnabledFor(logging.DEBUG):
            log_event(
                logger,
                "predict_inference_start",
                identifier=parsed.identifier,
                run_id=loaded.promotion.run_id,
                requests_so_far=counter["n"],
            )
        steps = parsed.steps(loaded.spec.output_seq_len)
        if steps > settings.max_horizon:
            return _error(422, f"horizon {steps} is above the maximum {settings.max_horizon}")
        try:
            window = _window(loaded, parsed, steps)
        except InputError as exc:
            return _error(422, str(exc))
        batcher: MicroBatcher = state["batcher"]
        try:
            times, values = await batcher.submit(window, settings.request_timeout_ms / 1000.0)
        except QueueFullError as exc:
            return _error(429, str(exc), {"Retry-After": str(settings.retry_after_sec)})
        except DeadlineExceededError as exc:
            return _error(504, str(exc))
        metrics.PREDICTIONS.labels(loaded.identifier).inc()
        return JSONResponse(_answer(loaded, parsed.identifier, times, values))

    def _window(loaded: LoadedModel, parsed: PredictRequest, steps: int) -> Window:
        if parsed.history is not None:
            times, values = parse_history(loaded, parsed.history)
        elif loaded.history is not None:
            times, values = loaded.history.times_ns, loaded.history.values
            times, values = times[-loaded.spec.history_rows :], values[-loaded.spec.history_rows :]
        else:
            raise InputError(f"no history given and no recent data held for {loaded.identifier!r}")
        return prepare_window(loaded, times, values, steps)

    @app.post("/scale_workers")
    async def scale_workers(request: Annotated[ScaleRequest, Body()]) -> Response:
        batcher: MicroBatcher = state["batcher"]
        if not settings.min_workers <= request.workers <= settings.max_workers:
            return _error(422, f"workers must be within {settings.min_workers}..{settings.max_workers}")
        previous = batcher.resize(request.workers)
        return JSONResponse({"workers": request.workers, "previous": previous})

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        metrics.MODEL_READY.set(1 if store.ready() else 0)
        body, content_type = render_latest()
        return Response(body, media_type=content_type)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get("/readyz")
    async def readyz() -> Response:
        """Ready when a model is loaded and serving; never blocks (a missing model loads in background)."""
        if not store.ready():
            loading = state.get("loading")
            if loading is None or loading.done():
                state["loading"] = asyncio.ensure_future(run_in_threadpool(_try_default_load))
            return _error(503, state.get("load_error") or "no model loaded yet")
        return JSONResponse({"status": "ready", "models": [_describe(m) for m in store.loaded()]})

    def _try_default_load() -> None:
        try:
            store.get(None)
            state["load_error"] = None
        except Exception as exc:  # reported by the next /readyz
            state["load_error"] = f"cannot load a model: {type(exc).__name__}: {exc}"

    return app


def _describe(loaded: LoadedModel) -> dict[str, Any]:
    promotion = loaded.promotion
    return {
        "identifier": promotion.identifier,
        "run_id": promotion.run_id,
        "model_type": promotion.model_type,
        "config_hash": promotion.config_hash,
    }


def _answer(
    loaded: LoadedModel, requested: str | None, times: np.ndarray, values: np.ndarray
) -> dict[str, Any]:
    promotion = loaded.promotion
    stamps = np.datetime_as_string(times.astype("datetime64[ns]"), unit="s").tolist()
    return {
        "identifier": requested or promotion.identifier,
        "model_identifier": promotion.identifier,
        "run_id": promotion.run_id,
        "model_type": promotion.model_type,
        "config_hash": promotion.config_hash,
        "horizon": len(stamps),
        "timestamps": stamps,
        "forecast": {name: values[:, i].tolist() for i, name in enumerate(loaded.spec.targets)},
    }
