"""Hostile requests the fuzzer is unlikely to build: path traversal, oversized bodies, wrong content types,
missing or wrong tokens. Each must be refused with a 4xx that says why, and must store nothing."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.faults import support

pytestmark = pytest.mark.integration

TRAVERSALS = [
    "/download/dataset/../processed-data/x",
    "/download/dataset/%2e%2e/%2e%2e/etc/passwd",
    "/download/dataset/..%2F..%2Fetc%2Fpasswd",
    "/download/dataset/a/../../etc/passwd",
    "/download/dataset//etc/passwd",
    "/download/dataset/a%5C..%5Cb",
    "/download/dataset/a%00b",
    "/download/..%2Fdataset/x",
    "/objects/dataset?prefix=../",
    "/objects/dataset?prefix=%2Fetc",
    "/download/not-a-bucket/x",
    "/download/.minio.sys/config.json",
]


@pytest.fixture(scope="module")
def gateway_url(serving: support.Serving) -> str:
    return serving.state.endpoints["fastapi-app"]


@pytest.fixture(scope="module")
def auth(serving: support.Serving) -> dict[str, str]:
    return {"Authorization": f"Bearer {serving.state.token}"}


@pytest.fixture(scope="module")
def refused() -> Iterator[list[tuple[str, int]]]:
    seen: list[tuple[str, int]] = []
    yield seen
    support.TALLY.add(
        "fuzz: explicit hostile requests",
        cases=len(seen),
        server_errors=sum(1 for _, status in seen if status >= 500),
    )


def _raw(url: str, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, str]:
    """A request sent byte for byte (httpx would normalise `..` and `//` away before sending)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def _says_why(text: str) -> bool:
    try:
        return len(str(json.loads(text).get("detail", ""))) >= 8
    except (ValueError, AttributeError):
        return False


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_is_refused(
    path: str, gateway_url: str, auth: dict[str, str], refused: list[tuple[str, int]]
) -> None:
    for method in ("GET", "PUT"):
        target = path.replace("/download/", "/objects/") if method == "PUT" else path
        status, text = _raw(gateway_url, method, target, auth, b"data" if method == "PUT" else b"")
        refused.append((f"{method} {target}", status))
        assert status in {400, 403, 404, 405, 422}, f"{method} {target} -> {status} {text}"
        assert status == 405 or _says_why(text), f"{method} {target}: {text}"


def test_uploads_larger_than_the_limit_are_refused(
    gateway_url: str, auth: dict[str, str], refused: list[tuple[str, int]]
) -> None:
    limit = support.SERVING_MAX_UPLOAD
    declared = _raw(
        gateway_url, "PUT", "/objects/dataset/declared.csv", {**auth, "Content-Length": str(limit * 4)}
    )
    refused.append(("PUT declared too large", declared[0]))
    assert declared[0] == 413 and _says_why(declared[1]), declared

    def chunks() -> Iterator[bytes]:  # no Content-Length: the gateway must count as it reads
        for _ in range(limit // 65536 + 8):
            yield b"x" * 65536

    streamed = httpx.put(
        f"{gateway_url}/objects/dataset/streamed-too-large.csv", headers=auth, content=chunks(), timeout=60
    )
    refused.append(("PUT streamed too large", streamed.status_code))
    assert streamed.status_code == 413 and "larger than" in streamed.json()["detail"]
    multipart = httpx.post(
        f"{gateway_url}/upload",
        headers=auth,
        files={"file": ("big.csv", b"x" * (limit + 1024))},
        data={"bucket": "dataset", "key": "big-multipart.csv"},
        timeout=60,
    )
    refused.append(("POST /upload too large", multipart.status_code))
    assert multipart.status_code == 413, multipart.text
    listed = httpx.get(f"{gateway_url}/objects/dataset", params={"prefix": "streamed"}, headers=auth)
    assert listed.json() == [], "a refused upload must store nothing"


def test_wrong_content_types_are_refused(
    serving: support.Serving, gateway_url: str, auth: dict[str, str], refused: list[tuple[str, int]]
) -> None:
    upload = httpx.post(f"{gateway_url}/upload", headers=auth, json={"bucket": "dataset", "key": "x.csv"})
    refused.append(("POST /upload as JSON", upload.status_code))
    assert upload.status_code == 415 and "multipart" in upload.json()["detail"]
    inference = serving.state.endpoints["inference"]
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        answer = httpx.post(f"{inference}/predict", content=b"{}", headers={"Content-Type": content_type})
        refused.append((f"POST /predict as {content_type}", answer.status_code))
        assert answer.status_code == 415 and "application/json" in answer.json()["detail"], answer.text


def test_oversized_predict_bodies_are_refused(
    serving: support.Serving, refused: list[tuple[str, int]]
) -> None:
    inference = serving.state.endpoints["inference"]
    rows = 400_000  # ~20 MB of history
    body = {"history": {"time": ["2024-01-01 00:00:00"] * rows, "down": [1.0] * rows}}
    answer = httpx.post(f"{inference}/predict", json=body, timeout=60)
    refused.append(("POST /predict 20 MB", answer.status_code))
    assert answer.status_code == 413 and _says_why(answer.text), answer.text[:300]
    assert httpx.get(f"{inference}/healthz").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/download/dataset/x.csv"),
        ("HEAD", "/objects/dataset/x.csv"),
        ("PUT", "/objects/dataset/x.csv"),
        ("GET", "/objects/dataset"),
        ("PUT", "/buckets/dataset"),
        ("POST", "/upload"),
    ],
)
def test_every_data_route_needs_the_token(
    method: str, path: str, gateway_url: str, refused: list[tuple[str, int]]
) -> None:
    for headers, expected in (({}, 401), ({"Authorization": "Bearer wrong-token"}, 403)):
        answer = httpx.request(method, f"{gateway_url}{path}", headers=headers, content=b"x")
        refused.append((f"{method} {path} token={bool(headers)}", answer.status_code))
        assert answer.status_code == expected, f"{method} {path}: {answer.status_code}"
        if method != "HEAD":
            assert "token" in answer.json()["detail"]
