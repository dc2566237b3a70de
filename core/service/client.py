"""Calling the service from Python with the standard library only (the tests and benchmarks/serve_load call it so).

    client = ServiceClient("http://127.0.0.1:8000", key=None)
    status, answer = client.faces([("a.jpg", Path("a.jpg").read_bytes())], level=0.8)
    status, answer = client.get("/v1/model")

Every answer of the service is JSON, refusals included; `ValueError` says
when one is not. docs/serving.md shows the same calls with `requests` and curl.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid

from core.service.keys import KEY_HEADER


def multipart(
    files: list[tuple[str, bytes]], field: str = "files", content_type: str = "application/octet-stream"
) -> tuple[bytes, str]:
    """A multipart/form-data body with each (name, bytes) as a file in `field`, and its Content-Type header."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, data in files:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\nContent-Type: {content_type}\r\n\r\n'
        parts += [head.encode(), data, b"\r\n"]
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class ServiceClient:
    def __init__(self, url: str, key: str | None = None, timeout: float = 120):
        self.url, self.key, self.timeout = url.rstrip("/"), key, timeout

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
        """(HTTP status, the JSON answer) of one request; refusals (4xx, 5xx) are answers too, not exceptions."""
        headers = {**({KEY_HEADER: self.key} if self.key else {}), **(headers or {})}
        request = urllib.request.Request(self.url + path, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        try:
            return status, json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{method} {path} answered {status} with something that is not JSON: {text[:200]!r}") from error

    def get(self, path: str) -> tuple[int, dict]:
        return self.request("GET", path)

    def faces(self, files: list[tuple[str, bytes]], **query) -> tuple[int, dict]:
        """POST /v1/faces with these (name, bytes) photos; `query` as its parameters (level, if_no_face)."""
        body, content_type = multipart(files)
        path = "/v1/faces" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        return self.request("POST", path, body, {"Content-Type": content_type})
