"""HTTP API on port 8000: /predict, /scale_workers, /metrics, /healthz, /readyz."""

from __future__ import annotations

import asyncio
import gc
import json
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
from flts.objectstore import GatewayError

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
        gc.freeze()  # start-up objects (TensorFlow, the model) leave the GC's scans: shorter pauses
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
            413: {"description": "body larger than MAX_REQUEST_BYTES"},
            415: {"description": "not application/json"},
            422: {"description": "bad input"},
            429: {"description": "queue full"},
            503: {"description": "no model"},
            504: {"description": "deadline passed"},
        },
    )
    async def predict(request: Request) -> Response:
        status, payload, headers = await handle_predict(
            await request.body(), request.headers.get("content-type")
        )
        return Response(payload, status_code=status, headers=headers, media_type="application/json")

    async def handle_predict(
        body: bytes, content_type: str | None
    ) -> tuple[int, bytes, dict[str, str] | None]:
        """The whole of POST /predict: (status, JSON body, extra headers). Shared by both HTTP lanes."""
        started = time.perf_counter()
        status, answer, headers = await _predict(body, content_type or "application/json")
        metrics.REQUESTS.labels("/predict", str(status)).inc()
        metrics.REQUEST_SECONDS.labels("/predict").observe(time.perf_counter() - started)
        return status, json.dumps(answer).encode(), headers

    async def _predict(body: bytes, content_type: str) -> tuple[int, dict[str, Any], dict[str, str] | None]:
        if body and "json" not in content_type:
            return 415, {"detail": f"POST /predict takes application/json, not {content_type}"}, None
        batcher: MicroBatcher = state["batcher"]
        if batcher.queue.full():  # refuse before parsing: under overload a 429 must cost next to nothing
            detail = f"queue full ({batcher.queue.maxsize} waiting)"
            return 429, {"detail": detail}, {"Retry-After": str(settings.retry_after_sec)}
        try:
            parsed = PredictRequest.model_validate_json(body or b"{}")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()[:5]
            )
            return 422, {"detail": problems}, None
        try:
            loaded = store.cached(parsed.identifier) or await run_in_threadpool(store.get, parsed.identifier)
        except NoModelError as exc:
            return 503, {"detail": str(exc)}, {"Retry-After": "5"}
        except GatewayError as exc:  # pointer lookup failed: a name the store refuses, or the store is down
            if exc.unavailable:
                return 503, {"detail": f"model store unavailable: {exc.detail[:200]}"}, {"Retry-After": "5"}
            detail = f"identifier {parsed.identifier!r} cannot name a model: {exc.detail[:200]}"
            return 422, {"detail": detail}, None
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
            return 422, {"detail": f"horizon {steps} is above the maximum {settings.max_horizon}"}, None
        try:
            window = _window(loaded, parsed, steps)
        except InputError as exc:
            return 422, {"detail": str(exc)}, None
        try:
            times, values = await batcher.submit(window, settings.request_timeout_ms / 1000.0)
        except QueueFullError as exc:
            return 429, {"detail": str(exc)}, {"Retry-After": str(settings.retry_after_sec)}
        except DeadlineExceededError as exc:
            return 504, {"detail": str(exc)}, None
        metrics.PREDICTIONS.labels(loaded.identifier).inc()
        return 200, _answer(loaded, parsed.identifier, times, values), None

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

    app.state.handle_predict = handle_predict
    return app


class PredictLane:
    """A lean ASGI lane for POST /predict, around the FastAPI app.

    The hot path skips the framework's middleware and routing (a third of the CPU per request at load);
    every other route, the OpenAPI schema and the lifespan stay with FastAPI. Both lanes run the same
    `handle_predict`.
    """

    def __init__(self, app: FastAPI, max_body_bytes: int = 4 * 1024 * 1024) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/predict" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:  # refused before reading it
            await self._too_large(send)
            return
        chunks, more, size = [], True, 0
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:  # a body without a length is counted as it arrives
                await self._too_large(send)
                return
            more = message.get("more_body", False)
        content_type = headers[b"content-type"].decode("latin-1") if b"content-type" in headers else None
        status, payload, extra = await self.app.state.handle_predict(b"".join(chunks), content_type)
        await self._reply(send, status, payload, extra)

    async def _too_large(self, send: Any) -> None:
        metrics.REQUESTS.labels("/predict", "413").inc()
        detail = f"request body larger than {self.max_body_bytes} bytes (MAX_REQUEST_BYTES)"
        await self._reply(send, 413, json.dumps({"detail": detail}).encode(), {"Connection": "close"})

    @staticmethod
    async def _reply(send: Any, status: int, payload: bytes, extra: dict[str, str] | None) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


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
