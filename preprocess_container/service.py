"""Preprocess one identifier: download raw CSVs, write content-addressed outputs, publish claims.

Idempotent: the outputs live under `<identifier>/<config_hash>/`, and `meta.json` is written last, so
its presence means the prefix is complete. A matching `meta.json` (and no FORCE_REPROCESS) means
`skip_idempotent`: the claims are re-emitted from it and nothing is computed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter, Histogram

from flts.contracts import ClaimCheck, DatasetUploaded, Topic
from flts.features import FeatureError
from flts.kafka.consumer import Delivery, DependencyUnavailableError, PoisonMessageError
from flts.kafka.producer import EventProducer
from flts.lineage import SourceFile, build_active_config, config_hash, sha256_bytes
from flts.log import log_event
from flts.objectstore import GatewayClient, GatewayError

from .artifacts import META_JSON, ProcessedMeta, ProcessedOutputs, SplitInfo, build_outputs
from .settings import PreprocessSettings

logger = logging.getLogger(__name__)

RUNS = Counter("preprocess_runs_total", "Preprocess runs by outcome", ["outcome"])
SECONDS = Histogram(
    "preprocess_seconds",
    "Time to process one dataset (download to claims)",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
CLAIMS = Counter("preprocess_claims_total", "Claim checks published", ["topic"])


class DatasetRejectedError(PoisonMessageError):
    """The dataset cannot be processed as it is (bad CSV, too short, missing file)."""


@dataclass(frozen=True)
class Outcome:
    identifier: str
    config_hash: str
    skipped: bool
    train_claim: ClaimCheck
    test_claim: ClaimCheck


class PreprocessService:
    def __init__(self, settings: PreprocessSettings, gateway: GatewayClient, producer: EventProducer) -> None:
        self.settings = settings
        self.gateway = gateway
        self.producer = producer
        self.config = settings.feature_config()

    # -- entry points ----------------------------------------------------------------------------
    def handle_upload(self, delivery: Delivery[DatasetUploaded]) -> None:
        """`dataset-uploaded`: process the identifier with the files now in the dataset bucket."""
        event = delivery.value
        identifier = event.identifier
        if event.object_key == self.settings.test_key(identifier) and not self.object_exists(
            self.settings.dataset_bucket, self.settings.train_key(identifier)
        ):
            log_event(logger, "waiting_for_train_file", identifier=identifier, test_key=event.object_key)
            return
        self.process(identifier)

    def process(self, identifier: str) -> Outcome:
        started = time.perf_counter()
        try:
            outcome = self._process(identifier)
        except (FeatureError, DatasetRejectedError) as exc:
            RUNS.labels("failed").inc()
            log_event(
                logger,
                "preprocess_failed",
                logging.ERROR,
                identifier=identifier,
                error=str(exc),
                error_type=type(exc).__name__,
            )
            if isinstance(exc, DatasetRejectedError):
                raise
            raise DatasetRejectedError(f"{identifier}: {exc}") from exc
        SECONDS.observe(time.perf_counter() - started)
        RUNS.labels("skipped" if outcome.skipped else "processed").inc()
        return outcome

    # -- steps -----------------------------------------------------------------------------------
    def _process(self, identifier: str) -> Outcome:
        bucket = self.settings.dataset_bucket
        train_key, test_key = self.settings.train_key(identifier), self.settings.test_key(identifier)
        train_csv = self._download(bucket, train_key, required=True)
        assert train_csv is not None
        test_csv = self._download(bucket, test_key, required=False)
        sources = [
            SourceFile(
                role="train",
                bucket=bucket,
                object_key=train_key,
                sha256=sha256_bytes(train_csv),
                size=len(train_csv),
            )
        ]
        if test_csv is not None:
            sources.append(
                SourceFile(
                    role="test",
                    bucket=bucket,
                    object_key=test_key,
                    sha256=sha256_bytes(test_csv),
                    size=len(test_csv),
                )
            )
        active = build_active_config(self.config, sources, self.settings.extra_hash_salt)
        digest = config_hash(active)
        prefix = f"{identifier}/{digest}/"
        context = {"identifier": identifier, "config_hash": digest}

        existing = None if self.settings.force_reprocess else self._existing_meta(prefix)
        if existing is not None:
            log_event(logger, "skip_idempotent", **context, created_at=existing.created_at.isoformat())
            return self._publish(existing, skipped=True)

        started = time.perf_counter()
        outputs = build_outputs(
            identifier, train_csv, test_csv, self.config, sources, active, digest, prefix, datetime.now(UTC)
        )
        compute_seconds = time.perf_counter() - started
        self._write(prefix, outputs)
        log_event(
            logger,
            "preprocess_done",
            **context,
            train_rows=outputs.meta.train.rows,
            test_rows=outputs.meta.test.rows,
            compute_seconds=round(compute_seconds, 3),
            split="given test file"
            if test_csv is not None
            else f"last {self.config.test_fraction:.0%} by time",
        )
        return self._publish(outputs.meta, skipped=False)

    def _download(self, bucket: str, key: str, required: bool) -> bytes | None:
        try:
            return self.gateway.download_bytes(bucket, key)
        except GatewayError as exc:
            if exc.status == 404:
                if required:
                    raise DatasetRejectedError(f"{bucket}/{key} does not exist") from exc
                return None
            if exc.unavailable:
                raise DependencyUnavailableError(str(exc)) from exc
            raise

    def object_exists(self, bucket: str, key: str) -> bool:
        try:
            return self.gateway.exists(bucket, key)
        except GatewayError as exc:
            raise DependencyUnavailableError(str(exc)) from exc

    def _existing_meta(self, prefix: str) -> ProcessedMeta | None:
        key = f"{prefix}{META_JSON}"
        try:
            return ProcessedMeta.model_validate(self.gateway.get_json(self.settings.processed_bucket, key))
        except GatewayError as exc:
            if exc.status == 404:
                return None
            raise DependencyUnavailableError(str(exc)) from exc

    def _write(self, prefix: str, outputs: ProcessedOutputs) -> None:
        bucket = self.settings.processed_bucket
        try:
            self.gateway.upload_bytes(bucket, outputs.meta.train.object_key, outputs.train_parquet)
            self.gateway.upload_bytes(bucket, outputs.meta.test.object_key, outputs.test_parquet)
            self.gateway.upload_bytes(bucket, outputs.meta.scaler_key, outputs.scaler_pickle)
            # meta.json last: it marks the prefix complete (the idempotency check reads it).
            self.gateway.put_json(bucket, f"{prefix}{META_JSON}", outputs.meta)
        except GatewayError as exc:
            raise DependencyUnavailableError(str(exc)) from exc

    def _claim(self, meta: ProcessedMeta, split: SplitInfo) -> ClaimCheck:
        return ClaimCheck(
            bucket=self.settings.processed_bucket,
            object_key=split.object_key,
            config_hash=meta.config_hash,
            identifier=meta.identifier,
            size=split.size,
            rows=split.rows,
            created_at=meta.created_at,
        )

    def _publish(self, meta: ProcessedMeta, skipped: bool) -> Outcome:
        """Claims go out only after every object is written (or was found complete)."""
        train_claim, test_claim = self._claim(meta, meta.train), self._claim(meta, meta.test)
        self.producer.publish(Topic.TRAINING_DATA, train_claim, key=meta.identifier)
        self.producer.publish(Topic.INFERENCE_DATA, test_claim, key=meta.identifier)
        CLAIMS.labels(Topic.TRAINING_DATA).inc()
        CLAIMS.labels(Topic.INFERENCE_DATA).inc()
        log_event(
            logger,
            "claims_published",
            identifier=meta.identifier,
            config_hash=meta.config_hash,
            skipped=skipped,
            train_rows=meta.train.rows,
            test_rows=meta.test.rows,
        )
        return Outcome(meta.identifier, meta.config_hash, skipped, train_claim, test_claim)
