"""Accuracy benchmark under the published protocol (../shared/README.md).

10-step lookback, 1-step horizon, windows built inside each split, metrics in original units,
NRMSE = RMSE / mean(true) for each target, averaged. Runs the feature pipeline and every model family
in-process with the DEFAULT configuration, next to the naive baselines, and prints one table:

    python bench/accuracy.py --train TRAIN.csv --test TEST.csv --json OUT.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

FAMILIES = ("NAIVE", "GRU", "LSTM", "PROPHET")
BASELINES = {"baseline_mean_last_10": "mean", "baseline_repeat_last": "last"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", required=True, type=Path, help="training CSV")
    parser.add_argument("--test", type=Path, help="test CSV (default: last 20 %% of --train)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated model types")
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads")
    parser.add_argument("--config", default="{}", help="FeatureConfig overrides as JSON (experiments)")
    parser.add_argument(
        "--hyper", default="{}", help='per-family overrides as JSON, e.g. {"GRU": {"epochs": 5}}'
    )
    return parser.parse_args(argv)


def format_row(name: str, report: dict[str, Any], targets: list[str], seconds: float | None) -> str:
    cells = [f"{name:<22}"]
    for target in targets:
        cells.append(
            f"{report['mae'][target]:>12.4g} {report['rmse'][target]:>12.4g} {report['nrmse'][target]:>7.4f}"
        )
    cells.append(f"{report['nrmse_avg']:>9.4f}")
    cells.append(f"{seconds:>8.1f}" if seconds is not None else f"{'-':>8}")
    return " ".join(cells)


def header(targets: list[str]) -> str:
    cells = [f"{'family':<22}"]
    cells += [f"{target + ' MAE':>12} {target + ' RMSE':>12} {'NRMSE':>7}" for target in targets]
    cells += [f"{'NRMSE avg':>9}", f"{'train s':>8}"]
    return " ".join(cells)


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from flts.features import FeatureConfig, parse_csv, prepare
    from flts.models import build_model, evaluation_batch, forecast_metrics, naive_forecast

    config = FeatureConfig(**json.loads(args.config))
    hyper_overrides: dict[str, dict[str, Any]] = json.loads(args.hyper)
    started = time.perf_counter()
    train_raw = parse_csv(args.train.read_bytes(), min_rows=config.window_rows)
    test_raw = parse_csv(args.test.read_bytes(), min_rows=config.window_rows) if args.test else None
    prepared = prepare(train_raw, test_raw, config)
    preprocess_seconds = time.perf_counter() - started
    spec, targets = prepared.spec, list(prepared.spec.targets)
    batch = evaluation_batch(prepared.test, prepared.scaler)
    assert batch.targets is not None
    results: dict[str, Any] = {
        "protocol": {
            "input_seq_len": spec.input_seq_len,
            "output_seq_len": spec.output_seq_len,
            "targets": targets,
            "test_windows": len(batch),
            "train_rows": len(prepared.train),
            "test_rows": len(prepared.test),
            "preprocess_seconds": round(preprocess_seconds, 3),
            "feature_config": config.model_dump(mode="json"),
        },
        "baselines": {},
        "families": {},
    }
    print(
        f"train {args.train.name}: {len(prepared.train)} rows; test windows: {len(batch)}; "
        f"preprocess {preprocess_seconds:.2f} s"
    )
    print(header(targets))
    for name, method in BASELINES.items():
        report = forecast_metrics(
            batch.targets, naive_forecast(batch.input_targets, spec.output_seq_len, method), targets
        )
        results["baselines"][name] = report
        print(format_row(name, report, targets, None), flush=True)

    families = [name.strip().upper() for name in args.families.split(",") if name.strip()]
    if any(name in ("GRU", "LSTM") for name in families):
        from flts.models.recurrent import limit_tensorflow_threads

        limit_tensorflow_threads(args.threads, 1)
    for family in families:
        model = build_model(family, **hyper_overrides.get(family, {}))
        fit_report = model.fit(prepared.train, prepared.scaler)
        report = forecast_metrics(batch.targets, model.predict(batch), targets)
        report["train_seconds"] = round(fit_report.seconds, 2)
        report["epochs"] = fit_report.epochs
        report["details"] = fit_report.details
        report["hyper"] = model.hyper.model_dump(mode="json")
        results["families"][family] = report
        print(format_row(family, report, targets, fit_report.seconds), flush=True)

    ranked = sorted(results["families"].items(), key=lambda item: item[1]["nrmse_avg"])
    if ranked:
        best, best_report = ranked[0]
        results["best_family"] = best
        print(
            f"best family: {best} (NRMSE avg {best_report['nrmse_avg']:.4f}); "
            f"mean-of-last-10 baseline {results['baselines']['baseline_mean_last_10']['nrmse_avg']:.4f}"
        )
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = run(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
