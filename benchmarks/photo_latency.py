"""Latency of the photo path and of the CAMs, warm, on this machine.

    python -m benchmarks.photo_latency RUN_DIR [RUN_DIR] [--repeats 30] [--face ../shared/data/faces/<chip>]

The photo: one shared chip enlarged to 400x400 on a 1224x816 (1.0 MP) grey
canvas, encoded as a JPEG in memory. Timed: bytes -> decode + detect + align
+ both models (`core.inference.photos.predict_photo`; target p50 <= 150 ms), with the
p50 of each step; then one CAM per head per face, for each method. The
detector and the models are built and run once before timing.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import numpy as np
from PIL import Image

import core.quiet  # noqa: F401  (must come before TensorFlow)
from benchmarks.paths import SHARED_FACES
from core.data.utkface import chip_files
from core.explain.cams import METHODS, Explainer
from core.inference.photos import FacePredictor, predict_photo
from core.vision.faces import detect_faces
from core.vision.images import load_rgb

CANVAS_SIZE, FACE_SIDE, FACE_AT = (1224, 816), 400, (500, 150)


def one_megapixel_jpeg(chip: Path) -> bytes:
    canvas = Image.new("RGB", CANVAS_SIZE, (118, 124, 130))
    canvas.paste(Image.open(chip).convert("RGB").resize((FACE_SIDE, FACE_SIDE), Image.LANCZOS), FACE_AT)
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def timed(function, repeats: int) -> np.ndarray:
    """Milliseconds of `repeats` calls, after one untimed warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return np.array(times)


def report(label: str, times: np.ndarray) -> None:
    print(f"{label:42s} p50 {np.percentile(times, 50):7.1f} ms   p95 {np.percentile(times, 95):7.1f} ms")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="a `both` run, or a gender run and an age run")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--face", type=Path, default=None, help="the chip to enlarge (default: the first shared chip)")
    args = parser.parse_args(argv)

    predictor = FacePredictor.from_runs(args.run_dirs)
    photo = one_megapixel_jpeg(args.face or chip_files(SHARED_FACES)[0].path)
    found = predict_photo(predictor, photo)
    print(
        f"photo: {found.width}x{found.height} JPEG, {len(photo) / 1024:.0f} KiB, {len(found.faces)} face(s) found; runs: "
        + ", ".join(f"{head} {run_dir}" for head, run_dir in predictor.run_dirs.items())
    )
    if len(found.faces) != 1:
        raise SystemExit(f"expected one face in the benchmark photo, found {len(found.faces)}")

    report("photo -> faces, age, gender (total)", timed(lambda: predict_photo(predictor, photo), args.repeats))
    rgb = load_rgb(photo)
    crops = np.stack([face.crop for face in detect_faces(rgb)])
    report("  decode", timed(lambda: load_rgb(photo), args.repeats))
    report("  detect + align + crop", timed(lambda: detect_faces(rgb), args.repeats))
    report("  models (" + " + ".join(predictor.heads) + ")", timed(lambda: predictor.predict(crops), args.repeats))

    for head in predictor.heads:
        explainer = Explainer(predictor.keras_model(head), head)
        for method in METHODS:
            report(
                f"CAM {head} {method}, one face",
                timed(lambda explainer=explainer, method=method: explainer.heatmaps(crops, method), args.repeats),
            )


if __name__ == "__main__":
    main()
