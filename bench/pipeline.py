"""Pipeline latency: from upload to the first successful /predict on the promoted model (local stack).

    python bench/pipeline.py --json out/pipeline.json                      # the synthetic sample
    python bench/pipeline.py --train ../shared/data/ElBorn.csv --test ../shared/data/ElBorn_test.csv \
        --json out/pipeline_elborn.json

Default configuration throughout (every trainer, default hyper-parameters). The stack is started first
and not counted; the clock starts with the first upload. Prints the stages and writes
{"seconds": …, "stages": {…}}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from flts.contracts import Topic  # noqa: E402
from flts.kafka.watch import TopicWatcher  # noqa: E402
from flts.localstack.stack import LocalStack, StackOptions  # noqa: E402
from flts.objectstore import GatewayClient  # noqa: E402
from flts.synthetic import generate_dataset, split_train_test  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=Path)
    parser.add_argument("--test", type=Path)
    parser.add_argument("--identifier", default=None)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    if args.train:
        identifier = args.identifier or args.train.stem
        train_bytes = args.train.read_bytes()
        test_bytes = args.test.read_bytes() if args.test else None
    else:
        identifier = args.identifier or "synthetic"
        train, test = split_train_test(generate_dataset(5000, seed=7))
        train_bytes, test_bytes = train.to_csv(index=False).encode(), test.to_csv(index=False).encode()

    stack = LocalStack(StackOptions(root=ROOT, state_path=Path(tempfile.mkdtemp(prefix="flts-pipeline-"))))
    state = stack.up()
    stages: dict[str, float] = {}
    try:
        watcher = TopicWatcher(
            state.endpoints["kafka:9092"], [Topic.TRAINING_DATA, Topic.MODEL_TRAINING, Topic.MODEL_SELECTED]
        )
        time.sleep(2)  # the watcher is assigned before the clock starts
        started = time.monotonic()
        deadline = started + args.timeout
        with GatewayClient(state.endpoints["fastapi-app"], token=state.token) as gateway:
            if test_bytes is not None:
                gateway.upload_bytes("dataset", f"{identifier}_test.csv", test_bytes)
            gateway.upload_bytes("dataset", f"{identifier}.csv", train_bytes)
        stages["uploaded"] = time.monotonic() - started

        def mine(value: Any) -> bool:
            return bool(value.get("identifier") == identifier)

        if watcher.wait_for(Topic.TRAINING_DATA, mine, deadline) is None:
            sys.exit("preprocess published no claim")
        stages["claims_published"] = time.monotonic() - started
        promotion = None
        while promotion is None and time.monotonic() < deadline:
            for event in watcher.values(Topic.MODEL_TRAINING):
                key = f"trained_{event['model_type']}"
                if mine(event) and event["status"] == "SUCCESS" and key not in stages:
                    stages[key] = time.monotonic() - started
            selected = [v for v in watcher.values(Topic.MODEL_SELECTED) if mine(v)]
            promotion = selected[0] if selected else None
            time.sleep(0.2)
        if promotion is None:
            sys.exit("nothing was promoted in time")
        stages["promoted"] = time.monotonic() - started
        url = f"{state.endpoints['inference']}/predict"
        while time.monotonic() < deadline:
            answer = httpx.post(url, json={"identifier": identifier}, timeout=30)
            if answer.status_code == 200 and answer.json()["run_id"] == promotion["run_id"]:
                break
            time.sleep(0.2)
        else:
            sys.exit("the promoted model never answered /predict")
        stages["first_predict"] = time.monotonic() - started
        watcher.close()
    finally:
        stack.down()

    result = {
        "identifier": identifier,
        "seconds": round(stages["first_predict"], 1),
        "winner": promotion["model_type"],
        "stages": {k: round(v, 1) for k, v in stages.items()},
    }
    for name, seconds in sorted(result["stages"].items(), key=lambda item: item[1]):
        print(f"{name:<22}{seconds:>8.1f} s")
    print(f"upload → first /predict on the promoted {result['winner']}: {result['seconds']} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
