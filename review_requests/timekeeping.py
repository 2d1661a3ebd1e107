"""Billable time, measured on the server from the assigned expert's heartbeats.

An interval counts from its first heartbeat to its last one: only time that heartbeats proved.
A gap longer than HEARTBEAT_GAP closes an interval (the next heartbeat opens a new one), so a
laptop closed over lunch bills nothing. Two tabs of the same expert extend the same open interval,
so they count once. The total never exceeds the assignment's max_seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

# Over this silence an interval is closed (DESIGN.md, "Time").
HEARTBEAT_GAP = timedelta(seconds=120)
# The expert is warned once billed time passes this share of max_seconds.
WARN_FRACTION = 0.8


@dataclass(frozen=True)
class Span:
    """The part of a WorkInterval that billing needs (a WorkInterval row works as well)."""

    started_at: datetime
    last_heartbeat_at: datetime


def billed_seconds(intervals: Iterable, now: datetime, max_seconds: int) -> int:
    """Whole seconds covered by the intervals, never counting the future or overlaps twice,
    capped at max_seconds. Each interval is anything with `started_at` and `last_heartbeat_at`."""
    spans = sorted(
        (i.started_at, min(i.last_heartbeat_at, now))
        for i in intervals
        if min(i.last_heartbeat_at, now) > i.started_at
    )
    total = timedelta(0)
    current_start: datetime | None = None
    current_end: datetime | None = None
    for start, end in spans:
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        elif end > current_end:
            current_end = end
    if current_end is not None:
        total += current_end - current_start
    return max(0, min(int(total.total_seconds()), max_seconds))


def warn_threshold(max_seconds: int) -> int:
    """Billed seconds at which the 80 % warning goes out."""
    return int(max_seconds * WARN_FRACTION)
