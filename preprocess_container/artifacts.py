"""Raw bytes → processed artifacts (Parquet splits, scaler, meta): pure, no I/O."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from flts.features import FeatureConfig, parse_csv, prepare
from flts.lineage import SourceFile, canonical_json

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


def to_parquet(frame: pd.DataFrame, active_config: dict[str, Any], config_hash: str) -> bytes:
    """Parquet bytes whose schema metadata carries the lineage (`preprocess_config`, `config_hash`)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[b"preprocess_config"] = canonical_json(active_config).encode()
    metadata[b"config_hash"] = config_hash.encode()
    buffer = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(metadata), buffer, compression="zstd")
    return buffer.getvalue()


def read_parquet(data: bytes) -> tuple[pd.DataFrame, dict[str, str]]:
    """The frame and its lineage metadata (decoded)."""
    table = pq.read_table(io.BytesIO(data))
    metadata = {
        key.decode(): value.decode()
        for key, value in (table.schema.metadata or {}).items()
        if key in (b"preprocess_config", b"config_hash")
    }
    return table.to_pandas(), metadata


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
