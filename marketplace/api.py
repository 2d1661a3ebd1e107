"""The /api/v1 root: authentication, rate limits and the error envelope (the apps' routers are
mounted by the composition package, inloop_site/api.py)."""

from __future__ import annotations

import math
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer, SessionAuth

from marketplace.cache import counter_hit
from marketplace.errors import ErrorOut, error_response
from marketplace.services import api_key_authenticate


class ApiError(Exception):
    """Raised by endpoints for a contract error: status, snake_case code, message, field."""

    def __init__(
        self, status: int, code: str, message: str, *, field: str | None = None, headers=None
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


_STATUS_TEXT = {
    400: "Malformed request (e.g. the body is not valid JSON)",
    401: "Missing, wrong or revoked API key, or not logged in",
    403: "Authenticated but not allowed",
    404: "Not found (or belongs to another organization)",
    405: "Method not allowed",
    409: "Conflict with the current state (e.g. offer_taken, idempotency_conflict)",
    410: "Gone (e.g. offer_expired)",
    413: "Body over 1 MiB",
    422: "Validation failed; `field` names the offending field",
    429: "Rate limited; see Retry-After",
}


def errors(*statuses: int) -> dict[int, Any]:
    """Response map naming each error an endpoint can give (all share the envelope)."""
    return dict.fromkeys(statuses, ErrorOut)


def error_descriptions() -> dict[int, str]:
    return dict(_STATUS_TEXT)


RATE_WINDOW_TIMEOUT = 120  # seconds a one-minute counter lives


def _rate_counter(bucket: str, now: float) -> str:
    return f"ratelimit:{bucket}:{int(now // 60)}"


def _rate_limit_enforce(count: int, now: float) -> None:
    """Fixed one-minute window per key; raises 429 with Retry-After when exceeded."""
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    if count > limit:
        retry_after = max(1, math.ceil((int(now // 60) + 1) * 60 - now))
        raise ApiError(
            429,
            "rate_limited",
            f"Rate limit of {limit} requests a minute exceeded; retry in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


def rate_limit_check(bucket: str) -> None:
    now = time.time()
    _rate_limit_enforce(counter_hit(_rate_counter(bucket, now), timeout=RATE_WINDOW_TIMEOUT), now)


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer <api key>` for AI companies' servers."""

    def authenticate(self, request: HttpRequest, token: str):
        api_key = api_key_authenticate(raw_key=token)
        if api_key is None:
            return None
        rate_limit_check(f"key:{api_key.pk}")
        request.api_key = api_key
        request.organization = api_key.organization
        return api_key


class BrowserSessionAuth(SessionAuth):
    """A browser session, CSRF-checked on unsafe methods only when there is a session: ninja's
    SessionAuth checks CSRF before it looks for one, so a POST with a bad or missing key fell
    through to it and answered 403 csrf_failed instead of the contract's 401."""

    def __call__(self, request: HttpRequest):
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)


class CompanySessionAuth(BrowserSessionAuth):
    """A logged-in company member in a browser (CSRF checked on unsafe methods)."""

    def authenticate(self, request: HttpRequest, key: str | None):
        from marketplace.selectors import membership_for_user

        user = request.user
        if not user.is_authenticated or user.suspended_at is not None:
            return None
        membership = membership_for_user(user=user)
        if membership is None:
            return None
        request.organization = membership.organization
        request.api_key = None
        return user


class ExpertSessionAuth(BrowserSessionAuth):
    """A logged-in expert in a browser (CSRF checked on unsafe methods)."""

    def authenticate(self, request: HttpRequest, key: str | None):
        user = request.user
        if not user.is_authenticated or user.suspended_at is not None:
            return None
        if not user.is_expert:
            raise ApiError(403, "forbidden", "These endpoints are for experts.")
        rate_limit_check(f"user:{user.pk}")
        return user


company_auth = [ApiKeyAuth(), CompanySessionAuth()]
expert_auth = [ExpertSessionAuth()]


def _field_path(loc: list[Any]) -> str | None:
    # Strip only the leading location ("body", "payload"...): a field may itself be named
    # "body" (content.body) and must keep its name. "filters" is the name of a query schema
    # (Query[ListFilters]) only right after "query": a body field named so keeps it
    # (filters.agreement_min of POST /exports).
    parts = list(loc)
    previous = None
    while parts and (
        parts[0] in ("body", "payload", "query", "path", "header")
        or (parts[0] == "filters" and previous == "query")
    ):
        previous = parts.pop(0)
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or None


api = NinjaAPI(
    title="Inloop API",
    version="1",
    description=(
        "Expert human review of AI outputs. Companies authenticate with "
        "`Authorization: Bearer <api key>`; experts with their browser session. "
        'Every error body is `{"error": {"code", "message", "field"}}`.'
    ),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return error_response(
        exc.status, exc.message, code=exc.code, field=exc.field, headers=exc.headers
    )


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    first = exc.errors[0] if exc.errors else {}
    field = _field_path(list(first.get("loc", [])))
    # Refusals inside a JSON value or a chat message say where (marketplace.schema_types).
    inner = (first.get("ctx") or {}).get("json_path") or ""
    if inner:
        field = f"{field or ''}{inner}".lstrip(".")
    message = first.get("msg", "Invalid input.")
    if field:
        message = f"{field}: {message}"
    return error_response(422, message, code="validation_error", field=field)


@api.exception_handler(AuthenticationError)
def _authentication_error(request, exc):
    return error_response(401, "Missing, wrong or revoked credentials.", code="unauthorized")


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if exc.status_code == 400 and "parse" in str(exc).lower():
        return error_response(400, "The request body is not valid JSON.", code="malformed_json")
    if exc.status_code == 403 and "csrf" in str(exc).lower():
        return error_response(403, "CSRF check failed; send the csrftoken.", code="csrf_failed")
    return error_response(exc.status_code, str(exc), code="error")


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error_response(404, "Not found.", code="not_found")


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return error_response(403, str(exc) or "Not allowed.", code="forbidden")


@api.exception_handler(DjangoValidationError)
def _django_validation(request, exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        field, errs = next(iter(exc.error_dict.items()))
        message = "; ".join(m for e in errs for m in e.messages)
        return error_response(
            422, message, code="validation_error", field=None if field == "__all__" else field
        )
    return error_response(422, "; ".join(exc.messages), code="validation_error")


@api.exception_handler(Exception)
def _server_error(request, exc):
    import logging

    logging.getLogger("inloop.api").exception("Unhandled API error", exc_info=exc)
    if settings.DEBUG:
        raise exc
    return error_response(500, "Something went wrong on our side.", code="server_error")
