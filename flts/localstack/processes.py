"""Child processes of the local stack: started in their own process group, stopped by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StartupError(RuntimeError):
    """A process did not become healthy; the message carries the tail of its log."""


@dataclass
class ManagedProcess:
    """One process the stack started: how to reach it and where its log is."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    url: str = ""
    health_url: str | None = None
    ready_check: Callable[[], bool] | None = None
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = None
    pid: int | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
                cwd=self.cwd,
                start_new_session=True,  # its own process group: Ctrl-C reaches us, we stop it by PID
            )
        self.pid = self.popen.pid
        return self

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return self.pid is not None and pid_alive(self.pid)

    def healthy(self) -> bool:
        if self.ready_check is not None:
            try:
                return self.ready_check()
            except Exception:  # a probe that fails just means "not yet"
                return False
        if self.health_url is None:
            return self.alive()
        try:
            return httpx.get(self.health_url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise StartupError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.25)
        raise StartupError(f"{self.name} not healthy after {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        if self.pid is None:
            return
        stop_process_group(self.pid, timeout)
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=1)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def stop_process_group(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM the process group led by `pid`, then SIGKILL whatever is left after `timeout`."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    if pgid != pid:  # not a group we created: signal just the process
        _signal(lambda sig: os.kill(pid, sig), signal.SIGTERM)
    else:
        _signal(lambda sig: os.killpg(pgid, sig), signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _group_alive(pgid, pid):
        time.sleep(0.1)
    if _group_alive(pgid, pid):
        _signal(lambda sig: os.killpg(pgid, sig), signal.SIGKILL)
        time.sleep(0.2)


def _group_alive(pgid: int, pid: int) -> bool:
    if pid_alive(pid):
        return True
    return any(pid_alive(member) for member in group_members(pgid))


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) == pgid:
                members.append(int(entry.name))
        except (ProcessLookupError, PermissionError):
            continue
    return members


def _signal(send: Callable[[int], None], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        send(sig)
