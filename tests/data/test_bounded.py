"""Hostile CSVs are refused within bounds of memory and time, and quote nothing of a file that is not a face CSV.

Memory and time are measured in a child process (resource.getrusage): its
peak resident memory above what it held once imported, and the CPU seconds
it spent, which a busy shared machine does not inflate the way it does wall-clock time.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from core.data.bounded import Limits
from core.data.loading import load_faces
from core.errors import InputError
from tests.conftest import REPO_ROOT
from tests.data.test_loading import HEADER, pixel_text, row, write_csv

MB = 1 << 20
# What refusing a hostile file may cost the process: the bound.
EXTRA_MEMORY_MB = 100
CPU_SECONDS = 10

MEASURE = """
import json, resource, sys, time
from core.data.loading import load_faces
from core.errors import InputError
def used():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
memory_before, cpu_before = used()
try:
    load_faces(sys.argv[1], use_cache=False)
    message = None
except InputError as error:
    message = str(error)
memory_after, cpu_after = used()
print(json.dumps({"extra_mb": memory_after - memory_before, "cpu_seconds": cpu_after - cpu_before, "message": message}))
"""


def refused_in_a_child(path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def repeated_gzip(chunk: bytes, times: int) -> bytes:
    """A gzip file that inflates to `chunk` repeated: one gzip member per copy (a valid multi-member gzip), built in a blink."""
    member = zlib.compressobj(9, zlib.DEFLATED, 31)
    return (member.compress(chunk) + member.flush()) * times


@pytest.mark.slow
def test_a_gzip_bomb_of_zeros_is_refused_within_the_memory_and_time_bounds(tmp_path):
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(repeated_gzip(bytes(MB), 1200))  # 1.2 GB once inflated.
    assert bomb.stat().st_size < 2 * MB
    result = refused_in_a_child(bomb)
    assert result["message"] == (
        f"{bomb} has a line over 1,024 kB long (line 1); a face row is about 9 kB, so this is not a face CSV "
        "(AGEGENDER_MAX_LINE_KB raises the limit)"
    )
    assert result["extra_mb"] < EXTRA_MEMORY_MB and result["cpu_seconds"] < CPU_SECONDS, result


@pytest.mark.slow
def test_a_gzip_bomb_of_valid_rows_is_refused_by_its_inflated_size_within_the_bounds(tmp_path):
    rows = ("\n".join([row()] * 100) + "\n").encode()  # 100 valid rows, about 0.9 MB
    bomb = tmp_path / "rows.csv.gz"
    bomb.write_bytes(repeated_gzip(HEADER.encode() + b"\n", 1) + repeated_gzip(rows, 1500))  # 1.25 GB once inflated
    result = refused_in_a_child(bomb)
    assert result["message"] == (
        f"{bomb} is over 1,024 MB of text (the limit; set AGEGENDER_MAX_CSV_MB for a bigger file) once decompressed"
    )
    assert result["extra_mb"] < EXTRA_MEMORY_MB and result["cpu_seconds"] < CPU_SECONDS, result


@pytest.mark.slow
def test_a_million_repeated_header_lines_are_refused_within_the_bounds(tmp_path):
    path = tmp_path / "headers.csv.gz"
    path.write_bytes(gzip.compress(((HEADER + "\n") * 1_000_001).encode()))
    result = refused_in_a_child(path)
    assert result["message"].startswith(
        f"{path} has no valid row (1,000,000 rows read, none with valid labels). First problems: "
    )
    assert result["extra_mb"] < 3 * EXTRA_MEMORY_MB and result["cpu_seconds"] < CPU_SECONDS, result


def test_a_header_alone_is_refused(tmp_path):
    path = write_csv(tmp_path, [HEADER])
    with pytest.raises(InputError, match="has no valid row .0 rows read.. First problems: a header and no rows"):
        load_faces(path, use_cache=False)


def test_a_file_over_the_size_setting_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = write_csv(tmp_path, [HEADER] + [row()] * 300)  # about 2.7 MB
    monkeypatch.setenv("AGEGENDER_MAX_CSV_MB", "1")
    with pytest.raises(InputError, match=r"is over 1 MB of text \(the limit; set AGEGENDER_MAX_CSV_MB for a bigger file\)$"):
        load_faces(path, use_cache=False)
    faces, _ = load_faces(path, use_cache=False, limits=Limits(max_bytes=4 * MB))
    assert len(faces) == 300, "a limit given to the loader lets the bigger file in"


@pytest.mark.parametrize(
    "token, reason",
    [
        ("99999999999999999999", "value out of 0..255"),
        ("256", "value out of 0..255"),
        ("-1", "value out of 0..255"),
        ("25_5", "non-numeric value"),
        ("+7", "non-numeric value"),
        ("7.0", "non-numeric value"),
        ("1e2", "non-numeric value"),
        ("\u0663", "non-numeric value"),  # an Arabic-Indic 3, which int() reads as 3
    ],
)
def test_a_pixel_value_other_than_digits_0_to_255_is_that_row_s_fault(tmp_path, token, reason):
    bad = row(pixels=pixel_text().replace("7", token, 1))
    faces, report = load_faces(write_csv(tmp_path, [HEADER, row(age="10"), bad, row(age="30")]), use_cache=False)
    assert faces.age.tolist() == [10, 30], "the other rows are kept"
    assert [(bad.line, bad.column, bad.reason) for bad in report.bad_rows] == [(3, "pixels", reason)]


def test_a_file_that_is_not_a_face_csv_is_named_and_none_of_it_quoted(tmp_path):
    passwd = Path("/etc/passwd")
    with pytest.raises(InputError) as raised:
        load_faces(passwd, use_cache=False)
    message = str(raised.value)
    assert message.startswith("/etc/passwd is missing column(s) age, ethnicity, gender, img_name, pixels; found no column names")
    quoted = [part for line in passwd.read_text().splitlines() for part in line.split(":") if len(part) > 3 and part in message]
    assert not quoted, message


def test_column_names_found_are_still_shown(tmp_path):
    path = write_csv(tmp_path, ["age,sex,image,pixels", "3,0,a.jpg," + pixel_text()])
    with pytest.raises(InputError, match="is missing column.s. ethnicity, gender, img_name; found age, sex, image, pixels. "):
        load_faces(path, use_cache=False)
