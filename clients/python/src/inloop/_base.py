"""What the sync and async clients share: configuration, requests, responses, batching."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx

from inloop._version import __version__
from inloop.errors import InloopAuthenticationError, error_from_response
from inloop.models import ReviewRequestCreate, Rule

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
API_PREFIX = "/api/v1"
# Connect fails fast; reads get long enough for a batch of 100 on a busy server.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
BATCH_SIZE = 100
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = f"inloop-python/{__version__}"


def new_idempotency_key() -> str:
    return f"inloop-py-{uuid.uuid4().hex}"


def resolve_config(api_key: str | None, base_url: str | None) -> tuple[str, str]:
    """Arguments first, then INLOOP_API_KEY / INLOOP_BASE_URL."""
    key = api_key or os.environ.get("INLOOP_API_KEY")
    if not key:
        raise InloopAuthenticationError(
            "No API key: pass api_key=... or set INLOOP_API_KEY.",
            status_code=0,
            code="no_api_key",
        )
    url = (base_url or os.environ.get("INLOOP_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    if url.endswith(API_PREFIX):
        url = url[: -len(API_PREFIX)]
    return key, url + API_PREFIX


def client_headers(api_key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {api_key}",
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
    }


def check(response: httpx.Response) -> Any:
    """The JSON body of a 2xx response; the matching exception otherwise."""
    if response.is_success:
        return response.json()
    raise error_from_response(response)


def request_body(item: ReviewRequestCreate | Mapping[str, Any]) -> dict[str, Any]:
    """One review request's JSON body. Fields left out are left out (the server's defaults), and
    an explicit None stays (a json content's body may be null)."""
    model = item if isinstance(item, ReviewRequestCreate) else ReviewRequestCreate(**item)
    return model.model_dump(mode="json", exclude_unset=True)


def chunks(items: Iterable[Any], size: int = BATCH_SIZE) -> Iterator[list[Any]]:
    """Any iterable (a generator too) in lists of at most `size`, read lazily."""
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def list_params(status: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if status:
        params["status"] = status
    if cursor:
        params["cursor"] = cursor
    return params


def batch_key(prefix: str, number: int) -> str:
    return f"{prefix}-{number}"


def total_of(items: Iterable[Any]) -> int | None:
    try:
        return len(items)  # type: ignore[arg-type]
    except TypeError:
        return None


def rules_body(rules: Iterable[Rule | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """An oversight policy's rules as JSON, each checked against the Rule model first."""
    return [
        (rule if isinstance(rule, Rule) else Rule(**rule)).model_dump(mode="json") for rule in rules
    ]


def period(first: date | None, last: date | None) -> dict[str, str]:
    """An oversight period's `from`/`to` (days, UTC), only those given."""
    days = {"from": first, "to": last}
    return {key: day.isoformat() for key, day in days.items() if day is not None}


def policy_path(name: str) -> str:
    return "/oversight-policies/" + quote(name, safe="")


def agreement_params(
    first: date | None, last: date | None, specialization: str | None, policy: str | None
) -> dict[str, str]:
    """`GET /agreement`'s query: the period's days and the filters, only those given."""
    params = period(first, last)
    params.update(
        {k: v for k, v in {"specialization": specialization, "policy": policy}.items() if v}
    )
    return params
