"""core.vision.images: every accepted kind decodes to the upright RGB picture; bad files get their message."""

from __future__ import annotations

import io
import os
import re

import numpy as np
import pytest
from PIL import Image

from core.errors import InputError, InputFileNotFound
from core.vision.images import MAX_BYTES, MAX_PIXELS, NOT_AN_IMAGE, load_rgb
from tests.image_kinds import encode, framed, hostile_uploads, photo_kinds, png_header

LOSSY = {"jpeg", "webp", "exif-rotated jpeg", "cmyk jpeg", "grayscale jpeg", "palette png"}


@pytest.fixture(scope="module")
def chip(shared_faces) -> Image.Image:
    return Image.open(sorted(shared_faces.glob("*.jpg"))[0]).convert("RGB")


@pytest.fixture(scope="module")
def kinds(chip) -> dict[str, bytes]:
    return photo_kinds(chip)


def test_every_kind_decodes_to_the_upright_rgb_photo(chip, kinds):
    expected = np.asarray(framed(chip), dtype=np.float64)
    gray_expected = np.asarray(framed(chip).convert("L"), dtype=np.float64)
    for kind, data in kinds.items():
        rgb = load_rgb(data)
        assert rgb.dtype == np.uint8 and rgb.shape == expected.shape, kind
        if kind in ("16-bit png", "grayscale jpeg"):
            assert np.array_equal(rgb[:, :, 0], rgb[:, :, 2]), kind  # Gray stays gray in all three channels.
            error = np.abs(rgb[:, :, 0] - gray_expected).mean()
        else:
            error = np.abs(rgb - expected)[40:-40, 60:-60].mean()  # The face; the RGBA border is white, checked below.
        assert error < (6.0 if kind in LOSSY else 0.5), f"{kind}: mean pixel error {error:.2f}"


def test_sixteen_bit_values_are_scaled_not_clipped():
    ramp = (np.arange(256, dtype=np.uint16) * 257).reshape(16, 16)  # 0 .. 65535
    rgb = load_rgb(encode(Image.fromarray(ramp), "PNG"))
    assert np.array_equal(rgb[:, :, 1], np.arange(256, dtype=np.uint8).reshape(16, 16))


def test_transparency_is_laid_on_white(kinds):
    rgb = load_rgb(kinds["rgba png"])
    assert np.all(rgb[:30, :30] == 255)
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0] * 256)
    rgb = load_rgb(encode(palette, "PNG", transparency=0))
    assert np.all(rgb == 255)


def test_exif_orientation_is_applied(kinds):
    stored = np.asarray(Image.open(io.BytesIO(kinds["exif-rotated jpeg"])))
    rgb = load_rgb(kinds["exif-rotated jpeg"])
    assert stored.shape[:2] == rgb.shape[1::-1]  # Stored on its side, returned upright.


def test_a_path_is_read_like_its_bytes(shared_faces):
    path = sorted(shared_faces.glob("*.jpg"))[0]
    assert np.array_equal(load_rgb(path), load_rgb(path.read_bytes()))
    assert np.array_equal(load_rgb(str(path)), load_rgb(path.read_bytes()))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"age,gender\n1,0\n",
        b"GIF89a" + b"\x00" * 32,
        encode(Image.new("RGB", (4, 4)), "GIF"),
        encode(Image.new("RGB", (4, 4)), "BMP"),
    ],
    ids=["empty", "csv text", "gif header", "gif", "bmp"],
)
def test_non_images_are_refused(data):
    with pytest.raises(ValueError, match=NOT_AN_IMAGE):
        load_rgb(data)


def test_hostile_uploads_are_refused_with_what_is_wrong(kinds):
    for data, phrase in hostile_uploads(kinds["jpeg"]).values():
        with pytest.raises(InputError, match=re.escape(phrase)):
            load_rgb(data)


def test_a_truncated_image_is_refused(kinds):
    with pytest.raises(ValueError, match="damaged JPEG image"):
        load_rgb(kinds["jpeg"][: len(kinds["jpeg"]) // 2])


def test_images_over_the_pixel_limit_are_refused_before_decoding():
    with pytest.raises(ValueError, match=r"image is 8000x7000 = 56.0 megapixels, over the 50-megapixel limit"):
        load_rgb(png_header(8000, 7000))
    # So large that PIL itself refuses it before telling its size.
    with pytest.raises(ValueError, match=r"megapixels, over the 50-megapixel limit"):
        load_rgb(png_header(20000, 20000))
    assert MAX_PIXELS == 50_000_000


def test_the_limit_can_be_lowered(kinds):
    with pytest.raises(ValueError, match=r"image is 320x280 = 0.1 megapixels, over the 0.05-megapixel limit"):
        load_rgb(kinds["png"], max_pixels=50_000)


def test_a_missing_path_is_file_not_found(tmp_path):
    with pytest.raises(InputFileNotFound, match="No image file at"):
        load_rgb(tmp_path / "absent.jpg")
    with pytest.raises(InputError, match="is a folder, not an image"):
        load_rgb(tmp_path)


def test_a_photo_over_20_mb_is_refused_before_it_is_read_or_decoded(kinds, tmp_path):
    big = kinds["png"] + bytes(21_000_000)  # A valid image that is too large a file.
    with pytest.raises(InputError, match=r"the file is 21.\d MB, over the 20 MB a photo may have"):
        load_rgb(big)
    path = tmp_path / "huge.png"
    path.write_bytes(big)
    with pytest.raises(InputError, match=r"huge.png is 21.\d MB, over the 20 MB"):
        load_rgb(path)
    assert MAX_BYTES == 20_000_000


@pytest.mark.parametrize("seed", range(6))
def test_whatever_the_bytes_only_the_project_s_error_comes_out(kinds, seed):
    """Random damage to real images: decoded, or refused as InputError; never another exception."""
    rng = np.random.default_rng(seed)
    for name, data in kinds.items():
        damaged = np.frombuffer(data, dtype=np.uint8).copy()
        damaged[rng.integers(0, len(damaged), 40)] = rng.integers(0, 256, 40, dtype=np.uint8)
        try:
            rgb = load_rgb(damaged[: rng.integers(len(damaged) // 3, len(damaged) + 1)].tobytes())
        except InputError:
            continue
        assert rgb.dtype == np.uint8 and rgb.ndim == 3, name


def test_a_jpeg_missing_only_its_end_marker_is_read_and_a_cut_short_one_is_refused(chip):
    whole = encode(chip.convert("RGB"), "JPEG", quality=92)
    assert whole.endswith(b"\xff\xd9")
    assert np.array_equal(load_rgb(whole[:-2]), load_rgb(whole)), "all its pixels are there"
    for cut in (len(whole) // 2, len(whole) - 20):
        with pytest.raises(InputError, match="^damaged JPEG image: image file is truncated"):
            load_rgb(whole[:cut])


def test_only_regular_files_are_opened_a_named_pipe_is_refused_at_once(tmp_path):
    pipe = tmp_path / "photo.jpg"
    os.mkfifo(pipe)  # No writer ever comes: reading it would wait forever.
    with pytest.raises(InputError, match=f"^{pipe} is a named pipe, not an image file$"):
        load_rgb(pipe)
    with pytest.raises(InputError, match="^/dev/null is a device, not an image file$"):
        load_rgb("/dev/null")
