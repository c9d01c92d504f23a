"""Preprocess on the local stack (gateway + tansu + moto, real processes started by `flts up`)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from flts.contracts import ClaimCheck, Topic, dlq_topic
from flts.features import FittedScaler
from flts.kafka.producer import EventProducer
from flts.kafka.watch import TopicWatcher
from flts.lineage import canonical_json
from flts.localstack.stack import StackState
from flts.objectstore import GatewayClient
from flts.parquet import read_parquet
from flts.synthetic import generate_dataset, split_train_test
from preprocess_container.artifacts import ProcessedMeta
from preprocess_container.service import DatasetRejectedError, PreprocessService
from preprocess_container.settings import PreprocessSettings
from tests.helpers.stack import gateway_for, running_stack, watching

pytestmark = pytest.mark.integration
CLAIM_TOPICS = [Topic.TRAINING_DATA, Topic.INFERENCE_DATA, dlq_topic(Topic.DATASET_UPLOADED)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    with running_stack(tmp_path_factory.mktemp("pp"), ["preprocess"]) as local:
        assert local.state is not None
        yield local.state


@pytest.fixture(scope="module")
def gateway(stack: StackState) -> Iterator[GatewayClient]:
    with gateway_for(stack) as client:
        yield client


@pytest.fixture(scope="module")
def watcher(stack: StackState) -> Iterator[TopicWatcher]:
    with watching(stack, CLAIM_TOPICS) as watch:
        yield watch


def _identifier() -> str:
    return f"site_{uuid.uuid4().hex[:8]}"


def _csvs(rows: int = 2000, seed: int = 5) -> tuple[bytes, bytes]:
    train, test = split_train_test(generate_dataset(rows, seed=seed))
    return train.to_csv(index=False).encode(), test.to_csv(index=False).encode()


def _upload(gateway: GatewayClient, identifier: str, train: bytes, test: bytes | None) -> None:
    if test is not None:
        gateway.upload_bytes("dataset", f"{identifier}_test.csv", test)
    gateway.upload_bytes("dataset", f"{identifier}.csv", train)


def _claims(
    watcher: TopicWatcher, topic: str, identifier: str, count: int, timeout: float = 60
) -> list[ClaimCheck]:
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in watcher.records(topic) if r.key == identifier]
        if len(found) >= count or time.monotonic() > deadline:
            return [ClaimCheck.model_validate_json(r.raw) for r in found]
        time.sleep(0.2)


def _log_events(stack: StackState, event: str, identifier: str) -> list[dict[str, object]]:
    log = Path(next(p.log for p in stack.processes if p.name == "preprocess"))
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event and line.get("identifier") == identifier]


def test_upload_yields_both_claims_and_objects_whose_metadata_matches_meta(
    gateway: GatewayClient, watcher: TopicWatcher
) -> None:
    identifier = _identifier()
    _upload(gateway, identifier, *_csvs())
    train_claim = _claims(watcher, Topic.TRAINING_DATA, identifier, 1)[0]
    test_claim = _claims(watcher, Topic.INFERENCE_DATA, identifier, 1)[0]
    digest = train_claim.config_hash
    assert test_claim.config_hash == digest and len(digest) == 64
    assert train_claim.object_key == f"{identifier}/{digest}/train.parquet" == train_claim.object
    assert test_claim.object_key == f"{identifier}/{digest}/test.parquet"

    meta = ProcessedMeta.model_validate(
        gateway.get_json("processed-data", f"{identifier}/{digest}/meta.json")
    )
    assert meta.config_hash == digest and meta.identifier == identifier
    assert [s.object_key for s in meta.sources] == [f"{identifier}.csv", f"{identifier}_test.csv"]
    for claim, split in ((train_claim, meta.train), (test_claim, meta.test)):
        data = gateway.download_bytes("processed-data", claim.object_key)
        frame, lineage = read_parquet(data)
        assert lineage == {"config_hash": digest, "preprocess_config": canonical_json(meta.config)}
        assert claim.rows == split.rows == len(frame) and claim.size == split.size == len(data)
        assert list(frame.columns) == ["time", *meta.columns]
    assert meta.train.rows == 1600 and meta.test.rows == 400  # the given test file, not a re-split
    scaler = FittedScaler.from_bytes(gateway.download_bytes("processed-data", meta.scaler_key))
    assert list(scaler.spec.feature_columns) == meta.columns


def test_same_inputs_skip_and_reemit_identical_claims(
    stack: StackState, gateway: GatewayClient, watcher: TopicWatcher
) -> None:
    identifier = _identifier()
    train, test = _csvs()
    _upload(gateway, identifier, train, test)
    first = _claims(watcher, Topic.TRAINING_DATA, identifier, 1)[0]
    objects_before = {o.key: o.etag for o in gateway.list("processed-data", prefix=identifier)}
    existing = len(_claims(watcher, Topic.TRAINING_DATA, identifier, 99, timeout=3))

    gateway.upload_bytes("dataset", f"{identifier}.csv", train)  # same bytes again
    claims = _claims(watcher, Topic.TRAINING_DATA, identifier, existing + 1)
    assert len(claims) == existing + 1 and all(claim == first for claim in claims)
    assert _log_events(stack, "skip_idempotent", identifier)
    assert {o.key: o.etag for o in gateway.list("processed-data", prefix=identifier)} == objects_before


def test_one_byte_or_one_setting_changes_the_hash_and_keeps_old_objects(
    stack: StackState, gateway: GatewayClient, watcher: TopicWatcher
) -> None:
    identifier = _identifier()
    train, test = _csvs()
    _upload(gateway, identifier, train, test)
    original = _claims(watcher, Topic.TRAINING_DATA, identifier, 1)[0]
    old_objects = {
        o.key: o.etag for o in gateway.list("processed-data", prefix=f"{identifier}/{original.config_hash}")
    }

    line_end = train.index(b"\n", train.index(b"\n") + 1)
    edited = (
        train[: line_end - 1] + (b"1" if train[line_end - 1 : line_end] != b"1" else b"2") + train[line_end:]
    )
    assert len(edited) == len(train) and edited != train
    gateway.upload_bytes("dataset", f"{identifier}.csv", edited)
    deadline = time.monotonic() + 60
    hashes = set()
    while len(hashes) < 2 and time.monotonic() < deadline:
        hashes = {c.config_hash for c in _claims(watcher, Topic.TRAINING_DATA, identifier, 1)}
        time.sleep(0.2)
    assert len(hashes) == 2, "one changed byte must give a new config_hash"

    settings = PreprocessSettings(
        kafka_bootstrap_servers=stack.endpoints["kafka:9092"],
        gateway_url=stack.endpoints["fastapi-app"],
        gateway_token=stack.token,
        scaler="minmax",
    )
    producer = EventProducer(settings)
    outcome = PreprocessService(settings, GatewayClient.from_settings(settings), producer).process(identifier)
    assert not outcome.skipped and outcome.config_hash not in hashes
    assert {
        o.key: o.etag for o in gateway.list("processed-data", prefix=f"{identifier}/{original.config_hash}")
    } == (old_objects)
    assert len({o.key.split("/")[1] for o in gateway.list("processed-data", prefix=identifier)}) == 3


def test_without_a_test_file_the_last_fifth_by_time_is_test(
    gateway: GatewayClient, watcher: TopicWatcher
) -> None:
    identifier = _identifier()
    frame = generate_dataset(1500, seed=9)
    _upload(gateway, identifier, frame.to_csv(index=False).encode(), None)
    claim = _claims(watcher, Topic.INFERENCE_DATA, identifier, 1)[0]
    test_frame, _ = read_parquet(gateway.download_bytes("processed-data", claim.object_key))
    train_claim = _claims(watcher, Topic.TRAINING_DATA, identifier, 1)[0]
    train_frame, _ = read_parquet(gateway.download_bytes("processed-data", train_claim.object_key))
    assert len(test_frame) == 300 and len(train_frame) == 1200
    assert train_frame["time"].max() < test_frame["time"].min()


GOOD_HEADER = (
    "time,down,up,rnti_count,mcs_down,mcs_down_var,mcs_up,mcs_up_var,rb_down,rb_down_var,rb_up,rb_up_var\n"
)


def _rows(count: int, time_value: str | None = None, down: str = "1.0") -> str:
    rows = []
    for i in range(count):
        stamp = time_value or f"2024-01-01 {i // 30:02d}:{(2 * i) % 60:02d}:00"
        rows.append(f"{stamp},{down},2,3,4,5,6,7,8,9,10,11\n")
    return "".join(rows)


BAD_INPUTS = {
    "no time column": (GOOD_HEADER.replace("time,", "stamp,") + _rows(50), "time"),
    "unparsable timestamps": (GOOD_HEADER + _rows(50, time_value="not-a-date"), "timestamp"),
    "non-numeric feature": (GOOD_HEADER + _rows(50, down="lots"), "down"),
    "empty": ("", "empty"),
    "too short for one window": (GOOD_HEADER + _rows(5), "window"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_rejected_clearly_and_the_service_goes_on(
    case: str, stack: StackState, gateway: GatewayClient, watcher: TopicWatcher
) -> None:
    bad_csv, expected_word = BAD_INPUTS[case]
    bad = _identifier()
    if bad_csv:
        gateway.upload_bytes("dataset", f"{bad}.csv", bad_csv.encode())
    else:  # the gateway refuses an empty upload itself; one whitespace byte reaches preprocess
        gateway.upload_bytes("dataset", f"{bad}.csv", b"\n")
    good = _identifier()
    _upload(gateway, good, *_csvs(1200))

    assert _claims(watcher, Topic.TRAINING_DATA, good, 1), "the next upload must still be processed"
    assert _claims(watcher, Topic.TRAINING_DATA, bad, 1, timeout=1) == []
    assert gateway.list("processed-data", prefix=f"{bad}/") == []
    letters = [json.loads(r.raw) for r in watcher.records(dlq_topic(Topic.DATASET_UPLOADED)) if r.key == bad]
    assert len(letters) == 1
    assert letters[0]["error_type"] == DatasetRejectedError.__name__
    assert bad in letters[0]["error"] and expected_word in letters[0]["error"].lower()
    [failure] = _log_events(stack, "preprocess_failed", bad)
    assert expected_word in str(failure["error"]).lower()


def test_datasets_named_in_the_settings_are_processed_at_start_up(
    stack: StackState, gateway: GatewayClient, watcher: TopicWatcher
) -> None:
    from preprocess_container.startup import process_configured

    good, bad, absent = _identifier(), _identifier(), _identifier()
    _upload(gateway, good, *_csvs(1200))
    gateway.upload_bytes("dataset", f"{bad}.csv", (GOOD_HEADER + _rows(5)).encode())
    settings = PreprocessSettings(
        kafka_bootstrap_servers=stack.endpoints["kafka:9092"],
        gateway_url=stack.endpoints["fastapi-app"],
        gateway_token=stack.token,
        dataset_name=f"{bad},{absent},{good}",
        extra_hash_salt="startup",
    )
    producer = EventProducer(settings)
    service = PreprocessService(settings, GatewayClient.from_settings(settings), producer)
    process_configured(service, settings, producer)  # a rejected or missing dataset does not stop the rest

    deadline = time.monotonic() + 60
    while len({c.config_hash for c in _claims(watcher, Topic.TRAINING_DATA, good, 1)}) < 2:
        assert time.monotonic() < deadline, "the salted start-up lineage was not published"
        time.sleep(0.2)

    def startup_letters() -> list[dict[str, object]]:  # the live service DLQs the upload too; keep ours
        letters = [
            json.loads(r.raw) for r in watcher.records(dlq_topic(Topic.DATASET_UPLOADED)) if r.key == bad
        ]
        return [letter for letter in letters if letter["parse_context"].get("stage") == "startup"]

    deadline = time.monotonic() + 30
    while not startup_letters():
        assert time.monotonic() < deadline, "no DLQ record for the rejected start-up dataset"
        time.sleep(0.2)
    [letter] = startup_letters()
    assert "window" in str(letter["error"]) and letter["partition"] == -1
    assert _claims(watcher, Topic.TRAINING_DATA, absent, 1, timeout=1) == []
