"""Retries: connection errors, 429 (after Retry-After) and 5xx are tried again with exponential
backoff and jitter; other 4xx never; every create carries one Idempotency-Key for all its
attempts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import inloop
import pytest
from inloop._retry import RetryPolicy, retry_after_seconds
from inloop_fakes import envelope, item, review_request


def test_a_503_is_retried_with_growing_jittered_waits_then_succeeds(make_client):
    def answer(request, n):
        return (
            envelope(503, "unavailable") if n <= 3 else httpx.Response(201, json=review_request())
        )

    client, recorder, waits = make_client(answer)
    created = client.review_requests.create(**item())
    assert created.title == "Clause 0"
    assert len(recorder.requests) == 4
    # Full jitter: retry n waits somewhere in [0, 0.5 * 2**(n-1)].
    assert len(waits) == 3
    for number, wait in enumerate(waits, start=1):
        assert 0 <= wait <= 0.5 * 2 ** (number - 1)


def test_every_attempt_of_one_create_sends_the_same_idempotency_key(make_client):
    def answer(request, n):
        return envelope(502, "bad_gateway") if n % 2 else httpx.Response(201, json=review_request())

    client, recorder, _ = make_client(answer)
    client.review_requests.create(**item())
    client.review_requests.create(**item())
    keys = [r.headers["Idempotency-Key"] for r in recorder.requests]
    assert keys[0] == keys[1] and keys[2] == keys[3]
    assert keys[0] != keys[2]  # a new call is new work
    assert recorder.bodies()[0] == recorder.bodies()[1]  # and the same bytes each attempt


def test_a_key_passed_in_is_sent_as_is(make_client):
    client, recorder, _ = make_client(lambda r, n: httpx.Response(201, json=review_request()))
    client.review_requests.create(**item(), idempotency_key="order-42")
    assert recorder.requests[0].headers["Idempotency-Key"] == "order-42"


def test_reads_send_no_idempotency_key(make_client):
    client, recorder, _ = make_client(lambda r, n: httpx.Response(200, json=review_request()))
    client.review_requests.get("abc")
    assert "Idempotency-Key" not in recorder.requests[0].headers
    assert recorder.requests[0].headers["Authorization"] == "Bearer inl_test"


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "malformed_json", inloop.InloopBadRequest),
        (401, "unauthorized", inloop.InloopAuthenticationError),
        (403, "forbidden", inloop.InloopPermissionDenied),
        (404, "not_found", inloop.InloopNotFound),
        (409, "idempotency_conflict", inloop.InloopIdempotencyConflict),
        (409, "already_billed", inloop.InloopConflict),
        (410, "offer_expired", inloop.InloopGone),
        (413, "too_large", inloop.InloopPayloadTooLarge),
        (422, "validation_error", inloop.InloopValidationError),
    ],
)
def test_a_4xx_is_never_retried_and_raises_with_the_envelope(make_client, status, code, error):
    client, recorder, waits = make_client(
        lambda r, n: envelope(status, code, "Nope.", field="requests[1].title")
    )
    with pytest.raises(error) as raised:
        client.review_requests.create(**item())
    assert len(recorder.requests) == 1 and waits == []
    assert (raised.value.status_code, raised.value.code) == (status, code)
    assert raised.value.message == "Nope." and raised.value.field == "requests[1].title"
    assert isinstance(raised.value, inloop.InloopAPIError)


def test_a_429_waits_what_retry_after_says(make_client):
    def answer(request, n):
        if n == 1:
            return envelope(429, "rate_limited", headers={"Retry-After": "7"})
        return httpx.Response(200, json={"available_cents": 1, "held_cents": 0, "currency": "usd"})

    client, recorder, waits = make_client(answer)
    assert client.balance().available_cents == 1
    assert len(recorder.requests) == 2
    [wait] = waits
    assert 7 <= wait <= 8  # Retry-After plus under a second of jitter


def test_a_429_retry_after_beyond_the_cap_is_raised_at_once(make_client):
    client, recorder, waits = make_client(
        lambda r, n: envelope(429, "rate_limited", headers={"Retry-After": "3600"})
    )
    with pytest.raises(inloop.InloopRateLimited) as raised:
        client.balance()
    assert len(recorder.requests) == 1 and waits == []
    assert raised.value.retry_after == 3600


def test_retry_after_as_an_http_date():
    in_ten = datetime.now(UTC) + timedelta(seconds=10)
    assert 8 <= retry_after_seconds(format_datetime(in_ten, usegmt=True)) <= 10
    assert retry_after_seconds("not a date") is None
    assert retry_after_seconds("-3") == 0


def test_a_5xx_after_the_last_retry_raises_the_server_error(make_client):
    client, recorder, waits = make_client(
        lambda r, n: httpx.Response(502, text="<html>bad gateway</html>"), max_retries=2
    )
    with pytest.raises(inloop.InloopServerError) as raised:
        client.balance()
    assert len(recorder.requests) == 3 and len(waits) == 2
    # No envelope (a proxy's page): the status names it.
    assert raised.value.code == "bad_gateway" and raised.value.status_code == 502


def test_connection_errors_are_retried_then_raised(make_client):
    def answer(request, n):
        raise httpx.ConnectError("connection refused", request=request)

    client, recorder, waits = make_client(answer, max_retries=3)
    with pytest.raises(inloop.InloopConnectionError, match="4 attempt"):
        client.review_requests.create(**item())
    assert len(recorder.requests) == 4 and len(waits) == 3
    assert len({r.headers["Idempotency-Key"] for r in recorder.requests}) == 1


def test_a_read_timeout_is_retried_and_then_raised_as_a_timeout(make_client):
    def answer(request, n):
        if n == 1:
            raise httpx.ReadTimeout("slow", request=request)
        if n == 2:
            return httpx.Response(201, json=review_request())
        raise httpx.ReadTimeout("slow", request=request)

    client, _, _ = make_client(answer, max_retries=1)
    assert client.review_requests.create(**item()).id
    with pytest.raises(inloop.InloopTimeout):
        client.review_requests.create(**item())


def test_a_refused_protocol_is_not_retried(make_client):
    def answer(request, n):
        raise httpx.UnsupportedProtocol("ftp", request=request)

    client, recorder, waits = make_client(answer)
    with pytest.raises(inloop.InloopConnectionError):
        client.balance()
    assert len(recorder.requests) == 1 and waits == []


def test_default_timeouts_connect_fast_and_read_long_enough_for_a_batch(make_client):
    client, _, _ = make_client(lambda r, n: httpx.Response(200, json={}))
    timeout = client._http.timeout
    assert (timeout.connect, timeout.read, timeout.write) == (5.0, 30.0, 30.0)


def test_the_backoff_is_capped_and_random():
    policy = RetryPolicy(backoff_base=1, backoff_cap=8)
    rng = random.Random(1)
    draws = [policy.backoff(10, rng) for _ in range(200)]
    assert max(draws) <= 8 and min(draws) >= 0
    assert len({round(d, 3) for d in draws}) > 150  # jitter, not one fixed delay
