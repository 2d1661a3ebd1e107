"""Exceptions. Every error the API answers carries the envelope's `code`, `message` and `field`
(`{"error": {"code", "message", "field"}}`), the HTTP status and the response headers."""

from __future__ import annotations

import httpx

from inloop._retry import retry_after_seconds


class InloopError(Exception):
    """Base of every exception this package raises."""


class InloopConnectionError(InloopError):
    """The server could not be reached, or the connection broke, on every attempt."""


class InloopTimeout(InloopConnectionError):
    """The last attempt timed out."""


class InloopWaitTimeout(InloopError, TimeoutError):
    """`review_requests.wait` gave up before the request reached a final status."""

    def __init__(self, message: str, *, last_seen=None):
        super().__init__(message)
        self.last_seen = last_seen


class InloopChecksumError(InloopError):
    """A downloaded export's bytes do not have the SHA-256 the server named (the file is
    removed)."""


class InloopAPIError(InloopError):
    """The server answered with an error status."""

    status_code: int = 0

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str,
        field: str | None = None,
        headers: httpx.Headers | None = None,
        body: object = None,
    ):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.field = field
        self.headers = headers if headers is not None else httpx.Headers()
        self.body = body
        # Set by review_requests.batch when a later batch fails: the requests created before
        # it, and the position (in the caller's iterable) of the failing batch's first item.
        self.created: list = []
        self.batch_offset: int | None = None

    def __str__(self) -> str:
        where = f" (field {self.field})" if self.field else ""
        return f"{self.status_code} {self.code}: {self.message}{where}"


class InloopBadRequest(InloopAPIError):
    """400: e.g. the body was not JSON."""


class InloopAuthenticationError(InloopAPIError):
    """401: missing, wrong or revoked API key."""


class InloopPermissionDenied(InloopAPIError):
    """403: authenticated but not allowed."""


class InloopNotFound(InloopAPIError):
    """404: no such object (or it belongs to another organization)."""


class InloopConflict(InloopAPIError):
    """409: the object's state does not allow it (`already_billed`, `not_cancellable`, ...)."""


class InloopIdempotencyConflict(InloopConflict):
    """409 `idempotency_conflict`: this Idempotency-Key was used with another body."""


class InloopGone(InloopAPIError):
    """410: e.g. `offer_expired`."""


class InloopPayloadTooLarge(InloopAPIError):
    """413: the body is over 1 MiB (a batch of 100 large outputs can be; send smaller batches)."""


class InloopValidationError(InloopAPIError):
    """422: `field` names the offending field, e.g. `requests[1].specialization`."""


class InloopRateLimited(InloopAPIError):
    """429 after the retries allowed: `retry_after` is the server's Retry-After, in seconds."""

    @property
    def retry_after(self) -> float | None:
        return retry_after_seconds(self.headers.get("Retry-After"))


class InloopServerError(InloopAPIError):
    """5xx after the retries allowed."""


class InloopSignatureError(InloopError):
    """A webhook's signature is missing, malformed, wrong, or its timestamp is too old or in the
    future."""


_BY_STATUS: dict[int, type[InloopAPIError]] = {
    400: InloopBadRequest,
    401: InloopAuthenticationError,
    403: InloopPermissionDenied,
    404: InloopNotFound,
    409: InloopConflict,
    410: InloopGone,
    413: InloopPayloadTooLarge,
    422: InloopValidationError,
    429: InloopRateLimited,
}


def error_from_response(response: httpx.Response) -> InloopAPIError:
    """The exception for an error response, from its envelope (or its status when it has none,
    e.g. a proxy's HTML 502)."""
    code, message, field, body = _envelope(response)
    if response.status_code >= 500:
        cls: type[InloopAPIError] = InloopServerError
    elif code == "idempotency_conflict":
        cls = InloopIdempotencyConflict
    else:
        cls = _BY_STATUS.get(response.status_code, InloopAPIError)
    return cls(
        message,
        status_code=response.status_code,
        code=code,
        field=field,
        headers=response.headers,
        body=body,
    )


def _envelope(response: httpx.Response) -> tuple[str, str, str | None, object]:
    try:
        body = response.json()
    except ValueError:
        body = response.text[:500]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        return (
            error["code"],
            str(error.get("message") or error["code"]),
            error.get("field"),
            body,
        )
    reason = response.reason_phrase or "error"
    return (
        reason.lower().replace(" ", "_"),
        f"HTTP {response.status_code} {reason}",
        None,
        body,
    )
