"""Load test: N browsers upload photos to the Predict page at once; latency, errors and the server's memory.

    python -m benchmarks.load_test [--sessions 4 8] [--rounds 3] [--run models/starter]

Starts the dashboard as a real server (the starter run, or --run, as the only
model), warms it with one photo, then for each N opens N headless Chromium
sessions that each upload a different shared face photo `--rounds` times in a
row, all sessions at once. A request is timed from the upload to its face's
answer on the page. Prints per-request latency p50 / p95 / max, whether
every request was answered without an exception on its page, and the server's
resident memory (now and peak) after each stage. Needs Debian's chromium
and Playwright, as the browser tests do.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.paths import SHARED_FACES
from core.paths import PROJECT_ROOT
from core.service.launch import memory_mb
from dashboard.serving import serve

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
FACE_TITLE = re.compile(r"^Face 1 · ")
ANSWER_WAIT_MS = 300_000


async def one_session(browser, url: str, photos: list[Path], rounds: int) -> tuple[list[float], bool]:
    """Upload `rounds` photos one after another in a new session; returns each answer's seconds and whether all went well."""
    context = await browser.new_context(base_url=url, viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(ANSWER_WAIT_MS)
    latencies, clean = [], True
    try:
        await page.goto("/predict")
        uploader = page.locator('.st-key-predict-uploads input[type="file"]')
        await uploader.wait_for(state="attached")
        for photo in photos[:rounds]:
            started = time.perf_counter()
            await uploader.set_input_files(photo)
            await page.get_by_role("heading", name=photo.name).wait_for()
            await page.get_by_text(FACE_TITLE).last.wait_for()
            latencies.append(time.perf_counter() - started)
            if (
                await page.locator('[data-testid="stException"]').count()
                or await page.get_by_text("Something went wrong").count()
            ):
                clean = False
    finally:
        await context.close()
    return latencies, clean


async def load(url: str, sessions: int, rounds: int, photos: list[Path]):
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # Each session gets its own photos, so no answer comes from another session's cache.
            results = await asyncio.gather(
                *(one_session(browser, url, photos[index * rounds :], rounds) for index in range(sessions))
            )
        finally:
            await browser.close()
    latencies = [seconds for session, _ in results for seconds in session]
    return latencies, all(clean for _, clean in results) and len(latencies) == sessions * rounds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", nargs="+", type=int, default=[4, 8])
    parser.add_argument("--rounds", type=int, default=3, help="photos each session uploads, one after another")
    parser.add_argument("--run", type=Path, default=PROJECT_ROOT / "models" / "starter", help="the run the server predicts with")
    args = parser.parse_args(argv)
    photos = sorted(SHARED_FACES.glob("*.chip.jpg"))
    with tempfile.TemporaryDirectory() as scratch:
        empty_runs = Path(scratch) / "runs"
        empty_runs.mkdir()
        environment = {"AGEGENDER_RUNS": str(empty_runs), "AGEGENDER_STARTER": str(args.run.resolve()),
                       "AGEGENDER_CSV": str(Path(scratch) / "none.csv")}  # fmt: skip
        with serve(Path(scratch), **environment) as server:
            print(f"server started: {memory_mb(server.pid)[0]:,.0f} MB resident")
            warm, clean = asyncio.run(load(server.url, 1, 1, photos[-1:]))
            rss, _ = memory_mb(server.pid)
            print(
                f"warm-up (TensorFlow, the models and the detector load): {warm[0]:.1f} s, clean: {clean}; {rss:,.0f} MB resident"
            )
            print(
                "\n| sessions at once | requests | p50 | p95 | max | every request answered, no exception | server memory now / peak |"
            )
            print("| --- | --- | --- | --- | --- | --- | --- |")
            offset = 1
            for count in args.sessions:
                latencies, clean = asyncio.run(load(server.url, count, args.rounds, photos[offset:]))
                offset += count * args.rounds
                now, peak = memory_mb(server.pid)
                p50, p95 = np.percentile(latencies, [50, 95])
                print(f"| {count} | {len(latencies)} | {p50:.1f} s | {p95:.1f} s | {max(latencies):.1f} s | "
                      f"{'yes' if clean else 'NO'} | {now:,.0f} / {peak:,.0f} MB |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
