"""Every run writes TensorBoard logs: `tensorboard --logdir runs/` serves the same numbers as history.jsonl."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from core import runs
from core.service.launch import free_port


def fetch(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_tensorboard_serves_a_run_s_epoch_scalars(tiny_both_run, tmp_path):
    logdir = tmp_path / "runs"
    shutil.copytree(tiny_both_run, logdir / "tiny")
    assert (logdir / "tiny" / runs.TENSORBOARD_DIR).is_dir()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--port", str(port),
                               "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}/data/plugin/scalars"
    try:
        deadline, tags = time.time() + 120, {}
        # A run's logs are in its tensorboard/ folder: TensorBoard names them run/tensorboard/train and .../validation.
        # It loads them in the background: wait until the epoch scalars are in.
        while time.time() < deadline and "epoch_loss" not in tags.get("tiny/tensorboard/validation", {}):
            try:
                tags = fetch(f"{base}/tags")
            except OSError:
                time.sleep(1)
        assert {"epoch_loss", "batch_loss"} <= set(tags.get("tiny/tensorboard/train", {})), tags
        query = urllib.parse.urlencode({"run": "tiny/tensorboard/validation", "tag": "epoch_loss"})
        points = fetch(f"{base}/scalars?{query}")  # [[wall time, step, value], ...]
    finally:
        server.terminate()
        server.wait(timeout=30)
    epochs = [record for record in runs.read_history(tiny_both_run) if record.is_complete_epoch]
    assert [step for _, step, _ in points] == [record.epoch - 1 for record in epochs]
    assert [value for _, _, value in points] == pytest.approx([record.metrics["val_loss"] for record in epochs], rel=1e-5)
