"""Run the dashboard as a real server on a free localhost port, for tests and benchmarks; Streamlit-free.

    with serve(log_dir, AGEGENDER_CSV="...") as server:
        server.url      # http://127.0.0.1:<port>, answering /_stcore/health
        server.pid      # the server process, e.g. to read its memory

The server is `streamlit run dashboard/app.py`, headless, without usage
statistics or a file watcher; it is ended when the block ends.
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
def serve(log_dir: Path, timeout: float = 90, **environment: str):
    """Start the dashboard with these environment variables added; yields a `Server` once it answers."""
    port = free_port()
    log_path = Path(log_dir) / "streamlit.log"
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true",
               "--server.port", str(port), "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]  # fmt: skip
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env={**os.environ, **environment}, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(url, process, log_path, timeout)
        yield Server(url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_for_health(url: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer {url}/_stcore/health within {timeout} s")


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of a process in MB, from Linux's /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]
