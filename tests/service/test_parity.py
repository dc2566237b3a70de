"""The service answers what `predict` answers: the 300 shared photos, over HTTP, against the library call the command makes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from core.inference.photos import FacePredictor, predict_photo
from tests.conftest import SHIPPED_STARTER

pytestmark = pytest.mark.slow
# Photos per request, and requests at once: the answers must not depend on what else the server is doing.
PER_REQUEST, AT_ONCE = 10, 4


def test_every_shared_photo_gets_predict_s_answer(client, shared_faces):
    photos = sorted(shared_faces.glob("*.jpg"))
    assert len(photos) == 300
    batches = [photos[start : start + PER_REQUEST] for start in range(0, len(photos), PER_REQUEST)]
    with ThreadPoolExecutor(AT_ONCE) as pool:
        replies = list(pool.map(lambda batch: client.faces([(path.name, path.read_bytes()) for path in batch]), batches))
    predictor = FacePredictor.from_runs([SHIPPED_STARTER])
    compared_faces = 0
    for batch, (status, answer) in zip(batches, replies, strict=True):
        assert status == 200, answer
        assert answer["runs"] == {"gender": "starter", "age": "starter"}
        for path, served in zip(batch, answer["images"], strict=True):
            expected = predict_photo(predictor, path).to_dict(rounded=False)
            assert served["image"] == path.name
            assert (served["width"], served["height"], served["message"]) == (
                expected["width"],
                expected["height"],
                expected["message"],
            )
            assert [face["box"] for face in served["faces"]] == [face["box"] for face in expected["faces"]], path.name
            for got, want in zip(served["faces"], expected["faces"], strict=True):
                assert got["age"] == pytest.approx(want["age"], abs=0.01), path.name
                assert got["female_probability"] == pytest.approx(want["female_probability"], abs=1e-4), path.name
                assert got["warnings"] == want["warnings"], path.name
                assert got["confidence"] == pytest.approx(want["confidence"], abs=1e-6), path.name
                assert (got["gender"], got["interval_level"]) == (want["gender"], want["interval_level"]), path.name
                assert got["age_low"] == pytest.approx(want["age_low"], abs=1.0) and got["age_high"] == pytest.approx(
                    want["age_high"], abs=1.0
                )
                compared_faces += 1
    assert compared_faces >= 290, "nearly every chip has a face the detector finds"
