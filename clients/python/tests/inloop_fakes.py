"""What the unit tests share: the server's objects and a recording MockTransport handler."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx


def review_request(n: int = 0, **overrides) -> dict:
    """A review request object as the server serializes it."""
    body = {
        "id": f"00000000-0000-0000-0000-{n:012d}",
        "status": "queued",
        "title": f"Clause {n}",
        "specialization": "law.contracts",
        "created_at": "2026-12-03T10:00:00+00:00",
        "updated_at": "2026-12-03T10:00:00+00:00",
        "completed_at": None,
        "deadline": None,
        "reviewers": 1,
        "max_hours": 0.5,
        "max_hourly_rate_cents": None,
        "waiting_for_funds": False,
        "metadata": {},
        "assignments": [],
        "result": None,
        "cost_cents": 0,
        "currency": "usd",
    }
    body.update(overrides)
    return body


def item(n: int = 0) -> dict:
    return {
        "title": f"Clause {n}",
        "specialization": "law.contracts",
        "content": {"type": "text", "body": "The tenant may terminate at any time."},
        "max_hours": 0.5,
    }


def envelope(status: int, code: str, message: str = "no", field=None, headers=None):
    return httpx.Response(
        status,
        json={"error": {"code": code, "message": message, "field": field}},
        headers=headers,
    )


class Recorder:
    """A handler that records each request and answers from `answer(request, n)`."""

    def __init__(self, answer: Callable[[httpx.Request, int], httpx.Response]):
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request, len(self.requests))

    def bodies(self) -> list:
        return [json.loads(r.content) if r.content else None for r in self.requests]
