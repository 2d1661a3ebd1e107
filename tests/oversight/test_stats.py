"""oversight.stats: the Wilson interval against published values, and the week calendar."""

from __future__ import annotations

from datetime import date

import pytest

from oversight.stats import fill_weeks, share, week_start, weeks_between, wilson_interval

# (successes, n, low, high): Newcombe, "Two-sided confidence intervals for the single
# proportion", Statistics in Medicine 17 (1998), Table II, method 3 (Wilson score, no continuity
# correction), and the classic small cases (0, 5 and 10 of 10; 1 of 100 as statsmodels'
# proportion_confint(1, 100, method="wilson") gives it: 0.001767, 0.054486).
PUBLISHED = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
    (0, 10, 0.0, 0.2775),
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (1, 100, 0.0018, 0.0545),
]


@pytest.mark.parametrize(("successes", "n", "low", "high"), PUBLISHED)
def test_wilson_interval_matches_published_values(successes, n, low, high):
    got_low, got_high = wilson_interval(successes, n)
    assert round(got_low, 4) == low
    assert round(got_high, 4) == high


def test_wilson_interval_is_exactly_bounded_at_none_and_all():
    assert wilson_interval(0, 7)[0] == 0.0
    assert wilson_interval(7, 7)[1] == 1.0


def test_wilson_interval_of_nothing_measured_is_everything():
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_a_wider_z_gives_a_wider_interval():
    # 99%: z = 2.576; 5 of 10 -> 0.1842 .. 0.8158 (same formula, hand-checked).
    low, high = wilson_interval(5, 10, z=2.576)
    assert (round(low, 4), round(high, 4)) == (0.1842, 0.8158)


@pytest.mark.parametrize(("successes", "n"), [(-1, 5), (6, 5), (0, -1)])
def test_wilson_interval_refuses_impossible_counts(successes, n):
    with pytest.raises(ValueError):
        wilson_interval(successes, n)


def test_share_of_nothing_has_no_rate():
    empty = share(0, 0)
    assert (empty.rate, empty.low, empty.high, empty.n) == (None, None, None, 0)


def test_share_carries_rate_and_interval():
    measured = share(3, 40)
    assert measured.rate == 0.075
    assert (round(measured.low, 4), round(measured.high, 4)) == (0.0258, 0.1986)
    assert measured.as_dict()["n"] == 40


def test_week_start_is_the_monday():
    assert week_start(date(2026, 12, 7)) == date(2026, 12, 7)  # a Monday
    assert week_start(date(2026, 12, 13)) == date(2026, 12, 7)  # its Sunday
    assert week_start(date(2027, 1, 1)) == date(2026, 12, 28)  # across the year


def test_weeks_between_covers_every_week_touched():
    assert weeks_between(date(2026, 11, 25), date(2026, 12, 7)) == [
        date(2026, 11, 23),
        date(2026, 11, 30),
        date(2026, 12, 7),
    ]
    assert weeks_between(date(2026, 12, 8), date(2026, 12, 7)) == []


def test_fill_weeks_puts_zeros_where_nothing_happened():
    rows = [(date(2026, 11, 30), 4)]
    filled = fill_weeks(rows, first=date(2026, 11, 23), last=date(2026, 12, 9), empty=0)
    assert filled == [(date(2026, 11, 23), 0), (date(2026, 11, 30), 4), (date(2026, 12, 7), 0)]


def test_share_in_words():
    assert share(0, 0).text() == "—"
    assert share(2, 60).text() == "3.3% (0.9–11.4%, 2 of 60)"
