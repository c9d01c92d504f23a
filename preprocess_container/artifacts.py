"""Raw bytes → processed artifacts (Parquet splits, scaler, meta): pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from flts.features import FeatureConfig, parse_csv, prepare
from flts.lineage import SourceFile
from flts.parquet import to_parquet

TRAIN_PARQUET, TEST_PARQUET, META_JSON, SCALER_PKL = (
    "train.parquet",
    "test.parquet",
    "meta.json",
    "scaler.pkl",
)


class SplitInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    object_key: str
    rows: int
    size: int


class ProcessedMeta(BaseModel):
    """`meta.json`: what a content-addressed processed prefix holds and how it was made."""

    model_config = ConfigDict(frozen=True)

    identifier: str
    config_hash: str
    created_at: datetime
    sources: list[SourceFile]
    config: dict[str, Any]
    scaler_type: str
    scaler_key: str
    columns: list[str]
    targets: list[str]
    feature_spec: dict[str, Any]
    train: SplitInfo
    test: SplitInfo


@dataclass(frozen=True)
class ProcessedOutputs:
    train_parquet: bytes
    test_parquet: bytes
    scaler_pickle: bytes
    meta: ProcessedMeta


def build_outputs(
    identifier: str,
    train_csv: bytes,
    test_csv: bytes | None,
    config: FeatureConfig,
    sources: list[SourceFile],
    active_config: dict[str, Any],
    config_hash: str,
    prefix: str,
    created_at: datetime,
) -> ProcessedOutputs:
    """Run the feature pipeline and serialise everything a claim will point at."""
    train_raw = parse_csv(train_csv)
    test_raw = parse_csv(test_csv) if test_csv is not None else None
    prepared = prepare(train_raw, test_raw, config)
    train_bytes = to_parquet(prepared.train, active_config, config_hash)
    test_bytes = to_parquet(prepared.test, active_config, config_hash)
    spec = prepared.spec
    meta = ProcessedMeta(
        identifier=identifier,
        config_hash=config_hash,
        created_at=created_at,
        sources=sources,
        config=active_config,
        scaler_type=config.scaler,
        scaler_key=f"{prefix}{SCALER_PKL}",
        columns=list(spec.feature_columns),
        targets=list(spec.targets),
        feature_spec=spec.to_json_dict(),
        train=SplitInfo(
            object_key=f"{prefix}{TRAIN_PARQUET}", rows=len(prepared.train), size=len(train_bytes)
        ),
        test=SplitInfo(object_key=f"{prefix}{TEST_PARQUET}", rows=len(prepared.test), size=len(test_bytes)),
    )
    return ProcessedOutputs(train_bytes, test_bytes, prepared.scaler.to_bytes(), meta)
