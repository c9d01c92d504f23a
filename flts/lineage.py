"""Lineage (DESIGN §4): the canonical active configuration and its SHA-256, `config_hash`.

Everything that changes the processed data goes in: the processing options, every input file with the
SHA-256 of its *content*, and `EXTRA_HASH_SALT`. The JSON is canonical (sorted keys, compact, no NaN) so
the hash is the same in every process and on every machine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

LINEAGE_VERSION = 1


class SourceFile(BaseModel):
    """One raw input: its role (train/test), where it came from and the hash of its bytes."""

    model_config = ConfigDict(frozen=True)

    role: str
    bucket: str
    object_key: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def build_active_config(
    processing: Mapping[str, Any] | BaseModel,
    sources: Sequence[SourceFile],
    salt: str = "",
) -> dict[str, Any]:
    """The active configuration that determines the processed data, as a JSON-ready dict."""
    options = processing.model_dump(mode="json") if isinstance(processing, BaseModel) else dict(processing)
    return {
        "lineage_version": LINEAGE_VERSION,
        "processing": options,
        "sources": sorted(
            (source.model_dump(mode="json") for source in sources),
            key=lambda item: (item["role"], item["object_key"]),
        ),
        "extra_hash_salt": salt,
    }


def config_hash(active_config: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of an active configuration."""
    return sha256_bytes(canonical_json(active_config).encode())
