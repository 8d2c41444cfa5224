"""A scaled-out deployment on this machine, as separate processes: `summary-bot run` fronts
and `summary-bot worker`s on one Redis, for the scale benchmark and the fault test."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environment() -> dict:
    """This process's environment without any summary-bot or Slack settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SUMMARY_BOT_", "SLACK_"))}


def peak_rss_mb(pid: int) -> float:
    """A running process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def process_tree(pid: int) -> list[Path]:
    """The /proc folders of a process and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(Path(f"/proc/{current}"))
        stack += children.get(current, [])
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and all its live descendants, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for folder in process_tree(pid):
        try:
            fields = (folder / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its live descendants, in MB."""
    total = 0
    for folder in process_tree(pid):
        try:
            status = (folder / "status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return round(total / 1024, 1)


@dataclass
class Deployment:
    env: dict  # shared by every process; each gets its own SUMMARY_BOT_HTTP_PORT
    logs_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def start(self, name: str, command: str, *, cpus: set[int] | None = None, **extra_env: str) -> None:
        """Start `summary-bot COMMAND` as `name`; `cpus`: the only cores it may run on."""
        port = free_port()
        env = {**self.env, **extra_env, "SUMMARY_BOT_HTTP_PORT": str(port)}
        log = open(self.logs_dir / f"{name}.log", "wb")  # a file: a full pipe would stall the process
        pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "bot", command], env=env, stdout=log, stderr=log, preexec_fn=pin
        )
        self.ports[name] = port

    def cpu(self, prefix: str) -> float:
        """CPU seconds used so far by the processes whose name starts with `prefix`."""
        return sum(cpu_seconds(p.pid) for name, p in self.processes.items() if name.startswith(prefix))

    def url(self, name: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(
            f"--- {name} ---\n{(self.logs_dir / f'{name}.log').read_text(errors='replace')[-tail:]}"
            for name in self.processes
        )

    async def wait_healthy(self, names: list[str], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            for name in names:
                while True:
                    if self.processes[name].poll() is not None:
                        raise RuntimeError(f"{name} exited\n{self.logs()}")
                    try:
                        async with http.get(self.url(name, "/healthz")) as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{name} did not become healthy\n{self.logs()}")
                    await asyncio.sleep(0.2)

    def kill(self, name: str) -> None:
        self.processes[name].kill()
        self.processes[name].wait()

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)  # a stopped process must run to end
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


class RedisServer:
    """A throwaway redis-server on 127.0.0.1, for benchmarks and tests: no persistence
    unless `options` (more redis-server arguments, which win over the defaults) say so."""

    def __init__(self, *options: str) -> None:
        self.options = options
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory()
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> RedisServer:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not on PATH (Debian/Ubuntu: apt-get install redis-server)")
        self._process = self.process = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self._dir.name, "--logfile", str(Path(self._dir.name) / "redis.log"), *self.options],
        )  # fmt: skip
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        client.close()
        return self

    @property
    def pid(self) -> int:
        return self._process.pid

    def restart(self, down_seconds: float = 1.0) -> None:
        """Stop the server and start a fresh, empty one on the same port (a restart or failover)."""
        self._process.terminate()
        self._process.wait(timeout=10)
        time.sleep(down_seconds)
        self.__enter__()

    def __exit__(self, *exc_info) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._dir.cleanup()
