"""The trainer's MLflow bookkeeping: find an already-trained config, open, fill and close a run."""

from __future__ import annotations

import json
import logging
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flts.log import log_event
from flts.tracking import reraise_unavailable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinishedRun:
    run_id: str
    experiment: str
    metrics: dict[str, float]


class RunStore:
    """Runs of one model type: dedup lookups (bounded cache backed by MLflow) and logging."""

    def __init__(self, client: Any, experiment_name: str, model_type: str, cache_max: int) -> None:
        self.client = client
        self.experiment_name = experiment_name
        self.model_type = model_type
        self._cache: OrderedDict[str, FinishedRun] = OrderedDict()
        self._cache_max = cache_max
        self._experiment_id: str | None = None

    def experiment_id(self) -> str:
        if self._experiment_id is None:
            try:
                experiment = self.client.get_experiment_by_name(self.experiment_name)
                self._experiment_id = (
                    experiment.experiment_id
                    if experiment
                    else self.client.create_experiment(self.experiment_name)
                )
            except Exception as exc:
                reraise_unavailable(exc)
                if "already exists" not in str(exc).lower():  # another trainer created it just now
                    raise
                self._experiment_id = self.client.get_experiment_by_name(self.experiment_name).experiment_id
        return self._experiment_id

    def finished(self, config_hash: str, claim_id: str | None) -> FinishedRun | None:
        """A FINISHED run of this model type for `config_hash` (and, if given, this very claim)."""
        key = f"{config_hash}:{claim_id or '*'}"
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        query = f"tags.model_type = '{self.model_type}' and tags.config_hash = '{config_hash}'"
        if claim_id:
            query += f" and tags.claim_id = '{claim_id}'"
        query += " and attributes.status = 'FINISHED'"
        try:
            runs = self.client.search_runs(
                [self.experiment_id()],
                filter_string=query,
                order_by=["attributes.start_time DESC"],
                max_results=1,
            )
        except Exception as exc:
            reraise_unavailable(exc)
            raise
        if not runs:
            return None
        run = runs[0]
        found = FinishedRun(run.info.run_id, self.experiment_name, dict(run.data.metrics))
        self._remember(key, found)
        return found

    def _remember(self, key: str, run: FinishedRun) -> None:
        self._cache[key] = run
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_max:
            self._cache.popitem(last=False)

    def remember_finished(self, config_hash: str, claim_id: str, run: FinishedRun) -> None:
        self._remember(f"{config_hash}:{claim_id}", run)
        self._remember(f"{config_hash}:*", run)

    def start(self, tags: dict[str, str], params: dict[str, Any]) -> str:
        from mlflow.entities import Param

        try:
            run = self.client.create_run(
                self.experiment_id(), tags=tags, run_name=f"{self.model_type}-{tags['identifier']}"
            )
            self.client.log_batch(run.info.run_id, params=[Param(k, _param(v)) for k, v in params.items()])
        except Exception as exc:
            reraise_unavailable(exc)
            raise
        return str(run.info.run_id)

    def log_metric(self, run_id: str, name: str, value: float, step: int | None = None) -> None:
        try:
            self.client.log_metric(run_id, name, float(value), step=step or 0)
        except Exception as exc:  # progress metrics are best effort: training goes on
            log_event(
                logger, "mlflow_metric_failed", logging.WARNING, run_id=run_id, metric=name, error=str(exc)
            )

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        try:
            now = _now_ms()
            self.client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])
        except Exception as exc:
            reraise_unavailable(exc)
            raise

    def log_folder(self, run_id: str, folder: Path, artifact_path: str | None) -> None:
        try:
            self.client.log_artifacts(run_id, str(folder), artifact_path)
        except Exception as exc:
            reraise_unavailable(exc)
            raise

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(artifact_file).name
            path.write_text(text)
            parent = str(Path(artifact_file).parent)
            try:
                self.client.log_artifact(run_id, str(path), None if parent == "." else parent)
            except Exception as exc:
                reraise_unavailable(exc)
                raise

    def end(self, run_id: str, status: str) -> None:
        try:
            self.client.set_terminated(run_id, status=status)
        except Exception as exc:
            reraise_unavailable(exc)
            raise


def _param(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:6000]


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
