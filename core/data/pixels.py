"""The pixels column: 2,304 space-separated 0..255 values per row, parsed to (n, 48, 48, 1) uint8.

Vectorised numpy over pyarrow's string buffer, in parallel chunks (pandas
`str.split` takes ~20 s on 21k rows, this under 1 s); a chunk with anything
unexpected is parsed again row by row, which names each bad row's problem.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from core.labels import IMAGE_SIDE, PIXELS_PER_FACE

_CHUNK_ROWS = 2048


def parse_pixels(column: pa.ChunkedArray) -> tuple[np.ndarray, list[tuple[int, str, str]]]:
    """All rows' pixels as (n, 48, 48, 1) uint8 (zeros where a row is bad), and (row position, reason, detail) of each bad row."""
    pixels = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    count = len(pixels)
    starts = list(range(0, count, _CHUNK_ROWS))
    with ThreadPoolExecutor(max_workers=4) as pool:  # numpy's array kernels release the GIL.
        parts = list(pool.map(lambda start: _parse_pixel_chunk(pixels.slice(start, _CHUNK_ROWS)), starts))
    images = np.zeros((count, PIXELS_PER_FACE), dtype=np.uint8)
    bad = []
    for start, (values, problems) in zip(starts, parts, strict=True):
        images[start : start + len(values)] = values
        bad += [(start + offset, reason, detail) for offset, reason, detail in problems]
    return images.reshape(count, IMAGE_SIDE, IMAGE_SIDE, 1), bad


def _parse_pixel_chunk(chunk: pa.Array) -> tuple[np.ndarray, list[tuple[int, str, str]]]:
    """Fast path: parse the chunk's bytes in place with numpy; any surprise falls back to row by row.

    Pyarrow stores the chunk's strings back to back in one buffer, so each
    number ends where a digit is followed by a non-digit or by the end of its
    row, and its value is read from at most three digits before that end.
    """
    if chunk.null_count:
        return _parse_pixel_rows(chunk)
    _, offsets_buffer, data_buffer = chunk.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32, count=len(chunk) + 1, offset=chunk.offset * 4)
    text = np.frombuffer(data_buffer, dtype=np.uint8, count=offsets[-1] - offsets[0], offset=offsets[0])
    row_starts, row_ends = offsets[:-1] - offsets[0], offsets[1:] - offsets[0]
    if np.any(row_ends == row_starts):
        return _parse_pixel_rows(chunk)  # An empty field.
    digits = text - np.uint8(ord("0"))  # Spaces wrap round to 240.
    is_digit = digits < 10
    if np.count_nonzero(is_digit) + np.count_nonzero(text == ord(" ")) != text.size:
        return _parse_pixel_rows(chunk)  # Signs, letters, tabs, decimal points...
    is_end = is_digit.copy()
    is_end[:-1] &= ~is_digit[1:]
    is_end[row_ends - 1] = is_digit[row_ends - 1]
    ends = np.flatnonzero(is_end)
    if len(ends) != len(chunk) * PIXELS_PER_FACE or np.any(
        np.diff(np.searchsorted(ends, row_ends), prepend=0) != PIXELS_PER_FACE
    ):
        return _parse_pixel_rows(chunk)  # A row with the wrong number of values.
    # A digit belongs to the number ending at `ends` only while no space or row start lies between.
    row_start_mask = np.zeros(text.size + 1, dtype=bool)
    row_start_mask[row_starts] = True
    values = digits[ends].astype(np.int16)
    same_number = ~row_start_mask[ends]
    for place in (1, 2, 3):
        position = np.maximum(ends - place, 0)
        same_number &= is_digit[position]
        if place == 3:
            if np.any(same_number):
                return _parse_pixel_rows(chunk)  # A number of four or more digits.
            break
        values += np.where(same_number, digits[position], 0).astype(np.int16) * np.int16(10**place)
        same_number &= ~row_start_mask[position]
    if values.max() > 255:
        return _parse_pixel_rows(chunk)
    return values.astype(np.uint8).reshape(len(chunk), PIXELS_PER_FACE), []


def _parse_pixel_rows(chunk: pa.Array) -> tuple[np.ndarray, list[tuple[int, str, str]]]:
    """Slow path that names the problem of each bad row."""
    values = np.zeros((len(chunk), PIXELS_PER_FACE), dtype=np.uint8)
    problems = []
    for offset, text in enumerate(chunk.to_pylist()):
        tokens = (text or "").split()
        if not tokens:
            problems.append((offset, "missing", "pixels are missing"))
            continue
        if len(tokens) != PIXELS_PER_FACE:
            problems.append((offset, "wrong pixel count", f"{len(tokens)} pixel values, expected {PIXELS_PER_FACE}"))
            continue
        # Digits only, as the fast path reads them: int() would take "25_5" as 255, "+7", "٣" (an Arabic-Indic 3),
        # and numpy would overflow on twenty digits.
        token = next((token for token in tokens if not _is_digits(token.removeprefix("-"))), None)
        if token is not None:
            problems.append((offset, "non-numeric value", f"pixel value {token[:20]!r} is not a whole number of digits 0-9"))
            continue
        token = next((token for token in tokens if token.startswith("-") or len(token.lstrip("0")) > 3 or int(token) > 255), None)
        if token is not None:
            problems.append((offset, "value out of 0..255", f"pixel value {token[:20]} is outside 0..255"))
            continue
        values[offset] = np.array(tokens, dtype=np.int64)
    return values, problems


def _is_digits(token: str) -> bool:
    return token.isascii() and token.isdigit()
