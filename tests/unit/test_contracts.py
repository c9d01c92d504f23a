from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from flts.contracts import ClaimCheck, DeadLetter, TrainingEvent, TrainingStatus, dlq_topic
from flts.kafka.consumer import DecodeError, decode

HASH = "a" * 64


def test_claim_check_fills_object_from_object_key_and_round_trips() -> None:
    claim = ClaimCheck(
        bucket="processed-data",
        object_key=f"s/{HASH}/train.parquet",
        config_hash=HASH,
        identifier="s",
        size=10,
        rows=5,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert claim.object == claim.object_key
    assert ClaimCheck.model_validate_json(claim.to_bytes()) == claim


def test_unknown_fields_and_versions_are_refused() -> None:
    base = {
        "bucket": "b",
        "object_key": "k",
        "config_hash": HASH,
        "identifier": "s",
        "size": 1,
        "rows": 1,
        "created_at": "2026-01-01T00:00:00Z",
    }
    with pytest.raises(ValidationError):
        ClaimCheck.model_validate({**base, "surprise": 1})
    with pytest.raises(ValidationError):
        ClaimCheck.model_validate({**base, "v": 2})


def test_training_event_operation_names() -> None:
    event = TrainingEvent.build(TrainingStatus.SUCCESS, "GRU", config_hash=HASH, identifier="s", run_id="r")
    assert event.operation == "Trained: GRU"
    assert TrainingEvent.build(
        TrainingStatus.RUNNING, "LSTM", config_hash=HASH, identifier="s"
    ).operation == ("Training Started: LSTM")


def test_decode_classifies_failures() -> None:
    with pytest.raises(DecodeError) as not_json:
        decode(b"\xff\x00", ClaimCheck)
    assert not_json.value.context["stage"] == "json"
    with pytest.raises(DecodeError) as wrong:
        decode(b'{"bucket": 1}', ClaimCheck)
    assert wrong.value.context["stage"] == "schema" and "object_key" in str(wrong.value)
    with pytest.raises(DecodeError):
        decode(None, ClaimCheck)


def test_dead_letter_keeps_any_bytes() -> None:
    raw = bytes(range(256))
    letter = DeadLetter(
        service="s",
        topic="t",
        partition=0,
        offset=1,
        key=None,
        raw_value=DeadLetter.encode_raw(raw),
        error="e",
        error_type="E",
        attempts=0,
    )
    assert DeadLetter.model_validate_json(letter.to_bytes()).raw_bytes() == raw
    assert dlq_topic("training-data") == "DLQ-training-data"
