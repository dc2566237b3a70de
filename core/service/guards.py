"""What refuses a request before any route sees it, as plain ASGI middleware: a missing or wrong API key, a body
too large, a request too slow. Each answers JSON `{"detail": ...}` that names the problem.

    app = KeyCheck(app, keys, prefix="/v1/")      # 401 before a byte of the body is read
    app = BodyLimit(app, max_bytes)               # 413, from Content-Length or while the body streams in
    app = RequestTimeout(app, seconds)            # 503 when no answer has started in time (slow uploads too)

The key check is here, not in a FastAPI dependency, because FastAPI reads
and parses a request's whole body before it runs a route's dependencies: a
caller without a key could otherwise make the server store hundreds of MB.
"""

from __future__ import annotations

import anyio
from fastapi import HTTPException
from starlette.responses import JSONResponse

from core.service.keys import KEY_HEADER, key_is_valid


async def _problem(scope, receive, send, status: int, detail: str, headers=None) -> None:
    await JSONResponse({"detail": detail}, status_code=status, headers=headers)(scope, receive, send)


def _header(scope, name: str) -> str | None:
    wanted = name.lower().encode()
    return next((value.decode("latin-1") for key, value in scope["headers"] if key == wanted), None)


class KeyCheck:
    def __init__(self, app, keys: tuple[bytes, ...], prefix: str):
        self.app, self.keys, self.prefix = app, keys, prefix

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.keys or not scope["path"].startswith(self.prefix):
            return await self.app(scope, receive, send)
        given = _header(scope, KEY_HEADER)
        if not key_is_valid(given, self.keys):
            problem = f"no API key: send one in the {KEY_HEADER} header" if not given else "the API key is not valid"
            return await _problem(scope, receive, send, 401, problem, headers={"WWW-Authenticate": KEY_HEADER})
        await self.app(scope, receive, send)


class BodyLimit:
    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    def _too_large(self, size: str) -> str:
        return f"the request body is {size}, over the {self.max_bytes / 1e6:g} MB a request may have"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = _header(scope, "content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await _problem(scope, receive, send, 413, self._too_large(f"{int(length) / 1e6:.1f} MB"))
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # A body sent without its length: stopped as soon as it passes the limit.
                raise HTTPException(413, self._too_large(f"over {received / 1e6:.1f} MB"))
            return message

        await self.app(scope, counted, send)


class RequestTimeout:
    def __init__(self, app, seconds: float):
        self.app, self.seconds = app, seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracked(message):
            nonlocal started
            started |= message["type"] == "http.response.start"
            await send(message)

        try:
            with anyio.fail_after(self.seconds):
                await self.app(scope, receive, tracked)
        except TimeoutError:
            if started:
                raise  # Half an answer has gone out; the connection is all that can be ended.
            detail = (
                f"the request took over {self.seconds:g} s (a slow upload, or a busy server); try again, or send fewer photos"
            )
            await _problem(scope, receive, send, 503, detail)
