"""The consumer loop against a real tansu broker: DLQ, retries, crash redelivery, SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flts.contracts import dlq_topic
from flts.kafka.consumer import ConsumerLoop, Delivery, PoisonMessageError, Subscription
from flts.kafka.producer import EventProducer
from flts.kafka.topics import ensure_topics
from flts.settings import FltsSettings
from tests.conftest import ROOT
from tests.helpers.kafka import Ping, committed_offset, dead_letters, produce_raw

pytestmark = pytest.mark.integration


def _topic(settings: FltsSettings, name: str) -> str:
    ensure_topics(settings.model_copy(update={"kafka_topic_partitions": 1}), [name, dlq_topic(name)])
    return name


def _run_until(loop: ConsumerLoop, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    loop.stop()
    thread.join(timeout=20)
    assert not thread.is_alive(), "loop did not stop"
    assert condition(), "condition not reached before timeout"


def test_poison_messages_go_to_dlq_with_raw_bytes_and_the_next_message_is_handled(
    settings_factory: Callable[..., FltsSettings], unique: Callable[[str], str], broker: str
) -> None:
    settings = settings_factory()
    topic = _topic(settings, unique("poison"))
    not_json = b"\x00\xffnot json{"
    wrong_schema = b'{"id": "a", "n": "not-a-number"}'
    produce_raw(broker, topic, [not_json, wrong_schema, Ping(id="good", n=1).to_bytes()])
    handled: list[Ping] = []
    loop = ConsumerLoop(
        settings,
        {topic: Subscription(Ping, lambda d: handled.append(d.value))},
        EventProducer(settings),
        group_id=unique("g"),
    )
    _run_until(loop, lambda: len(handled) == 1)

    assert handled == [Ping(id="good", n=1)]
    letters = dead_letters(broker, dlq_topic(topic), 2)
    assert [letter.raw_bytes() for letter in letters] == [not_json, wrong_schema]
    assert letters[0].error.startswith("not JSON") and letters[0].parse_context["stage"] == "json"
    assert "n: Input should be a valid integer" in letters[1].error
    assert letters[1].parse_context["stage"] == "schema"
    assert all(letter.topic == topic and letter.service == "test" for letter in letters)
    assert [letter.offset for letter in letters] == [0, 1]


def test_failing_handler_is_retried_then_dead_lettered(
    settings_factory: Callable[..., FltsSettings], unique: Callable[[str], str], broker: str
) -> None:
    settings = settings_factory(max_attempts=3)
    topic = _topic(settings, unique("retry"))
    produce_raw(broker, topic, [Ping(id="bad", n=1).to_bytes(), Ping(id="next", n=2).to_bytes()])
    calls: list[str] = []

    def handler(delivery: Delivery[Ping]) -> None:
        calls.append(delivery.value.id)
        if delivery.value.id == "bad":
            raise RuntimeError("model store exploded")

    loop = ConsumerLoop(
        settings, {topic: Subscription(Ping, handler)}, EventProducer(settings), group_id=unique("g")
    )
    _run_until(loop, lambda: "next" in calls)

    assert calls == ["bad", "bad", "bad", "next"]
    [letter] = dead_letters(broker, dlq_topic(topic), 1)
    assert letter.attempts == 3 and letter.error_type == "RuntimeError"
    assert "model store exploded" in letter.error
    assert Ping.model_validate_json(letter.raw_bytes()) == Ping(id="bad", n=1)


def test_handler_poison_error_is_dead_lettered_at_once(
    settings_factory: Callable[..., FltsSettings], unique: Callable[[str], str], broker: str
) -> None:
    settings = settings_factory(max_attempts=5)
    topic = _topic(settings, unique("poison-handler"))
    produce_raw(broker, topic, [Ping(id="missing-object", n=1).to_bytes()])
    calls: list[str] = []

    def handler(delivery: Delivery[Ping]) -> None:
        calls.append(delivery.value.id)
        raise PoisonMessageError("object processed-data/x/train.parquet does not exist")

    loop = ConsumerLoop(
        settings, {topic: Subscription(Ping, handler)}, EventProducer(settings), group_id=unique("g")
    )
    group = loop.group_id
    _run_until(loop, lambda: len(dead_letters(broker, dlq_topic(topic), 1, timeout=0.5)) == 1)
    assert calls == ["missing-object"]
    assert committed_offset(broker, group, topic) == 1


def test_topic_created_after_subscribe_is_picked_up(
    settings_factory: Callable[..., FltsSettings], unique: Callable[[str], str], broker: str
) -> None:
    settings = settings_factory()
    topic = unique("late")
    handled: list[str] = []
    loop = ConsumerLoop(
        settings,
        {topic: Subscription(Ping, lambda d: handled.append(d.value.id))},
        EventProducer(settings),
        group_id=unique("g"),
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    time.sleep(2)  # the loop polls a topic that does not exist yet: transient, not fatal
    assert thread.is_alive()
    _topic(settings, topic)
    produce_raw(broker, topic, [Ping(id="late", n=1).to_bytes()])
    deadline = time.monotonic() + 60
    while not handled and time.monotonic() < deadline:
        time.sleep(0.2)
    loop.stop()
    thread.join(timeout=20)
    assert handled == ["late"]


def _consumer_process(mode: str, broker: str, topic: str, group: str, tmp: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.helpers.consumer_proc",
            mode,
            broker,
            topic,
            group,
            str(tmp / "store"),
            str(tmp / "calls"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_consumer_killed_before_commit_gets_the_message_again_and_changes_nothing(
    settings_factory: Callable[..., FltsSettings], unique: Callable[[str], str], broker: str, tmp_path: Path
) -> None:
    settings = settings_factory()
    topic = _topic(settings, unique("crash"))
    group = unique("g")
    produce_raw(broker, topic, [Ping(id="m1", n=7).to_bytes()])

    crashed = _consumer_process("crash", broker, topic, group, tmp_path)
    assert crashed.wait(timeout=90) == -signal.SIGKILL
    store_after_crash = {p.name: p.read_text() for p in (tmp_path / "store").iterdir()}
    assert store_after_crash == {"m1": "7"}
    assert committed_offset(broker, group, topic) < 1  # nothing committed

    again = _consumer_process("plain", broker, topic, group, tmp_path)
    deadline = time.monotonic() + 90
    while (tmp_path / "calls").read_text().split().count("m1") < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    again.send_signal(signal.SIGTERM)
    assert again.wait(timeout=30) == 0
    assert (tmp_path / "calls").read_text().split() == ["m1", "m1"]  # redelivered once
    assert {p.name: p.read_text() for p in (tmp_path / "store").iterdir()} == store_after_crash
    assert committed_offset(broker, group, topic) == 1


def test_sigterm_finishes_the_message_commits_and_exits(
    settings_factory: Callable[..., FltsSettings], unique: Callable[[str], str], broker: str, tmp_path: Path
) -> None:
    settings = settings_factory()
    topic = _topic(settings, unique("sigterm"))
    group = unique("g")
    produce_raw(broker, topic, [Ping(id="slow", n=1).to_bytes(), Ping(id="after", n=2).to_bytes()])

    process = _consumer_process("slow", broker, topic, group, tmp_path)
    assert process.stdout is not None
    for line in process.stdout:
        if "HANDLING" in line:
            break
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "EXITED CLEANLY" in output
    assert (tmp_path / "store" / "slow").exists()
    assert not (tmp_path / "store" / "after").exists()  # stopped after the current message
    assert committed_offset(broker, group, topic) == 1
