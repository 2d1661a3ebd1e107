"""contract/WORKSPACE.md over real sockets to the running daphne, and the signed webhook the
worker sends once a review is submitted through one."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import pytest
import websockets

from tests.system.flows import (
    company_member,
    connect,
    events,
    experts_holding,
    is_event,
    recv_json,
    recv_until,
    take_assignment,
)

OUTPUT = "The tenant may terminate the lease at any time without notice."


@pytest.fixture(scope="module")
def workspace(system):
    """One assignment of the on-call software expert, and the company member who watches."""
    assignment_id, expert, created = take_assignment(
        system, "software.python", content={"type": "text", "body": OUTPUT}
    )
    member = company_member(system)
    watcher = system.login(member["email"], member["password"])
    yield {
        "path": f"/ws/assignments/{assignment_id}/",
        "expert": expert,
        "member": watcher,
        "request": created,
    }
    expert.close()
    watcher.close()


async def still_serving(socket) -> None:
    """The socket is open and its frames are still handled: a chat message comes back."""
    body = f"still here {time.monotonic()}"
    await socket.send(json.dumps({"type": "chat.message", "body": body}))
    await recv_until(socket, lambda f: f["type"] == "event" and f["event"].get("body") == body)


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def test_the_first_frame_is_the_snapshot_and_a_heartbeat_answers_time(system, workspace):
    async def scenario():
        async with connect(system, workspace["path"], workspace["expert"]) as socket:
            snapshot = await recv_json(socket)
            await socket.send(json.dumps({"type": "heartbeat"}))
            clock, _ = await recv_until(socket, lambda f: f["type"] == "time")
            return snapshot, clock

    snapshot, clock = run(scenario())
    assert snapshot["type"] == "snapshot"
    assert isinstance(snapshot["seq"], int)
    assert {"status", "billed_seconds", "max_seconds"} <= set(snapshot["assignment"])
    assert snapshot["assignment"]["max_seconds"] == 1800  # max_hours 0.5
    review = snapshot["review_request"]
    assert review["title"] == workspace["request"]["title"]
    assert review["content"] == {"type": "text", "body": OUTPUT}
    assert {"prompt", "guidelines", "rubric"} <= set(review)
    assert {"annotations", "draft", "messages", "participants"} <= set(snapshot)
    assert clock["max_seconds"] == 1800 and isinstance(clock["billed_seconds"], int)


def test_every_change_reaches_every_participant_with_the_same_consecutive_seqs(system, workspace):
    async def scenario():
        async with (
            connect(system, workspace["path"], workspace["expert"]) as expert,
            connect(system, workspace["path"], workspace["member"]) as member,
        ):
            start = (await recv_json(expert))["seq"]
            assert (await recv_json(member))["type"] == "snapshot"
            await expert.send(
                json.dumps(
                    {
                        "type": "annotation.create",
                        "client_id": "c-1",
                        "start": 4,
                        "end": 10,
                        "comment": "Which tenant?",
                        "severity": "minor",
                    }
                )
            )
            created, _ = await recv_until(expert, is_event("annotation.created"))
            annotation_id = created["event"]["annotation"]["id"]
            await expert.send(
                json.dumps({"type": "annotation.update", "id": annotation_id, "severity": "major"})
            )
            await recv_until(expert, is_event("annotation.updated"))
            await expert.send(json.dumps({"type": "annotation.delete", "id": annotation_id}))
            await recv_until(expert, is_event("annotation.deleted"))
            await expert.send(json.dumps({"type": "draft.update", "summary": "Too vague."}))
            await recv_until(expert, is_event("draft.updated"))
            await member.send(json.dumps({"type": "chat.message", "body": "Thanks, noted."}))
            await recv_until(expert, is_event("chat.message"))
            _, seen = await recv_until(member, is_event("chat.message"))
            return start, created, events(seen)

    start, created, member_events = run(scenario())
    assert created["event"]["client_id"] == "c-1"
    assert created["event"]["annotation"]["quote"] == OUTPUT[4:10]
    kinds = [frame["event"]["kind"] for frame in member_events]
    assert kinds == [
        "annotation.created",
        "annotation.updated",
        "annotation.deleted",
        "draft.updated",
        "chat.message",
    ]
    assert [frame["seq"] for frame in member_events] == list(range(start + 1, start + 6))
    assert member_events[1]["event"]["annotation"]["severity"] == "major"
    assert member_events[4]["event"]["body"] == "Thanks, noted."


def test_presence_lists_who_is_connected_with_their_role(system, workspace):
    async def scenario():
        async with connect(system, workspace["path"], workspace["expert"]) as expert:
            await recv_json(expert)
            async with connect(system, workspace["path"], workspace["member"]) as member:
                await recv_json(member)
                both, _ = await recv_until(
                    expert, lambda f: f["type"] == "presence" and len(f["participants"]) == 2
                )
            alone, _ = await recv_until(
                expert, lambda f: f["type"] == "presence" and len(f["participants"]) == 1
            )
            return both, alone

    both, alone = run(scenario())
    roles = sorted(p["role"] for p in both["participants"])
    assert len(set(roles)) == 2 and "expert" in roles
    assert [p["role"] for p in alone["participants"]] == ["expert"]


def test_the_company_member_may_chat_but_not_annotate(system, workspace):
    async def scenario():
        async with connect(system, workspace["path"], workspace["member"]) as member:
            await recv_json(member)
            await member.send(
                json.dumps(
                    {
                        "type": "annotation.create",
                        "client_id": "m-1",
                        "start": 0,
                        "end": 3,
                        "comment": "no",
                        "severity": "info",
                    }
                )
            )
            refused, _ = await recv_until(member, lambda f: f["type"] == "error")
            return refused

    refused = run(scenario())
    assert refused["code"] == "forbidden"
    assert refused["client_id"] == "m-1"


def test_submit_without_a_verdict_is_refused_and_the_socket_stays_open(system, workspace):
    async def scenario():
        async with connect(system, workspace["path"], workspace["expert"]) as socket:
            await recv_json(socket)
            await socket.send(json.dumps({"type": "submit", "ref": "s-1"}))
            refused, _ = await recv_until(socket, lambda f: f["type"] == "error")
            await still_serving(socket)
            return refused

    refused = run(scenario())
    assert refused["code"] == "incomplete_draft"
    assert refused["ref"] == "s-1"
    with system.api() as client:
        fetched = client.get(f"/api/v1/review-requests/{workspace['request']['id']}").json()
    assert fetched["status"] == "in_review"


def test_a_client_resuming_after_seq_n_gets_every_later_event_in_order(system, workspace):
    async def scenario():
        async with connect(system, workspace["path"], workspace["expert"]) as expert:
            n = (await recv_json(expert))["seq"]
            for index in range(5):
                await expert.send(json.dumps({"type": "chat.message", "body": f"note {index}"}))
            await recv_until(
                expert,
                lambda f: f["type"] == "event" and f["event"].get("body") == "note 4",
            )
        # Away while two more are sent by the company member.
        async with connect(system, workspace["path"], workspace["member"]) as member:
            await recv_json(member)
            for index in (5, 6):
                await member.send(json.dumps({"type": "chat.message", "body": f"note {index}"}))
            last, _ = await recv_until(
                member, lambda f: f["type"] == "event" and f["event"].get("body") == "note 6"
            )
        async with connect(
            system, workspace["path"] + f"?after_seq={n + 1}", workspace["expert"]
        ) as again:
            snapshot = await recv_json(again)
            replayed = [await recv_json(again) for _ in range(last["seq"] - n - 1)]
        return n, snapshot, replayed, last["seq"]

    n, snapshot, replayed, last_seq = run(scenario())
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == last_seq
    assert [frame["seq"] for frame in replayed] == list(range(n + 2, last_seq + 1))
    assert [frame["event"]["body"] for frame in replayed] == [f"note {i}" for i in range(1, 7)]


def test_a_frame_over_64_kib_is_refused_with_an_error_and_the_socket_stays_open(system, workspace):
    async def scenario():
        async with connect(system, workspace["path"], workspace["expert"]) as socket:
            seq = (await recv_json(socket))["seq"]
            big = json.dumps({"type": "chat.message", "body": "x" * (64 * 1024 + 1)})
            await socket.send(big)
            refused, _ = await recv_until(socket, lambda f: f["type"] == "error")
            await still_serving(socket)
        async with connect(system, workspace["path"], workspace["member"]) as member:
            after = (await recv_json(member))["seq"]
        return refused, seq, after

    refused, seq, after = run(scenario())
    assert refused["code"] == "frame_too_large"
    assert after == seq + 1, "only the check's chat message was stored"


def test_an_unknown_frame_type_answers_an_error(system, workspace):
    async def scenario():
        async with connect(system, workspace["path"], workspace["expert"]) as socket:
            await recv_json(socket)
            await socket.send(json.dumps({"type": "annotation.explode", "ref": "u-1"}))
            refused, _ = await recv_until(socket, lambda f: f["type"] == "error")
            await still_serving(socket)
            return refused

    refused = run(scenario())
    assert refused["code"] == "unknown_type"
    assert refused["ref"] == "u-1"


def test_anonymous_and_another_expert_are_refused_at_the_handshake(system, workspace):
    others = [e for e in experts_holding(system, "law.contracts") if not e["always_available"]]
    stranger = system.login(others[0]["email"], others[0]["password"])

    async def handshake(client):
        try:
            async with connect(system, workspace["path"], client):
                return None
        except websockets.InvalidStatus as refused:
            return refused.response.status_code

    assert run(handshake(None)) == 403
    assert run(handshake(stranger)) == 403
    stranger.close()


# A whole review, and the signed webhook ------------------------------------------------------


def _verify(signature: str, body: bytes, secret: str) -> int:
    """contract/API.md: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`; returns t."""
    parts = dict(item.split("=", 1) for item in signature.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(parts["v1"], expected.hexdigest()), "bad Inloop-Signature"
    return int(parts["t"])


def _wait_for_event(receiver, event_type: str, timeout: float = 30):
    """Every delivery up to the first of `event_type` (each status change is one event)."""
    deadline = time.monotonic() + timeout
    count = 1
    while True:
        received = receiver.wait(count, timeout=max(0.1, deadline - time.monotonic()))
        for index, (_headers, body) in enumerate(received):
            if json.loads(body)["type"] == event_type:
                return received[: index + 1]
        count = len(received) + 1


def test_a_submitted_review_completes_the_request_and_a_signed_webhook_is_delivered(
    system, webhook_receiver
):
    assignment_id, expert, created = take_assignment(
        system, "finance.tax", callback_url=webhook_receiver.url
    )

    async def scenario():
        async with connect(system, f"/ws/assignments/{assignment_id}/", expert) as socket:
            await recv_json(socket)
            await socket.send(json.dumps({"type": "heartbeat"}))
            await socket.send(
                json.dumps({"type": "draft.update", "verdict": "approved", "summary": "Fine."})
            )
            await recv_until(socket, is_event("draft.updated"))
            await socket.send(json.dumps({"type": "submit"}))
            submitted, _ = await recv_until(socket, is_event("submitted"))
            return submitted

    submitted = run(scenario())
    assert submitted["event"]["kind"] == "submitted"
    expert.close()
    deliveries = _wait_for_event(webhook_receiver, "review_request.completed")
    secret = system.seed["company"]["webhook_secret"]
    for headers, body in deliveries:
        signed_at = _verify(headers.get("Inloop-Signature", ""), body, secret)
        assert abs(time.time() - signed_at) < 120
    event = json.loads(deliveries[-1][1])
    assert event["id"].startswith("evt_")
    assert event["type"] == "review_request.completed"
    assert event["data"]["id"] == created["id"]
    assert event["data"]["status"] == "completed"
    assert event["data"]["result"]["verdict"] == "approved"
    with system.api() as client:
        fetched = client.get(f"/api/v1/review-requests/{created['id']}").json()
    assert fetched["status"] == "completed"
    assert fetched["result"]["summary"] == "Fine."
    assert fetched["assignments"][0]["status"] == "submitted"
