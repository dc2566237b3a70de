"""Do photos give the same predictions as the CSV rows of the same faces?

    python -m benchmarks.photo_consistency RUN_DIR [RUN_DIR] [--faces DIR] [--csv PATH]

(defaults: the shared data, ../shared/data/faces and ../shared/data/age_gender.csv.gz)

Each shared UTKFace chip is also a CSV row. The upload path reads the chip's
JPEG bytes, detects, aligns and crops the face (`core.inference.photos.predict_photo`);
the CSV path feeds the row's 48x48 pixels to the same models. Printed: gender
agreement (targets: >= 95 %) and mean absolute age difference (<= 2.5 years)
over the chips where a face was found, and with the whole-image reading for
the others; the agreement on the faces the CSV path is sure of; and, for
scale, each path's accuracy and MAE against the labels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import core.quiet  # noqa: F401  (must come before TensorFlow)
from benchmarks.paths import SHARED_CSV, SHARED_FACES
from core.data.loading import load_faces
from core.data.utkface import chip_files, csv_row
from core.inference.photos import FacePredictor, predict_photo

SURE_MARGIN = 0.1


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="a `both` run, or a gender run and an age run")
    parser.add_argument("--faces", type=Path, default=SHARED_FACES)
    parser.add_argument("--csv", type=Path, default=SHARED_CSV)
    args = parser.parse_args(argv)

    predictor = FacePredictor.from_runs(args.run_dirs)
    data, _ = load_faces(args.csv)
    chips = chip_files(args.faces)
    rows = np.array([csv_row(data, chip) for chip in chips])
    from_csv = predictor.predict(data.images[rows])

    from_photos = {head: np.full(len(chips), np.nan) for head in predictor.heads}
    detected = np.zeros(len(chips), dtype=bool)
    for i, chip in enumerate(chips):
        photo = predict_photo(predictor, chip.path.read_bytes(), if_no_face="whole-image")
        # A chip shows one face; should the detector see a second one, the surest is the chip's.
        face = max(photo.faces, key=lambda face: face.detected.confidence if face.detected else 0.0)
        detected[i] = face.detected is not None
        if "gender" in from_photos:
            from_photos["gender"][i] = face.female_probability
        if "age" in from_photos:
            from_photos["age"][i] = face.age

    print(f"runs: {', '.join(f'{head} {run_dir}' for head, run_dir in predictor.run_dirs.items())}")
    print(f"photos: {len(chips)}; a face detected in {detected.sum()}; the other {(~detected).sum()} read as whole-image chips")
    for label, subset in (("detected faces", detected), ("all photos", np.ones(len(chips), dtype=bool))):
        print(f"{label} ({subset.sum()}):")
        if "gender" in from_photos:
            agree = np.mean((from_photos["gender"][subset] >= 0.5) == (from_csv["gender"][subset] >= 0.5))
            gap = np.mean(np.abs(from_photos["gender"][subset] - from_csv["gender"][subset]))
            print(f"  gender agreement: {agree:.1%} (target >= 95 %); mean |P(female) difference|: {gap:.3f}")
            # Disagreements on faces the model itself is unsure of say more about the model than the crops.
            sure = subset & (np.abs(from_csv["gender"] - 0.5) >= SURE_MARGIN)
            sure_agree = np.mean((from_photos["gender"][sure] >= 0.5) == (from_csv["gender"][sure] >= 0.5))
            print(
                f"  gender agreement where the CSV path is sure (|P(female) - 0.5| >= {SURE_MARGIN}): {sure_agree:.1%}"
                f" of {sure.sum()} faces"
            )
        if "age" in from_photos:
            difference = np.mean(np.abs(from_photos["age"][subset] - from_csv["age"][subset]))
            print(f"  mean absolute age difference: {difference:.2f} years (target <= 2.5)")
    truth_gender, truth_age = data.gender[rows], data.age[rows]
    for name, predicted in (("photo path", from_photos), ("CSV path", from_csv)):
        scores = []
        if "gender" in predicted:
            scores.append(f"gender accuracy {np.mean((predicted['gender'] >= 0.5) == (truth_gender == 1)):.1%}")
        if "age" in predicted:
            scores.append(f"age MAE {np.mean(np.abs(predicted['age'] - truth_age)):.2f} years")
        print(f"{name} vs labels: {', '.join(scores)}")


if __name__ == "__main__":
    main()
