"""The service as a child process on a free loopback port, for tests and benchmarks; a process's memory.

    with serve_in_background(["models/starter"], log_path, "--workers", "2", AGEGENDER_API_KEYS=key) as server:
        server.url      # http://127.0.0.1:<port>, its models loaded (GET /ready answered 200)
        server.pid      # the `python -m core serve` process, e.g. for memory_mb(server.pid)

The process is ended when the block ends. dashboard/serving.py starts the
dashboard the same way, with the helpers below.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from core.paths import PROJECT_ROOT


@dataclasses.dataclass(frozen=True)
class Server:
    url: str
    pid: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serve_in_background(run_dirs: list[str | Path], log_path: Path, *flags: str, timeout: float = 180, **environment: str):
    """Start `python -m core serve RUN_DIR... FLAGS` with these environment variables added; yields a `Server` once it is ready."""
    port = free_port()
    command = [sys.executable, "-m", "core", "serve", *map(str, run_dirs), "--port", str(port), *flags]
    with running(command, f"http://127.0.0.1:{port}", "/ready", log_path, timeout, environment) as server:
        yield server


@contextlib.contextmanager
def running(command: list[str], url: str, ready_path: str, log_path: Path, timeout: float, environment: dict):
    """Run `command` (a server) from the project's root, logging to `log_path`; yields once `url + ready_path` answers 200."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env={**os.environ, **environment}, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_answering(url + ready_path, process, Path(log_path), timeout)
        yield Server(url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_answering(url: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[1:4]} exited with code {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # Not listening yet, or not ready (503 is an HTTPError, an OSError).
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} s; the log: {log_path}")


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of a process in MB, from Linux's /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]
