"""The real service over HTTP: hostile uploads get a 4xx JSON answer naming the problem, keys, the model, health, /docs."""

from __future__ import annotations

import json

import pytest

from core import runs
from core.runs.model_card import model_card
from core.service.client import ServiceClient, multipart
from core.service.keys import KEY_HEADER
from tests.conftest import SHIPPED_STARTER
from tests.image_kinds import hostile_uploads
from tests.service.conftest import ENVIRONMENT_KEY, FILE_KEY

pytestmark = pytest.mark.slow
HOSTILE_KINDS = list(hostile_uploads(b"\xff\xd8"))


def assert_still_answers(client: ServiceClient, face_jpeg: bytes) -> None:
    status, answer = client.faces([("face.jpg", face_jpeg)])
    assert status == 200 and len(answer["images"][0]["faces"]) == 1, answer


@pytest.mark.parametrize("kind", HOSTILE_KINDS)
def test_a_hostile_photo_gets_a_4xx_naming_the_problem_and_the_server_answers_the_next(client, face_jpeg, kind):
    data, phrase = hostile_uploads(face_jpeg)[kind]
    status, answer = client.faces([("upload.bin", data)])
    assert status == 422, answer
    assert phrase in answer["detail"] and answer["detail"].startswith("no image could be read: upload.bin: ")
    assert answer["images"] == [{"image": "upload.bin", "error": answer["images"][0]["error"]}]
    assert phrase in answer["images"][0]["error"]
    assert_still_answers(client, face_jpeg)


def test_a_bad_photo_beside_good_ones_gets_its_own_error_and_the_others_are_answered(client, face_jpeg):
    status, answer = client.faces(
        [("a.jpg", face_jpeg), ("b.svg", hostile_uploads(face_jpeg)["an SVG"][0]), ("c.jpg", face_jpeg)]
    )
    assert status == 200, answer
    first, refused, last = answer["images"]
    assert refused == {"image": "b.svg", "error": "not a JPEG, PNG or WebP image"}
    assert len(first["faces"]) == 1 and first == {**last, "image": "a.jpg"}


def test_a_photo_over_the_studio_s_20_mb_is_refused_with_its_size(client, face_jpeg):
    status, answer = client.faces([("big.jpg", face_jpeg + bytes(21_000_000))])
    assert status == 422 and "the file is 21.0 MB, over the 20 MB a photo may have" in answer["detail"], answer
    assert_still_answers(client, face_jpeg)


@pytest.mark.parametrize(
    ("headers", "body", "status", "phrase"),
    [
        ({}, None, 415, "expected multipart/form-data with photos in the field 'files'; got no Content-Type"),
        ({"Content-Type": "image/jpeg"}, "photo", 415, "got Content-Type image/jpeg"),
        ({"Content-Type": "application/json"}, b'{"files": ["/etc/passwd"]}', 415, "got Content-Type application/json"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, b"--x--\r\n", 422, "no photos: send one or more files in the form field 'files'"),
    ],
    ids=["an empty body", "a photo sent as the body", "a JSON path", "a form without files"],
)  # fmt: skip
def test_a_body_that_is_not_photos_gets_a_4xx_naming_the_problem(client, face_jpeg, headers, body, status, phrase):
    data = face_jpeg if body == "photo" else body
    got, answer = client.request("POST", "/v1/faces", data, headers)
    assert got == status and phrase in answer["detail"], answer
    assert_still_answers(client, face_jpeg)


def test_too_many_images_in_one_request_are_refused(client, face_jpeg):
    status, answer = client.faces([(f"{number}.jpg", b"tiny") for number in range(17)])
    assert status == 413 and answer["detail"] == "17 images in one request; at most 16", answer
    assert_still_answers(client, face_jpeg)


def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(client, face_jpeg):
    body, content_type = multipart([("a.jpg", face_jpeg)])
    # Declared larger than sent: the server answers from the header alone, without waiting for the rest.
    status, answer = client.request("POST", "/v1/faces", body, {"Content-Type": content_type, "Content-Length": str(400_000_000)})
    assert status == 413 and "the request body is 400.0 MB, over the 321 MB a request may have" == answer["detail"], answer


def test_a_level_the_studio_does_not_offer_is_refused(client, face_jpeg):
    status, answer = client.faces([("face.jpg", face_jpeg)], level=0.85)
    assert status == 422 and answer["detail"] == "level must be one of 0.5, 0.8, 0.9, 0.95; got 0.85", answer
    status, answer = client.faces([("face.jpg", face_jpeg)], level=0.95)
    face = answer["images"][0]["faces"][0]
    assert status == 200 and face["interval_level"] == 0.95 and face["age_low"] <= face["age"] <= face["age_high"]


def test_keys_no_key_and_a_wrong_key_get_401_a_good_key_200(service, face_jpeg):
    for key, status in ((None, 401), ("wrong-key-0123456789abcdef", 401), (FILE_KEY, 200), (ENVIRONMENT_KEY, 200)):
        got, answer = ServiceClient(service.url, key=key).faces([("face.jpg", face_jpeg)])
        assert got == status, (key, answer)
    got, answer = ServiceClient(service.url).get("/v1/model")
    assert got == 401 and answer["detail"] == f"no API key: send one in the {KEY_HEADER} header"
    got, answer = ServiceClient(service.url, key="wrong-key-0123456789abcdef").get("/v1/model")
    assert got == 401 and answer["detail"] == "the API key is not valid"
    # Alive and ready say nothing about the models' answers: open without a key, for load balancers.
    assert ServiceClient(service.url).get("/health") == (200, {"status": "alive"})
    assert ServiceClient(service.url).get("/ready")[0] == 200


def test_the_keys_never_reach_the_log(service, tmp_path_factory, client, face_jpeg):
    client.faces([("face.jpg", face_jpeg)])
    log = next(tmp_path_factory.getbasetemp().glob("service*/service.log")).read_text()
    assert "POST /v1/faces" in log and FILE_KEY not in log and ENVIRONMENT_KEY not in log


def test_the_model_route_says_which_run_with_its_metrics_calibration_and_card(client):
    status, answer = client.get("/v1/model")
    assert status == 200
    assert answer["heads"] == {"gender": "starter", "age": "starter"}
    (served,) = answer["runs"]
    run = runs.load_run(SHIPPED_STARTER)
    assert (served["run"], served["task"], served["preset"], served["heads"]) == (
        "starter",
        "both",
        run.metrics.preset,
        ["gender", "age"],
    )
    assert served["test"]["accuracy"] == run.metrics.test.accuracy and served["test"]["mae"] == run.metrics.test.mae
    assert served["calibration"]["temperature"] == runs.read_calibration(SHIPPED_STARTER).temperature
    assert served["model_card"] == model_card(run)


def test_the_openapi_description_types_the_answers_from_predict_s_dataclasses(client):
    status, schema = client.get("/openapi.json")
    assert status == 200
    assert {"/v1/faces", "/v1/model", "/health", "/ready"} <= set(schema["paths"])
    models = schema["components"]["schemas"]
    face_keys = set(models["FaceAnswer"]["properties"])
    assert face_keys == {
        "box",
        "confidence",
        "age",
        "age_low",
        "age_high",
        "interval_level",
        "gender",
        "female_probability",
        "warnings",
    }
    assert "Made from core.inference.photos.FacePrediction" in models["FaceAnswer"]["description"]
    assert schema["components"]["securitySchemes"] == {"APIKeyHeader": {"type": "apiKey", "in": "header", "name": KEY_HEADER}}
    answered = schema["paths"]["/v1/faces"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answered == {"$ref": "#/components/schemas/FacesAnswer"}
    assert json.dumps(schema).count("crop") == 0, "what the model saw stays on the server"
