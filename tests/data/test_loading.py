"""Loading and validating the face CSV: good rows kept, each kind of bad row reported, caching."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from core.data.bounded import Limits
from core.data.loading import load_faces
from core.data.sampling import sample_rows, seeded_sample
from core.errors import InputError, InputFileNotFound
from core.labels import PIXELS_PER_FACE
from tests.image_kinds import zipped

HEADER = "age,ethnicity,gender,img_name,pixels"


def pixel_text(value: int = 7, count: int = PIXELS_PER_FACE) -> str:
    return " ".join(str((value + i) % 256) for i in range(count))


def row(age="25", ethnicity="1", gender="0", name="a.jpg", pixels=None) -> str:
    return f"{age},{ethnicity},{gender},{name},{pixel_text() if pixels is None else pixels}"


def write_csv(tmp_path, lines, name="faces.csv", compress=False):
    text = "\n".join(lines) + "\n"
    path = tmp_path / name
    if compress:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def test_valid_rows_become_scaled_images_with_labels(tmp_path):
    path = write_csv(tmp_path, [HEADER, row(age="1", gender="1", ethnicity="4"), row(age="116", pixels=pixel_text(200))])
    faces, report = load_faces(path)
    assert faces.images.shape == (2, 48, 48, 1) and faces.images.dtype == np.uint8
    assert faces.images[0, 0, :3, 0].tolist() == [7, 8, 9]
    assert faces.images[1, 0, :2, 0].tolist() == [200, 201]
    assert faces.age.tolist() == [1, 116] and faces.gender.tolist() == [1, 0] and faces.ethnicity.tolist() == [4, 1]
    assert faces.line.tolist() == [2, 3]
    scaled = faces.as_float()
    assert scaled.dtype == np.float32 and scaled.max() <= 1.0 and scaled.min() >= 0.0
    assert np.isclose(scaled[0, 0, 0, 0], 7 / 255)
    assert report.rows_read == 2 and report.rows_kept == 2 and report.bad_rows == []


BAD_ROWS = [
    (row(pixels=pixel_text(count=2303)), "pixels", "wrong pixel count"),
    (row(pixels=pixel_text(count=2305)), "pixels", "wrong pixel count"),
    (row(pixels=pixel_text().replace(" 9 ", " x9 ", 1)), "pixels", "non-numeric value"),
    (row(pixels=pixel_text().replace(" 9 ", " 300 ", 1)), "pixels", "value out of 0..255"),
    (row(pixels=pixel_text().replace(" 9 ", " -4 ", 1)), "pixels", "value out of 0..255"),
    (row(pixels=""), "pixels", "missing"),
    (row(age=""), "age", "missing"),
    (row(age="-3"), "age", "negative"),
    (row(age="130"), "age", "over 120"),
    (row(age="twenty"), "age", "not a whole number"),
    (row(age="25.5"), "age", "not a whole number"),
    (row(gender="2"), "gender", "out of range"),
    (row(gender=""), "gender", "missing"),
    (row(ethnicity="5"), "ethnicity", "out of range"),
    ("25,1,0,too,many," + pixel_text(), "*", "wrong number of fields"),
]


@pytest.mark.parametrize("bad_row, column, reason", BAD_ROWS, ids=[f"{c}-{r}-{i}" for i, (_, c, r) in enumerate(BAD_ROWS)])
def test_each_kind_of_bad_row_is_left_out_and_reported(tmp_path, bad_row, column, reason):
    path = write_csv(tmp_path, [HEADER, row(age="10"), bad_row, row(age="30")])
    faces, report = load_faces(path, use_cache=False)
    assert faces.age.tolist() == [10, 30], "valid rows are kept, unchanged"
    assert faces.line.tolist() == [2, 4]
    assert [(bad.line, bad.column, bad.reason) for bad in report.bad_rows] == [(3, column, reason)]
    assert report.counts_by_reason() == {f"{column}: {reason}": 1}
    assert report.rows_read == 3 and report.rows_left_out == 1
    assert "line 3" in str(report.bad_rows[0])


def test_many_bad_rows_are_counted_by_reason_and_lines_stay_true(tmp_path):
    lines = [HEADER] + [row(age=str(i % 100 + 1)) for i in range(3000)]
    lines[100] = row(age="-1")  # line 101
    lines[2500] = row(pixels=pixel_text(count=10))  # line 2501, in a later parsing chunk
    lines[2999] = row(gender="7")  # line 3000
    faces, report = load_faces(write_csv(tmp_path, lines, compress=True), use_cache=False)
    assert len(faces) == 2997
    assert [bad.line for bad in report.bad_rows] == [101, 2501, 3000]
    assert report.counts_by_reason() == {"age: negative": 1, "pixels: wrong pixel count": 1, "gender: out of range": 1}
    assert 101 not in faces.line and faces.line[-1] == 3001


def test_whitespace_variants_in_pixels_are_valid_data(tmp_path):
    padded = "  " + pixel_text().replace(" ", "  ", 5) + " "
    faces, report = load_faces(write_csv(tmp_path, [HEADER, row(pixels=padded)]), use_cache=False)
    assert report.bad_rows == [] and faces.images[0, 0, :3, 0].tolist() == [7, 8, 9]


def test_missing_column_is_a_clear_error(tmp_path):
    path = write_csv(tmp_path, ["age,gender,img_name,pixels", "25,0,a.jpg," + pixel_text()])
    with pytest.raises(ValueError, match="missing column.*ethnicity"):
        load_faces(path)


def test_file_without_a_valid_row_is_a_clear_error(tmp_path):
    path = write_csv(tmp_path, [HEADER, row(age="-1"), row(pixels="1 2 3")])
    with pytest.raises(ValueError, match="no valid row.*line 2"):
        load_faces(path)


def test_empty_and_non_csv_files_are_clear_errors(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_faces(empty)
    with pytest.raises(FileNotFoundError):
        load_faces(tmp_path / "nowhere.csv")


def test_second_load_comes_from_the_cache_and_a_changed_file_does_not(tmp_path):
    path = write_csv(tmp_path, [HEADER, row(age="5"), row(age="-5")])
    first, first_report = load_faces(path)
    second, second_report = load_faces(path)
    assert not first_report.from_cache and second_report.from_cache
    assert np.array_equal(first.images, second.images) and second.age.tolist() == [5]
    assert second_report.counts_by_reason() == first_report.counts_by_reason()
    write_csv(tmp_path, [HEADER, row(age="6")])
    third, third_report = load_faces(path)
    assert not third_report.from_cache and third.age.tolist() == [6]


def test_sample_rows_is_seeded_and_spread_over_the_file():
    first = sample_rows(1000, 100, seed=3)
    assert np.array_equal(first, sample_rows(1000, 100, seed=3))
    assert not np.array_equal(first, sample_rows(1000, 100, seed=4))
    assert len(np.unique(first)) == 100 and first.max() > 500
    assert np.array_equal(sample_rows(50, None, seed=3), np.arange(50))


def test_seeded_samples_are_random_picks_kept_in_order():
    positions = np.arange(100, 20_100)  # like the shared CSV's rows, ordered by age
    sample = seeded_sample(positions, 1000, seed=1)
    assert len(np.unique(sample)) == 1000 and set(sample) <= set(positions) and np.all(np.diff(sample) > 0)
    assert sample[0] < 1_100 and sample[-1] > 19_100, "drawn from all ages, not the first rows"
    assert np.array_equal(sample, seeded_sample(positions, 1000, seed=1))
    assert not np.array_equal(sample, seeded_sample(positions, 1000, seed=2))
    assert np.array_equal(seeded_sample(positions[:5], 10, seed=1), positions[:5])
    assert np.array_equal(sample_rows(20_000, 1000, seed=1), seeded_sample(np.arange(20_000), 1000, seed=1))


def test_real_csv_loads_completely(shared_csv):
    faces, report = load_faces(shared_csv)
    assert len(faces) == report.rows_read == 21333 and report.bad_rows == []
    assert faces.images.shape == (21333, 48, 48, 1)
    assert faces.age.min() >= 1 and faces.age.max() <= 116
    assert set(np.unique(faces.gender)) == {0, 1} and set(np.unique(faces.ethnicity)) == {0, 1, 2, 3, 4}
    assert faces.images.std() > 20, "real faces, not blank images"


def test_pixels_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (30, PIXELS_PER_FACE))
    pixels[0, :3] = [0, 255, 9]
    lines = [HEADER] + [row(pixels=" ".join(map(str, values))) for values in pixels]
    faces, _ = load_faces(write_csv(tmp_path, lines), use_cache=False)
    assert np.array_equal(faces.images.reshape(30, -1), pixels)


GOOD_ROWS = HEADER + "\n" + row() + "\n" + row(age="40", gender="1") + "\n"
# Files no one should feed the loader, each with a phrase the error message must hold.
HOSTILE = {
    "random bytes": (bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8)), "is not a text CSV"),
    "a zipped CSV": (zipped({"faces.csv": GOOD_ROWS}), "is a ZIP archive"),
    "an .xlsx spreadsheet": (
        zipped({"[Content_Types].xml": "<Types/>", "xl/workbook.xml": "<workbook/>"}),
        "export the sheet as CSV",
    ),
    "an .xls spreadsheet": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4000), "Excel 97-2003"),
    "a huge first line": (b"age" + b"x" * 30_000_000, "has a line over 1,024 kB long (line 1)"),
    "a PDF": (b"%PDF-1.7\n" + bytes(200), "a PDF document"),
    "a damaged gzip": (b"\x1f\x8b\x08" + bytes(100), "could not be decompressed"),
    "JSON": (b'{"age": 3, "pixels": [1, 2]}\n', "is missing column(s) age, ethnicity, gender, img_name, pixels"),
    "nothing": (b"", "is empty"),
    "a header alone": (HEADER.encode() + b"\n", "has no valid row"),
    "only NUL bytes": (bytes(5000), "is not a text CSV"),
}


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_file_gets_the_project_s_error_naming_the_file_and_the_problem(kind, tmp_path):
    data, phrase = HOSTILE[kind]
    path = tmp_path / f"{kind.replace(' ', '-')}.csv"
    path.write_bytes(data)
    with pytest.raises(InputError) as raised:
        load_faces(path, use_cache=False)
    assert str(path) in str(raised.value) and phrase in str(raised.value), str(raised.value)
    assert isinstance(raised.value, ValueError), "callers that catch ValueError keep working"


def test_a_missing_file_is_the_project_s_error_too(tmp_path):
    with pytest.raises(InputFileNotFound, match="No CSV file at"):
        load_faces(tmp_path / "nowhere.csv")


def test_other_encodings_load_and_a_name_that_is_not_utf8_keeps_its_row(tmp_path):
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes(GOOD_ROWS.encode("utf-16"))
    faces, report = load_faces(utf16, use_cache=False)
    assert len(faces) == 2 and report.notes == [] and report.bad_rows == []

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes((HEADER + "\n" + row(name="José.jpg") + "\n" + row(name="b.jpg") + "\n").encode("latin-1"))
    faces, report = load_faces(latin1, use_cache=False)
    assert len(faces) == 2 and report.bad_rows == [], "the row is kept: its pixels and labels are fine"
    (note,) = report.notes
    assert (note.line, note.column) == (2, "img_name") and "not valid UTF-8" in str(note)
    assert faces.img_name[0] == "Jos\ufffd.jpg" and "1 kept with a note" in report.summary()
    assert np.array_equal(faces.images[0], faces.images[1])


def test_a_line_over_the_line_limit_refuses_the_file_and_within_a_raised_limit_is_one_bad_row(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text(HEADER + "\n" + row(pixels=pixel_text(count=3_000_000)) + "\n" + row() + "\n")
    with pytest.raises(InputError, match=r"huge.csv has a line over 1,024 kB long \(line 2\); a face row is about 9 kB"):
        load_faces(path, use_cache=False)
    faces, report = load_faces(path, use_cache=False, limits=Limits(max_line_bytes=16 << 20))
    (bad,) = report.bad_rows
    assert len(faces) == 1 and bad.line == 2 and "3000000 pixel values" in bad.detail


def test_a_damaged_cache_file_is_parsed_again_not_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("AGEGENDER_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "faces.csv"
    path.write_text(GOOD_ROWS)
    faces, report = load_faces(path)
    (cached,) = (tmp_path / "cache").glob("*.npz")
    cached.write_bytes(b"PK\x03\x04 not really a cache")
    again, second = load_faces(path)
    assert not second.from_cache and np.array_equal(again.images, faces.images)
    assert load_faces(path)[1].from_cache, "and the cache is written anew"
