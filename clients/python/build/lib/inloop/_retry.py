"""When to try a call again, and how long to wait first."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

# Failures of the connection itself: the request may or may not have reached the server, so a
# retry is safe only because every call that creates something carries an Idempotency-Key.
RETRYABLE_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds, or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """`max_retries` more attempts after the first, on connection errors, 429 and 5xx only.

    The wait before retry n (1-based) is drawn uniformly from [0, min(cap, base * 2**(n-1))]
    ("full jitter"), so many clients failing together do not come back together. A 429 waits
    what its Retry-After says (plus up to a second of jitter), unless that is over
    `max_retry_after`: then the error is raised at once rather than hanging a pipeline."""

    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_retry_after: float = 120.0

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (retry_number - 1))
        return (rng or random).uniform(0, ceiling)

    def delay_for_response(
        self, response: httpx.Response, retry_number: int, rng: random.Random | None = None
    ) -> float | None:
        """Seconds to wait before retrying after `response`, or None if it must not be retried."""
        if retry_number > self.max_retries:
            return None
        status = response.status_code
        if status == 429:
            after = retry_after_seconds(response.headers.get("Retry-After"))
            if after is None:
                return self.backoff(retry_number, rng)
            if after > self.max_retry_after:
                return None
            return after + (rng or random).uniform(0, 1)
        if status >= 500:
            return self.backoff(retry_number, rng)
        return None

    def delay_for_exception(
        self, exc: Exception, retry_number: int, rng: random.Random | None = None
    ) -> float | None:
        if retry_number > self.max_retries or not isinstance(exc, RETRYABLE_EXCEPTIONS):
            return None
        return self.backoff(retry_number, rng)
