"""What MLflow says about one (identifier, config_hash): finished candidates and failed families.

Eval's state is derived from here on every event, never kept in memory, so a restart or a replay sees
exactly what a running eval would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flts.tracking import reraise_unavailable

from .scoring import Candidate


@dataclass(frozen=True)
class LineageRuns:
    candidates: dict[str, Candidate]  # newest FINISHED run per model type
    failed: frozenset[str]  # types whose newest run FAILED (and none FINISHED)


class CandidateFinder:
    def __init__(self, client: Any) -> None:
        self.client = client

    def _experiments(self) -> dict[str, str]:
        """Every experiment (Default and any other): id → name."""
        experiments = self.client.search_experiments(max_results=1000)
        return {experiment.experiment_id: experiment.name for experiment in experiments}

    def find(self, identifier: str, config_hash: str) -> LineageRuns:
        try:
            experiments = self._experiments()
            runs = self.client.search_runs(
                list(experiments),
                filter_string=f"tags.config_hash = '{config_hash}' and tags.identifier = '{identifier}'",
                order_by=["attributes.start_time DESC"],
                max_results=500,
            )
        except Exception as exc:
            reraise_unavailable(exc)
            raise
        candidates: dict[str, Candidate] = {}
        failed: set[str] = set()
        seen: set[str] = set()
        for run in runs:  # newest first
            model_type = run.data.tags.get("model_type", "").upper()
            if not model_type:
                continue
            status = run.info.status
            if status == "FINISHED" and model_type not in candidates:
                artifacts, model_path = self._artifacts(run.info.run_id, model_type)
                candidates[model_type] = Candidate(
                    run_id=run.info.run_id,
                    model_type=model_type,
                    experiment=experiments.get(run.info.experiment_id, run.info.experiment_id),
                    start_time=int(run.info.start_time or 0),
                    metrics=dict(run.data.metrics),
                    artifact_paths=artifacts,
                    model_path=model_path,
                )
            elif status == "FAILED" and model_type not in seen:
                failed.add(model_type)
            seen.add(model_type)
        return LineageRuns(candidates, frozenset(failed - set(candidates)))

    def _artifacts(self, run_id: str, model_type: str) -> tuple[frozenset[str], str | None]:
        """Top-level artifact paths, and the model folder (`<MODEL_TYPE>` or `model`) holding an MLmodel."""
        try:
            top = frozenset(artifact.path for artifact in self.client.list_artifacts(run_id))
            for folder in (model_type, "model"):
                if folder in top and any(
                    a.path.endswith("/MLmodel") for a in self.client.list_artifacts(run_id, folder)
                ):
                    return top, folder
        except Exception as exc:
            reraise_unavailable(exc)
            raise
        return top, None
