"""Preprocess processing time for a CSV pair (parse, clean, features, train-only scaler, Parquet).

    python bench/preprocess.py --train ../shared/data/ElBorn.csv --test ../shared/data/ElBorn_test.csv

Without arguments it times the synthetic sample. Prints the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flts.features import FeatureConfig
from flts.lineage import SourceFile, build_active_config, config_hash, sha256_bytes
from flts.synthetic import generate_dataset, split_train_test
from preprocess_container.artifacts import build_outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train")
    parser.add_argument("--test")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.train:
        train_csv = Path(args.train).read_bytes()
        test_csv = Path(args.test).read_bytes() if args.test else None
        name = Path(args.train).stem
    else:
        train, test = split_train_test(generate_dataset(5000))
        train_csv, test_csv = train.to_csv(index=False).encode(), test.to_csv(index=False).encode()
        name = "synthetic-5000"
    config = FeatureConfig()
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        sources = [
            SourceFile(
                role="train",
                bucket="dataset",
                object_key="t.csv",
                sha256=sha256_bytes(train_csv),
                size=len(train_csv),
            )
        ]
        if test_csv is not None:
            sources.append(
                SourceFile(
                    role="test",
                    bucket="dataset",
                    object_key="t_test.csv",
                    sha256=sha256_bytes(test_csv),
                    size=len(test_csv),
                )
            )
        active = build_active_config(config, sources)
        digest = config_hash(active)
        outputs = build_outputs(
            name, train_csv, test_csv, config, sources, active, digest, f"{name}/{digest}/", datetime.now(UTC)
        )
        timings.append(time.perf_counter() - started)
    print(f"{name}: train rows {outputs.meta.train.rows}, test rows {outputs.meta.test.rows}")
    print(
        f"processing seconds: median {statistics.median(timings):.3f}, min {min(timings):.3f}, "
        f"max {max(timings):.3f} over {args.repeat} runs"
    )


if __name__ == "__main__":
    main()
