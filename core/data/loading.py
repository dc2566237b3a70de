"""Load and validate the face CSV (`age, ethnicity, gender, img_name, pixels`).

    faces, report = load_faces("data/age_gender.csv.gz")
    faces.images      # (n, 48, 48, 1) uint8
    faces.as_float()  # (n, 48, 48, 1) float32 in [0, 1]
    report.bad_rows   # every row left out, with its line, column and reason

Every row is checked; a bad row is left out and reported, never repaired.
A row whose only fault is an image name that is not valid UTF-8 is kept,
the undecodable bytes shown as U+FFFD, and listed in `report.notes`.
Whatever bytes a file holds, loading it either works or raises
`core.errors.InputError` (a `ValueError`) naming the file and what is wrong:
a missing column, no valid row, a ZIP or spreadsheet, a damaged gzip, text
that is not a CSV. A missing file is `InputFileNotFound`.

Speed: pyarrow reads the CSV, the pixels are parsed from its string buffer by
vectorised numpy in parallel chunks (pandas `str.split` takes ~20 s on 21k
rows, this under 1 s), and a parsed file is
cached on disk under the hash of its bytes, so an unchanged file loads in a
fraction of a second.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import hashlib
import io
import json
import os
import re
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from core.data.bounded import Limits, csv_text, read_file
from core.data.pixels import parse_pixels
from core.errors import InputError, InputFileNotFound
from core.files import write_atomic
from core.labels import MAX_AGE
from core.paths import cache_dir

REQUIRED_COLUMNS = ("age", "ethnicity", "gender", "img_name", "pixels")
# The label columns and the whole numbers each may hold.
LABEL_RANGES = (("age", 0, MAX_AGE), ("gender", 0, 1), ("ethnicity", 0, 4))
# Bump when the cache layout or the validation rules change.
CACHE_VERSION = 3
# What a column name looks like: a field of a first line that is not one is not quoted in messages.
_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ .-]{0,39}")
# The reader's block: a line must fit in one (a row is about 9 kB; anything beyond this is not a face row).
_BLOCK_BYTES = 64 << 20


@dataclasses.dataclass(frozen=True)
class BadRow:
    line: int  # 1-based line in the file; the header is line 1.
    column: str
    reason: str  # a short key, used to count rows by reason
    detail: str  # what exactly was wrong in this row

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.detail}"


@dataclasses.dataclass
class LoadReport:
    path: str
    file_hash: str
    rows_read: int
    rows_kept: int
    bad_rows: list[BadRow]
    # Rows kept, with a remark: an image name that was not valid UTF-8.
    notes: list[BadRow] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    from_cache: bool = False

    @property
    def rows_left_out(self) -> int:
        return self.rows_read - self.rows_kept

    def counts_by_reason(self) -> dict[str, int]:
        counts = collections.Counter(f"{row.column}: {row.reason}" for row in self.bad_rows)
        return dict(counts.most_common())

    def summary(self) -> str:
        text = f"{self.rows_kept:,} of {self.rows_read:,} rows kept"
        if self.bad_rows:
            reasons = ", ".join(f"{count} {reason}" for reason, count in self.counts_by_reason().items())
            text += f"; left out {self.rows_left_out:,} ({reasons})"
        if self.notes:
            text += f"; {len(self.notes):,} kept with a note ({self.notes[0].reason})"
        return text

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "file_hash": self.file_hash,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "bad_rows": [dataclasses.asdict(row) for row in self.bad_rows],
            "notes": [dataclasses.asdict(row) for row in self.notes],
        }

    @classmethod
    def from_dict(cls, values: dict) -> LoadReport:
        return cls(
            path=values["path"],
            file_hash=values["file_hash"],
            rows_read=values["rows_read"],
            rows_kept=values["rows_kept"],
            bad_rows=[BadRow(**row) for row in values["bad_rows"]],
            notes=[BadRow(**row) for row in values["notes"]],
        )


@dataclasses.dataclass(frozen=True)
class FaceData:
    """Valid faces and their labels, row i of each array belonging together."""

    images: np.ndarray  # (n, 48, 48, 1) uint8
    age: np.ndarray  # (n,) int16, years
    gender: np.ndarray  # (n,) int8, 0 male / 1 female
    ethnicity: np.ndarray  # (n,) int8, 0..4
    img_name: np.ndarray  # (n,) str
    line: np.ndarray  # (n,) int32, the row's line in the CSV

    def __len__(self) -> int:
        return len(self.age)

    def as_float(self, indices: np.ndarray | None = None) -> np.ndarray:
        """Images scaled to [0, 1] as float32, optionally only the given rows."""
        images = self.images if indices is None else self.images[indices]
        return images.astype(np.float32) / np.float32(255.0)

    def subset(self, indices: np.ndarray) -> FaceData:
        return FaceData(**{field.name: getattr(self, field.name)[indices] for field in dataclasses.fields(self)})

    def labels_frame(self) -> pd.DataFrame:
        """Labels (no pixels) as a DataFrame whose index is the row position."""
        return pd.DataFrame(
            {
                "age": self.age,
                "gender": self.gender,
                "ethnicity": self.ethnicity,
                "img_name": self.img_name,
                "line": self.line,
            }
        )


def hash_bytes(raw: bytes) -> str:
    """Content hash of a file's bytes, as stored in run configs and cache names."""
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def load_faces(path: str | os.PathLike, use_cache: bool = True, limits: Limits | None = None) -> tuple[FaceData, LoadReport]:
    """Read, validate and convert a face CSV (plain or gzip).

    `limits`: the most text (after decompression) and the longest line read
    (core.data.bounded; default: `Limits.from_env()`).

    Raises:
        InputFileNotFound: the file does not exist.
        InputError: the file is not a readable face CSV (not text, not a CSV,
            over the limits, a required column missing, no valid row); the
            message says which, and quotes none of a file that is not a face CSV.
    """
    started = time.perf_counter()
    path = Path(path)
    if not path.is_file():
        raise InputFileNotFound(f"No CSV file at {path}")
    limits = limits or Limits.from_env()
    raw = read_file(path, limits)
    content_hash = hash_bytes(raw)
    cache_file = cache_dir() / f"faces-v{CACHE_VERSION}-{content_hash}.npz"
    cached = _read_cache(cache_file) if use_cache and cache_file.is_file() else None
    if cached is not None:
        faces, report = cached
        report.path = str(path)
        report.from_cache = True
    else:
        try:
            faces, report = _parse(raw, str(path), content_hash, limits)
        except InputError:
            raise
        except Exception as error:  # The last line of defence: whatever else the bytes trip, the user learns which file.
            # Only the kind of error: its message might quote the file.
            raise InputError(f"{path} could not be read as a face CSV ({type(error).__name__})") from error
        if use_cache:
            _write_cache(cache_file, faces, report)
    report.seconds = time.perf_counter() - started
    return faces, report


def _parse(raw: bytes, path: str, content_hash: str, limits: Limits) -> tuple[FaceData, LoadReport]:
    text, undecodable_lines = csv_text(raw, path, limits)
    table, lines, field_count_errors = _read_table(text, path)
    bad_rows = list(field_count_errors)
    valid = np.ones(table.num_rows, dtype=bool)

    labels, label_bad = {}, {}
    for column, low, high in LABEL_RANGES:
        labels[column], label_bad[column] = _label_numbers(table.column(column), low, high)
    if table.num_rows and np.logical_or.reduce(list(label_bad.values())).all():
        # No row can be kept (a file of repeated headers, say): refused before a million rows' problems are spelt out.
        first = [_label_problem(table, column, lines, 0) for column in label_bad if label_bad[column][0]]
        raise InputError(f"{path} has no valid row ({table.num_rows + len(field_count_errors):,} rows read, none with valid "
                         f"labels). First problems: {'; '.join(map(str, first))}")  # fmt: skip
    for column, wrong in label_bad.items():
        bad_rows += [_label_problem(table, column, lines, position) for position in np.flatnonzero(wrong)]
    images, pixel_problems = parse_pixels(table.column("pixels"))
    pixel_bad = [BadRow(int(lines[position]), "pixels", reason, detail) for position, reason, detail in pixel_problems]
    bad_rows += pixel_bad

    bad_lines = {row.line for row in bad_rows}
    valid &= ~np.isin(lines, list(bad_lines))
    rows_read = table.num_rows + len(field_count_errors)
    if not valid.any():
        first = "; ".join(str(row) for row in sorted(bad_rows, key=lambda r: r.line)[:3])
        raise InputError(f"{path} has no valid row ({rows_read} rows read). First problems: {first or 'a header and no rows'}")

    img_name = table.column("img_name").to_pandas().fillna("").to_numpy(dtype=str)
    notes = [
        BadRow(
            int(line),
            "img_name",
            "name not valid UTF-8",
            f"image name {str(name)!r} was not valid UTF-8; kept, undecodable bytes shown as \ufffd",
        )
        for line, name, keep in zip(lines, img_name, valid, strict=True)
        if keep and line in undecodable_lines and "\ufffd" in name
    ]
    faces = FaceData(
        images=images[valid],
        age=labels["age"][valid].astype(np.int16),
        gender=labels["gender"][valid].astype(np.int8),
        ethnicity=labels["ethnicity"][valid].astype(np.int8),
        img_name=img_name[valid],
        line=lines[valid].astype(np.int32),
    )
    bad_rows.sort(key=lambda row: (row.line, row.column))
    report = LoadReport(path, content_hash, rows_read, len(faces), bad_rows, notes)
    return faces, report


def _read_table(text: bytes, path: str) -> tuple[pa.Table, np.ndarray, list[BadRow]]:
    """Parse the CSV into string columns; returns the table, each row's line and rows of the wrong width."""
    header_line = text.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip("\r\ufeff")
    if not header_line.strip():
        raise InputError(f"{path} is empty: expected a header with columns {', '.join(REQUIRED_COLUMNS)}")
    if len(header_line) > 10_000:
        raise InputError(f"{path} does not start with a CSV header: its first line is {len(header_line):,} characters long")
    if "\ufffd" in header_line or not header_line.isprintable():
        raise InputError(f"{path} is not a text CSV: its first line holds bytes that are not text (expected the header "
                         f"{','.join(REQUIRED_COLUMNS)})")  # fmt: skip
    header = [name.strip() for name in next(csv.reader([header_line]))]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise InputError(
            f"{path} is missing column(s) {', '.join(missing)}; {_found_columns(header)}. "
            f"Expected the columns {', '.join(REQUIRED_COLUMNS)}."
        )

    def read(use_threads: bool, on_invalid) -> pa.Table:
        return pa_csv.read_csv(
            io.BytesIO(text),
            read_options=pa_csv.ReadOptions(use_threads=use_threads, column_names=header, skip_rows=1, block_size=_BLOCK_BYTES),
            # Blank lines stay rows (and are reported) so that line numbers stay true.
            parse_options=pa_csv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                include_columns=list(REQUIRED_COLUMNS),
                column_types={column: pa.string() for column in REQUIRED_COLUMNS},
                strings_can_be_null=True,
            ),
        )

    invalid_rows = []

    def collect(row) -> str:
        invalid_rows.append(row)
        return "skip"

    try:
        table = read(True, collect)
        if invalid_rows:
            # Only the single-threaded reader knows the line of a malformed row.
            invalid_rows.clear()
            table = read(False, collect)
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        # Arrow's message ends with the offending row: only its first two parts (what went wrong) are shown.
        raise InputError(f"{path} could not be read as a CSV: {':'.join(str(error).split(':')[:2])}") from error

    # The reader counts the skipped header, so its row numbers are file lines.
    bad_lines = sorted(row.number for row in invalid_rows)
    field_count_errors = [
        BadRow(row.number, "*", "wrong number of fields", f"{row.actual_columns} fields, expected {row.expected_columns}")
        for row in sorted(invalid_rows, key=lambda r: r.number)
    ]
    lines = _kept_lines(table.num_rows, bad_lines)
    return table, lines, field_count_errors


def _found_columns(header: list[str]) -> str:
    """The header's fields that look like column names, for a message; a file that is not a face CSV (/etc/passwd, say)
    has a first line that is anything but, and a message must not quote it."""
    names = [name for name in header if _COLUMN_NAME.fullmatch(name)]
    shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
    hidden = len(header) - len(names)
    found = f"found {shown}" if names else "found no column names"
    return found + (f" ({hidden} other field(s) of its first line not shown)" if hidden else "")


def _kept_lines(kept_rows: int, skipped_lines: list[int]) -> np.ndarray:
    """File lines of the rows the reader kept, given the lines it skipped."""
    all_lines = np.arange(2, 2 + kept_rows + len(skipped_lines), dtype=np.int64)
    return np.setdiff1d(all_lines, skipped_lines, assume_unique=True)


def _label_numbers(column: pa.ChunkedArray, low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
    """A label column's whole numbers (0 where not one), and which rows' values are not whole numbers in low..high."""
    numbers = pd.to_numeric(column.to_pandas().str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        wrong = ~np.isfinite(numbers) | (numbers != np.round(numbers)) | (numbers < low) | (numbers > high)
    return np.nan_to_num(numbers).astype(np.int64), wrong


def _label_problem(table: pa.Table, name: str, lines: np.ndarray, position: int) -> BadRow:
    """What is wrong with the label `name` of the row at `position` (one `_label_numbers` found wrong)."""
    low, high = next((low, high) for column, low, high in LABEL_RANGES if column == name)
    raw_value = table.column(name)[int(position)].as_py()
    value = pd.to_numeric(str(raw_value).strip(), errors="coerce") if raw_value is not None else np.nan
    shown = repr(str(raw_value)[:20])
    if raw_value is None or not str(raw_value).strip():
        reason, detail = "missing", f"{name} is missing"
    elif not np.isfinite(value) or value != round(value):
        reason, detail = "not a whole number", f"{name} {shown} is not a whole number"
    elif value < low:
        reason, detail = "negative" if name == "age" else "out of range", f"{name} {shown} is below {low}"
    elif name == "age":
        reason, detail = f"over {MAX_AGE}", f"age {shown} is implausible (over {MAX_AGE})"
    else:
        reason, detail = "out of range", f"{name} {shown} is not in {low}..{high}"
    return BadRow(int(lines[position]), name, reason, detail)


def _write_cache(cache_file: Path, faces: FaceData, report: LoadReport) -> None:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        report=np.array(json.dumps(report.to_dict())),
        **{field.name: getattr(faces, field.name) for field in dataclasses.fields(faces)},
    )
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cache_file, buffer.getvalue())
    except OSError as error:
        warnings.warn(f"Could not write the data cache {cache_file}: {error}", stacklevel=3)


def _read_cache(cache_file: Path) -> tuple[FaceData, LoadReport] | None:
    """The cached faces and report, or None when the cache file cannot be read (it is then parsed again)."""
    try:
        with np.load(cache_file, allow_pickle=False) as stored:
            faces = FaceData(**{field.name: stored[field.name] for field in dataclasses.fields(FaceData)})
            report = LoadReport.from_dict(json.loads(str(stored["report"])))
    except Exception:  # A damaged or foreign cache file (zip, key or JSON errors): not worth an error, only a re-parse.
        return None
    return faces, report
