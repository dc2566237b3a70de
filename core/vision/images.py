"""Decode an uploaded photo (bytes or a path) into an RGB uint8 array (H, W, 3).

    rgb = load_rgb(Path("photo.jpg").read_bytes())   # or load_rgb("photo.jpg")

Accepts JPEG, PNG and WebP. The EXIF orientation is applied, so a phone photo
comes out the way it was taken. Transparent images (RGBA, LA, palette with
transparency) are laid on white; palette, CMYK and grayscale images become
RGB; 16-bit images are scaled to 8 bits (not clipped, as PIL's own
conversion does). Files over `MAX_BYTES` are refused before anything is
decoded, images over `MAX_PIXELS` from their header, before any pixel is
decoded (decompression bombs), and so are files that are not images: all as
`core.errors.InputError` (a `ValueError`) saying what was wrong. Nothing else
escapes, whatever the bytes.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import InputError, InputFileNotFound

# 50 megapixels is more than any phone photo (a 200 MP sensor saves 50 MP by
# default) and decodes to 150 MB of RGB, a bound the dashboard can afford.
MAX_PIXELS = 50_000_000
# A phone's largest JPEG is about 15 MB; a bigger "photo" is refused unread, so
# a shared server never decodes it (the 300 MB upload limit is for CSVs).
MAX_BYTES = 20_000_000
FORMATS = ("JPEG", "PNG", "WEBP")
# The file name endings of those formats, for the commands that walk folders of photos.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
NOT_AN_IMAGE = "not a JPEG, PNG or WebP image"
# Modes whose pixels are 16-bit integers; "I" is how some PNG readers hold 16-bit gray.
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
TRANSPARENT_MODES = ("RGBA", "RGBa", "LA", "La", "PA", "P")
WHITE = (255, 255, 255, 255)
_JPEG_END = b"\xff\xd9"
# Entropy-coded bytes (0xFF is written 0xFF 0x00 there): what a cut-short JPEG's missing part would be decoded from.
_JPEG_FILLER = b"\xff\x00\x55" * 256


def load_rgb(source: bytes | str | Path, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Decode `source` (the file's bytes, or its path) into (H, W, 3) uint8 RGB, upright.

    Raises:
        InputError: the data is over `max_bytes`, is not a JPEG, PNG or WebP
            image, is damaged, or has more than `max_pixels` pixels.
        InputFileNotFound: `source` is a path that does not exist.
    """
    data = source if isinstance(source, bytes) else read_image_file(Path(source), max_bytes)
    if len(data) > max_bytes:
        raise InputError(f"the file is {len(data) / 1e6:.1f} MB, over the {max_bytes / 1e6:g} MB a photo may have")
    image = _open_checked(data, max_pixels)
    try:
        image.load()
    except Exception as error:  # PIL raises many kinds on damaged data (OSError, SyntaxError, struct.error, ...).
        whole = _jpeg_without_end_marker(data, max_pixels) if image.format == "JPEG" else None
        if whole is None:
            raise InputError(f"damaged {image.format} image: {error}") from error
        image = whole
    try:
        return to_rgb(ImageOps.exif_transpose(image))
    except Exception as error:
        raise InputError(f"damaged {image.format} image: {error}") from error


def _jpeg_without_end_marker(data: bytes, max_pixels: int) -> Image.Image | None:
    """A JPEG whose data is complete but lacks its end-of-image marker (many cameras and browsers write or accept
    such files), decoded; None when the data itself is cut short.

    With the marker added, a cut-short file decodes too (libjpeg fills the missing part), so the data is
    decoded twice: followed by the marker, and by filler bytes and the marker. Complete data never reaches
    the filler, so the two agree; the missing part of cut-short data is decoded from the filler, so they differ.
    """
    if data.endswith(_JPEG_END):
        return None
    decoded = []
    for ending in (_JPEG_END, _JPEG_FILLER + _JPEG_END):
        image = _open_checked(data + ending, max_pixels)
        try:
            image.load()
        except Exception:
            return None
        decoded.append(image)
    return decoded[0] if np.array_equal(np.asarray(decoded[0]), np.asarray(decoded[1])) else None


def image_files(folder: Path) -> list[Path]:
    """Every JPEG, PNG and WebP file below `folder` (by name ending), in path order."""
    return sorted(path for path in Path(folder).rglob("*") if path.is_file() and path.name.lower().endswith(IMAGE_SUFFIXES))


def read_image_file(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """A photo file's bytes, refusing a file over `max_bytes` before reading it, and anything but a regular file.

    Opened without blocking and checked once open: a named pipe would otherwise wait for a writer forever.
    """
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(handle, "rb") as file:
            mode, size = os.fstat(handle).st_mode, os.fstat(handle).st_size
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(path)
            if not stat.S_ISREG(mode):
                raise InputError(f"{path} is {_special_kind(mode)}, not an image file")
            if size > max_bytes:
                raise InputError(f"{path.name} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:g} MB a photo may have")
            return file.read(max_bytes + 1)
    except FileNotFoundError as error:
        raise InputFileNotFound(f"No image file at {path}") from error
    except IsADirectoryError as error:
        raise InputError(f"{path} is a folder, not an image") from error
    except OSError as error:
        raise InputError(f"{path} could not be read: {error}") from error


def _special_kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))
    return next((kind for test, kind in kinds if test(mode)), "not a regular file")


def _open_checked(data: bytes, max_pixels: int) -> Image.Image:
    """Open the image lazily (header only) and refuse it if it is too large."""
    limit = f"the {max_pixels / 1e6:g}-megapixel limit"
    try:
        with warnings.catch_warnings():
            # PIL warns from 89 MP on; we refuse those below anyway.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError as error:
        empty = " (the file is empty)" if not data else ""
        raise InputError(f"{NOT_AN_IMAGE}{empty}") from error
    except Image.DecompressionBombError as error:
        # PIL refuses this size itself before telling us the dimensions.
        raise InputError(f"image is over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels, over {limit}") from error
    except Exception as error:  # A header PIL recognises but cannot parse.
        raise InputError(f"damaged image header: {error}") from error
    width, height = image.size
    if width * height > max_pixels:
        raise InputError(f"image is {width}x{height} = {width * height / 1e6:.1f} megapixels, over {limit}")
    return image


def to_rgb(image: Image.Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a decoded PIL image of any mode."""
    if image.mode in SIXTEEN_BIT_MODES:
        # 65535 / 257 = 255: full scale maps to full scale.
        gray = np.clip(np.rint(np.asarray(image, dtype=np.float32) / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode in TRANSPARENT_MODES:
        image = Image.alpha_composite(Image.new("RGBA", image.size, WHITE), image.convert("RGBA"))
    return np.asarray(image.convert("RGB"))


def check_rgb(rgb) -> None:
    """Raise a ValueError unless `rgb` is an (H, W, 3) uint8 RGB image with at least one pixel, as `load_rgb` returns."""
    if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3):
        shape = getattr(rgb, "shape", None)
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {type(rgb).__name__} {shape} {getattr(rgb, 'dtype', '')}")
    if min(rgb.shape[:2]) < 1:
        raise ValueError(f"image is empty ({rgb.shape[1]}x{rgb.shape[0]})")
