"""The client against a server with a low rate limit: a 429 is waited out as its Retry-After
says, then the call goes through; with no retries left it raises InloopRateLimited."""

from __future__ import annotations

import time

import inloop
import pytest

LIMIT = 3


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    from tests.system.conftest import run_system

    with run_system(
        tmp_path_factory.mktemp("limited"), extra_env={"API_RATE_LIMIT_PER_MINUTE": str(LIMIT)}
    ) as instance:
        yield instance


def _late_in_a_window() -> None:
    """The limit is a fixed one-minute window: start the burst with about 10 s of it left, so the
    client's wait for the next window is seconds, not up to a minute."""
    second = time.time() % 60
    if second < 50:
        time.sleep(50 - second)


def test_a_429_waits_for_retry_after_then_succeeds(limited):
    _late_in_a_window()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    with inloop.Inloop(
        api_key=limited.seed["company"]["api_key"], base_url=limited.url, sleep=sleep
    ) as client:
        started = time.time()
        balances = [client.balance() for _ in range(LIMIT + 1)]
    assert len(balances) == LIMIT + 1
    # One wait for the window to roll over: Retry-After (the seconds left) plus < 1 s of jitter.
    assert len(waits) == 1
    left_in_window = 60 - started % 60
    assert left_in_window - 2 <= waits[0] <= left_in_window + 2


def test_without_retries_left_the_429_is_raised_with_retry_after(limited):
    with (
        inloop.Inloop(
            api_key=limited.seed["company"]["api_key"], base_url=limited.url, max_retries=0
        ) as client,
        pytest.raises(inloop.InloopRateLimited) as limited_error,
    ):
        # Twice the limit and more: whichever minute it falls in, one window overflows.
        for _ in range(2 * LIMIT + 2):
            client.balance()
    assert limited_error.value.status_code == 429
    assert limited_error.value.code == "rate_limited"
    assert 0 < limited_error.value.retry_after <= 60
