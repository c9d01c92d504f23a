"""Promote exactly once per (identifier, config_hash).

On every `model-training` event eval re-derives the lineage's state from MLflow. When every expected
family has a FINISHED run (or, with PROMOTE_PARTIAL, when the rest can no longer succeed) it scores the
candidates and runs the promotion steps, each idempotent:

  1. history record `<identifier>/<config_hash>/promotion-<ts>.json` (the decision, with the scoreboard)
  2. pointers `current.json`, `global/current.json`, `<identifier>/current.json` (raw JSON, atomic PUT)
  3. MLflow registry: `flts-<identifier>` version for the winner, alias `champion`
  4. `model-selected` published
  5. marker `<identifier>/<config_hash>/published.json`

A replay after step 5 does nothing; a crash before it re-does the steps with the recorded decision, so a
restart never promotes twice nor loses the promotion.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Gauge
from pydantic import BaseModel, ConfigDict

from flts.contracts import Promotion, Topic, TrainingEvent, TrainingStatus
from flts.kafka.consumer import Delivery, DependencyUnavailableError
from flts.kafka.producer import EventProducer
from flts.log import log_event
from flts.objectstore import GatewayClient, GatewayError
from flts.tracking import reraise_unavailable

from .candidates import CandidateFinder, LineageRuns
from .scoring import Candidate, has_metrics, rank
from .settings import EvalSettings

logger = logging.getLogger(__name__)

PROMOTIONS = Counter("eval_promotions_total", "Promotions published", ["identifier"])
DECISIONS = Counter("eval_events_total", "model-training events by what eval did", ["outcome"])
CANDIDATES = Gauge("eval_candidates", "Candidates in the last decision", ["identifier"])
LAST_SCORE = Gauge("eval_last_score", "Score of the last promoted model", ["identifier", "model_type"])


class ScoreboardEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    model_type: str
    experiment: str
    start_time: int
    rmse: float
    mae: float
    mse: float
    score: float


class PromotionRecord(BaseModel):
    """The history record: the decision and everything it was based on."""

    model_config = ConfigDict(frozen=True)

    promotion: Promotion
    scoreboard: list[ScoreboardEntry]
    expected_model_types: list[str]
    missing_model_types: list[str]
    partial: bool


class PromotionHandler:
    def __init__(
        self, settings: EvalSettings, gateway: GatewayClient, producer: EventProducer, client: Any
    ) -> None:
        self.settings = settings
        self.gateway = gateway
        self.producer = producer
        self.client = client
        self.finder = CandidateFinder(client)
        self.bucket = settings.promotion_bucket

    # -- entry point -----------------------------------------------------------------------------
    def handle(self, delivery: Delivery[TrainingEvent]) -> None:
        event = delivery.value
        if event.status == TrainingStatus.RUNNING:
            DECISIONS.labels("ignored_running").inc()
            return
        identifier, config_hash = event.identifier, event.config_hash
        context = {"identifier": identifier, "config_hash": config_hash, "trigger": event.operation}
        if self._exists(self._marker_key(identifier, config_hash)):
            DECISIONS.labels("already_promoted").inc()
            log_event(logger, "promotion_already_done", **context)
            return
        record = self._recorded_decision(identifier, config_hash)
        if record is None:
            record = self._decide(identifier, config_hash, context)
            if record is None:
                return
            self._put(self._history_key(identifier, config_hash, record.promotion.timestamp), record)
        else:
            log_event(logger, "promotion_resumed", **context, run_id=record.promotion.run_id)
        self._complete(record)

    # -- decision --------------------------------------------------------------------------------
    def _decide(self, identifier: str, config_hash: str, context: dict[str, Any]) -> PromotionRecord | None:
        expected = list(self.settings.expected_model_types)
        lineage = self._search(identifier, config_hash, expected)
        usable, dropped = self._usable(lineage)
        log_event(
            logger,
            "promotion_artifacts_ok",
            **context,
            kept={c.model_type: c.run_id for c in usable},
            dropped={c.model_type: c.run_id for c in dropped},
        )
        present = {c.model_type for c in usable}
        missing = [t for t in expected if t not in present]
        partial = bool(missing)
        if missing:
            can_never_finish = all(t in lineage.failed for t in missing)
            if not self.settings.promote_partial or not usable:
                DECISIONS.labels("waiting").inc()
                log_event(
                    logger,
                    "promotion_waiting",
                    **context,
                    missing=missing,
                    failed=sorted(lineage.failed),
                    promote_partial=self.settings.promote_partial,
                )
                return None
            log_event(
                logger,
                "promotion_partial",
                logging.WARNING,
                **context,
                missing=missing,
                failed_for_good=can_never_finish,
            )
        weights = self.settings.weights()
        ranked = rank(usable, weights)
        scoreboard = [
            ScoreboardEntry(
                run_id=c.run_id,
                model_type=c.model_type,
                experiment=c.experiment,
                start_time=c.start_time,
                rmse=c.rmse,
                mae=c.mae,
                mse=c.mse,
                score=s,
            )
            for c, s in ranked
        ]
        log_event(
            logger,
            "promotion_scoreboard",
            **context,
            weights=weights,
            candidates=[entry.model_dump() for entry in scoreboard],
        )
        winner, winning_score = ranked[0]
        promotion = Promotion(
            identifier=identifier,
            config_hash=config_hash,
            run_id=winner.run_id,
            model_type=winner.model_type,
            experiment=winner.experiment,
            model_uri=f"runs:/{winner.run_id}/{winner.model_path or 'model'}",
            rmse=winner.rmse,
            mae=winner.mae,
            mse=winner.mse,
            score=winning_score,
            weights=weights,
            timestamp=datetime.now(UTC),
        )
        CANDIDATES.labels(identifier).set(len(scoreboard))
        return PromotionRecord(
            promotion=promotion,
            scoreboard=scoreboard,
            expected_model_types=expected,
            missing_model_types=missing,
            partial=partial,
        )

    def _search(self, identifier: str, config_hash: str, expected: list[str]) -> LineageRuns:
        """Search MLflow until every expected type has a run (or a failure), or the retries run out."""
        lineage = self.finder.find(identifier, config_hash)
        for _ in range(self.settings.promotion_search_retries - 1):
            settled = set(lineage.candidates) | set(lineage.failed)
            if all(t in settled for t in expected):
                break
            time.sleep(self.settings.promotion_search_delay_sec)
            lineage = self.finder.find(identifier, config_hash)
        return lineage

    def _usable(self, lineage: LineageRuns) -> tuple[list[Candidate], list[Candidate]]:
        kept, dropped = [], []
        metrics_only = set(self.settings.metrics_only_model_types)
        for candidate in lineage.candidates.values():
            if has_metrics(candidate) and (candidate.has_model() or candidate.model_type in metrics_only):
                kept.append(candidate)
            else:
                dropped.append(candidate)
        return kept, dropped

    # -- completion ------------------------------------------------------------------------------
    def _complete(self, record: PromotionRecord) -> None:
        promotion = record.promotion
        identifier = promotion.identifier
        for key in ("current.json", "global/current.json", f"{identifier}/current.json"):
            self._put(key, promotion)
        self._register(promotion)
        self.producer.publish(Topic.MODEL_SELECTED, promotion, key=identifier)
        self._put(self._marker_key(identifier, promotion.config_hash), promotion)
        PROMOTIONS.labels(identifier).inc()
        LAST_SCORE.labels(identifier, promotion.model_type).set(promotion.score)
        DECISIONS.labels("promoted").inc()
        log_event(
            logger,
            "model_promoted",
            identifier=identifier,
            config_hash=promotion.config_hash,
            run_id=promotion.run_id,
            model_type=promotion.model_type,
            score=promotion.score,
            partial=record.partial,
        )

    def _register(self, promotion: Promotion) -> None:
        """Registry version + `champion` alias, so the MLflow UI shows what is live (idempotent)."""
        name = f"{self.settings.registered_model_prefix}{promotion.identifier}"
        try:
            try:
                self.client.create_registered_model(name)
            except Exception as exc:
                reraise_unavailable(exc)
                if (
                    "already exists" not in str(exc).lower()
                    and "resource_already_exists" not in str(exc).lower()
                ):
                    raise
            versions = self.client.search_model_versions(f"name = '{name}' and run_id = '{promotion.run_id}'")
            version = (
                versions[0]
                if versions
                else self.client.create_model_version(
                    name,
                    promotion.model_uri,
                    run_id=promotion.run_id,
                    tags={"config_hash": promotion.config_hash, "model_type": promotion.model_type},
                )
            )
            self.client.set_registered_model_alias(name, "champion", version.version)
        except DependencyUnavailableError:
            raise
        except Exception as exc:
            reraise_unavailable(exc)
            raise

    # -- object store ----------------------------------------------------------------------------
    def _history_prefix(self, identifier: str, config_hash: str) -> str:
        return f"{identifier}/{config_hash}/"

    def _history_key(self, identifier: str, config_hash: str, timestamp: datetime) -> str:
        stamp = timestamp.strftime("%Y%m%dT%H%M%S%fZ")
        return f"{self._history_prefix(identifier, config_hash)}promotion-{stamp}.json"

    def _marker_key(self, identifier: str, config_hash: str) -> str:
        return f"{self._history_prefix(identifier, config_hash)}published.json"

    def _recorded_decision(self, identifier: str, config_hash: str) -> PromotionRecord | None:
        try:
            entries = self.gateway.list(
                self.bucket, prefix=f"{self._history_prefix(identifier, config_hash)}promotion-"
            )
            if not entries:
                return None
            newest = max(entries, key=lambda item: item.key)
            return PromotionRecord.model_validate(self.gateway.get_json(self.bucket, newest.key))
        except GatewayError as exc:
            raise DependencyUnavailableError(str(exc)) from exc

    def _exists(self, key: str) -> bool:
        try:
            return self.gateway.exists(self.bucket, key)
        except GatewayError as exc:
            raise DependencyUnavailableError(str(exc)) from exc

    def _put(self, key: str, document: BaseModel) -> None:
        try:
            self.gateway.put_json(self.bucket, key, document)
        except GatewayError as exc:
            raise DependencyUnavailableError(str(exc)) from exc

    def latest(self, identifier: str) -> dict[str, Any] | None:
        """The latest decision for an identifier (for GET /scoreboard/{identifier})."""
        try:
            pointer = Promotion.model_validate(
                self.gateway.get_json(self.bucket, f"{identifier}/current.json")
            )
        except GatewayError as exc:
            if exc.status == 404:
                return None
            raise
        record = self._recorded_decision(identifier, pointer.config_hash)
        return record.model_dump(mode="json") if record else {"promotion": pointer.model_dump(mode="json")}
