"""Middleware: the API's body limit and error envelope (marketplace.errors), and suspended
sessions."""

from __future__ import annotations

import json

from django.contrib.auth import logout
from django.core.exceptions import RequestDataTooBig
from django.shortcuts import redirect

from marketplace.errors import error_response

API_PREFIX = "/api/"


class ApiGuardMiddleware:
    """For /api/: refuse bodies over 1 MiB with 413 before reading them, and turn any
    non-JSON error (Django's 404, 405, CSRF 403, 500) into the contract's error envelope."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        from django.conf import settings

        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, "Content-Length is not a number.")
        if length > settings.API_MAX_BODY_BYTES:
            return error_response(413, "The request body is larger than 1 MiB.")
        try:
            response = self.get_response(request)
        except RequestDataTooBig:
            return error_response(413, "The request body is larger than 1 MiB.")
        return self._envelope(response)

    def _envelope(self, response):
        if response.status_code < 400:
            return response
        content_type = response.get("Content-Type", "")
        if content_type.startswith("application/json"):
            try:
                body = json.loads(response.content or b"{}")
            except ValueError:
                body = None
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                return response
        status = response.status_code
        messages = {
            404: "Not found.",
            405: "This method is not allowed here.",
            403: "Forbidden.",
            500: "Something went wrong on our side.",
        }
        new = error_response(status, messages.get(status, "The request could not be processed."))
        if status == 405 and response.has_header("Allow"):
            new["Allow"] = response["Allow"]
        return new

    def process_exception(self, request, exception):
        if request.path.startswith(API_PREFIX) and isinstance(exception, RequestDataTooBig):
            return error_response(413, "The request body is larger than 1 MiB.")
        return None


class ApiBodyLimit:
    """ASGI, in front of Django: an /api/ request body is read up to 1 MiB and no further. Django's
    own check (and ApiGuardMiddleware's) reads only Content-Length, which a chunked request
    (`Transfer-Encoding: chunked`) does not have, and Django's ASGI handler reads the whole body
    before any middleware runs: a 2 MB chunked body was parsed, an 8 MB one answered 500. Here
    the bytes are counted as they arrive; past the limit the answer is 413 and the application
    never sees the request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            return await self.app(scope, receive, send)
        from django.conf import settings

        limit = settings.API_MAX_BODY_BYTES
        declared = _declared_length(scope)
        if declared == -1:
            return await _send_error(send, 400, "Content-Length is not a number.")
        if declared is not None and declared > limit:
            return await _send_error(send, 413, "The request body is larger than 1 MiB.")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None  # http.disconnect: the client went away mid-body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await _send_error(send, 413, "The request body is larger than 1 MiB.")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return await self.app(scope, _replay(b"".join(chunks), receive), send)


def _declared_length(scope) -> int | None:
    """Content-Length as a number, None without one, -1 if it is not a number."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else -1
    return None


def _replay(body: bytes, receive):
    sent = False

    async def replay_receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: http.disconnect when the client leaves

    return replay_receive


async def _send_error(send, status: int, message: str) -> None:
    response = error_response(status, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", response["Content-Type"].encode("latin-1")),
                (b"content-length", str(len(response.content)).encode("latin-1")),
                # The unread rest of the body makes the connection unusable for another request.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": response.content})


class SuspendedUserMiddleware:
    """A suspended user's open session ends at their next request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.suspended_at is not None:
            logout(request)
            if request.path.startswith(API_PREFIX):
                return error_response(401, "This account is suspended.")
            return redirect("account_login")
        return self.get_response(request)
