from __future__ import annotations

import subprocess
import sys

from flts.lineage import SourceFile, build_active_config, canonical_json, config_hash, sha256_bytes

RAW = b"time,down,up\n2018-03-28 15:56:00,1.0,2.0\n"
PROCESSING = {"scaler": "minmax", "clip": {"method": "iqr", "k": 1.5}, "time_features": True, "lags": 0}


def _config(
    raw: bytes = RAW, processing: dict[str, object] | None = None, salt: str = ""
) -> dict[str, object]:
    source = SourceFile(
        role="train", bucket="dataset", object_key="site.csv", sha256=sha256_bytes(raw), size=len(raw)
    )
    return build_active_config(processing or PROCESSING, [source], salt)


def test_pinned_vector() -> None:
    # Pinned: a change here means every stored lineage changes meaning. Bump LINEAGE_VERSION instead.
    assert config_hash(_config()) == "4e522e077e7f2567f8bdb1e07f502719e2dc696cb8339e6d4833f0fc057ae291"


def test_hash_is_stable_across_processes() -> None:
    code = (
        "from tests.unit.test_lineage import _config; from flts.lineage import config_hash; "
        "print(config_hash(_config()))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == config_hash(_config())


def test_any_input_that_changes_the_data_changes_the_hash() -> None:
    base = config_hash(_config())
    variants = [
        _config(raw=RAW.replace(b"1.0", b"1.1")),  # one byte of the raw file
        _config(processing={**PROCESSING, "scaler": "standard"}),
        _config(processing={**PROCESSING, "clip": {"method": "iqr", "k": 3.0}}),
        _config(processing={**PROCESSING, "time_features": False}),
        _config(processing={**PROCESSING, "lags": 2}),
        _config(salt="fresh"),
    ]
    hashes = {config_hash(variant) for variant in variants}
    assert base not in hashes and len(hashes) == len(variants)


def test_canonical_json_ignores_key_order() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == '{"a":[1,{"c":3,"d":2}],"b":1}'
    assert config_hash(_config(processing=dict(reversed(list(PROCESSING.items()))))) == config_hash(_config())
