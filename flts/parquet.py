"""Parquet with lineage: the processed splits carry `preprocess_config` and `config_hash` in metadata."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flts.lineage import canonical_json

LINEAGE_KEYS = (b"preprocess_config", b"config_hash")


def to_parquet(frame: pd.DataFrame, active_config: dict[str, Any], config_hash: str) -> bytes:
    """Parquet bytes whose schema metadata carries the lineage."""
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
        if key in LINEAGE_KEYS
    }
    return table.to_pandas(), metadata
