"""The API's error envelope (contract/API.md, "Errors"), built by error_response and nowhere
else: the API's exception handlers, the body-size limits (ASGI and middleware), the envelope
given to Django's own 404/405/403/500 under /api/, and suspended sessions all answer through it.
Every body is `{"error": {"code": "<snake_case>", "message": "<human text>", "field": <json
path or null>}}`, checked against ErrorOut, the schema the OpenAPI document names."""

from __future__ import annotations

from django.http import JsonResponse
from pydantic import BaseModel

# The code an error gets when its caller names none.
DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "server_error",
}
# As ninja renders JSON: the envelope's bytes and headers are the same from every path.
CONTENT_TYPE = "application/json; charset=utf-8"


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    envelope = ErrorOut(
        error=ErrorDetail(
            code=code or DEFAULT_CODES.get(status, "error"), message=message, field=field
        )
    )
    response = JsonResponse(envelope.model_dump(), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response
