from __future__ import annotations

import sys

import pytest

from flts.localstack.compose import AppService, _topological, local_command, rewrite_hosts


def test_rewrite_hosts_replaces_only_whole_host_port_references() -> None:
    endpoints = {"kafka:9092": "127.0.0.1:4001", "fastapi-app:8000": "127.0.0.1:4002"}
    assert rewrite_hosts("kafka:9092", endpoints) == "127.0.0.1:4001"
    assert rewrite_hosts("http://fastapi-app:8000/x", endpoints) == "http://127.0.0.1:4002/x"
    assert rewrite_hosts("my-kafka:9092", endpoints) == "my-kafka:9092"
    assert rewrite_hosts("kafka:90921", endpoints) == "kafka:90921"


def _service(name: str, *deps: str) -> AppService:
    return AppService(name, "service", ["python"], {}, list(deps), 8000)


def test_services_start_after_their_dependencies() -> None:
    services = {s.name: s for s in [_service("c", "b"), _service("b", "a", "kafka"), _service("a")]}
    assert [s.name for s in _topological(services)] == ["a", "b", "c"]
    with pytest.raises(RuntimeError, match="cycle"):
        _topological({"x": _service("x", "y"), "y": _service("y", "x")})


def test_python_runs_with_this_interpreter() -> None:
    assert local_command(["python", "-m", "m"]) == [sys.executable, "-m", "m"]
