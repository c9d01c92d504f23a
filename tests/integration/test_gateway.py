"""The real gateway process on moto and tansu: streaming, bad input, auth, upload announcements."""

from __future__ import annotations

import hashlib
import os
import socket
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from flts.contracts import DatasetUploaded, Topic
from flts.kafka.watch import TopicWatcher
from flts.objectstore import GatewayClient, GatewayError, ObjectNotFoundError

pytestmark = pytest.mark.integration
MB = 1024 * 1024


@pytest.fixture
def client(gateway: str, gateway_token: str) -> GatewayClient:
    return GatewayClient(gateway, token=gateway_token, timeout=60)


def _gateway_pid(gateway: str) -> int:
    port = int(gateway.rsplit(":", 1)[1])
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            return conn.pid
    raise AssertionError("gateway process not found")


def _write_random(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as handle:
        remaining = size
        while remaining:
            chunk = os.urandom(min(MB, remaining))
            digest.update(chunk)
            handle.write(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def test_50mb_round_trip_streams_without_holding_the_file_in_memory(
    client: GatewayClient, gateway: str, tmp_path: Path
) -> None:
    source, target = tmp_path / "big.bin", tmp_path / "back.bin"
    expected = _write_random(source, 50 * MB)
    gateway_process = psutil.Process(_gateway_pid(gateway))
    rss_before = gateway_process.memory_info().rss

    tracemalloc.start()
    stored = client.upload_file("processed-data", "big/big.bin", source)
    written = client.download_file("processed-data", "big/big.bin", target)
    _, client_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_growth = gateway_process.memory_info().rss - rss_before

    assert stored["size"] == written == 50 * MB
    assert stored["sha256"] == expected
    assert hashlib.sha256(target.read_bytes()).hexdigest() == expected
    assert client_peak < 12 * MB, f"client held {client_peak / MB:.1f} MB"
    assert rss_growth < 30 * MB, f"gateway grew by {rss_growth / MB:.1f} MB"
    assert client.stat("processed-data", "big/big.bin").size == 50 * MB  # type: ignore[union-attr]


def test_raw_put_json_stat_and_list(client: GatewayClient, unique: Callable[[str], str]) -> None:
    prefix = unique("pointers")
    client.put_json("model-promotion", f"{prefix}/current.json", {"run_id": "abc", "score": 1.5})
    assert client.get_json("model-promotion", f"{prefix}/current.json") == {"run_id": "abc", "score": 1.5}
    listing = client.list("model-promotion", prefix=prefix)
    assert [item.key for item in listing] == [f"{prefix}/current.json"]
    assert client.stat("model-promotion", f"{prefix}/missing.json") is None
    with pytest.raises(ObjectNotFoundError) as missing:
        client.download_bytes("model-promotion", f"{prefix}/missing.json")
    assert missing.value.status == 404 and f"{prefix}/missing.json" in str(missing.value)


def test_upload_into_dataset_announces_it(
    client: GatewayClient, broker: str, unique: Callable[[str], str]
) -> None:
    identifier = unique("site").replace("-", "_")
    result = client.upload_bytes("dataset", f"{identifier}_test.csv", b"time,down\n2024-01-01 00:00:00,1\n")
    assert result["announced"] == identifier
    watcher = TopicWatcher(broker, [Topic.DATASET_UPLOADED])
    try:
        event = watcher.wait_for(
            Topic.DATASET_UPLOADED, lambda v: v.get("identifier") == identifier, time.monotonic() + 30
        )
    finally:
        watcher.close()
    assert event is not None
    announced = DatasetUploaded.model_validate(event)
    assert announced.object_key == f"{identifier}_test.csv" and announced.sha256 == result["sha256"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "reason"),
    [
        ("PUT", "/objects/dataset/a%2F..%2Fb.csv", {"content": b"x"}, 400, "'..'"),
        ("PUT", "/objects/dataset/%2Fetc%2Fpasswd", {"content": b"x"}, 400, "relative path"),
        ("PUT", "/objects/dataset/" + "k" * 600, {"content": b"x"}, 400, "longer than"),
        ("PUT", "/objects/dataset/ctrl%01.csv", {"content": b"x"}, 400, "control characters"),
        ("PUT", "/objects/dataset/empty.csv", {"content": b""}, 400, "empty body"),
        ("PUT", "/objects/not-ours/x.csv", {"content": b"x"}, 403, "not served"),
        ("GET", "/download/dataset/does-not-exist.csv", {}, 404, "not found"),
        ("GET", "/download/processed-data/a%2F..%2F..%2Fx", {}, 400, "'..'"),
        ("HEAD", "/objects/dataset/does-not-exist.csv", {}, 404, ""),
        (
            "POST",
            "/upload",
            {"content": b"{}", "headers": {"Content-Type": "application/json"}},
            415,
            "multipart",
        ),
        ("POST", "/upload", {"files": {"file": ("a.csv", b"x")}}, 400, "'bucket' and 'key'"),
        ("POST", "/upload", {"data": {"bucket": "dataset", "key": "a.csv"}}, 400, "'file'"),
        (
            "POST",
            "/upload",
            {"data": {"bucket": "dataset", "key": "a.csv"}, "files": {"file": ("a.csv", b"")}},
            400,
            "empty body",
        ),
        ("GET", "/objects/dataset?prefix=../x", {}, 400, "bad prefix"),
    ],
)
def test_bad_input_gets_a_clear_4xx(
    gateway: str,
    gateway_token: str,
    method: str,
    path: str,
    kwargs: dict[str, object],
    status: int,
    reason: str,
) -> None:
    headers = {"Authorization": f"Bearer {gateway_token}", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    response = httpx.request(method, f"{gateway}{path}", headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    if method != "HEAD":
        assert reason in response.json()["detail"]


def test_too_large_uploads_get_413(gateway: str, gateway_token: str, tmp_path: Path) -> None:
    auth = {"Authorization": f"Bearer {gateway_token}"}
    limit = 64 * MB  # the fixture's MAX_UPLOAD_BYTES
    # A declared length over the limit is refused before any body is read.
    host, port = gateway.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"PUT /objects/dataset/huge.csv HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {gateway_token}\r\nContent-Length: {limit + MB}\r\n\r\n".encode()
        )
        assert sock.recv(4096).split(b"\r\n", 1)[0].endswith(b"413 Request Entity Too Large")

    def chunks() -> object:
        for _ in range(limit // MB + 2):
            yield b"x" * MB

    streamed = httpx.put(f"{gateway}/objects/dataset/huge.csv", headers=auth, content=chunks(), timeout=60)  # type: ignore[arg-type]
    assert streamed.status_code == 413 and "larger than" in streamed.json()["detail"]
    assert httpx.head(f"{gateway}/objects/dataset/huge.csv", headers=auth).status_code == 404


def test_no_data_endpoint_answers_without_the_token(gateway: str, gateway_token: str) -> None:
    schema = httpx.get(f"{gateway}/openapi.json").json()
    probes = 0
    for path, operations in schema["paths"].items():
        if path in {"/healthz", "/readyz", "/metrics"}:
            continue
        concrete = path.replace("{bucket}", "dataset").replace("{key}", "x.csv")
        for method in operations:
            for token, expected in ((None, 401), ("wrong-token", 403)):
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                response = httpx.request(
                    method.upper(), f"{gateway}{concrete}", headers=headers, content=b"x"
                )
                assert response.status_code == expected, (
                    f"{method} {path} with {token}: {response.status_code}"
                )
                probes += 1
    assert probes >= 12
    for open_path in ("/healthz", "/readyz", "/metrics"):
        assert httpx.get(f"{gateway}{open_path}").status_code == 200


def test_client_raises_with_url_and_status(gateway: str) -> None:
    anonymous = GatewayClient(gateway, token=None, retries=1)
    with pytest.raises(GatewayError) as error:
        anonymous.list("dataset")
    assert error.value.status == 401 and "/objects/dataset" in str(error.value)
    unreachable = GatewayClient("http://127.0.0.1:9", retries=2, timeout=1)
    with pytest.raises(GatewayError) as down:
        unreachable.download_bytes("dataset", "x.csv")
    assert down.value.status is None and down.value.unavailable
