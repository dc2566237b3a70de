"""core.data.importing: a folder or archive of chips or labelled photos becomes a face CSV; what cannot be used is named."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

from core.data.importing import import_faces
from core.data.loading import load_faces
from core.data.utkface import chip_files, csv_row
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def shared_rows(shared_csv):
    faces, _ = load_faces(shared_csv)
    return faces


def test_every_shared_chip_imported_from_its_folder_is_its_csv_row(shared_faces, shared_rows, tmp_path):
    out = tmp_path / "chips.csv.gz"
    report = import_faces(shared_faces, out)
    assert report.images_seen == report.faces_written == 300 and report.problems == []
    imported, load_report = load_faces(out)
    assert load_report.rows_kept == 300 and load_report.bad_rows == []
    chips = chip_files(shared_faces)  # In name order, as the import writes them.
    rows = [csv_row(shared_rows, chip) for chip in chips]
    assert np.array_equal(imported.images, shared_rows.images[rows]), "the same 2,304 pixels, byte for byte"
    for column in ("age", "gender", "ethnicity", "img_name"):
        assert np.array_equal(getattr(imported, column), getattr(shared_rows, column)[rows]), column


def test_chips_in_a_tar_gz_import_like_the_folder(shared_faces, tmp_path):
    chips = sorted(shared_faces.glob("*.chip.jpg"))[:12]
    archive = tmp_path / "chips.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for chip in chips:
            tar.add(chip, arcname=f"UTKFace/{chip.name}")
    from_archive = import_faces(archive, tmp_path / "a.csv")
    folder = tmp_path / "folder"
    folder.mkdir()
    for chip in chips:
        (folder / chip.name).write_bytes(chip.read_bytes())
    from_folder = import_faces(folder, tmp_path / "b.csv")
    assert from_archive.faces_written == from_folder.faces_written == 12
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def test_labelled_photos_are_detected_and_what_cannot_be_used_is_named(shared_faces, tmp_path):
    chips = sorted(shared_faces.glob("*.chip.jpg"))
    photos = tmp_path / "photos"
    (photos / "holiday").mkdir(parents=True)
    # Photos (not chips): a UTKFace-style name, and one labelled in labels.csv, in a subfolder.
    (photos / "31_1_2_20170101.jpg").write_bytes(chips[40].read_bytes())
    (photos / "holiday" / "me.jpg").write_bytes(chips[80].read_bytes())
    (photos / "labels.csv").write_text("file,age,gender,ethnicity\nholiday/me.jpg,44,0,1\nsky.png,30,1,0\ntwo.png,20,0,0\n")
    (photos / "sky.png").write_bytes(png(np.tile(np.linspace(60, 200, 300, dtype=np.uint8)[None, :, None], (200, 1, 3))))
    pair = np.concatenate([np.asarray(Image.open(chips[i]).convert("RGB")) for i in (10, 200)], axis=1)
    (photos / "two.png").write_bytes(png(pair))
    (photos / "30_0_1_broken.jpg").write_text("not a photo")
    (photos / "40_1_0_unknown.jpg").write_bytes(chips[0].read_bytes())
    (photos / "nobody.jpg").write_bytes(chips[120].read_bytes())
    out = tmp_path / "mine.csv"
    done = []
    report = import_faces(photos, out, progress=lambda count, total: done.append((count, total)))
    assert done[-1] == (7, 7) and len(done) == 7, "progress after every image (labels.csv is none)"
    problems = {problem.file: problem.reason for problem in report.problems}
    assert problems == {
        "30_0_1_broken.jpg": "not a JPEG, PNG or WebP image",
        "nobody.jpg": "no labels: neither a UTKFace name (AGE_GENDER_ETHNICITY_...) nor a line of the labels file",
        "sky.png": "no face found",
        "two.png": "2 faces found; a labelled photo must show one face",
    }
    faces, _ = load_faces(out)
    assert sorted(faces.img_name) == ["31_1_2_20170101.jpg", "40_1_0_unknown.jpg", "me.jpg"]
    me = list(faces.img_name).index("me.jpg")
    assert (faces.age[me], faces.gender[me], faces.ethnicity[me]) == (44, 0, 1)
    assert faces.images.std() > 20, "real face crops"


def test_the_cli_writes_the_csv_and_reports_as_json(shared_faces, tmp_path):
    folder = tmp_path / "few"
    folder.mkdir()
    for chip in sorted(shared_faces.glob("*.chip.jpg"))[:5]:
        (folder / chip.name).write_bytes(chip.read_bytes())
    (folder / "20_1_0_nothing.png").write_bytes(b"")
    command = [sys.executable, "-m", "core", "import_faces", str(folder), "--out", str(tmp_path / "out.csv.gz")]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0 and result["faces_written"] == 5
    assert result["problems"] == ["20_1_0_nothing.png: not a JPEG, PNG or WebP image (the file is empty)"]
    assert "5/6 images" in done.stderr or "6/6 images" in done.stderr, "a progress bar on stderr"
    missing = subprocess.run(
        [*command[:4], str(tmp_path / "nowhere")] + command[5:], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert missing.returncode == 1 and "No folder or archive at" in json.loads(missing.stdout.strip())["error"]


def test_an_archive_s_own_labels_file_labels_its_photos_by_path_or_by_bare_name(shared_faces, tmp_path):
    chips = sorted(shared_faces.glob("*.chip.jpg"))
    archive = tmp_path / "mine.tgz"
    labels = "file,age,gender,ethnicity\nmine/a/1.jpg,30,1,2\nsolo.jpg,50,0,0\n"
    (tmp_path / "labels.csv").write_text(labels)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "labels.csv", arcname="mine/labels.csv")
        tar.add(chips[40], arcname="mine/a/1.jpg")
        tar.add(chips[80], arcname="mine/b/1.jpg")  # Same name, another folder: the path entry is not its.
        tar.add(chips[120], arcname="mine/c/solo.jpg")  # A bare name labels every file of that name.
    report = import_faces(archive, tmp_path / "out.csv")
    assert {problem.file: problem.reason.split(":")[0] for problem in report.problems} == {"mine/b/1.jpg": "no labels"}
    faces, _ = load_faces(tmp_path / "out.csv")
    assert sorted(zip(faces.img_name, faces.age.tolist(), strict=True)) == [("1.jpg", 30), ("solo.jpg", 50)]


def test_a_link_to_a_photo_outside_the_imported_folder_is_not_followed(shared_faces, tmp_path):
    folder, outside = tmp_path / "import", tmp_path / "elsewhere"
    folder.mkdir(), outside.mkdir()
    chip, other = sorted(shared_faces.glob("*.jpg"))[:2]
    (folder / chip.name).write_bytes(chip.read_bytes())
    (outside / other.name).write_bytes(other.read_bytes())
    (folder / other.name).symlink_to(outside / other.name)
    report = import_faces(folder, tmp_path / "out.csv")
    assert report.faces_written == 1
    assert [str(problem) for problem in report.problems] == [f"{other.name}: a link to a file outside the folder; not followed"]


MEASURE_IMPORT = """
import json, resource, sys
from core.data.importing import import_faces
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
try:
    report = import_faces(sys.argv[1], sys.argv[2]).to_json()
except ValueError as error:
    report = {"error": str(error)}
print(json.dumps({"extra_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before, **report}))
"""


@pytest.mark.slow
def test_a_huge_archive_member_is_refused_by_its_header_size_unread(tmp_path):
    archive = tmp_path / "photos.tar.gz"
    huge = tmp_path / "25_0_1_huge.jpg"
    with huge.open("wb") as out:  # 300 MB of zeros, sparse on disk; a few hundred kB once compressed
        out.truncate(300 << 20)
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        tar.add(huge, arcname=huge.name)
    huge.unlink()
    done = subprocess.run([sys.executable, "-c", MEASURE_IMPORT, str(archive), str(tmp_path / "out.csv")], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["problems"] == [f"{huge.name}: 314.6 MB, over the 20 MB a photo may have"]
    assert result["extra_mb"] < 50, "the member was never read into memory"
