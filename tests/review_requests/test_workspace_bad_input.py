"""Bad characters in workspace frames and a bad `after_seq`: each answers an `error` frame naming
the field, stores nothing, and the socket stays open and in everyone's presence. Before, NUL or
a lone surrogate reached the database (PostgreSQL refuses both in jsonb: the consumer crashed
with close 1011 and never left the others' presence), and `after_seq=²` crashed the join."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from review_requests import workspace as workspace_services
from review_requests.models import Annotation, WorkspaceEvent
from tests.review_requests.workspace_support import (
    drain,
    join,
    next_event,
    receive_until,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _annotation(**fields) -> dict:
    return {"type": "annotation.create", "client_id": "c1", "start": 0, "end": 3, **fields}


# (frame as raw JSON text, the field the error names). json.dumps writes "\ud800" as an escape,
# which json.loads on the server turns back into a lone surrogate.
BAD_FRAMES = [
    pytest.param({"type": "chat.message", "body": "hi\u0000there"}, "body", id="chat-nul"),
    pytest.param({"type": "chat.message", "body": "hi\ud800"}, "body", id="chat-surrogate"),
    pytest.param({"type": "chat.message", "body": "bell\u0007"}, "body", id="chat-control"),
    pytest.param(_annotation(comment="a\u0000b"), "comment", id="comment-nul"),
    pytest.param(_annotation(comment="\udfff"), "comment", id="comment-surrogate"),
    pytest.param(_annotation(client_id="c\u0000"), "client_id", id="client-id-nul"),
    pytest.param(_annotation(client_id="c\n1"), "client_id", id="client-id-newline"),
    pytest.param({"type": "draft.update", "summary": "s\u0000"}, "summary", id="summary-nul"),
    pytest.param(
        {"type": "draft.update", "corrected_output": "\ud800"},
        "corrected_output",
        id="corrected-surrogate",
    ),
    pytest.param(_annotation(start=1e999), "start", id="start-1e999"),
    pytest.param({"type": "draft.update", "scores": {"a\u0000": 1}}, "scores", id="score-key-nul"),
]


@pytest.mark.parametrize(("frame", "field"), BAD_FRAMES)
async def test_a_bad_frame_gets_an_error_and_the_socket_stays(assignment, expert, frame, field):
    comm, _ = await join(assignment.pk, expert)
    try:
        await comm.send_to(text_data=json.dumps(frame).replace("Infinity", "1e999"))
        error = await receive_until(comm, "error")
        assert (error["code"], error.get("field")) == ("invalid", field), error
        await comm.send_json_to({"type": "chat.message", "body": "still here"})
        assert (await next_event(comm))["event"]["body"] == "still here"
    finally:
        await comm.disconnect()
    kinds = await database_sync_to_async(
        lambda: list(WorkspaceEvent.objects.values_list("kind", flat=True))
    )()
    assert kinds == ["chat.message"]  # only the good frame
    assert await database_sync_to_async(Annotation.objects.count)() == 0


async def test_text_from_frames_is_stored_in_nfc_with_lf_line_ends(assignment, expert):
    comm, _ = await join(assignment.pk, expert)
    try:
        await comm.send_json_to({"type": "chat.message", "body": "Zoe\u0308\r\nline\ttab"})
        assert (await next_event(comm))["event"]["body"] == "Zoë\nline\ttab"
    finally:
        await comm.disconnect()


async def test_a_frame_nested_too_deep_to_parse_is_bad_json(assignment, expert):
    comm, _ = await join(assignment.pk, expert)
    try:
        await comm.send_to(text_data="[" * 30_000 + "]" * 30_000)
        assert (await receive_until(comm, "error"))["code"] == "bad_json"
        await comm.send_json_to({"type": "chat.message", "body": "still here"})
        assert (await next_event(comm))["event"]["body"] == "still here"
    finally:
        await comm.disconnect()


async def test_a_bad_frame_keeps_the_sender_in_the_others_presence_until_it_leaves(
    assignment, expert, company_member
):
    watcher, _ = await join(assignment.pk, company_member)
    expert_comm, _ = await join(assignment.pk, expert)
    try:
        presence = await receive_until(watcher, "presence")
        assert {p["role"] for p in presence["participants"]} == {"expert", "company"}
        await expert_comm.send_json_to({"type": "chat.message", "body": "\u0000"})
        assert (await receive_until(expert_comm, "error"))["field"] == "body"
        await expert_comm.disconnect()
        presence = await receive_until(watcher, "presence")
        assert [p["role"] for p in presence["participants"]] == ["company"]
    finally:
        await watcher.disconnect()


async def test_an_unexpected_failure_answers_server_error_and_keeps_the_socket(
    assignment, expert, monkeypatch
):
    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(workspace_services, "annotation_delete", broken)
    comm, _ = await join(assignment.pk, expert)
    try:
        await comm.send_json_to({"type": "annotation.delete", "id": "x", "ref": "r9"})
        error = await receive_until(comm, "error")
        assert (error["code"], error["ref"]) == ("server_error", "r9")
        await comm.send_json_to({"type": "chat.message", "body": "still here"})
        assert (await next_event(comm))["event"]["body"] == "still here"
    finally:
        await comm.disconnect()


@pytest.mark.parametrize("after_seq", ["%C2%B2", "-1", "abc", "1e3", "9" * 5000, "%00", "1.5"])
async def test_a_bad_after_seq_sends_the_snapshot_then_an_error(assignment, expert, after_seq):
    comm, snapshot = await join(assignment.pk, expert, after_seq=after_seq)
    try:
        assert snapshot["seq"] == 0
        error = await receive_until(comm, "error")
        assert (error["code"], error["field"]) == ("invalid", "after_seq")
        await comm.send_json_to({"type": "chat.message", "body": "still here"})
        assert (await next_event(comm))["event"]["body"] == "still here"
    finally:
        await comm.disconnect()


async def test_a_good_after_seq_gets_no_error(assignment, expert):
    comm, _ = await join(assignment.pk, expert, after_seq="0")
    try:
        frames = [json.loads(o["text"]) for o in await drain(comm)]
        assert "error" not in [f["type"] for f in frames]
    finally:
        await comm.disconnect()
