"""The `flts` command: the local stack without Docker (`up`, `down`, `status`, `logs`, `demo`)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

import httpx

from flts.localstack.processes import pid_alive
from flts.localstack.stack import LocalStack, StackOptions, StackState, stop_recorded


def project_root() -> Path:
    """The directory holding docker-compose.yml: the current one or a parent."""
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "docker-compose.yml").exists():
            return candidate
    raise SystemExit("flts: no docker-compose.yml here or in a parent directory")


def state_dir(args: argparse.Namespace) -> Path:
    return Path(args.state_dir).resolve() if args.state_dir else project_root() / ".flts"


def print_state(state: StackState, directory: Path) -> None:
    print(f"{'SERVICE':<16} {'PID':>8}  {'STATUS':<8} URL")
    for record in state.processes:
        status = "running" if pid_alive(record.pid) else "stopped"
        print(f"{record.name:<16} {record.pid:>8}  {status:<8} {record.url}")
    print(f"logs: {directory / 'logs'}   gateway token: {state.token}")


def cmd_up(args: argparse.Namespace) -> int:
    root = project_root()
    options = StackOptions(
        root=root, services=args.services or None, mlflow_db=args.mlflow_db, state_path=state_dir(args)
    )
    stack = LocalStack(options)
    print("starting the local stack (tansu broker, moto S3, MLflow server, services)...", flush=True)
    state = stack.up()
    print_state(state, options.state_dir)
    if args.detach:
        print("running in the background: `flts status`, `flts logs SERVICE`, `flts down`")
        return 0
    print("Ctrl-C stops everything.", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(1.0):
        dead = [record.name for record in state.processes if not pid_alive(record.pid)]
        if dead:
            print(
                f"stopped unexpectedly: {', '.join(dead)} (see `flts logs NAME`); shutting down", flush=True
            )
            break
    stack.down()
    print("stopped.")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    directory = state_dir(args)
    state = StackState.load(directory)
    if state is None:
        print(f"no local stack is recorded in {directory}")
        return 0
    pids = stop_recorded(state, directory)
    print(f"stopped {len(pids)} process(es): {' '.join(map(str, pids))}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    state = StackState.load(state_dir(args))
    if state is None:
        print("no local stack running")
        return 1
    print_state(state, state_dir(args))
    for record in state.processes:
        if record.kind == "service":
            try:
                ready = httpx.get(f"{record.url}/readyz", timeout=3).status_code == 200
            except httpx.HTTPError:
                ready = False
            print(f"  {record.name}: {'ready' if ready else 'NOT READY'}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    log = state_dir(args) / "logs" / f"{args.service}.log"
    if not log.exists():
        print(f"no log for {args.service!r} at {log}", file=sys.stderr)
        return 1
    with open(log, errors="replace") as handle:
        lines = handle.readlines()
        sys.stdout.writelines(lines[-args.lines :])
        while args.follow:
            line = handle.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.3)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from flts.cli.demo import run_demo

    options = StackOptions(root=project_root(), mlflow_db=args.mlflow_db, state_path=state_dir(args))
    return run_demo(options, rows=args.rows, timeout=args.timeout, keep=args.keep)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flts", description="Run the FLTS stack as local processes.")
    parser.add_argument(
        "--state-dir",
        default=os.environ.get("FLTS_STATE_DIR"),
        help="where PIDs, logs and the MLflow DB live (default: .flts/ next to docker-compose.yml)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the stack (all services, or the named ones and their dependencies)")
    up.add_argument("services", nargs="*", metavar="SERVICE")
    up.add_argument("--mlflow-db", help="SQLAlchemy URL for MLflow (default: SQLite under .flts/)")
    up.add_argument("-d", "--detach", action="store_true", help="return once healthy; stop with `flts down`")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop everything `flts up` started").set_defaults(func=cmd_down)
    sub.add_parser("status", help="show services, PIDs, URLs and readiness").set_defaults(func=cmd_status)
    logs = sub.add_parser("logs", help="print a service's log")
    logs.add_argument("service")
    logs.add_argument("-n", "--lines", type=int, default=100)
    logs.add_argument("-f", "--follow", action="store_true")
    logs.set_defaults(func=cmd_logs)
    demo = sub.add_parser("demo", help="up, upload a synthetic sample, follow the pipeline, predict, down")
    demo.add_argument("--rows", type=int, default=5000)
    demo.add_argument("--timeout", type=float, default=900.0)
    demo.add_argument("--keep", action="store_true", help="leave the stack running at the end")
    demo.add_argument("--mlflow-db")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
