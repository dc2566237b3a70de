"""UTKFace chip files (`AGE_GENDER_ETHNICITY_DATETIME.jpg.chip.jpg`): their labels, and their row in the face CSV.

    chips = chip_files("../shared/data/faces")  # every chip of a folder, by name
    chip = parse_chip_name(path)            # ChipName(age=100, gender=1, ethnicity=0, img_name=...)
    row = csv_row(faces, chip)              # position of that face in core.data.loading.load_faces(...)

The CSV's `img_name` is the part of the file name after the third underscore,
but it is not unique (UTKFace reuses time stamps), so a chip's row is the one
whose `img_name` and labels all match.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from core.data.loading import FaceData


@dataclasses.dataclass(frozen=True)
class ChipName:
    path: Path
    age: int
    gender: int
    ethnicity: int
    img_name: str


def parse_chip_name(path: str | Path) -> ChipName:
    """Labels and CSV `img_name` of a UTKFace chip, from its file name."""
    path = Path(path)
    parts = path.name.split("_", 3)
    if len(parts) != 4 or not all(part.isdigit() for part in parts[:3]):
        raise ValueError(f"{path.name!r} is not a UTKFace chip name (AGE_GENDER_ETHNICITY_DATETIME.jpg.chip.jpg)")
    age, gender, ethnicity = (int(part) for part in parts[:3])
    return ChipName(path=path, age=age, gender=gender, ethnicity=ethnicity, img_name=parts[3])


def chip_files(folder: str | Path) -> list[ChipName]:
    """Every UTKFace chip (`*.chip.jpg`) in `folder`, sorted by file name."""
    chips = [parse_chip_name(path) for path in sorted(Path(folder).glob("*.chip.jpg"))]
    if not chips:
        raise ValueError(f"no UTKFace chips (*.chip.jpg) in {folder}")
    return chips


def csv_row(faces: FaceData, chip: ChipName) -> int:
    """The row of `faces` that holds `chip`; a ValueError if there is none or more than one."""
    rows = np.flatnonzero(
        (faces.img_name == chip.img_name)
        & (faces.age == chip.age)
        & (faces.gender == chip.gender)
        & (faces.ethnicity == chip.ethnicity)
    )
    if len(rows) != 1:
        raise ValueError(f"{chip.path.name}: {len(rows)} CSV rows match its img_name and labels, expected 1")
    return int(rows[0])
