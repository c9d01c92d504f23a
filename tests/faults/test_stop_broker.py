"""The broker unreachable for 20 s (SIGSTOP, then SIGCONT: tansu keeps its data in memory).

Messages are produced before and during the stop, by a test producer and by the pipeline itself (a
re-upload through the gateway: dataset-uploaded → preprocess → training-data and inference-data →
trainers re-announce, inference dedupes). After SIGCONT every message arrives and every consumer goes on.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from flts.contracts import Topic
from flts.kafka.consumer import ConsumerLoop, Delivery, Subscription
from flts.kafka.producer import EventProducer
from flts.kafka.topics import ensure_topics
from flts.kafka.watch import TopicWatcher
from flts.localstack.stack import LocalStack, StackState
from flts.objectstore import GatewayClient
from flts.settings import FltsSettings
from tests.faults import support
from tests.faults.conftest import SERVICES, TrainerKill
from tests.helpers.kafka import Ping

pytestmark = pytest.mark.integration
STOPPED_FOR = 20.0
PER_PHASE = 10


class PingCounter:
    """A real consumer-group member (the services' ConsumerLoop) that records what it handled."""

    def __init__(self, settings: FltsSettings, topic: str) -> None:
        self.seen: set[str] = set()
        self.loop = ConsumerLoop(
            settings, {topic: Subscription(Ping, self.handle)}, EventProducer(settings), group_id=topic
        )
        self.thread = threading.Thread(target=self.loop.run, daemon=True)

    def handle(self, delivery: Delivery[Ping]) -> None:
        self.seen.add(delivery.value.id)


@pytest.fixture
def pings(stack: StackState) -> Iterator[tuple[EventProducer, PingCounter, str]]:
    topic = f"broker-stop-{uuid.uuid4().hex[:8]}"
    settings = FltsSettings(
        kafka_bootstrap_servers=stack.endpoints["kafka:9092"],
        service_name="fault-test",
        kafka_delivery_timeout_sec=90,
    )
    ensure_topics(settings, [topic])
    counter = PingCounter(settings, topic)
    counter.thread.start()
    counter.loop.ready.wait(60)
    yield EventProducer(settings), counter, topic
    counter.loop.stop()
    counter.thread.join(timeout=30)


def test_broker_stopped_for_20_s_then_resumed_loses_no_message(
    served: TrainerKill,
    pings: tuple[EventProducer, PingCounter, str],
    local: LocalStack,
    stack: StackState,
    watcher: TopicWatcher,
    gateway: GatewayClient,
) -> None:
    producer, counter, topic = pings
    identifier = served.identifier
    pids = {service: support.pid_of(stack, service) for service in SERVICES}
    claims_before = len([r for r in watcher.records(Topic.TRAINING_DATA) if r.key == identifier])
    successes_before = len(
        [e for e in support.training_events(watcher, identifier) if e["status"] == "SUCCESS"]
    )
    sent = [f"before-{i}" for i in range(PER_PHASE)]
    producer.publish_many(topic, [(None, Ping(id=i, n=0)) for i in sent])
    train_csv = gateway.download_bytes("dataset", f"{identifier}.csv")

    local.kill("kafka", signal.SIGSTOP)
    stopped = time.monotonic()
    during = [f"during-{i}" for i in range(PER_PHASE)]
    outcomes: dict[str, object] = {}

    def publish_during() -> None:
        try:
            producer.publish_many(topic, [(None, Ping(id=i, n=1)) for i in during])
            outcomes["pings"] = "delivered"
        except Exception as exc:  # recorded: the assertion below names it
            outcomes["pings"] = exc

    def upload_during() -> None:
        try:
            with GatewayClient(stack.endpoints["fastapi-app"], token=stack.token, timeout=90) as client:
                client.upload_bytes("dataset", f"{identifier}.csv", train_csv)  # same bytes: a replay
            outcomes["upload"] = "stored and announced"
        except Exception as exc:
            outcomes["upload"] = exc

    threads = [threading.Thread(target=publish_during), threading.Thread(target=upload_during)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, STOPPED_FOR - (time.monotonic() - stopped)))
    local.kill("kafka", signal.SIGCONT)
    for thread in threads:
        thread.join(timeout=120)
    resumed_after = time.monotonic() - stopped

    everything = set(sent) | set(during)
    support.wait_until(lambda: counter.seen >= everything, 120, f"pings lost: {everything - counter.seen}")
    support.wait_until(
        lambda: len([r for r in watcher.records(Topic.TRAINING_DATA) if r.key == identifier]) > claims_before,
        120,
        "preprocess never handled the upload made while the broker was stopped",
    )
    support.wait_until(
        lambda: (
            len([e for e in support.training_events(watcher, identifier) if e["status"] == "SUCCESS"])
            >= successes_before + 2
        ),
        120,
        "the trainers never re-announced the replayed claim",
    )
    crashed = [s for s, pid in pids.items() if not support.alive(pid)]
    lost = len(everything - counter.seen) + int(outcomes.get("upload") != "stored and announced")
    support.TALLY.add(
        "faults: broker SIGSTOP 20 s",
        injected=1,
        survived=int(lost == 0 and not crashed),
        messages=len(everything) + 1,
        lost=lost,
        crashed=len(crashed),
    )
    print(f"broker stopped for {STOPPED_FOR:.0f} s; producers done {resumed_after:.1f} s after the stop")
    assert outcomes == {"pings": "delivered", "upload": "stored and announced"}, outcomes
    assert not crashed, f"services died: {crashed}"
    assert len(support.promotions(watcher, identifier)) == 1, "a replay must not promote again"
