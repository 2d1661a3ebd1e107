"""The workspace socket with real sessions and an Origin header: joins, every frame type and role,
refusals, logout, release, resume, limits. Every communicator is disconnected."""

from __future__ import annotations

import asyncio
import json
from unittest.mock import ANY

import pytest
from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connections
from django.test import AsyncClient

from inloop_site.asgi import application
from marketplace.realtime import workspace_group
from review_requests.consumers import WorkspaceConsumer
from review_requests.models import Annotation, Assignment, WorkspaceEvent
from review_requests.services import assignment_transition
from tests.conftest import give_operator_mfa
from tests.factories import TEXT
from tests.review_requests.workspace_support import (
    communicator,
    drain,
    join,
    next_event,
    receive_until,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def refused_code(assignment_id, **kwargs) -> int | None:
    comm = communicator(assignment_id, **kwargs)
    connected, code = await comm.connect()
    await comm.disconnect()
    assert not connected
    return code


# Joining --------------------------------------------------------------------------------


async def test_expert_gets_a_snapshot_first(assignment, expert):
    comm, snapshot = await join(assignment.pk, expert)
    try:
        assert snapshot["seq"] == 0
        assert snapshot["you"]["role"] == "expert"
        assert snapshot["assignment"]["status"] == "accepted"
        assert snapshot["assignment"]["max_seconds"] == 3600
        assert snapshot["review_request"]["text"] == TEXT
        assert [r["key"] for r in snapshot["review_request"]["rubric"]] == ["accuracy", "clarity"]
        assert snapshot["annotations"] == [] and snapshot["messages"] == []
        assert [p["role"] for p in snapshot["participants"]] == ["expert"]
    finally:
        await comm.disconnect()


async def test_anonymous_is_refused_with_4401(assignment):
    assert await refused_code(assignment.pk) == 4401


@pytest.fixture(params=["other_company_member", "other_expert", "operator"])
def stranger(request):
    """Another tenant, another expert, and an operator without two-factor authentication."""
    return request.getfixturevalue(request.param)


async def test_strangers_are_refused_with_4403(assignment, stranger):
    assert await refused_code(assignment.pk, cookie=await session_cookie(stranger)) == 4403


async def test_unknown_assignment_is_refused_with_4403(assignment, expert):
    cookie = await session_cookie(expert)
    assert await refused_code("7c9e6679-7425-40de-944b-e07fc1f90ae7", cookie=cookie) == 4403


async def test_foreign_origin_is_refused(assignment, expert):
    cookie = await session_cookie(expert)
    comm = communicator(assignment.pk, cookie=cookie, origin=(b"origin", b"https://evil.test"))
    connected, _ = await comm.connect()
    await comm.disconnect()
    assert not connected
    comm = communicator(assignment.pk, cookie=cookie, origin=None)
    connected, _ = await comm.connect()
    await comm.disconnect()
    assert not connected


async def test_company_members_and_operators_join_read_only_with_chat(
    assignment, expert, plain_member, operator
):
    await database_sync_to_async(give_operator_mfa)(operator)
    expert_comm, _ = await join(assignment.pk, expert)
    member_comm, member_snapshot = await join(assignment.pk, plain_member)
    operator_comm, operator_snapshot = await join(assignment.pk, operator)
    try:
        assert member_snapshot["you"]["role"] == "company"
        assert operator_snapshot["you"]["role"] == "operator"
        for comm in (member_comm, operator_comm):
            for frame in (
                {"type": "annotation.create", "client_id": "x1", "start": 0, "end": 3},
                {"type": "draft.update", "verdict": "approved", "ref": "r1"},
                {"type": "heartbeat"},
                {"type": "submit"},
            ):
                await comm.send_json_to(frame)
                error = await receive_until(comm, "error")
                assert error["code"] == "forbidden"
                if "client_id" in frame:
                    assert error["client_id"] == "x1"
                if "ref" in frame:
                    assert error["ref"] == "r1"
        await member_comm.send_json_to({"type": "chat.message", "body": "Any questions?"})
        event = await next_event(expert_comm)
        assert event["seq"] == 1
        assert event["event"]["kind"] == "chat.message"
        assert event["event"]["body"] == "Any questions?"
        assert event["event"]["actor"]["role"] == "company"
        await operator_comm.send_json_to({"type": "chat.message", "body": "Operator here."})
        assert (await next_event(expert_comm))["event"]["actor"]["role"] == "operator"
        assert await database_sync_to_async(WorkspaceEvent.objects.count)() == 2
    finally:
        for comm in (expert_comm, member_comm, operator_comm):
            await comm.disconnect()


# Every frame of the expert, watched live by the company ---------------------------------


async def test_every_expert_frame_is_stored_and_seen_by_everyone(
    assignment, expert, company_member
):
    expert_comm, _ = await join(assignment.pk, expert)
    watcher, _ = await join(assignment.pk, company_member)
    try:
        await expert_comm.send_json_to({"type": "heartbeat"})
        time_frame = await receive_until(watcher, "time")
        assert time_frame["max_seconds"] == 3600 and time_frame["billed_seconds"] == 0
        assert time_frame["status"] == "in_progress"

        await expert_comm.send_json_to(
            {
                "type": "annotation.create",
                "client_id": "tmp-1",
                "start": 4,
                "end": 8,
                "comment": "Which scan?",
                "severity": "major",
            }
        )
        for comm in (expert_comm, watcher):
            created = await next_event(comm)
            assert created["seq"] == 1
            assert created["event"]["kind"] == "annotation.created"
            assert created["event"]["client_id"] == "tmp-1"
            assert created["event"]["annotation"]["quote"] == "scan"
        annotation_id = created["event"]["annotation"]["id"]

        await expert_comm.send_json_to(
            {"type": "annotation.update", "id": annotation_id, "severity": "critical"}
        )
        updated = await next_event(watcher)
        assert updated["event"]["annotation"]["severity"] == "critical"

        await expert_comm.send_json_to({"type": "annotation.delete", "id": annotation_id})
        deleted = await next_event(watcher)
        assert (deleted["event"]["kind"], deleted["event"]["id"]) == (
            "annotation.deleted",
            annotation_id,
        )

        await expert_comm.send_json_to(
            {
                "type": "draft.update",
                "verdict": "corrected",
                "corrected_output": "The scan shows no fracture.",
                "summary": "Wrong finding.",
                "scores": {"accuracy": 2, "clarity": 3},
            }
        )
        draft = await next_event(watcher)
        assert draft["event"]["kind"] == "draft.updated"
        assert draft["event"]["draft"]["verdict"] == "corrected"

        await expert_comm.send_json_to({"type": "chat.message", "body": "Done soon."})
        assert (await next_event(watcher))["event"]["body"] == "Done soon."

        await expert_comm.send_json_to({"type": "submit"})
        submitted = await next_event(watcher)
        assert submitted["event"]["kind"] == "submitted"
        assert submitted["event"]["review"]["verdict"] == "corrected"
        assert submitted["seq"] == 6
    finally:
        await expert_comm.disconnect()
        try:
            await watcher.disconnect()
        except Exception:
            import traceback

            traceback.print_exc()
    stored = await database_sync_to_async(Assignment.objects.get)(pk=assignment.pk)
    assert stored.status == "submitted" and stored.last_seq == 6


# Time -----------------------------------------------------------------------------------


async def test_the_time_between_two_visits_is_not_billed(assignment, expert):
    """Two visits of about a second, three seconds apart: only the visits count (issue 13: the
    gap between a heartbeat and the next visit was billed)."""
    loop = asyncio.get_running_loop()
    connected = 0.0
    for visit in range(2):
        if visit:
            await asyncio.sleep(3)  # away: nobody in the workspace
        started = loop.time()
        comm, _ = await join(assignment.pk, expert)
        try:
            await comm.send_json_to({"type": "heartbeat"})
            await receive_until(comm, "time")
            await asyncio.sleep(1)
            await comm.send_json_to({"type": "heartbeat"})
            await receive_until(comm, "time")
        finally:
            await comm.disconnect()
        connected += loop.time() - started
    await database_sync_to_async(assignment.refresh_from_db)()
    assert 2 <= assignment.billed_seconds <= connected < 4


# Errors ---------------------------------------------------------------------------------


async def test_bad_frames_get_errors_and_the_socket_stays_open(assignment, expert):
    comm, _ = await join(assignment.pk, expert)
    try:
        cases = [
            ({"type": "dance", "ref": "r1"}, "unknown_type", {"ref": "r1"}),
            ({"no": "type"}, "unknown_type", {}),
            (
                {"type": "annotation.create", "client_id": "c9", "start": 10, "end": 2},
                "invalid",
                {"client_id": "c9", "field": "end"},
            ),
            ({"type": "annotation.update", "id": "nope", "comment": "x"}, "not_found", {}),
            (
                {"type": "draft.update", "scores": {"speed": 1}},
                "invalid",
                {"field": "scores.speed"},
            ),
            ({"type": "chat.message", "body": ""}, "invalid", {"field": "body"}),
            (
                {"type": "submit", "ref": "s1"},
                "incomplete_draft",
                {"ref": "s1", "field": "verdict"},
            ),
        ]
        for frame, code, extra in cases:
            await comm.send_json_to(frame)
            error = await receive_until(comm, "error")
            assert error["code"] == code, frame
            for key, value in extra.items():
                assert error[key] == value
        await comm.send_to(text_data="{not json")
        assert (await receive_until(comm, "error"))["code"] == "bad_json"
        await comm.send_to(text_data="[1, 2]")
        assert (await receive_until(comm, "error"))["code"] == "bad_frame"
        await comm.send_to(
            text_data=json.dumps({"type": "chat.message", "body": "x" * (64 * 1024)})
        )
        assert (await receive_until(comm, "error"))["code"] == "frame_too_large"
        # Still open and working.
        await comm.send_json_to({"type": "chat.message", "body": "still here"})
        assert (await next_event(comm))["event"]["body"] == "still here"
    finally:
        await comm.disconnect()
    assert await database_sync_to_async(Annotation.objects.count)() == 0


async def test_floods_are_throttled_then_closed(assignment, expert, monkeypatch):
    # The bucket's clock stands still unless the test moves it: no refill while the server is
    # slow, so the counts below do not depend on the machine's load.
    now = [1000.0]
    monkeypatch.setattr(WorkspaceConsumer, "clock", staticmethod(lambda: now[0]))
    comm, _ = await join(assignment.pk, expert)
    closed = False
    try:
        for _ in range(50):
            await comm.send_json_to({"type": "dance"})
        codes = [json.loads(o["text"])["code"] for o in await drain(comm)]
        assert codes.count("unknown_type") == WorkspaceConsumer.burst  # the burst goes through
        assert codes.count("rate_limited") == 1  # one error per run of refused frames
        # Two more runs over the limit, each after a short refill: the third strike closes.
        for run in range(2):
            now[0] += 0.25  # five frames' worth at 20/s
            for _ in range(10):
                await comm.send_json_to({"type": "dance"})
            outputs = await drain(comm)
            if run == 0:
                codes = [json.loads(o["text"])["code"] for o in outputs]
                assert codes == ["unknown_type"] * 5 + ["rate_limited"]
        assert outputs[-1]["type"] == "websocket.close"
        assert outputs[-1]["code"] == 4008
        closed = True
    finally:
        if not closed:
            await comm.disconnect()


# Resume ---------------------------------------------------------------------------------


async def test_resume_after_a_gap_sends_exactly_the_missed_events(
    assignment, expert, company_member
):
    comm, _ = await join(assignment.pk, expert)
    for n in range(3):
        await comm.send_json_to({"type": "chat.message", "body": f"m{n}"})
        await next_event(comm)
    await comm.disconnect()

    member, _ = await join(assignment.pk, company_member)
    await member.send_json_to({"type": "chat.message", "body": "while you were away"})
    await next_event(member)
    await member.disconnect()

    comm, snapshot = await join(assignment.pk, expert, after_seq=3)
    try:
        assert snapshot["seq"] == 4
        assert [m["body"] for m in snapshot["messages"]] == [
            "m0",
            "m1",
            "m2",
            "while you were away",
        ]
        missed = await next_event(comm)
        assert (missed["seq"], missed["event"]["body"]) == (4, "while you were away")
        assert [json.loads(o["text"])["type"] for o in await drain(comm)] in ([], ["presence"])
    finally:
        await comm.disconnect()

    comm, _ = await join(assignment.pk, expert, after_seq=1)
    try:
        assert [(await next_event(comm))["seq"] for _ in range(3)] == [2, 3, 4]
    finally:
        await comm.disconnect()


# Closing --------------------------------------------------------------------------------


async def test_logout_closes_the_socket(assignment, expert):
    client = AsyncClient()
    await client.aforce_login(expert)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    comm = communicator(assignment.pk, cookie=cookie)
    connected, _ = await comm.connect()
    assert connected
    try:
        await receive_until(comm, "snapshot")
        response = await client.post("/accounts/logout/")
        assert response.status_code == 302
        while True:
            output = await comm.receive_output(timeout=3)
            if output["type"] == "websocket.close":
                break
        assert output["code"] == 4401
    finally:
        await comm.disconnect()
    # The old session no longer opens a workspace.
    assert await refused_code(assignment.pk, cookie=cookie) == 4401


async def test_release_closes_the_experts_socket_and_updates_watchers(
    assignment, expert, company_member
):
    expert_comm, _ = await join(assignment.pk, expert)
    watcher, _ = await join(assignment.pk, company_member)
    try:
        await database_sync_to_async(assignment_transition)(
            assignment=assignment, to=Assignment.Status.RELEASED, reason="given back"
        )
        # What review_requests.services.assignment_release broadcasts after commit.
        await get_channel_layer().group_send(
            workspace_group(assignment.pk),
            {"type": "force.close", "code": 4403, "reason": "released"},
        )
        while True:
            output = await expert_comm.receive_output(timeout=3)
            if output["type"] == "websocket.close":
                break
        assert output["code"] == 4403
        snapshot = await receive_until(watcher, "snapshot")
        assert snapshot["assignment"]["status"] == "released"
    finally:
        await expert_comm.disconnect()
        try:
            await watcher.disconnect()
        except Exception:
            import traceback

            traceback.print_exc()


@pytest.mark.postgres  # the connection pool is PostgreSQL's
async def test_sockets_give_their_database_connections_back_to_the_pool(
    assignment, expert, company_member
):
    """A connection kept by a worker thread after the call is lost to the pool: asgiref 3.13
    hides it from Channels' cleanup, and once the pool's `max_size` of them were gone every
    join waited for a connection (review_requests.consumers._db)."""
    pool = connections["default"].pool

    def lent() -> int:
        stats = pool.get_stats()
        return stats["pool_size"] - stats["pool_available"]

    before = lent()
    for user in (expert, company_member, expert):
        comm, _ = await join(assignment.pk, user)
        await comm.send_json_to({"type": "chat.message", "body": "hello"})
        await next_event(comm)
        await comm.disconnect()
    for _ in range(50):  # a connection the pool is opening meanwhile counts as lent
        if lent() == before:
            break
        await asyncio.sleep(0.05)
    # None kept: as many lent as before, or fewer (one the pool was still opening when `before`
    # was read may have come back meanwhile).
    assert lent() <= before


# Presence -------------------------------------------------------------------------------


async def test_presence_shows_who_is_here(assignment, expert, company_member):
    expert_comm, _ = await join(assignment.pk, expert)
    second_tab, _ = await join(assignment.pk, expert)
    watcher, _ = await join(assignment.pk, company_member)
    try:
        # Each tab answers the newcomer: presence grows until both are counted.
        by_role: dict = {}
        while by_role.get("expert", {}).get("connections") != 2:
            presence = await receive_until(watcher, "presence")
            by_role = {p["role"]: p for p in presence["participants"]}
        assert set(by_role) == {"expert", "company"}
        assert len(presence["participants"]) == 2  # two tabs, one person

        try:
            await watcher.disconnect()
        except Exception:
            import traceback

            traceback.print_exc()
        presence = await receive_until(expert_comm, "presence")
        while len(presence["participants"]) != 1:
            presence = await receive_until(expert_comm, "presence")
        assert presence["participants"][0]["role"] == "expert"
    finally:
        await expert_comm.disconnect()
        await second_tab.disconnect()
        try:
            await watcher.disconnect()
        except Exception:
            import traceback

            traceback.print_exc()


async def test_hearing_of_a_participant_again_sends_no_presence(assignment, company_member):
    """Channels_redis's pub/sub layer hands a group message to whoever is in the group when it
    arrives, so a socket can hear of the same peer twice (its join, then its answer): presence
    frames go out only when the list changes."""
    watcher, _ = await join(assignment.pk, company_member)
    try:
        await drain(watcher)
        peer = {"id": "peer", "role": "expert", "name": "Peer"}
        for kind in ("presence.join", "presence.here", "presence.join"):
            await get_channel_layer().group_send(
                workspace_group(assignment.pk),
                {"type": kind, "channel": "elsewhere.peer", "participant": peer},
            )
        frames = [json.loads(o["text"]) for o in await drain(watcher) if "text" in o]
        assert [[p["id"] for p in f["participants"]] for f in frames] == [["peer", ANY]]
    finally:
        await watcher.disconnect()


class ClosingConnection:
    """Daphne between a client's close frame and the end of its TCP connection: autobahn refuses
    to send (Disconnected) while the application has not yet been told the socket is gone."""

    def __init__(self, app):
        self.app = app
        self.closing = False
        self.refused: list[dict] = []
        self.refusing = asyncio.Event()

    async def __call__(self, scope, receive, send):
        async def send_unless_closing(message):
            if self.closing and message["type"] == "websocket.send":
                self.refused.append(json.loads(message["text"]))
                self.refusing.set()
                raise Disconnected("Attempt to send on a closed protocol")
            await send(message)

        await self.app(scope, receive, send_unless_closing)


async def test_a_broadcast_to_a_closing_socket_does_not_skip_its_cleanup(
    assignment, expert, company_member
):
    expert_comm, _ = await join(assignment.pk, expert)
    connection = ClosingConnection(application)
    watcher, _ = await join(assignment.pk, company_member, app=connection)
    try:
        for comm in (expert_comm, watcher):  # both know of each other: presence is quiet
            presence = await receive_until(comm, "presence")
            while len(presence["participants"]) != 2:
                presence = await receive_until(comm, "presence")

        connection.closing = True  # the watcher's close frame is in
        await expert_comm.send_json_to({"type": "chat.message", "body": "still there?"})
        await next_event(expert_comm)
        await asyncio.wait_for(connection.refusing.wait(), 5)
        assert [frame["type"] for frame in connection.refused] == ["event"]

        await watcher.disconnect()  # its consumer is alive: disconnect() leaves the workspace
        presence = await receive_until(expert_comm, "presence")
        assert [p["role"] for p in presence["participants"]] == ["expert"]
    finally:
        await expert_comm.disconnect()
        await watcher.disconnect()
