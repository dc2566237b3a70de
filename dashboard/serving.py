"""Run the dashboard as a real server on a free localhost port, for tests and benchmarks; Streamlit-free.

    with serve(log_dir, AGEGENDER_CSV="...") as server:
        server.url      # http://127.0.0.1:<port>, answering /_stcore/health
        server.pid      # the server process, e.g. to read its memory (core.service.launch.memory_mb)

The server is `streamlit run dashboard/app.py`, headless, without usage
statistics or a file watcher; it is ended when the block ends. The HTTP
service is started the same way (core.service.launch, whose helpers these are).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from core.service.launch import free_port, running


@contextlib.contextmanager
def serve(log_dir: Path, timeout: float = 90, **environment: str):
    """Start the dashboard with these environment variables added; yields a `Server` once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true",
               "--server.port", str(port), "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]  # fmt: skip
    with running(
        command, f"http://127.0.0.1:{port}", "/_stcore/health", Path(log_dir) / "streamlit.log", timeout, environment
    ) as server:
        yield server
