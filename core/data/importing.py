"""Make a face CSV from image files: UTKFace chips, or your own labelled photos.

    python -m core import_faces SOURCE --out data/age_gender.csv.gz [--labels labels.csv]
    report = import_faces("photos/", "data/mine.csv.gz")   # ImportReport: faces written, files left out and why

SOURCE is a folder (searched recursively) or a .tar, .tar.gz or .tgz archive.

- A UTKFace "aligned & cropped" chip (`AGE_GENDER_ETHNICITY_DATETIME.jpg.chip.jpg`)
  is a face already: it becomes a row exactly as the public CSV was made (PIL
  luma, LANCZOS to 48x48: `core.vision.faces.whole_image_crop`), so the 300 shared
  chips give their CSV rows byte for byte, labels from the name.
- Any other JPEG, PNG or WebP is a photo: its face is found and aligned by the
  photo path (`core.vision.faces.detect_faces`), its labels come from the UTKFace
  name pattern (`AGE_GENDER_ETHNICITY_...`) or from a labels file (columns
  `file`, `age`, `gender`, `ethnicity`; `labels.csv` at the top of SOURCE
  unless `--labels` names another). A photo with no face, or with several, is
  left out and reported by name: which face the labels mean is never guessed.

Files that cannot be read, or whose labels are missing or out of range, are
reported by name too; nothing else is left out. The CSV is written only when
at least one face was imported.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import io
import tarfile
from collections.abc import Callable
from pathlib import Path

from isal import igzip

from core.data.loading import REQUIRED_COLUMNS
from core.data.utkface import parse_chip_name
from core.files import write_atomic
from core.labels import ETHNICITIES, GENDERS, MAX_AGE
from core.vision.images import IMAGE_SUFFIXES, MAX_BYTES, image_files, load_rgb, read_image_file

CHIP_SUFFIX = ".chip.jpg"
LABELS_FILE = "labels.csv"
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")


@dataclasses.dataclass(frozen=True)
class Problem:
    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


@dataclasses.dataclass(frozen=True)
class ImportReport:
    source: str
    out: str | None  # None when no face could be imported, so nothing was written
    images_seen: int
    faces_written: int
    problems: list[Problem]

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "problems": [str(problem) for problem in self.problems]}


@dataclasses.dataclass(frozen=True)
class Labels:
    age: int
    gender: int
    ethnicity: int


def import_faces(
    source: str | Path,
    out: str | Path,
    labels_file: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Turn every image of `source` into a CSV row and write them to `out` (plain, or gzip for .gz), in name order.

    Args:
        labels_file: labels for photos without UTKFace names (default: labels.csv at the top of `source`, folder or archive).
        progress: called with (images done, images in all) after each image.

    Raises:
        FileNotFoundError: `source` or `labels_file` does not exist.
        ValueError: `source` is neither a folder nor a tar archive, holds no image, or the labels file is unusable.
    """
    source = Path(source)
    with _source_files(source) as (images, labels_text):
        if not images:
            raise ValueError(f"{source} holds no JPEG, PNG or WebP image")
        if labels_file is not None:
            labels_text, labels_origin = Path(labels_file).read_text(encoding="utf-8-sig", errors="replace"), str(labels_file)
        else:
            labels_origin = f"{LABELS_FILE} in {source}"
        labels = _read_labels(labels_text, labels_origin) if labels_text is not None else ({}, {})
        rows, problems = [], []
        for done, (name, read) in enumerate(images, start=1):
            try:
                rows.append((name, _row(name, read(), labels)))
            except (ValueError, OSError, EOFError, tarfile.TarError) as error:  # A file that cannot be read is one problem.
                problems.append(Problem(name, str(error)))
            if progress is not None:
                progress(done, len(images))
    written = None
    if rows:
        _write_csv([row for _, row in sorted(rows, key=lambda pair: pair[0])], Path(out))
        written = str(out)
    return ImportReport(str(source), written, len(images), len(rows), sorted(problems, key=lambda problem: problem.file))


@contextlib.contextmanager
def _source_files(source: Path):
    """(images as (name relative to `source`, a reader of its bytes), the text of its labels.csv or None).

    An archive's images come in the archive's own order, so reading them one
    after another never seeks back through a compressed stream.
    """
    if source.is_dir():
        labels = source / LABELS_FILE
        images = [
            (path.relative_to(source).as_posix(), functools.partial(_read_inside, path, source)) for path in image_files(source)
        ]
        yield images, labels.read_text(encoding="utf-8-sig", errors="replace") if labels.is_file() else None
    elif not source.exists():
        raise FileNotFoundError(f"No folder or archive at {source}")
    elif source.name.lower().endswith(ARCHIVE_SUFFIXES):
        try:
            archive = tarfile.open(source)
            members = [member for member in archive.getmembers() if member.isfile()]
        except (tarfile.TarError, OSError, EOFError) as error:
            raise ValueError(f"{source} is not a readable tar archive: {error}") from error
        with archive:
            images = [
                (member.name, functools.partial(_read_member, archive, member))
                for member in members
                if member.name.lower().endswith(IMAGE_SUFFIXES)
            ]
            # The labels file nearest the top of the archive.
            labels = min((member for member in members if Path(member.name).name == LABELS_FILE), default=None,
                         key=lambda member: member.name.count("/"))  # fmt: skip
            text = None if labels is None else archive.extractfile(labels).read().decode("utf-8-sig", errors="replace")
            yield images, text
    else:
        raise ValueError(f"{source} is neither a folder nor a .tar, .tar.gz or .tgz archive")


def _read_inside(path: Path, folder: Path) -> bytes:
    """A photo's bytes, unless it is a link to a file outside `folder`: an import reads the folder it was given, nothing else."""
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ValueError("a link to a file outside the folder; not followed")
    return read_image_file(path)


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    """An archive member's bytes, refused by the size its header gives before any is read."""
    if member.size > MAX_BYTES:
        raise ValueError(f"{member.size / 1e6:,.1f} MB, over the {MAX_BYTES / 1e6:g} MB a photo may have")
    return archive.extractfile(member).read()


def _read_labels(text: str, origin: str) -> tuple[dict[str, Labels], dict[str, Labels]]:
    """Labels by path (entries with a folder) and by bare file name (entries without one), from a labels CSV's text."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in ("file", "age", "gender", "ethnicity") if column not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{origin} lacks the column(s) {', '.join(missing)}; expected file, age, gender, ethnicity")
    by_path, by_name = {}, {}
    for line, row in enumerate(reader, start=2):
        try:
            found = Labels(*(int(row[column]) for column in ("age", "gender", "ethnicity")))
        except (TypeError, ValueError):
            raise ValueError(f"{origin}, line {line}: age, gender and ethnicity must be whole numbers") from None
        # A bare name labels every file of that name; a path only that file.
        (by_path if "/" in row["file"] else by_name)[row["file"]] = found
    return by_path, by_name


def _row(name: str, data: bytes, labels: tuple[dict[str, Labels], dict[str, Labels]]) -> dict:
    """One CSV row of an image, or a ValueError saying why it has none."""
    from core.vision.faces import detect_faces, whole_image_crop  # TensorFlow (for the detector) loads on the first photo.

    file_name = Path(name).name
    chip = file_name.endswith(CHIP_SUFFIX)
    by_path, by_name = labels
    found = by_path.get(name) or by_name.get(file_name) or _labels_from_name(file_name)
    if found is None:
        raise ValueError("no labels: neither a UTKFace name (AGE_GENDER_ETHNICITY_...) nor a line of the labels file")
    _check(found)
    rgb = load_rgb(data)
    if chip:
        crop = whole_image_crop(rgb)
        # The CSV's img_name of a UTKFace chip is its name after the third underscore.
        img_name = parse_chip_name(file_name).img_name if _labels_from_name(file_name) else file_name
    else:
        faces = detect_faces(rgb)
        if len(faces) != 1:
            raise ValueError("no face found" if not faces else f"{len(faces)} faces found; a labelled photo must show one face")
        crop = faces[0].crop
        img_name = file_name
    pixels = " ".join(map(str, crop.ravel().tolist()))
    return {"age": found.age, "ethnicity": found.ethnicity, "gender": found.gender, "img_name": img_name, "pixels": pixels}


def _labels_from_name(file_name: str) -> Labels | None:
    parts = file_name.split("_", 3)
    if len(parts) < 4 or not all(part.isdigit() for part in parts[:3]):
        return None
    return Labels(*(int(part) for part in parts[:3]))


def _check(labels: Labels) -> None:
    if not 0 <= labels.age <= MAX_AGE:
        raise ValueError(f"age {labels.age} is not in 0..{MAX_AGE}")
    if labels.gender not in GENDERS:
        raise ValueError(f"gender {labels.gender} is not 0 (male) or 1 (female)")
    if labels.ethnicity not in ETHNICITIES:
        raise ValueError(f"ethnicity {labels.ethnicity} is not in 0..{len(ETHNICITIES) - 1}")


def _write_csv(rows: list[dict], out: Path) -> None:
    """The rows as a face CSV, gzip-compressed when `out` ends in .gz; written to a temp file, then renamed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(REQUIRED_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    data = buffer.getvalue().encode()
    if out.name.endswith(".gz"):
        data = igzip.compress(data)
    write_atomic(out, data)
