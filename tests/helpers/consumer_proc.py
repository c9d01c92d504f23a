"""A consumer process for crash and SIGTERM tests: `python -m tests.helpers.consumer_proc MODE ...`.

The handler is idempotent: it records each message id as a file in STORE (writing it twice changes
nothing) and appends one line per invocation to CALLS so the test can count deliveries.

MODE crash: after the first handled message, SIGKILL itself before the loop commits.
MODE slow:  each message takes 3 s; SIGTERM while handling must finish, commit and exit 0.
MODE plain: handle until stopped.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from flts.kafka.consumer import ConsumerLoop, Delivery, Subscription
from flts.kafka.producer import EventProducer
from flts.log import configure_logging
from flts.settings import FltsSettings
from tests.helpers.kafka import Ping


def main() -> None:
    mode, bootstrap, topic, group, store, calls = sys.argv[1:7]
    configure_logging("consumer-proc", "INFO")
    settings = FltsSettings(kafka_bootstrap_servers=bootstrap, service_name="consumer-proc")
    store_dir, calls_file = Path(store), Path(calls)
    store_dir.mkdir(parents=True, exist_ok=True)

    def handle(delivery: Delivery[Ping]) -> None:
        with open(calls_file, "a") as log:
            log.write(f"{delivery.value.id}\n")
        if mode == "slow":
            print("HANDLING", flush=True)
            time.sleep(3)
        (store_dir / delivery.value.id).write_text(str(delivery.value.n))
        if mode == "crash":
            os.kill(os.getpid(), signal.SIGKILL)  # handled, not yet committed

    loop = ConsumerLoop(
        settings, {topic: Subscription(Ping, handle)}, EventProducer(settings), group_id=group
    )
    loop.install_signal_handlers()
    loop.run()
    print("EXITED CLEANLY", flush=True)


if __name__ == "__main__":
    main()
