"""Context managers behind the test modules' fixtures: a LocalStack, a gateway client, a topic watcher."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from flts.kafka.watch import TopicWatcher
from flts.localstack.stack import LocalStack, StackOptions, StackState
from flts.objectstore import GatewayClient
from tests.helpers.fixtures import ROOT


@contextmanager
def running_stack(
    state_path: Path, services: list[str] | None = None, service_env: dict[str, dict[str, str]] | None = None
) -> Iterator[LocalStack]:
    """The local stack (all services, or the named ones and their dependencies), stopped afterwards."""
    stack = LocalStack(
        StackOptions(root=ROOT, services=services, state_path=state_path, service_env=service_env or {})
    )
    stack.up()
    try:
        yield stack
    finally:
        stack.down()


@contextmanager
def gateway_for(state: StackState) -> Iterator[GatewayClient]:
    with GatewayClient(state.endpoints["fastapi-app"], token=state.token) as client:
        yield client


@contextmanager
def watching(state: StackState, topics: Sequence[str]) -> Iterator[TopicWatcher]:
    watcher = TopicWatcher(state.endpoints["kafka:9092"], list(topics))
    try:
        yield watcher
    finally:
        watcher.close()
