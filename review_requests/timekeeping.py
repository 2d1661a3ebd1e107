"""Billable time, measured on the server from the assigned expert's workspace sockets
(DESIGN.md, "Time"). `work_time` is the rule; the workspace stores its stretches as WorkInterval
rows (several daphne processes hold one expert's sockets, so the state is in the database).

A stretch is one socket's run of heartbeats. It counts from its first heartbeat to its last one,
or to the socket's close when the socket closed before HEARTBEAT_GAP of silence; a silence over
HEARTBEAT_GAP ends it at its last heartbeat (the next heartbeat starts another). A reconnect is a
new socket, so a new stretch: the time between two visits is in no stretch and never billed.
Several sockets open at once count once (the union), and closing one of them leaves the others
counting. The total is capped at max_seconds. So billed time never exceeds the time an expert
socket was open and beating.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

# Over this silence a stretch ends at its last heartbeat (DESIGN.md, "Time").
HEARTBEAT_GAP = timedelta(seconds=120)
# The expert is warned once billed time passes this share of max_seconds.
WARN_FRACTION = 0.8


class TimeEventKind(StrEnum):
    HEARTBEAT = "heartbeat"
    SOCKET_CLOSED = "socket_closed"
    SUBMITTED = "submitted"  # the clock stops: every stretch ends at its last heartbeat


@dataclass(frozen=True)
class TimeEvent:
    kind: TimeEventKind
    socket: str  # the socket's channel name (unique across processes); "" for SUBMITTED
    at: datetime


@dataclass(frozen=True)
class Stretch:
    """The fields of a WorkInterval row that the rule needs; `pk` ties it back to its row."""

    socket: str
    started_at: datetime
    last_heartbeat_at: datetime
    socket_closed_at: datetime | None = None
    closed: bool = False  # takes no more heartbeats
    pk: int | None = None


@dataclass(frozen=True)
class WorkTime:
    stretches: tuple[Stretch, ...]
    billed_seconds: int


def work_time(stretches: Iterable[Stretch], event: TimeEvent, *, max_seconds: int) -> WorkTime:
    """The stretches after `event`, and the billed seconds they make (capped at max_seconds)."""
    after = list(stretches)
    current = next(
        (i for i in reversed(range(len(after))) if _takes_beats(after[i], event.socket)), None
    )
    if event.kind is TimeEventKind.HEARTBEAT:
        if current is not None and event.at - after[current].last_heartbeat_at > HEARTBEAT_GAP:
            after[current] = replace(after[current], closed=True)
            current = None
        if current is None:
            after.append(Stretch(event.socket, event.at, event.at))
        elif event.at > after[current].last_heartbeat_at:
            after[current] = replace(after[current], last_heartbeat_at=event.at)
    elif event.kind is TimeEventKind.SOCKET_CLOSED:
        if current is not None:
            after[current] = replace(after[current], socket_closed_at=event.at, closed=True)
    elif event.kind is TimeEventKind.SUBMITTED:
        after = [s if s.closed else replace(s, closed=True) for s in after]
    return WorkTime(tuple(after), billed_seconds(after, max_seconds=max_seconds))


def _takes_beats(stretch: Stretch, socket: str) -> bool:
    return stretch.socket == socket and not stretch.closed


def stretch_end(stretch: Stretch) -> datetime:
    """The close counts only when it came before the silence limit; otherwise the silence had
    already ended the stretch at its last heartbeat."""
    closed_at = stretch.socket_closed_at
    if closed_at is not None and timedelta(0) <= closed_at - stretch.last_heartbeat_at <= (
        HEARTBEAT_GAP
    ):
        return closed_at
    return stretch.last_heartbeat_at


def billed_seconds(stretches: Iterable[Stretch], *, max_seconds: int) -> int:
    """Whole seconds covered by the stretches, overlaps counted once, capped at max_seconds."""
    spans = sorted((s.started_at, stretch_end(s)) for s in stretches)
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
