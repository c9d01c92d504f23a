"""`flts up`: the compose stack as local processes (DESIGN §8).

Infrastructure gets stand-ins (tansu for kafka, moto for minio, the real MLflow server with SQLite or a
given Postgres); services labelled `flts.local` in docker-compose.yml run with compose's command and
environment, compose host names rewritten to local ports. State (PIDs, URLs, the gateway token) is kept
in `.flts/state.json` so `flts down`, `flts status` and `flts logs` work from another shell.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from flts.localstack import infra
from flts.localstack.compose import (
    INFRA_PORTS,
    AppService,
    app_services,
    local_command,
    resolved_config,
    rewrite_hosts,
)
from flts.localstack.processes import ManagedProcess, StartupError, free_port, pid_alive, stop_process_group

logger = logging.getLogger(__name__)
STATE_FILE = "state.json"


@dataclass
class ProcessRecord:
    name: str
    pid: int
    url: str
    log: str
    kind: str


@dataclass
class StackState:
    root: str
    token: str
    endpoints: dict[str, str]
    processes: list[ProcessRecord] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    def url(self, name: str) -> str:
        return self.endpoints[name]

    def save(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / STATE_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, state_dir: Path) -> StackState | None:
        path = state_dir / STATE_FILE
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        raw["processes"] = [ProcessRecord(**item) for item in raw.get("processes", [])]
        return cls(**raw)


@dataclass
class StackOptions:
    root: Path
    services: list[str] | None = None  # None = every service labelled flts.local
    mlflow_db: str | None = None  # SQLAlchemy URL; default a fresh SQLite file under .flts/
    extra_env: dict[str, str] = field(default_factory=dict)  # applied to every local service
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)  # per service overrides
    token: str | None = None
    health_timeout: float = 120.0
    state_path: Path | None = None  # default <root>/.flts

    @property
    def state_dir(self) -> Path:
        return self.state_path or self.root / ".flts"


class LocalStack:
    """Start, track and stop the local stack."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.log_dir = options.state_dir / "logs"
        self.processes: list[ManagedProcess] = []
        self.state: StackState | None = None
        self._launch: dict[str, tuple[AppService, int | None, dict[str, str]]] = {}

    # -- planning --------------------------------------------------------------------------------
    def _env_file(self) -> Path | None:
        for name in (".env", ".env.example"):
            if (self.options.root / name).exists():
                return self.options.root / name
        return None

    def _selected(self, services: list[AppService]) -> list[AppService]:
        if self.options.services is None:
            return services
        by_name = {service.name: service for service in services}
        unknown = [name for name in self.options.services if name not in by_name]
        if unknown:
            raise ValueError(f"unknown service(s) {unknown}; local services are {sorted(by_name)}")
        wanted: set[str] = set()

        def add(name: str) -> None:
            if name in by_name and name not in wanted:
                wanted.add(name)
                for dependency in by_name[name].depends_on:
                    add(dependency)

        for name in self.options.services:
            add(name)
        return [service for service in services if service.name in wanted]

    def _infra_needed(self, services: list[AppService], config: dict[str, object]) -> set[str]:
        if self.options.services is None:
            return set(INFRA_PORTS)
        compose_services = config.get("services", {})
        assert isinstance(compose_services, dict)
        needed: set[str] = set()
        pending = [dep for service in services for dep in service.depends_on]
        while pending:
            name = pending.pop()
            if name in needed:
                continue
            needed.add(name)
            pending.extend((compose_services.get(name, {}).get("depends_on") or {}).keys())
        return needed & set(INFRA_PORTS)

    # -- start -----------------------------------------------------------------------------------
    def up(self) -> StackState:
        existing = StackState.load(self.options.state_dir)
        if existing and any(pid_alive(p.pid) for p in existing.processes):
            raise RuntimeError(
                "a local stack is already running (see `flts status`; stop it with `flts down`)"
            )
        if self.log_dir.exists():
            shutil.rmtree(self.log_dir)
        token = self.options.token or secrets.token_urlsafe(24)
        config = resolved_config(
            self.options.root / "docker-compose.yml", self._env_file(), {"GATEWAY_TOKEN": token}
        )
        services = self._selected(app_services(config))
        infra_needed = self._infra_needed(services, config)
        endpoints: dict[str, str] = {}
        self.state = StackState(root=str(self.options.root), token=token, endpoints=endpoints)
        try:
            self._start_infra(infra_needed, endpoints)
            ports = {service.name: free_port() for service in services if service.kind == "service"}
            for service in services:
                if service.container_port and service.name in ports:
                    endpoints[f"{service.name}:{service.container_port}"] = f"127.0.0.1:{ports[service.name]}"
            for service in services:
                self._start_service(service, ports.get(service.name), endpoints)
        except BaseException:
            self.down()
            raise
        return self.state

    def _track(self, process: ManagedProcess, kind: str) -> None:
        assert self.state is not None and process.pid is not None
        self.processes.append(process)
        self.state.processes.append(
            ProcessRecord(process.name, process.pid, process.url, str(process.log_path), kind)
        )
        self.state.save(self.options.state_dir)

    def _start_infra(self, needed: set[str], endpoints: dict[str, str]) -> None:
        started: list[ManagedProcess] = []
        if "kafka" in needed:
            broker = infra.broker_process(self.log_dir).start()
            self._track(broker, "infra")
            started.append(broker)
            endpoints["kafka:9092"] = broker.url
        if "minio" in needed or "mlflow" in needed:
            s3 = infra.s3_process(self.log_dir).start()
            self._track(s3, "infra")
            started.append(s3)
            endpoints["minio:9000"] = s3.url.removeprefix("http://")
            s3.wait_healthy(30)
            if "mlflow" in needed:
                infra.create_buckets(s3.url, ["mlflow"])  # the artifact root must exist before any run
                mlflow = infra.mlflow_process(self.log_dir, s3.url, self._mlflow_backend()).start()
                self._track(mlflow, "infra")
                started.append(mlflow)
                endpoints["mlflow:5000"] = mlflow.url.removeprefix("http://")
        if "postgres" in needed and infra.postgres_available():
            endpoints["postgres:5432"] = "127.0.0.1:5432"
        for process in started:
            process.wait_healthy(self.options.health_timeout)

    def _mlflow_backend(self) -> str:
        if self.options.mlflow_db:
            if self.options.mlflow_db.startswith("postgresql"):
                infra.ensure_postgres_database(self.options.mlflow_db)
            return self.options.mlflow_db
        # moto keeps artifacts in memory, so a fresh tracking DB per `up` keeps the two consistent.
        database = self.options.state_dir / "mlflow.db"
        database.unlink(missing_ok=True)
        return f"sqlite:///{database}"

    def _service_env(
        self, service: AppService, port: int | None, endpoints: dict[str, str]
    ) -> dict[str, str]:
        env = {key: rewrite_hosts(value, endpoints) for key, value in service.environment.items()}
        if port is not None:
            env["PORT"] = str(port)
            env["HTTP_HOST"] = "127.0.0.1"
        env.update(self.options.extra_env)
        env.update(self.options.service_env.get(service.name, {}))
        return env

    def _start_service(self, service: AppService, port: int | None, endpoints: dict[str, str]) -> None:
        self._launch[service.name] = (service, port, dict(endpoints))
        env = self._service_env(service, port, endpoints)
        log_path = self.log_dir / f"{service.name}.log"
        if service.kind == "oneshot":
            with open(log_path, "ab") as log:
                result = subprocess.run(
                    local_command(service.command),
                    env={**_base_env(), **env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.options.root,
                    timeout=self.options.health_timeout,
                    check=False,
                )
            if result.returncode != 0:
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
                raise StartupError(f"{service.name} failed with exit code {result.returncode}:\n{tail}")
            return
        url = f"http://127.0.0.1:{port}"
        process = ManagedProcess(
            service.name,
            local_command(service.command),
            log_path,
            env=env,
            url=url,
            health_url=f"{url}/healthz",  # as compose healthchecks: alive, not necessarily ready
            cwd=self.options.root,
        ).start()
        self._track(process, "service")
        process.wait_healthy(self.options.health_timeout)
        assert self.state is not None
        self.state.endpoints[service.name] = url

    # -- faults and restarts (tests) -----------------------------------------------------------------
    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Send `sig` to a running service's process group; return its PID."""
        record = self._record(name)
        os.killpg(record.pid, sig)
        return record.pid

    def restart(self, name: str, wait: bool = True) -> int:
        """Start a stopped (or killed) service again with the same port and environment."""
        service, port, endpoints = self._launch[name]
        old = self._record(name)
        stop_process_group(old.pid, timeout=10)
        assert self.state is not None
        self.state.processes = [p for p in self.state.processes if p.pid != old.pid]
        self.processes = [p for p in self.processes if p.pid != old.pid]
        if wait:
            self._start_service(service, port, endpoints)
        return self._record(name).pid

    def restart_infra(self, name: str) -> int:
        """Stop an infrastructure process (kafka, minio, mlflow) and start it again with the same command,
        port and environment; return the new PID. MLflow keeps its runs (the database outlives it); tansu
        and moto keep data in memory, so restarting them loses it."""
        old = next(p for p in reversed(self.processes) if p.name == name)
        old.stop(timeout=10)
        fresh = replace(old, popen=None, pid=None).start()
        assert self.state is not None and fresh.pid is not None
        self.processes = [fresh if p is old else p for p in self.processes]
        self.state.processes = [
            ProcessRecord(name, fresh.pid, fresh.url, str(fresh.log_path), "infra") if p.pid == old.pid else p
            for p in self.state.processes
        ]
        self.state.save(self.options.state_dir)
        fresh.wait_healthy(self.options.health_timeout)
        return fresh.pid

    def _record(self, name: str) -> ProcessRecord:
        assert self.state is not None
        return next(p for p in reversed(self.state.processes) if p.name == name)

    # -- stop ------------------------------------------------------------------------------------
    def down(self) -> list[int]:
        """Stop everything this stack started (services first, infrastructure last)."""
        state = self.state or StackState.load(self.options.state_dir)
        return stop_recorded(state, self.options.state_dir)


def stop_recorded(state: StackState | None, state_dir: Path) -> list[int]:
    """Stop the processes named in a state file, newest first; return their PIDs."""
    if state is None:
        return []
    stopped = []
    for record in reversed(state.processes):
        stop_process_group(record.pid, timeout=20 if record.kind == "service" else 10)
        stopped.append(record.pid)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return stopped


def _base_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}
