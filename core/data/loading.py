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
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from isal import igzip  # zlib-compatible gzip, ~3x faster than the stdlib's.

from core.data.pixels import parse_pixels
from core.errors import InputError, InputFileNotFound
from core.files import write_atomic
from core.labels import MAX_AGE
from core.paths import cache_dir

REQUIRED_COLUMNS = ("age", "ethnicity", "gender", "img_name", "pixels")
# Bump when the cache layout or the validation rules change.
CACHE_VERSION = 2
_GZIP_MAGIC = b"\x1f\x8b"
# Files that are not text at all, by their first bytes: what they are, and what to do instead.
_NOT_TEXT = (
    (b"PK\x03\x04", "a ZIP archive (an .xlsx spreadsheet is one too): unzip it, or export the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 (.xls) or other Office file: export it as CSV"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image, not a CSV"),
    (b"\xff\xd8\xff", "a JPEG image, not a CSV"),
    (b"BZh", "bzip2-compressed: decompress it, or compress it with gzip instead"),
    (b"\xfd7zXZ", "xz-compressed: decompress it, or compress it with gzip instead"),
)
# Byte-order marks of the UTF-16 and UTF-32 text some spreadsheet programs save, and their codecs.
_WIDE_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
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


def load_faces(path: str | os.PathLike, use_cache: bool = True) -> tuple[FaceData, LoadReport]:
    """Read, validate and convert a face CSV (plain or gzip).

    Raises:
        InputFileNotFound: the file does not exist.
        InputError: the file is not a readable face CSV (not text, not a CSV,
            a required column missing, no valid row); the message says which.
    """
    started = time.perf_counter()
    path = Path(path)
    if not path.is_file():
        raise InputFileNotFound(f"No CSV file at {path}")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path} could not be read: {error}") from error
    content_hash = hash_bytes(raw)
    cache_file = cache_dir() / f"faces-v{CACHE_VERSION}-{content_hash}.npz"
    cached = _read_cache(cache_file) if use_cache and cache_file.is_file() else None
    if cached is not None:
        faces, report = cached
        report.path = str(path)
        report.from_cache = True
    else:
        try:
            faces, report = _parse(raw, str(path), content_hash)
        except InputError:
            raise
        except Exception as error:  # The last line of defence: whatever else the bytes trip, the user learns which file.
            raise InputError(f"{path} could not be read as a face CSV ({type(error).__name__}: {error})") from error
        if use_cache:
            _write_cache(cache_file, faces, report)
    report.seconds = time.perf_counter() - started
    return faces, report


def _parse(raw: bytes, path: str, content_hash: str) -> tuple[FaceData, LoadReport]:
    text, undecodable_lines = _as_utf8(_decompress(raw, path), path)
    table, lines, field_count_errors = _read_table(text, path)
    bad_rows = list(field_count_errors)
    valid = np.ones(table.num_rows, dtype=bool)

    labels = {}
    for column, low, high in (("age", 0, MAX_AGE), ("gender", 0, 1), ("ethnicity", 0, 4)):
        values, column_bad = _validate_label(table.column(column), column, low, high, lines)
        labels[column] = values
        bad_rows += column_bad
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


def _decompress(raw: bytes, path: str) -> bytes:
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return igzip.decompress(raw)
    except Exception as error:  # ISA-L raises its own IsalError besides OSError and EOFError.
        raise InputError(f"{path} looks gzip-compressed but could not be decompressed: {error}") from error


def _as_utf8(data: bytes, path: str) -> tuple[bytes, set[int]]:
    """The file's text as valid UTF-8, and the lines (1-based) whose bytes were not UTF-8 and were decoded with U+FFFD.

    Files that are not text at all are refused by their first bytes; UTF-16
    and UTF-32 text (with a byte-order mark) is converted.
    """
    for magic, what in _NOT_TEXT:
        if data.startswith(magic):
            raise InputError(f"{path} is not a CSV file: it is {what}")
    for bom, codec in _WIDE_BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec).encode(), set()
            except UnicodeDecodeError as error:
                raise InputError(f"{path} starts like {codec.upper()} text but is not: {error}") from error
    try:
        data.decode("utf-8")
        return data, set()
    except UnicodeDecodeError:
        pass
    undecodable = set()
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            undecodable.add(number)
    return data.decode("utf-8", errors="replace").encode(), undecodable


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
        shown = ", ".join(header[:8]) + (", …" if len(header) > 8 else "")
        raise InputError(
            f"{path} is missing column(s) {', '.join(missing)}; found {shown[:300]}. "
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
        raise InputError(f"{path} could not be read as a CSV: {error}") from error

    # The reader counts the skipped header, so its row numbers are file lines.
    bad_lines = sorted(row.number for row in invalid_rows)
    field_count_errors = [
        BadRow(row.number, "*", "wrong number of fields", f"{row.actual_columns} fields, expected {row.expected_columns}")
        for row in sorted(invalid_rows, key=lambda r: r.number)
    ]
    lines = _kept_lines(table.num_rows, bad_lines)
    return table, lines, field_count_errors


def _kept_lines(kept_rows: int, skipped_lines: list[int]) -> np.ndarray:
    """File lines of the rows the reader kept, given the lines it skipped."""
    all_lines = np.arange(2, 2 + kept_rows + len(skipped_lines), dtype=np.int64)
    return np.setdiff1d(all_lines, skipped_lines, assume_unique=True)


def _validate_label(column: pa.ChunkedArray, name: str, low: int, high: int, lines: np.ndarray):
    text = column.to_pandas()
    numbers = pd.to_numeric(text.str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    bad = []
    with np.errstate(invalid="ignore"):
        wrong = ~np.isfinite(numbers) | (numbers != np.round(numbers)) | (numbers < low) | (numbers > high)
    for position in np.flatnonzero(wrong):
        raw_value = text.iloc[position]
        value = numbers[position]
        if pd.isna(raw_value) or not str(raw_value).strip():
            reason, detail = "missing", f"{name} is missing"
        elif not np.isfinite(value) or value != round(value):
            reason, detail = "not a whole number", f"{name} {raw_value!r} is not a whole number"
        elif value < low:
            reason, detail = "negative" if name == "age" else "out of range", f"{name} {raw_value} is below {low}"
        elif name == "age":
            reason, detail = f"over {MAX_AGE}", f"age {raw_value} is implausible (over {MAX_AGE})"
        else:
            reason, detail = "out of range", f"{name} {raw_value} is not in {low}..{high}"
        bad.append(BadRow(int(lines[position]), name, reason, detail))
    return np.nan_to_num(numbers).astype(np.int64), bad


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
