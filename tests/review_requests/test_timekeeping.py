"""work_time: the one rule billable time comes from (table-driven, plus a property: billed time
never exceeds the time an expert socket was open and beating)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from review_requests.timekeeping import (
    Stretch,
    TimeEvent,
    TimeEventKind,
    billed_seconds,
    warn_threshold,
    work_time,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = 3600
KINDS = {"beat": TimeEventKind.HEARTBEAT, "close": TimeEventKind.SOCKET_CLOSED}


def run(script: list[tuple[float, str, str]], max_seconds: int = HOUR) -> int:
    """Feed (second, "beat"|"close"|"submit", socket) through work_time; the last billed."""
    stretches: tuple[Stretch, ...] = ()
    billed = 0
    for second, kind, socket in script:
        event = TimeEvent(
            kind=KINDS.get(kind, TimeEventKind.SUBMITTED),
            socket=socket,
            at=T0 + timedelta(seconds=second),
        )
        outcome = work_time(stretches, event, max_seconds=max_seconds)
        stretches, billed = outcome.stretches, outcome.billed_seconds
    return billed


def visit(socket: str, start: float, end: float, every: float = 20) -> list:
    """A socket that beats from `start` every `every` seconds and closes at `end`."""
    beats = []
    second = start
    while second < end:
        beats.append((second, "beat", socket))
        second += every
    return [*beats, (end, "close", socket)]


@pytest.mark.parametrize(
    ("script", "max_seconds", "expected"),
    [
        pytest.param([], HOUR, 0, id="nothing"),
        pytest.param([(0, "beat", "a")], HOUR, 0, id="one heartbeat proves no time yet"),
        pytest.param(visit("a", 0, 45), HOUR, 45, id="one visit: first heartbeat to close"),
        pytest.param(
            visit("a", 0, 5) + visit("b", 60, 65) + visit("c", 120, 124) + visit("d", 170, 175),
            HOUR,
            19,
            id="four short visits bill what was connected, not the gaps (issue 13)",
        ),
        pytest.param(
            visit("a", 0, 30) + visit("b", 90, 115),
            HOUR,
            55,
            id="reconnect opens a new stretch; the minute between is not billed",
        ),
        pytest.param(
            sorted(visit("a", 0, 45) + visit("b", 10, 55), key=lambda e: e[0]),
            HOUR,
            55,
            id="two sockets at once count once",
        ),
        pytest.param(
            [
                (0, "beat", "a"),
                (5, "beat", "b"),
                (10, "close", "a"),
                (25, "beat", "b"),
                (45, "beat", "b"),
                (50, "close", "b"),
            ],
            HOUR,
            50,
            id="closing one of two leaves the other counting",
        ),
        pytest.param(
            [(0, "beat", "a"), (5, "beat", "b"), (10, "close", "a"), (25, "beat", "b")],
            HOUR,
            25,
            id="the other socket's stretch runs to its last heartbeat while open",
        ),
        pytest.param(
            [(0, "beat", "a"), (30, "beat", "a"), (151, "beat", "a"), (171, "beat", "a")],
            HOUR,
            50,
            id="over two minutes of silence: the stretch ended at the last heartbeat",
        ),
        pytest.param(
            [(0, "beat", "a"), (120, "beat", "a")],
            HOUR,
            120,
            id="exactly two minutes still counts",
        ),
        pytest.param(
            [(0, "beat", "a"), (30, "beat", "a"), (200, "close", "a")],
            HOUR,
            30,
            id="a close after two minutes of silence does not extend the stretch",
        ),
        pytest.param(
            [(0, "beat", "a"), (30, "beat", "a"), (40, "beat", "b"), (70, "close", "b")],
            HOUR,
            60,
            id="a socket whose close was lost (crash) ends at its last heartbeat",
        ),
        pytest.param([(0, "close", "a")], HOUR, 0, id="a close without heartbeats bills nothing"),
        pytest.param(
            [(0, "beat", "a"), (30, "beat", "a"), (40, "submit", "")],
            HOUR,
            30,
            id="submit stops the clock at the last heartbeat",
        ),
        pytest.param(
            [
                (0, "beat", "a"),
                (20, "beat", "a"),
                (30, "submit", ""),
                (50, "beat", "a"),
                (60, "beat", "a"),
            ],
            HOUR,
            30,
            id="after submit a stretch is never extended (a new one would start)",
        ),
        pytest.param(visit("a", 0, 1000), 900, 900, id="capped at max_seconds"),
        pytest.param(
            visit("a", 0, 500) + visit("b", 600, 1100), 900, 900, id="cap over several stretches"
        ),
        pytest.param(
            [(0, "beat", "a"), (10.9, "beat", "a")], HOUR, 10, id="whole seconds, rounded down"
        ),
        pytest.param(
            [(0, "beat", "a"), (60, "beat", "a"), (30, "beat", "a")],
            HOUR,
            60,
            id="a late heartbeat does not move the stretch back",
        ),
    ],
)
def test_work_time(script, max_seconds, expected):
    assert run(script, max_seconds) == expected


def test_billed_seconds_of_stored_stretches_counts_overlaps_once():
    def at(second):
        return T0 + timedelta(seconds=second)

    stretches = [
        Stretch("a", at(0), at(100)),
        Stretch("b", at(50), at(150), socket_closed_at=at(160), closed=True),
        Stretch("", at(300), at(330)),  # a row from before sockets were told apart
    ]
    assert billed_seconds(stretches, max_seconds=HOUR) == 190


def _connected_seconds(script) -> float:
    """The union of the time each socket was open: from its first event to its close."""
    opened: dict[str, float] = {}
    spans = []
    for second, kind, socket in script:
        opened.setdefault(socket, second)
        if kind == "close":
            spans.append((opened.pop(socket), second))
    last = {name: sec for sec, _, name in script}
    spans += [(start, last[name]) for name, start in opened.items()]
    total, end_so_far = 0.0, None
    for start, end in sorted(spans):
        if end_so_far is None or start > end_so_far:
            total += end - start
            end_so_far = end
        elif end > end_so_far:
            total += end - end_so_far
            end_so_far = end
    return total


@st.composite
def scripts(draw):
    """Visits of up to three sockets at once; a closed socket is never used again."""
    script, second, open_sockets, serial = [], 0.0, [], 0
    for _ in range(draw(st.integers(0, 40))):
        second += draw(st.floats(0, 200))
        action = draw(st.sampled_from(["open", "beat", "close"]))
        if action == "open" or not open_sockets:
            serial += 1
            open_sockets.append(f"s{serial}")
            script.append((second, "beat", open_sockets[-1]))
        elif action == "beat":
            script.append((second, "beat", draw(st.sampled_from(open_sockets))))
        else:
            socket = draw(st.sampled_from(open_sockets))
            open_sockets.remove(socket)
            script.append((second, "close", socket))
    return script


@given(scripts())
def test_billed_time_never_exceeds_the_time_a_socket_was_open_and_beating(script):
    assert run(script, max_seconds=10**9) <= _connected_seconds(script)


@pytest.mark.parametrize(("max_seconds", "expected"), [(3600, 2880), (900, 720), (1, 0)])
def test_warning_comes_at_eighty_percent(max_seconds, expected):
    assert warn_threshold(max_seconds) == expected
