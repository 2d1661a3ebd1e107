"""billed_seconds: the one function billable time comes from (table-driven)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from review_requests.timekeeping import Span, billed_seconds, warn_threshold

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def s(start: float, end: float) -> Span:
    return Span(T0 + timedelta(seconds=start), T0 + timedelta(seconds=end))


@pytest.mark.parametrize(
    ("intervals", "now", "max_seconds", "expected"),
    [
        ([], 100, 3600, 0),  # nothing worked
        ([s(0, 0)], 100, 3600, 0),  # one heartbeat proves no time yet
        ([s(0, 90)], 100, 3600, 90),  # heartbeat to heartbeat
        ([s(0, 90), s(300, 330)], 400, 3600, 120),  # a gap bills nothing
        ([s(0, 100), s(50, 150)], 200, 3600, 150),  # overlaps count once (two tabs)
        ([s(0, 100), s(0, 100)], 200, 3600, 100),  # identical intervals count once
        ([s(10, 20), s(0, 30)], 200, 3600, 30),  # contained interval
        ([s(0, 500)], 200, 3600, 200),  # never beyond now
        ([s(0, 5000)], 6000, 3600, 3600),  # capped at max_seconds
        ([s(0, 1800), s(2000, 4000)], 4000, 3600, 3600),  # cap over several intervals
        ([s(0, 10.9)], 100, 3600, 10),  # whole seconds, rounded down
        ([s(300, 330), s(0, 90)], 400, 3600, 120),  # order does not matter
    ],
)
def test_billed_seconds(intervals, now, max_seconds, expected):
    assert billed_seconds(intervals, T0 + timedelta(seconds=now), max_seconds) == expected


@pytest.mark.parametrize(("max_seconds", "expected"), [(3600, 2880), (900, 720), (1, 0)])
def test_warning_comes_at_eighty_percent(max_seconds, expected):
    assert warn_threshold(max_seconds) == expected
