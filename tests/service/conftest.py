"""The real service, started once for tests/service as `python -m core serve` on a free loopback port, with API keys."""

from __future__ import annotations

import pytest
from PIL import Image

from core.service.client import ServiceClient
from core.service.keys import KEYS_VARIABLE
from core.service.launch import serve_in_background
from tests.conftest import SHIPPED_STARTER
from tests.image_kinds import encode, framed

# One key in the environment variable, one in the key file: both must open the door.
ENVIRONMENT_KEY = "environment-key-0123456789abcdef"
FILE_KEY = "file-key-fedcba9876543210"


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    """The starter run served by a real server process; yields its URL."""
    folder = tmp_path_factory.mktemp("service")
    key_file = folder / "keys.txt"
    key_file.write_text(f"# keys of the tests\n{FILE_KEY}\n")
    with serve_in_background([SHIPPED_STARTER], folder / "service.log", "--key-file", str(key_file),
                             **{KEYS_VARIABLE: ENVIRONMENT_KEY}) as server:  # fmt: skip
        yield server


@pytest.fixture
def client(service) -> ServiceClient:
    return ServiceClient(service.url, key=FILE_KEY)


@pytest.fixture(scope="session")
def face_jpeg(shared_faces) -> bytes:
    """A real UTKFace photo as a JPEG, with some background around the face."""
    return encode(framed(Image.open(min(shared_faces.glob("*.jpg"))).convert("RGB")), "JPEG", quality=92)
