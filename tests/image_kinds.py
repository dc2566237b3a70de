"""Real face photos in every kind an upload may come as, made in memory from a shared UTKFace chip; and hostile uploads.

Used by test_images.py (decoding), test_faces.py (a face is found in each
kind), the dashboard's tests and tests/service (the HTTP service refuses each
hostile upload with the studio's message).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image

EXIF_ORIENTATION = 0x0112
# Orientation 6: the stored pixels must be turned 90 degrees clockwise to be upright.
TURN_CLOCKWISE = 6


def encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def framed(chip: Image.Image, background=(90, 110, 100)) -> Image.Image:
    """The chip in the middle of a larger photo, so the face does not touch the borders."""
    photo = Image.new("RGB", (chip.width + 120, chip.height + 80), background)
    photo.paste(chip, (60, 40))
    return photo


def photo_kinds(chip: Image.Image) -> dict[str, bytes]:
    """The same face photo as each kind of file; all decode to (about) the same upright picture."""
    photo = framed(chip.convert("RGB"))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = TURN_CLOCKWISE
    transparent = Image.new("RGBA", photo.size, (0, 0, 0, 0))
    transparent.paste(chip.convert("RGB"), (60, 40))
    gray16 = np.asarray(photo.convert("L"), dtype=np.uint16) * 257
    return {
        "jpeg": encode(photo, "JPEG", quality=95),
        "png": encode(photo, "PNG"),
        "webp": encode(photo, "WEBP", quality=95),
        "exif-rotated jpeg": encode(photo.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif.tobytes()),
        "rgba png": encode(transparent, "PNG"),
        "palette png": encode(photo.quantize(256), "PNG"),
        "cmyk jpeg": encode(photo.convert("CMYK"), "JPEG", quality=95),
        "16-bit png": encode(Image.fromarray(gray16), "PNG"),
        "grayscale jpeg": encode(photo.convert("L"), "JPEG", quality=95),
    }


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` pixels but holds almost no data: a decompression-bomb stand-in."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def zipped(entries: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200"><circle cx="100" cy="100" r="80"/></svg>'


def hostile_uploads(jpeg: bytes) -> dict[str, tuple[bytes, str]]:
    """Uploads no photo reader should choke on, made from a good JPEG where they need one, each with a phrase its refusal must hold."""
    return {
        "random bytes": (
            bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8)),
            "not a JPEG, PNG or WebP image",
        ),
        "a zip of the photo": (zipped({"photo.jpg": jpeg}), "not a JPEG, PNG or WebP image"),
        "a truncated JPEG": (jpeg[: len(jpeg) // 2], "damaged JPEG image"),
        "an SVG": (SVG, "not a JPEG, PNG or WebP image"),
        "a decompression bomb": (png_header(20000, 20000), "over the 50-megapixel limit"),
        "an empty file": (b"", "not a JPEG, PNG or WebP image (the file is empty)"),
    }
