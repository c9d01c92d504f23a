"""Overload benchmark: /predict at twice its measured capacity, with a small HTTP queue.

    python bench/overload.py --json out/overload.json [--queue 64] [--duration 30] [--factor 2]

It starts the local stack (gateway, preprocess, GRU trainer, eval, inference with HTTP_QUEUE_MAXSIZE
small), trains and promotes a GRU on the synthetic sample, then drives POST /predict (every request with
its own 10-row history from the test data) in three phases:

1. capacity: closed loop with as many connections as the queue holds (nothing can be refused), for
   `--capacity-seconds`: the admitted requests/s is the service's capacity;
2. overload: open loop at `--factor` x capacity for `--duration` s; each request is sent at its
   scheduled time on one of `--connections` keep-alive connections, so load does not ease off when the
   service slows down;
3. recovery: open loop at half the capacity for `--recovery-seconds`: no 429 once the queue drains.

It reports per phase the offered and admitted rates, 429s (each checked for an integer Retry-After),
5xx, other failures, latency percentiles of admitted requests (from the moment each was sent), and the
inference process's RSS before, at most during, and after. The load generator is a small asyncio HTTP/1.1
client in this process (wrk measures only closed loops and cannot separate admitted latencies).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402

from flts.contracts import Topic  # noqa: E402
from flts.kafka.watch import TopicWatcher  # noqa: E402
from flts.localstack.stack import LocalStack, StackOptions  # noqa: E402
from flts.objectstore import GatewayClient  # noqa: E402
from flts.synthetic import generate_dataset, split_train_test  # noqa: E402

IDENTIFIER = "overload_site"


@dataclass
class PhaseStats:
    name: str
    seconds: float = 0.0
    sent: int = 0
    admitted: int = 0
    rejected_429: int = 0
    bad_retry_after: int = 0
    server_errors: int = 0
    other_failures: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    rejected_ms: list[float] = field(default_factory=list)
    late_ms: list[float] = field(default_factory=list)  # how far behind schedule each send was
    timeline: dict[int, list[int]] = field(default_factory=dict)  # second -> [admitted, 429]

    def seconds_until_no_429(self) -> int | None:
        """The first second from which no request was refused (None: refusals until the end)."""
        refusing = [second for second, (_, rejected) in self.timeline.items() if rejected]
        last = max(refusing, default=-1) + 1
        return last if last < max(self.timeline, default=0) + 1 else None

    def summary(self) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float | None:
            return round(float(np.percentile(values, q)), 2) if values else None

        return {
            "seconds": round(self.seconds, 2),
            "requests": self.sent,
            "offered_rps": round(self.sent / self.seconds, 1) if self.seconds else 0.0,
            "admitted_rps": round(self.admitted / self.seconds, 1) if self.seconds else 0.0,
            "admitted": self.admitted,
            "rejected_429": self.rejected_429,
            "retry_after_not_integer": self.bad_retry_after,
            "server_errors_5xx": self.server_errors,
            "other_failures": self.other_failures,
            "p50_ms": pct(self.latencies_ms, 50),
            "p95_ms": pct(self.latencies_ms, 95),
            "p99_ms": pct(self.latencies_ms, 99),
            "max_ms": round(max(self.latencies_ms), 2) if self.latencies_ms else None,
            "rejected_p99_ms": pct(self.rejected_ms, 99),
            "send_lag_p99_ms": pct(self.late_ms, 99),
            "per_second_admitted_429": [self.timeline[k] for k in sorted(self.timeline)],
        }


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, as a bare protocol (a stream per request costs too much CPU to
    offer twice the service's capacity from the same two cores)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        _, protocol = await asyncio.get_running_loop().create_connection(cls, host, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio's

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).lower()
        length = int(_header(head, b"content-length") or b"0")
        if len(self.buffer) < end + 4 + length:
            return
        del self.buffer[: end + 4 + length]
        if not self.waiter.done():
            self.waiter.set_result((int(head[9:12]), _header(head, b"retry-after") or b""))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))
        self.transport = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.transport is None:
            raise ConnectionError("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _header(head: bytes, name: bytes) -> bytes | None:
    start = head.find(b"\r\n" + name + b":")
    if start < 0:
        return None
    start += len(name) + 3
    end = head.find(b"\r\n", start)
    return head[start : end if end >= 0 else len(head)].strip()


def encode_requests(url: str, bodies: list[bytes]) -> list[bytes]:
    host = urlsplit(url).netloc
    return [
        (
            f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]


async def drive(
    url: str, requests: list[bytes], name: str, seconds: float, connections: int, rate: float | None
) -> PhaseStats:
    """Closed loop (rate None: each connection sends as soon as it has an answer) or open loop at `rate`."""
    parts = urlsplit(url)
    stats = PhaseStats(name)
    counter = iter(range(10**9))
    start = time.perf_counter()
    end = start + seconds

    async def worker() -> None:
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        connection = await Connection.open(host, port)
        try:
            while True:
                index = next(counter)
                due = start + index / rate if rate else time.perf_counter()
                if due >= end:
                    return
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent = time.perf_counter()
                stats.late_ms.append(max(0.0, (sent - due) * 1000))
                stats.sent += 1
                try:
                    status, retry_after = await connection.request(requests[index % len(requests)])
                except (OSError, ConnectionError, ValueError):
                    stats.other_failures += 1
                    connection.close()
                    connection = await Connection.open(host, port)
                    continue
                elapsed = (time.perf_counter() - sent) * 1000
                second = int(sent - start)
                if status == 200:
                    stats.admitted += 1
                    stats.latencies_ms.append(elapsed)
                    stats.timeline.setdefault(second, [0, 0])[0] += 1
                elif status == 429:
                    stats.rejected_429 += 1
                    stats.rejected_ms.append(elapsed)
                    stats.timeline.setdefault(second, [0, 0])[1] += 1
                    if not retry_after.isdigit():
                        stats.bad_retry_after += 1
                elif status >= 500:
                    stats.server_errors += 1
                else:
                    stats.other_failures += 1
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    stats.seconds = time.perf_counter() - start
    return stats


def histories(test: Any, count: int, seq: int = 10) -> list[bytes]:
    bodies = []
    for start in range(0, min(count * 3, len(test) - seq), 3):
        window = test.iloc[start : start + seq]
        history = {column: window[column].tolist() for column in window.columns}
        bodies.append(json.dumps({"identifier": IDENTIFIER, "history": history}).encode())
    return bodies[:count]


def rss_mb(pid: int) -> float:
    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


async def run_phases(url: str, requests: list[bytes], pid: int, args: argparse.Namespace) -> dict[str, Any]:
    await drive(url, requests, "warm-up", 3, args.queue, None)
    rss_before = rss_mb(pid)
    capacity = await drive(url, requests, "capacity", args.capacity_seconds, args.queue, None)
    capacity_rps = capacity.admitted / capacity.seconds
    peak = [rss_before]

    async def sample_rss() -> None:
        while True:
            peak.append(rss_mb(pid))
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample_rss())
    overload = await drive(
        url, requests, "overload", args.duration, args.connections, args.factor * capacity_rps
    )
    sampler.cancel()
    recovery = await drive(
        url, requests, "recovery", args.recovery_seconds, args.connections, capacity_rps / 2
    )
    rss_after = rss_mb(pid)
    return {
        "recovered_after_s": recovery.seconds_until_no_429(),
        "capacity_rps": round(capacity_rps, 1),
        "target_overload_rps": round(args.factor * capacity_rps, 1),
        "phases": {s.name: s.summary() for s in (capacity, overload, recovery)},
        "rss_mb": {"before": rss_before, "max_during_overload": max(peak), "after": rss_after},
    }


def start_stack(args: argparse.Namespace, workdir: Path) -> tuple[LocalStack, str, int]:
    train, test = split_train_test(generate_dataset(5000, seed=7))
    stack = LocalStack(
        StackOptions(
            root=ROOT,
            services=["preprocess", "train_gru", "eval", "inference"],
            state_path=workdir / "stack",
            service_env={
                "train_gru": {"MODEL_PARAMS": json.dumps({"epochs": args.epochs, "ensemble": 1})},
                "eval": {"EXPECTED_MODEL_TYPES": "GRU"},
                "inference": {"HTTP_QUEUE_MAXSIZE": str(args.queue)},
            },
        )
    )
    state = stack.up()
    watcher = TopicWatcher(state.endpoints["kafka:9092"], [Topic.MODEL_SELECTED])
    try:
        with GatewayClient(state.endpoints["fastapi-app"], token=state.token) as gateway:
            gateway.upload_bytes("dataset", f"{IDENTIFIER}_test.csv", test.to_csv(index=False).encode())
            gateway.upload_bytes("dataset", f"{IDENTIFIER}.csv", train.to_csv(index=False).encode())
        promotion = watcher.wait_for(
            Topic.MODEL_SELECTED, lambda v: v["identifier"] == IDENTIFIER, time.monotonic() + 600
        )
    finally:
        watcher.close()
    if promotion is None:
        stack.down()
        sys.exit("no promotion within 600 s")
    url = state.endpoints["inference"]
    deadline = time.monotonic() + 120
    while httpx.get(f"{url}/readyz", timeout=10).status_code != 200:
        if time.monotonic() > deadline:
            stack.down()
            sys.exit("inference not ready")
        time.sleep(0.5)
    pid = next(p.pid for p in state.processes if p.name == "inference")
    print(f"promoted {promotion['model_type']} run {promotion['run_id']}", flush=True)
    return stack, url, pid


def print_table(results: dict[str, Any]) -> None:
    print(
        f"\ncapacity {results['capacity_rps']} req/s; overload target {results['target_overload_rps']} req/s"
    )
    header = (
        "phase",
        "offered/s",
        "admitted/s",
        "429",
        "bad R-A",
        "5xx",
        "other",
        "p50 ms",
        "p95 ms",
        "p99 ms",
    )
    print("".join(f"{h:>11}" for h in header))
    for name, row in results["phases"].items():
        cells = (
            name,
            row["offered_rps"],
            row["admitted_rps"],
            row["rejected_429"],
            row["retry_after_not_integer"],
            row["server_errors_5xx"],
            row["other_failures"],
            row["p50_ms"],
            row["p95_ms"],
            row["p99_ms"],
        )
        print("".join(f"{c!s:>11}" for c in cells))
    rss = results["rss_mb"]
    print(
        f"inference RSS MB: before {rss['before']}, "
        f"max during overload {rss['max_during_overload']}, after {rss['after']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--queue", type=int, default=64, help="HTTP_QUEUE_MAXSIZE of the inference service")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of overload")
    parser.add_argument("--factor", type=float, default=2.0, help="overload rate as a multiple of capacity")
    parser.add_argument("--connections", type=int, default=512, help="connections in the open-loop phases")
    parser.add_argument("--capacity-seconds", type=float, default=10.0)
    parser.add_argument("--recovery-seconds", type=float, default=10.0)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="flts-overload-"))
    _, test = split_train_test(generate_dataset(5000, seed=7))
    stack, url, pid = start_stack(args, workdir)
    try:
        requests = encode_requests(url, histories(test, 200))
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        results = asyncio.run(run_phases(url, requests, pid, args))
        results["settings"] = {
            "http_queue_maxsize": args.queue,
            "factor": args.factor,
            "connections": args.connections,
            "duration_s": args.duration,
            "model": "GRU",
        }
    finally:
        stack.down()
    print_table(results)
    print(f"no 429 from second {results['recovered_after_s']} of the recovery phase on")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
