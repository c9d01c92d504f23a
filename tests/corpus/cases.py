"""The bad-input corpus: for each topic, records that must be refused (dead-lettered with a reason).

Every topic gets the shape cases (not JSON, empty, not an object, wrong types, missing fields, unknown
version, ~1 MB); claim-carrying topics also get the content cases (missing object, object with the wrong
schema, object of another lineage); `model-selected` gets the model-source cases (a run that does not
exist, a run whose model is not a model, a run id that walks out of the model cache, a model URI
elsewhere). `Case.expect` is "dlq" (a DLQ record with the case's key) or "ignored" (no effect, no DLQ:
only for `model-training` events naming runs MLflow does not have — eval derives its state from
MLflow, so such an event is a trigger that finds nothing, by design).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from flts.contracts import DatasetUploaded, Promotion, Topic, TrainingEvent, TrainingStatus
from flts.objectstore import GatewayClient
from tests.faults.support import Serving
from tests.helpers.mlflow_runs import fake_run

HUGE_BYTES = 1_000_000 - 4096  # ~1 MB: the largest value a default Kafka producer accepts, with headroom
GHOST_HASH = "0" * 64


@dataclass(frozen=True)
class Case:
    topic: str
    name: str
    key: str
    value: bytes | None
    expect: str = "dlq"
    produce: bool = True  # False: the record is produced by a service (the gateway announcing an upload)


def _key(topic: str, name: str) -> str:
    return f"corpus-{topic}-{name.replace(' ', '-')}-{uuid.uuid4().hex[:6]}"


def _json(document: Any) -> bytes:
    return json.dumps(document).encode()


def shape_cases(topic: str, valid: dict[str, Any], wrong_types: dict[str, Any]) -> list[Case]:
    """Malformed variants of a valid document, the same for every topic."""
    missing = {k: v for i, (k, v) in enumerate(valid.items()) if i % 2 == 0}
    versioned = {**valid, "v": 2}
    huge = {**valid, "padding": "x" * HUGE_BYTES}
    values: dict[str, bytes | None] = {
        "not JSON": b"\x00\xff{this is not json",
        "empty value": None,
        "JSON but not an object": b"[1, 2, 3]",
        "wrong types": _json({**valid, **wrong_types}),
        "missing fields": _json(missing),
        "unknown version v=2": _json(versioned),
        "huge payload ~1 MB": _json(huge),
    }
    return [Case(topic, name, _key(topic, name), value) for name, value in values.items()]


def dataset_uploaded_cases(gateway: GatewayClient) -> list[Case]:
    topic = Topic.DATASET_UPLOADED
    valid = DatasetUploaded(bucket="dataset", object_key="x.csv", identifier="x", size=1, sha256="a" * 64)
    cases = shape_cases(topic, valid.model_dump(mode="json"), {"size": "big", "sha256": 12})
    ghost = f"corpus_ghost_{uuid.uuid4().hex[:6]}"
    missing = valid.model_copy(update={"identifier": ghost, "object_key": f"{ghost}.csv"})
    cases.append(Case(topic, "missing object", ghost, missing.to_bytes()))
    # An object with the wrong schema, stored through the gateway, which announces it itself (value None
    # here: the gateway produces the record, keyed by the identifier).
    wrong = f"corpus_wrong_schema_{uuid.uuid4().hex[:6]}"
    gateway.upload_bytes("dataset", f"{wrong}.csv", b"\x89PNG\r\n\x1a\n" + os.urandom(2048))
    cases.append(Case(topic, "object with the wrong schema", wrong, None, produce=False))
    return cases


def claim_cases(topic: str, serving: Serving, gateway: GatewayClient) -> list[Case]:
    """training-data and inference-data: claim checks whose objects are missing, wrong or not theirs.

    The content cases use a fresh config_hash: a claim for an already trained hash is (rightly) skipped
    by the trainers as a duplicate of that lineage, whatever object it names.
    """
    claim = serving.train_claim if topic == Topic.TRAINING_DATA else serving.test_claim
    cases = shape_cases(topic, claim.model_dump(mode="json"), {"rows": "many", "created_at": [1]})
    fresh = uuid.uuid4().hex * 2
    prefix = f"{claim.identifier}/{fresh}"
    junk_key = f"{prefix}/{claim.object_key.rsplit('/', 1)[-1]}"
    gateway.upload_bytes("processed-data", junk_key, b"PAR1 this is not parquet at all PAR1")
    missing_key = f"{prefix}-missing/{claim.object_key.rsplit('/', 1)[-1]}"
    content = {
        "missing object": {"object_key": missing_key, "object": missing_key},
        "object with the wrong schema": {"object_key": junk_key, "object": junk_key},
        "object of another lineage": {},  # the real object, claimed for a lineage it does not belong to
    }
    for name, update in content.items():
        changed = claim.model_copy(update={**update, "config_hash": fresh})
        cases.append(Case(topic, name, _key(topic, name), changed.to_bytes()))
    return cases


def model_training_cases(mlflow: MlflowClient) -> list[Case]:
    topic = Topic.MODEL_TRAINING
    valid = TrainingEvent.build(
        TrainingStatus.SUCCESS,
        "NAIVE",
        run_id="0" * 32,
        experiment="flts",
        config_hash=GHOST_HASH,
        identifier="x",
    )
    cases = shape_cases(topic, valid.model_dump(mode="json"), {"status": "DONE", "metrics": "good"})
    ghost = f"corpus_ghost_run_{uuid.uuid4().hex[:6]}"
    event = valid.model_copy(update={"identifier": ghost, "run_id": uuid.uuid4().hex})
    cases.append(Case(topic, "run that does not exist", ghost, event.to_bytes(), expect="ignored"))
    orphan = f"corpus_no_model_{uuid.uuid4().hex[:6]}"
    run_id = fake_run(mlflow, orphan, GHOST_HASH, "NAIVE", 1.0, 1.0, 1.0, with_model=False)
    event = valid.model_copy(update={"identifier": orphan, "run_id": run_id})
    cases.append(Case(topic, "run without a model", orphan, event.to_bytes(), expect="ignored"))
    return cases


def model_selected_cases(serving: Serving, mlflow: MlflowClient, evil_model: Path) -> list[Case]:
    """Promotions that must never be served. `evil_model` is a loadable model folder outside MLflow."""
    topic = Topic.MODEL_SELECTED
    valid = serving.promotion
    cases = shape_cases(topic, valid.model_dump(mode="json"), {"rmse": "low", "weights": [1]})

    def promotion(name: str, **update: Any) -> Case:
        identifier = f"corpus_{name.replace(' ', '_')}_{uuid.uuid4().hex[:6]}"
        changed: Promotion = valid.model_copy(update={"identifier": identifier, **update})
        return Case(topic, name, _key(topic, name), changed.to_bytes())

    ghost_run = uuid.uuid4().hex
    bogus = fake_run(mlflow, "corpus_bogus", GHOST_HASH, "NAIVE", 1.0, 1.0, 1.0)  # MLmodel "flavors: {}"
    escape = os.path.relpath(evil_model, "/tmp/flts-models")  # from the cache dir to a local model
    cases += [
        promotion("missing object", run_id=ghost_run, model_uri=f"runs:/{ghost_run}/NAIVE"),
        promotion("object with the wrong schema", run_id=bogus, model_uri=f"runs:/{bogus}/NAIVE"),
        promotion("run id escaping the model cache", run_id=escape, model_uri=f"runs:/{escape}/NAIVE"),
        promotion(
            "model URI outside MLflow", run_id=ghost_run, model_uri=f"file://{evil_model}", model_type="NAIVE"
        ),
    ]
    return cases
