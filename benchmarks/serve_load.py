"""Load benchmark of the HTTP service: K clients at once post real photos for T seconds; throughput, latency, errors, memory.

    python -m benchmarks.serve_load [--clients 1 8 32] [--seconds 20] [--run models/starter] [--workers 1]

Starts `python -m core serve` as a real process on a free loopback port
(core.service.launch) and waits until its models are loaded. Then, for each
K, K client threads each post one shared face photo at a time to
POST /v1/faces, one request after another, for T seconds (each client walks
the 300 photos from its own starting point). A request counts as an error
unless it is answered 200 with the photo read (a few chips have no face the
detector finds: those are answers, not errors). Prints, per K:
requests/s, latency p50 / p95 / p99, errors, and the server's resident memory
(its worker processes included) at the start and the end, and its peak.
The clients run in this process, on the same CPUs as the server.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.paths import SHARED_FACES
from core.paths import PROJECT_ROOT
from core.service.client import ServiceClient
from core.service.launch import memory_mb, serve_in_background


def server_memory_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) in MB of the server and its worker processes (uvicorn's children with --workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    figures = [memory_mb(process) for process in [pid, *map(int, children)]]
    return sum(now for now, _ in figures), sum(peak for _, peak in figures)


def one_client(url: str, photos: list[tuple[str, bytes]], start: int, until: float, results: list) -> None:
    """Post photos one after another until `until`; appends (seconds, ok) per request."""
    client = ServiceClient(url)
    index = start
    while time.perf_counter() < until:
        name, data = photos[index % len(photos)]
        index += 1
        started = time.perf_counter()
        try:
            status, answer = client.faces([(name, data)])
            ok = status == 200 and "error" not in answer["images"][0]
        except (OSError, ValueError):  # Refused connections, timeouts, answers that are not JSON: all errors.
            ok = False
        results.append((time.perf_counter() - started, ok))


def drive(url: str, photos: list[tuple[str, bytes]], clients: int, seconds: float) -> tuple[list[float], int, float]:
    """(latencies of the requests answered well, errors, wall seconds) of `clients` clients for `seconds`."""
    results: list[tuple[float, bool]] = []
    started = time.perf_counter()
    until = started + seconds
    threads = [
        threading.Thread(target=one_client, args=(url, photos, number * len(photos) // clients, until, results))
        for number in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [latency for latency, ok in results if ok], sum(not ok for _, ok in results), time.perf_counter() - started


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 8, 32], help="clients at once, one stage each (K)")
    parser.add_argument("--seconds", type=float, default=20, help="how long each stage drives the server (T)")
    parser.add_argument("--run", type=Path, default=PROJECT_ROOT / "models" / "starter", help="the run the server answers with")
    parser.add_argument("--workers", type=int, default=1, help="the server's worker processes")
    parser.add_argument("--inference-threads", type=int, default=None, help="the server's photos at once (default: its own)")
    args = parser.parse_args(argv)
    photos = [(path.name, path.read_bytes()) for path in sorted(SHARED_FACES.glob("*.jpg"))]
    with tempfile.TemporaryDirectory() as scratch:
        loading = time.perf_counter()
        flags = ["--workers", str(args.workers)]
        if args.inference_threads is not None:
            flags += ["--inference-threads", str(args.inference_threads)]
        with serve_in_background([args.run.resolve()], Path(scratch) / "service.log", *flags) as server:
            print(f"server ready in {time.perf_counter() - loading:.1f} s ({' '.join(flags)}, run {args.run.name}); "
                  f"{len(photos)} photos, {args.seconds:g} s per stage", flush=True)  # fmt: skip
            drive(server.url, photos, 1, 1.0)  # One second of warm-up: the first requests' allocations.
            print("| clients | requests | requests/s | p50 | p95 | p99 | errors | server memory start / end (peak) |")
            print("| --- | --- | --- | --- | --- | --- | --- | --- |")
            for clients in args.clients:
                start_mb, _ = server_memory_mb(server.pid)
                latencies, errors, wall = drive(server.url, photos, clients, args.seconds)
                end_mb, peak_mb = server_memory_mb(server.pid)
                p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) * 1000 if latencies else (np.nan,) * 3
                print(f"| {clients} | {len(latencies) + errors} | {len(latencies) / wall:.1f} | {p50:.0f} ms | {p95:.0f} ms | "
                      f"{p99:.0f} ms | {errors} | {start_mb:,.0f} / {end_mb:,.0f} ({peak_mb:,.0f}) MB |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
