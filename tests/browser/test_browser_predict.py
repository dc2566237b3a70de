"""The Predict page in a real browser: upload a face photo, see its age, gender and CAMs; a bad file is explained.

The numbers the page shows are compared with what `core.inference.photos` gives for
the same photo and run.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.ui import (
    choose_run,
    expect,
    expect_images_loaded,
    expect_no_exception,
    heading,
    table_row,
    wait_until,
)

# Two UTKFace chips from the shared faces folder in which the detector finds one face.
PHOTO = "10_0_0_20170110220539329.jpg.chip.jpg"
SECOND_PHOTO = "34_1_0_20170103182645609.jpg.chip.jpg"
# The first prediction loads TensorFlow, the models and the face detector into the server.
FIRST_PREDICTION_MS = 120_000
# Every run is calibrated when it finishes, so every age comes with its interval.
FACE_TITLE = re.compile(r"^Face \d+ · (male|female) \d+% · \d+ y \((\d+)-(\d+)\)$")
FACE_NUMBERS = re.compile(
    r"^box \(\d+, \d+, \d+, \d+\) · age ([\d.]+) years · 80% interval [\d.]+-[\d.]+ · P\(female\) ([\d.]+)$"
)
# Share of an image's pixels that are clearly coloured (not gray): a CAM overlay is, a face crop is not.
COLOURED_SHARE = """image => {
    const canvas = document.createElement("canvas");
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let coloured = 0;
    for (let i = 0; i < pixels.length; i += 4) {
        const [r, g, b] = [pixels[i], pixels[i + 1], pixels[i + 2]];
        if (Math.max(r, g, b) - Math.min(r, g, b) > 40) coloured++;
    }
    return coloured / (pixels.length / 4);
}"""


@pytest.fixture(scope="module")
def expected(fixture_run, shared_faces) -> dict[str, tuple[float, float]]:
    """(age, P(female)) of the one face in each photo, from core.inference.photos with the fixture run's model."""
    from core.inference.photos import FacePredictor, predict_photo

    predictor = FacePredictor.from_runs([fixture_run])
    answers = {}
    for name in (PHOTO, SECOND_PHOTO):
        (face,) = predict_photo(predictor, (shared_faces / name).read_bytes()).faces
        answers[name] = (face.age, face.female_probability)
    return answers


def image_with_caption(page, caption: str):
    return page.locator('[data-testid="stImageContainer"]').filter(has=page.get_by_text(caption, exact=True)).locator("img")


def expect_face_result(page, position: int, age: float, female_probability: float) -> None:
    """The `position`-th photo's face shows this age and P(female), a consistent gender, and its crop and CAMs."""
    title = page.get_by_text(FACE_TITLE).nth(position)
    expect(title).to_be_visible(timeout=FIRST_PREDICTION_MS)
    numbers = page.get_by_text(FACE_NUMBERS).nth(position)
    shown_age, shown_probability = map(float, FACE_NUMBERS.match(numbers.inner_text()).groups())
    assert shown_age == pytest.approx(age, abs=0.06) and shown_probability == pytest.approx(female_probability, abs=0.002)
    assert FACE_TITLE.match(title.inner_text()).group(1) == ("female" if female_probability >= 0.5 else "male")

    crop = image_with_caption(page, "what the models saw").nth(position)
    cams = [image_with_caption(page, caption).nth(position) for caption in ("gender: Grad-CAM", "age ↑: Grad-CAM")]
    for image in (crop, *cams):
        expect_images_loaded(image)
    assert crop.evaluate(COLOURED_SHARE) == 0, "the crop the models saw is grayscale"
    for cam in cams:
        assert cam.evaluate(COLOURED_SHARE) > 0.2, "a CAM is a coloured heat map over the face"


def test_an_uploaded_photo_gets_age_gender_and_cams_and_a_bad_file_is_explained(
    page, fixture_run, shared_faces, expected, tmp_path
):
    page.goto("/predict")
    expect(heading(page, "Predict")).to_be_visible()
    page.get_by_text("One run with both heads", exact=True).click()
    choose_run(page, fixture_run.name)
    expect(page.get_by_text("Upload one or more photos")).to_be_visible()
    uploader = page.locator('.st-key-predict-uploads input[type="file"]')

    uploader.set_input_files(shared_faces / PHOTO)
    expect(page.get_by_role("heading", name=PHOTO)).to_be_visible()
    expect_face_result(page, 0, *expected[PHOTO])
    expect_no_exception(page)

    not_a_photo = tmp_path / "notes.jpg"
    not_a_photo.write_text("Shopping list: eggs, milk.\n")
    uploader.set_input_files(not_a_photo)
    expect(page.get_by_text("Cannot read notes.jpg: not a JPEG, PNG or WebP image")).to_be_visible()
    expect(page.get_by_text(FACE_TITLE)).to_have_count(1)  # The first photo's result is still there.
    expect_no_exception(page)

    # The page still works: another photo gets its own result, and the table lists both faces.
    uploader.set_input_files(shared_faces / SECOND_PHOTO)
    expect(page.get_by_role("heading", name=SECOND_PHOTO)).to_be_visible()
    expect_face_result(page, 1, *expected[SECOND_PHOTO])
    for name in (PHOTO, SECOND_PHOTO):
        row = wait_until(lambda name=name: table_row(page, name), f"{name} in the faces table", page=page)
        assert row["face"] == "1", row
    expect_no_exception(page)


def test_a_small_face_gets_an_age_interval_and_a_warning(page, shared_faces, tmp_path):
    """A face about 31 pixels across in a larger photo: found, answered with an interval, and flagged as too small."""
    from PIL import Image

    canvas = Image.new("RGB", (480, 360), (120, 130, 125))
    canvas.paste(Image.open(shared_faces / SECOND_PHOTO).convert("RGB").resize((40, 40), Image.LANCZOS), (210, 150))
    photo = tmp_path / "small-face.png"
    canvas.save(photo)
    page.goto("/predict")
    expect(heading(page, "Predict")).to_be_visible()
    page.locator('.st-key-predict-uploads input[type="file"]').set_input_files(photo)
    title = page.get_by_text(FACE_TITLE).first
    expect(title).to_be_visible(timeout=FIRST_PREDICTION_MS)
    age = int(re.search(r"· (\d+) y", title.inner_text()).group(1))
    low, high = map(int, FACE_TITLE.match(title.inner_text()).groups()[1:])
    assert low <= age <= high and low < high, title.inner_text()
    expect(page.get_by_text(re.compile(r"^the face is only \d+ pixels across, smaller than the 48"))).to_be_visible()
    expect_no_exception(page)
