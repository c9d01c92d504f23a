"""Promoted models: pointer resolution, loading from MLflow, per-identifier serving, atomic hot swap.

Pointer order (DESIGN §6): `current.json` → `global/current.json` → `<identifier>/current.json`; a request
for an identifier looks at its own pointer first. Only what a pointer or a `model-selected` event names is
ever served: there is no "latest run" fallback.
"""

from __future__ import annotations

import logging
import posixpath
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flts.contracts import Promotion
from flts.features import FittedScaler
from flts.features.fast import FastWindowTransform
from flts.log import log_event
from flts.models import ForecastModel
from flts.models.pyfunc import load_model_folder
from flts.objectstore import GatewayClient, GatewayError
from flts.parquet import read_parquet

from . import metrics
from .runner import ModelRunner
from .settings import InferenceSettings

logger = logging.getLogger(__name__)
GLOBAL_POINTERS = ("current.json", "global/current.json")
_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # MLflow run ids are 32 hex digits


class NoModelError(LookupError):
    """No promoted model is available (for this identifier): 503 for HTTP."""


@dataclass
class RawHistory:
    """The latest raw rows the service holds for an identifier (for `{}` requests)."""

    times_ns: np.ndarray
    values: np.ndarray  # (rows, raw_columns), cleaned raw units


@dataclass
class LoadedModel:
    promotion: Promotion
    model: ForecastModel
    scaler: FittedScaler
    fast: FastWindowTransform
    runner: ModelRunner
    history: RawHistory | None = None

    @property
    def spec(self) -> Any:
        return self.scaler.spec

    @property
    def identifier(self) -> str:
        return self.promotion.identifier


class ModelStore:
    """Holds one loaded model per identifier plus the default (the global pointer's)."""

    def __init__(self, settings: InferenceSettings, gateway: GatewayClient, artifacts: Any) -> None:
        """`artifacts` downloads run artifacts: `RunArtifactDownloader` (or an `MlflowClient`)."""
        self.settings = settings
        self.gateway = gateway
        self.artifacts = artifacts
        self._models: dict[str, LoadedModel] = {}
        self._default: LoadedModel | None = None
        self._loading = threading.Lock()

    # -- lookup ----------------------------------------------------------------------------------
    def ready(self) -> bool:
        return self._default is not None or bool(self._models)

    def loaded(self) -> list[LoadedModel]:
        return list(self._models.values())

    def cached(self, identifier: str | None) -> LoadedModel | None:
        """The model already loaded for `identifier` (or the default), without any I/O."""
        return self._default if identifier is None else self._models.get(identifier)

    def get(self, identifier: str | None) -> LoadedModel:
        """The model serving `identifier` (loaded on first use), or the default model."""
        if identifier is None:
            if self._default is None:
                self._default = self._load_from_pointers(GLOBAL_POINTERS)
            return self._default
        model = self._models.get(identifier)
        if model is not None:
            return model
        return self._load_from_pointers((f"{identifier}/current.json", *GLOBAL_POINTERS), identifier)

    def _load_from_pointers(self, keys: tuple[str, ...], identifier: str | None = None) -> LoadedModel:
        with self._loading:  # one load at a time; concurrent first requests wait for it
            if identifier is not None and identifier in self._models:
                return self._models[identifier]
            for key in keys:
                promotion = self._read_pointer(key)
                if promotion is None:
                    continue
                existing = self._models.get(promotion.identifier)
                if existing is not None and existing.promotion.run_id == promotion.run_id:
                    loaded = existing
                else:
                    loaded = self._load(promotion)
                    self._install(loaded, make_default=self._default is None)
                if identifier is not None and identifier != promotion.identifier:
                    log_event(
                        logger,
                        "model_fallback_pointer",
                        requested=identifier,
                        pointer=key,
                        serving=promotion.identifier,
                    )
                return loaded
        raise NoModelError(
            f"no promoted model for {identifier or 'the default pointer'} (looked at {list(keys)})"
        )

    def _read_pointer(self, key: str) -> Promotion | None:
        try:
            return Promotion.model_validate(self.gateway.get_json(self.settings.promotion_bucket, key))
        except GatewayError as exc:
            if exc.status == 404:
                return None
            raise

    # -- promotion -------------------------------------------------------------------------------
    def promote(self, promotion: Promotion) -> LoadedModel:
        """Load a newly promoted model, then swap it in atomically (in-flight work keeps the old one)."""
        current = self._models.get(promotion.identifier)
        if current is not None and current.promotion.run_id == promotion.run_id:
            self._default = current
            return current
        loaded = self._load(promotion)
        with self._loading:
            self._install(loaded, make_default=True)
        return loaded

    def load_unpromoted(self, candidate: Promotion) -> LoadedModel:
        """Load a run for the batch fast path only: it is never installed for serving."""
        return self._load(candidate)

    def _install(self, loaded: LoadedModel, make_default: bool) -> None:
        previous = self._models.get(loaded.identifier)
        self._models[loaded.identifier] = loaded  # a dict assignment: readers see old or new, never half
        if make_default:
            self._default = loaded
        if previous is not None:
            metrics.MODEL_INFO.remove(
                previous.identifier,
                previous.promotion.run_id,
                previous.promotion.model_type,
                previous.promotion.config_hash,
            )
        promotion = loaded.promotion
        metrics.MODEL_INFO.labels(
            promotion.identifier, promotion.run_id, promotion.model_type, promotion.config_hash
        ).set(1)
        metrics.MODEL_READY.set(1)
        log_event(
            logger,
            "model_loaded",
            identifier=promotion.identifier,
            run_id=promotion.run_id,
            model_type=promotion.model_type,
            config_hash=promotion.config_hash,
            default=make_default,
        )

    # -- loading ---------------------------------------------------------------------------------
    def _load(self, promotion: Promotion) -> LoadedModel:
        folder = self._download(promotion)
        model, scaler = load_model_folder(folder)
        runner = ModelRunner(model, self.settings.batch_size, self.settings.compile_xla)
        loaded = LoadedModel(promotion, model, scaler, FastWindowTransform(scaler), runner)
        loaded.history = self._latest_history(promotion, scaler)
        self._warm_up(loaded)
        return loaded

    def _download(self, promotion: Promotion) -> Path:
        """The run's model folder: `runs:/<run_id>/<MODEL_TYPE>`, falling back to `runs:/<run_id>/model`.

        Always fetched from the project's MLflow server by run id (never from `model_uri` as a location);
        the run id names a cache folder, so it must be one plain path segment.
        """
        if not _RUN_ID.fullmatch(promotion.run_id):
            raise NoModelError(f"run id {promotion.run_id[:80]!r} is not an MLflow run id")
        target = Path(self.settings.model_cache_dir) / promotion.run_id
        if (target / "MLmodel").exists():
            return target
        own_run = f"runs:/{promotion.run_id}/"
        uri_path = promotion.model_uri.removeprefix(own_run)
        if not promotion.model_uri.startswith(own_run) or ".." in uri_path.split("/") or not uri_path:
            uri_path = promotion.model_type  # a URI elsewhere is never followed
        errors = []
        for path in dict.fromkeys((uri_path, promotion.model_type, "model")):
            with tempfile.TemporaryDirectory(dir=_ensure(target.parent)) as tmp:
                try:
                    local = Path(self.artifacts.download_artifacts(promotion.run_id, path, tmp))
                except Exception as exc:  # try the next candidate path; report all if none works
                    errors.append(f"{path}: {exc}")
                    continue
                if (local / "MLmodel").exists():
                    shutil.rmtree(target, ignore_errors=True)
                    shutil.move(str(local), target)
                    return target
                errors.append(f"{path}: no MLmodel")
        raise NoModelError(f"run {promotion.run_id} has no loadable model: {'; '.join(errors)}")

    def _latest_history(self, promotion: Promotion, scaler: FittedScaler) -> RawHistory | None:
        """The tail of the promoted lineage's test split, in raw units (what `{}` forecasts from)."""
        key = posixpath.join(promotion.identifier, promotion.config_hash, "test.parquet")
        try:
            frame, _ = read_parquet(self.gateway.download_bytes(self.settings.processed_bucket, key))
        except GatewayError as exc:
            log_event(logger, "history_unavailable", logging.WARNING, key=key, error=str(exc))
            return None
        return history_from_processed(frame, scaler)

    def update_history(self, identifier: str, history: RawHistory) -> None:
        model = self._models.get(identifier)
        if model is not None:
            model.history = history

    def _warm_up(self, loaded: LoadedModel) -> None:
        """One prediction before serving: builds the model's graph outside the request path."""
        from .inferencer import prepare_window, run_batch

        spec = loaded.spec
        if loaded.history is not None and len(loaded.history.times_ns) >= spec.input_seq_len:
            times, values = loaded.history.times_ns, loaded.history.values
        else:
            step = np.int64(round(spec.step_seconds * 1e9)) or np.int64(120 * 10**9)
            times = np.arange(spec.input_seq_len, dtype=np.int64) * step
            values = np.tile(
                np.array([spec.fill_values.get(c, 0.0) for c in spec.raw_columns]), (len(times), 1)
            )
        window = prepare_window(loaded, times[-spec.history_rows :], values[-spec.history_rows :], 1)
        run_batch([window])


def history_from_processed(frame: Any, scaler: FittedScaler, rows: int = 512) -> RawHistory:
    raw = scaler.inverse_frame(frame.tail(rows))
    columns = list(scaler.spec.raw_columns)
    return RawHistory(
        times_ns=raw["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64),
        values=raw[columns].to_numpy(dtype=np.float64),
    )


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
