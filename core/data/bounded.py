"""A CSV file's text, read within bounds: a size after decompression and a line length no face CSV comes near.

    limits = Limits.from_env()                     # AGEGENDER_MAX_CSV_MB, AGEGENDER_MAX_LINE_KB, else the defaults
    raw = read_file(path, limits)                  # refused by its size on disk before a byte is read
    text, undecodable = csv_text(raw, path, limits) # inflated (refused past the limits), as UTF-8; not-text refused

The shared CSV is 180 MB of text once inflated, its longest line 9.3 kB. A
gzip bomb (a small .csv.gz that inflates to gigabytes) is measured before it
is inflated into memory: a first pass streams through it in chunks of
`_CHUNK_BYTES`, counting bytes and line lengths, and stops at the first
limit crossed, so refusing one costs a chunk of memory, not the bomb.
Only a file within the limits is inflated whole (about 0.2 s more for the
shared CSV than inflating it once).
"""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

from isal import igzip  # zlib-compatible gzip, ~3x faster than the stdlib's.

from core.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
# Five times the shared CSV's 180 MB (21,333 faces): about 100,000 faces.
DEFAULT_MAX_MB = 1024
# A face row is about 9 kB (2,304 pixel values); a line a hundred times longer is not one.
DEFAULT_MAX_LINE_KB = 1024
_CHUNK_BYTES = 4 << 20
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


@dataclasses.dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_MB << 20  # the CSV's text, after decompression
    max_line_bytes: int = DEFAULT_MAX_LINE_KB << 10

    @classmethod
    def from_env(cls) -> Limits:
        """The limits an operator set (`AGEGENDER_MAX_CSV_MB`, `AGEGENDER_MAX_LINE_KB`), else the defaults."""
        return cls(
            _setting("AGEGENDER_MAX_CSV_MB", DEFAULT_MAX_MB) << 20, _setting("AGEGENDER_MAX_LINE_KB", DEFAULT_MAX_LINE_KB) << 10
        )

    def size_fault(self, size: int) -> str:
        return (
            f"is over {self.max_bytes / 2**20:,.0f} MB of text (the limit; set AGEGENDER_MAX_CSV_MB for a bigger file)"
            if size > self.max_bytes
            else ""
        )


def _setting(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"{name} must be a whole number of at least 1, got {text[:20]!r}")
    return int(text)


def read_file(path: Path, limits: Limits) -> bytes:
    """The file's bytes, refused by its size on disk before any is read."""
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise InputError(f"{path} {limits.size_fault(size)}")
        return path.read_bytes()
    except OSError as error:
        raise InputError(f"{path} could not be read: {error.strerror or type(error).__name__}") from error


def decompressed(raw: bytes, path: str, limits: Limits) -> bytes:
    """The CSV's text: `raw` itself, or inflated when it is gzip; refused when it is over the limits.

    Raises:
        InputError: the text is over `limits.max_bytes`, a line is over
            `limits.max_line_bytes`, or the gzip data is damaged.
    """
    is_gzip = raw.startswith(GZIP_MAGIC)
    try:
        # The measuring pass: a gzip stream is inflated chunk by chunk and thrown away.
        chunks = (
            _gzip_chunks(raw) if is_gzip else (raw[start : start + _CHUNK_BYTES] for start in range(0, len(raw), _CHUNK_BYTES))
        )
        _check_chunks(chunks, path, limits, " once decompressed" if is_gzip else "")
        return igzip.decompress(raw) if is_gzip else raw
    except InputError:
        raise
    except Exception as error:  # ISA-L raises its own IsalError besides OSError and EOFError.
        raise InputError(f"{path} looks gzip-compressed but could not be decompressed: {error}") from error


def as_utf8(data: bytes, path: str) -> tuple[bytes, set[int]]:
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


def csv_text(raw: bytes, path: str, limits: Limits) -> tuple[bytes, set[int]]:
    """The file's text as valid UTF-8 (inflated, within the limits), and the lines whose bytes were not UTF-8 (`as_utf8`)."""
    return as_utf8(decompressed(raw, path, limits), path)


def _gzip_chunks(raw: bytes):
    with igzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
        while chunk := stream.read(_CHUNK_BYTES):
            yield chunk


def _check_chunks(chunks, path: str, limits: Limits, after: str) -> None:
    """Refuse the text at the first chunk that takes it over a limit; `after` says what the size is measured after."""
    total, line, open_length = 0, 1, 0  # `line`: the number of the line still open, `open_length` its bytes so far
    for chunk in chunks:
        total += len(chunk)
        if total > limits.max_bytes:
            raise InputError(f"{path} {limits.size_fault(total)}{after}")
        lengths = [len(part) for part in chunk.split(b"\n")] if b"\n" in chunk else [len(chunk)]
        lengths[0] += open_length
        longest = max(range(len(lengths)), key=lengths.__getitem__)
        if lengths[longest] > limits.max_line_bytes:
            raise InputError(
                f"{path} has a line over {limits.max_line_bytes / 1024:,.0f} kB long (line {line + longest:,}); a face row is about "
                "9 kB, so this is not a face CSV (AGEGENDER_MAX_LINE_KB raises the limit)"
            )
        line += len(lengths) - 1
        open_length = lengths[-1]
