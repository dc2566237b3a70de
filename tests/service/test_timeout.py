"""A request that takes too long (here a stalled upload) is answered 503 in time, and the server goes on answering."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.parse

import pytest

from core.service.client import ServiceClient
from core.service.launch import serve_in_background
from tests.conftest import SHIPPED_STARTER

pytestmark = pytest.mark.slow


def test_a_stalled_upload_is_answered_503_after_the_timeout(tmp_path, face_jpeg):
    with serve_in_background([SHIPPED_STARTER], tmp_path / "service.log", "--timeout", "1.5") as server:
        address = urllib.parse.urlsplit(server.url)
        with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
            started = time.perf_counter()
            # A body of 1,000 bytes announced, 10 sent: the server waits for the rest until its timeout.
            connection.sendall(b"POST /v1/faces HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                               b"Content-Length: 1000\r\n\r\n--x\r\nConte")  # fmt: skip
            reply = http.client.HTTPResponse(connection)
            reply.begin()
            waited = time.perf_counter() - started
            assert reply.status == 503
            assert json.loads(reply.read())["detail"].startswith("the request took over 1.5 s")
        assert 1.4 < waited < 10, waited
        status, answer = ServiceClient(server.url).faces([("face.jpg", face_jpeg)])
        assert status == 200 and len(answer["images"][0]["faces"]) == 1
