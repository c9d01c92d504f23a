"""Pure scoring: candidates, the weighted score and the winner (lower score wins, newest breaks ties)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Candidate:
    run_id: str
    model_type: str
    experiment: str
    start_time: int  # epoch ms
    metrics: Mapping[str, float]
    artifact_paths: frozenset[str] = field(default_factory=frozenset)
    model_path: str | None = None  # the artifact folder holding the MLflow model, if any

    @property
    def rmse(self) -> float:
        return float(self.metrics["test_rmse"])

    @property
    def mae(self) -> float:
        return float(self.metrics["test_mae"])

    @property
    def mse(self) -> float:
        return float(self.metrics["test_mse"])

    def has_model(self) -> bool:
        return self.model_path is not None


def score(candidate: Candidate, weights: Mapping[str, float]) -> float:
    """0.5*rmse + 0.3*mae + 0.2*mse by default (weights configurable); lower is better."""
    return weights["rmse"] * candidate.rmse + weights["mae"] * candidate.mae + weights["mse"] * candidate.mse


def has_metrics(candidate: Candidate) -> bool:
    return all(name in candidate.metrics for name in ("test_rmse", "test_mae", "test_mse"))


def rank(candidates: Sequence[Candidate], weights: Mapping[str, float]) -> list[tuple[Candidate, float]]:
    """Best first: lowest score, then the newest start_time."""
    scored = [(candidate, score(candidate, weights)) for candidate in candidates]
    return sorted(scored, key=lambda pair: (pair[1], -pair[0].start_time))
