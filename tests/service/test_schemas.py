"""core.service.schemas: the response models follow the library's dataclasses, so a new field is served and documented at once."""

from __future__ import annotations

import dataclasses

import numpy as np

from core.inference.photos import FacePrediction, PhotoPrediction
from core.service import schemas
from core.vision.faces import Face


def face(**changes) -> FacePrediction:
    detected = Face((1, 2, 30, 40), 0.99, np.zeros((5, 2)), np.zeros((4, 4, 3), np.uint8), np.zeros((48, 48, 1), np.uint8))
    values = dict(box=(1, 2, 30, 40), crop=detected.crop, detected=detected, age=31.234567, female_probability=0.612345678,
                  age_low=25.0, age_high=38.0, interval_level=0.8, warnings=("small",))  # fmt: skip
    return FacePrediction(**{**values, **changes})


def test_a_face_answer_has_predict_s_keys_at_full_precision():
    values = face().to_dict(rounded=False)
    answer = schemas.FaceAnswer.model_validate(values).model_dump(mode="json")
    assert answer == values
    assert answer["age"] == 31.234567 and answer["female_probability"] == 0.612345678
    assert face().to_dict()["age"] == 31.2, "people still get rounded figures"


def test_a_missing_head_is_null_and_a_whole_image_face_has_no_confidence():
    answer = schemas.FaceAnswer.model_validate(face(female_probability=None, detected=None).to_dict(rounded=False))
    assert (answer.female_probability, answer.gender, answer.confidence) == (None, None, None) and answer.age == 31.234567


def test_a_photo_answer_holds_its_name_and_its_faces():
    photo = PhotoPrediction(200, 100, [face()], None)
    answer = schemas.PhotoAnswer.model_validate({"image": "a.jpg", **photo.to_dict(rounded=False)})
    assert (answer.image, answer.width, answer.height, answer.message) == ("a.jpg", 200, 100, None)
    assert answer.faces[0].box == (1, 2, 30, 40)


def test_a_field_added_to_a_dataclass_appears_in_its_model():
    @dataclasses.dataclass(frozen=True)
    class Answer:
        age: float
        note: str | None
        tags: tuple[str, ...] = ()
        hidden: np.ndarray | None = None

    model = schemas.model_from_dataclass(Answer, "Answer", leave_out=("hidden",), extra_field=(int, 3))
    assert list(model.model_fields) == ["age", "note", "tags", "extra_field"]
    assert model.model_validate({"age": 2.5}).model_dump() == {"age": 2.5, "note": None, "tags": (), "extra_field": 3}
    assert model.model_fields["age"].is_required()
