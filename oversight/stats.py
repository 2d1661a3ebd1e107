"""The arithmetic of oversight figures, pure (no database): the Wilson score interval of a share,
and the calendar of weeks a period covers.

Why Wilson: an audit sample is small (a few dozen audits a week is common) and the share it
measures is often near zero ("2 of 60 auto-approved items were wrong"). The normal-approximation
interval p ± z·sqrt(p(1-p)/n) collapses to [0, 0] at 0 of n and leaves [0, 1]; Wilson's stays
inside [0, 1], is never empty, and is what Newcombe (1998) recommends for a single proportion."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

T = TypeVar("T")
Z_95 = 1.96  # the normal quantile of a two-sided 95% interval


@dataclass(frozen=True)
class Share:
    """`successes` of `n`, with the share and its Wilson interval (None when n is 0: nothing
    measured, which a page shows as "no audits yet", never as 0%)."""

    successes: int
    n: int
    rate: float | None
    low: float | None
    high: float | None

    def text(self) -> str:
        """ "3.3% (0.9–11.5%, 2 of 60)", or "—" when nothing was measured."""
        if self.rate is None:
            return "—"
        return (
            f"{self.rate * 100:.1f}% ({self.low * 100:.1f}–{self.high * 100:.1f}%, "
            f"{self.successes} of {self.n})"
        )

    def as_dict(self) -> dict:
        return {
            "successes": self.successes,
            "n": self.n,
            "rate": self.rate,
            "low": self.low,
            "high": self.high,
        }


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of `successes` out of `n` trials, as (low, high) in [0, 1].

    With p = successes/n: centre (p + z²/2n) / (1 + z²/n), half-width
    z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n). With n = 0 nothing is known: (0, 1)."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # At 0 or n the bound is exactly 0 or 1; float rounding would leave -1e-17 or 1 - 1e-16.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def share(successes: int, n: int, z: float = Z_95) -> Share:
    if n == 0:
        return Share(successes=0, n=0, rate=None, low=None, high=None)
    low, high = wilson_interval(successes, n, z)
    return Share(successes=successes, n=n, rate=successes / n, low=low, high=high)


def week_start(day: date) -> date:
    """The Monday of `day`'s ISO week (as the database's week truncation gives it)."""
    return day - timedelta(days=day.weekday())


def weeks_between(first: date, last: date) -> list[date]:
    """The Monday of every week that has a day in [first, last], oldest first."""
    if last < first:
        return []
    monday, end = week_start(first), week_start(last)
    weeks = []
    while monday <= end:
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks


def fill_weeks(
    rows: Iterable[tuple[date, T]], *, first: date, last: date, empty: T
) -> list[tuple[date, T]]:
    """One (week start, value) per week of [first, last]: the rows' values where a week has one,
    `empty` where it has none (a week with no items still shows, as a zero)."""
    by_week = dict(rows)
    return [(monday, by_week.get(monday, empty)) for monday in weeks_between(first, last)]
