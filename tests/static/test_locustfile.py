"""locust/locustfile.py: the history bodies, and a short headless run against a stub that writes CSVs."""

from __future__ import annotations

import ast
import csv
import importlib.util
import itertools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCUST_DIR = ROOT / "locust"
TOKEN = "stub-token"


def _load_histories() -> ModuleType:
    # Loaded by path: importing the locustfile itself would import locust (and gevent's monkey patching).
    spec = importlib.util.spec_from_file_location("flts_locust_histories", LOCUST_DIR / "histories.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_history(body: dict[str, object], rows: int) -> None:
    history = body["history"]
    assert isinstance(history, dict)
    histories = _load_histories()
    assert list(history) == list(histories.COLUMNS)
    assert all(len(values) == rows for values in history.values())
    times = history["time"]
    minutes = [int(stamp[11:13]) * 60 + int(stamp[14:16]) for stamp in times]
    steps = {(later - earlier) % 1440 for earlier, later in itertools.pairwise(minutes)}
    assert steps == {2}, "consecutive rows at 2-minute steps"
    assert all(
        isinstance(value, float) for column in history if column != "time" for value in history[column]
    )


@pytest.mark.parametrize("use_flts", [True, False], ids=["flts.synthetic", "inline"])
def test_history_bodies(use_flts: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    histories = _load_histories()
    if not use_flts:  # as in the locust image, where flts cannot be imported
        monkeypatch.setitem(sys.modules, "flts.synthetic", None)
    source, bodies = histories.build_history_bodies(count=8, rows=10, identifier="site_a", horizon=3)
    assert source == ("flts.synthetic" if use_flts else "inline")
    assert len(bodies) == 8 and len(set(bodies)) > 1
    for raw in bodies:
        body = json.loads(raw)
        assert body["identifier"] == "site_a" and body["horizon"] == 3
        _check_history(body, 10)


def test_bodies_without_identifier_let_the_service_choose() -> None:
    _, bodies = _load_histories().build_history_bodies(count=2, rows=12)
    body = json.loads(bodies[0])
    assert set(body) == {"history"}
    _check_history(body, 12)


class _StubHandler(BaseHTTPRequestHandler):
    """Answers like inference (and the gateway's download) when the request is well formed."""

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: dict[str, object]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, {"status": "ok"})
        elif self.path == "/download/dataset/site_a.csv":
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"detail": "no token"})
            else:
                self._send(200, {"csv": "time,down"})
        else:
            self._send(404, {"detail": self.path})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/predict":
            self._send(404, {"detail": self.path})
            return
        try:
            body = json.loads(raw)
            if body:
                assert body["identifier"] == "site_a"
                _check_history(body, 10)
        except (AssertionError, KeyError, ValueError) as exc:
            self._send(422, {"detail": f"bad body: {exc!r}"})
            return
        self._send(200, {"run_id": "r1", "model_type": "NAIVE", "config_hash": "h", "forecast": {}})


@pytest.fixture()
def stub_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StubHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_headless_run_writes_csvs_without_failures(stub_url: str, tmp_path: Path) -> None:
    locust = Path(sys.executable).with_name("locust")
    if not locust.exists():
        pytest.skip("locust is not installed in this venv (make install)")
    env = {
        **os.environ,
        "FLTS_IDENTIFIER": "site_a",
        "GATEWAY_URL": stub_url,
        "GATEWAY_TOKEN": TOKEN,
        "DOWNLOAD_WEIGHT": "2",
        "HISTORY_POOL": "16",
    }
    argv = [str(locust), "-f", str(LOCUST_DIR / "locustfile.py"), "--headless", "-u", "4", "-r", "4"]
    argv += ["-t", "3s", "--host", stub_url, "--csv", str(tmp_path / "run"), "--only-summary"]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "run_stats.csv", newline="") as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    expected = {
        "POST /predict (history)",
        "POST /predict (empty)",
        "GET /healthz",
        "GET gateway /download/[bucket]/[key]",
    }
    assert expected <= rows.keys(), sorted(rows)
    assert int(rows["Aggregated"]["Failure Count"]) == 0, (tmp_path / "run_failures.csv").read_text()
    predicts = int(rows["POST /predict (history)"]["Request Count"])
    assert predicts > int(rows["GET /healthz"]["Request Count"]), "predict with history dominates"


def test_locust_files_import_nothing_the_locust_image_lacks() -> None:
    """The official image has locust and the standard library only: no flts, numpy or pandas at import."""
    allowed = set(sys.stdlib_module_names) | {"locust", "histories", "__future__"}
    for path in (LOCUST_DIR / "locustfile.py", LOCUST_DIR / "histories.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only; histories.py imports flts lazily inside a function
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] in allowed, f"{path.name} imports {module} at module level"
