"""Load benchmark: FLTS /predict vs `mlflow models serve` on the same GRU, with an empty endpoint as ceiling.

    python bench/inference_load.py --json out/inference_load.json [--duration 20] [--connections 32]

It starts the local stack (gateway, preprocess, GRU trainer, eval, inference), trains and promotes a GRU
on the synthetic sample, then drives each server with the same load generator on this machine (wrk,
one thread, every request carrying its own 10-row history from the test data) and prints requests/s,
p50/p95/p99 latency, failures and the ratios. Needs `wrk` (Debian package) on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402

from flts.contracts import Topic  # noqa: E402
from flts.kafka.watch import TopicWatcher  # noqa: E402
from flts.localstack.processes import ManagedProcess, free_port  # noqa: E402
from flts.localstack.stack import LocalStack, StackOptions  # noqa: E402
from flts.objectstore import GatewayClient  # noqa: E402
from flts.synthetic import generate_dataset, split_train_test  # noqa: E402

IDENTIFIER = "bench_site"

WRK_SCRIPT = textwrap.dedent(
    """
    local bodies = {}
    local index = 0
    init = function(args)
      for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
    end
    request = function()
      index = index % #bodies + 1
      return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[index])
    end
    done = function(summary, latency, requests)
      local failures = summary.errors.status + summary.errors.connect + summary.errors.read
        + summary.errors.write + summary.errors.timeout
      io.write(string.format(
        'WRKJSON {"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, '
        .. '"failures": %d}\\n',
        summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
        latency:percentile(95) / 1000, latency:percentile(99) / 1000, failures))
    end
    """
)

CEILING_APP = textwrap.dedent(
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    app = FastAPI()
    @app.post("/predict")
    async def predict(request: Request):
        await request.body()
        return JSONResponse({"ok": True})
    @app.get("/healthz")
    def healthz():
        return {"ok": True}
    """
)


def run_wrk(url: str, bodies_file: Path, duration: int, connections: int, workdir: Path) -> dict[str, Any]:
    script = workdir / "bodies.lua"
    script.write_text(WRK_SCRIPT)
    result = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
            "--",
            str(bodies_file),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("WRKJSON "))
    stats = json.loads(line.removeprefix("WRKJSON "))
    stats["rps"] = round(stats["requests"] / stats["seconds"], 1)
    return stats


def histories(test: Any, count: int, seq: int = 10) -> list[dict[str, Any]]:
    frames = []
    for start in range(0, min(count * 3, len(test) - seq), 3):
        window = test.iloc[start : start + seq]
        frames.append({column: window[column].tolist() for column in window.columns})
    return frames[:count]


def wait_ok(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--mlflow-duration", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--inference-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the inference service, e.g. INFERENCE_WORKERS=1",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="flts-bench-"))
    train, test = split_train_test(generate_dataset(5000, seed=7))
    bodies = workdir / "flts.jsonl"
    mlflow_bodies = workdir / "mlflow.jsonl"
    samples = histories(test, 200)
    bodies.write_text("\n".join(json.dumps({"identifier": IDENTIFIER, "history": h}) for h in samples) + "\n")
    mlflow_bodies.write_text(
        "\n".join(
            json.dumps(
                {
                    "dataframe_split": {
                        "columns": list(h),
                        "data": [list(r) for r in zip(*h.values(), strict=True)],
                    }
                }
            )
            for h in samples
        )
        + "\n"
    )
    params = json.dumps({"epochs": args.epochs})  # the default architecture (5-member ensemble); few epochs
    stack = LocalStack(
        StackOptions(
            root=ROOT,
            services=["preprocess", "train_gru", "eval", "inference"],
            state_path=workdir / "stack",
            service_env={
                "train_gru": {"MODEL_PARAMS": params},
                "eval": {"EXPECTED_MODEL_TYPES": "GRU"},
                "inference": dict(item.split("=", 1) for item in args.inference_env),
            },
        )
    )
    results: dict[str, Any] = {}
    extra: list[ManagedProcess] = []
    try:
        state = stack.up()
        watcher = TopicWatcher(state.endpoints["kafka:9092"], [Topic.MODEL_SELECTED])
        with GatewayClient(state.endpoints["fastapi-app"], token=state.token) as gateway:
            gateway.upload_bytes("dataset", f"{IDENTIFIER}_test.csv", test.to_csv(index=False).encode())
            gateway.upload_bytes("dataset", f"{IDENTIFIER}.csv", train.to_csv(index=False).encode())
        promotion = watcher.wait_for(
            Topic.MODEL_SELECTED, lambda v: v["identifier"] == IDENTIFIER, time.monotonic() + 600
        )
        watcher.close()
        if promotion is None:
            sys.exit("no promotion within 600 s")
        inference = state.endpoints["inference"]
        wait_ok(f"{inference}/readyz", 120)
        print(f"promoted {promotion['model_type']} run {promotion['run_id']}; warming up", flush=True)
        run_wrk(f"{inference}/predict", bodies, 3, args.connections, workdir)

        results["flts"] = run_wrk(f"{inference}/predict", bodies, args.duration, args.connections, workdir)
        pid = next(p.pid for p in state.processes if p.name == "inference")
        results["inference_rss_mb"] = round(psutil.Process(pid).memory_info().rss / 2**20, 1)

        port = free_port()
        serve = ManagedProcess(
            "mlflow-serve",
            [
                str(Path(sys.executable).with_name("mlflow")),
                "models",
                "serve",
                "-m",
                f"runs:/{promotion['run_id']}/{promotion['model_type']}",
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            workdir / "mlflow-serve.log",
            env={
                "MLFLOW_TRACKING_URI": f"http://{state.endpoints['mlflow:5000']}",
                "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            },
            url=f"http://127.0.0.1:{port}",
            health_url=f"http://127.0.0.1:{port}/ping",
        ).start()
        extra.append(serve)
        serve.wait_healthy(180)
        run_wrk(f"{serve.url}/invocations", mlflow_bodies, 3, args.connections, workdir)
        results["mlflow_serve"] = run_wrk(
            f"{serve.url}/invocations", mlflow_bodies, args.mlflow_duration, args.connections, workdir
        )
        serve.stop()

        (workdir / "ceiling.py").write_text(CEILING_APP)
        port = free_port()
        ceiling = ManagedProcess(
            "ceiling",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "ceiling:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            workdir / "ceiling.log",
            url=f"http://127.0.0.1:{port}",
            health_url=f"http://127.0.0.1:{port}/healthz",
            cwd=workdir,
        ).start()
        extra.append(ceiling)
        ceiling.wait_healthy(30)
        results["ceiling"] = run_wrk(
            f"{ceiling.url}/predict", bodies, args.duration, args.connections, workdir
        )
        ceiling.stop()
    finally:
        for process in extra:
            process.stop()
        stack.down()

    flts, serve_stats, ceiling_stats = results["flts"], results["mlflow_serve"], results["ceiling"]
    results["ratios"] = {
        "flts_vs_mlflow_serve": round(flts["rps"] / max(serve_stats["rps"], 1e-9), 1),
        "flts_vs_ceiling": round(flts["rps"] / max(ceiling_stats["rps"], 1e-9), 3),
    }
    results["load"] = {"tool": "wrk -t1", "connections": args.connections, "duration_s": args.duration}
    print(f"\n{'server':<14}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'failures':>10}")
    for name in ("flts", "mlflow_serve", "ceiling"):
        row = results[name]
        print(
            f"{name:<14}{row['rps']:>10.1f}{row['p50_ms']:>10.2f}{row['p95_ms']:>10.2f}{row['p99_ms']:>10.2f}"
            f"{row['failures']:>10}"
        )
    print(
        f"inference RSS: {results['inference_rss_mb']} MB; FLTS / mlflow serve = "
        f"{results['ratios']['flts_vs_mlflow_serve']}x; "
        f"FLTS / ceiling = {results['ratios']['flts_vs_ceiling']}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
