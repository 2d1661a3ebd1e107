"""Blind independent reviews over the workspace socket: while an independent review is out, a
co-reviewer cannot join another reviewer's workspace and so receives none of its drafts,
annotations, presence or chat frames; the company receives them all. Once every review is in (or
when the request is not blind) co-reviewers join read-only."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from review_requests import workspace as ws
from review_requests.models import Assignment, ReviewRequest
from tests.factories import AssignmentFactory, CreditGrantFactory, ReviewRequestFactory
from tests.review_requests.workspace_support import (
    communicator,
    drain,
    join,
    next_event,
    receive_until,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def blind_pair(organization, expert, other_expert):
    CreditGrantFactory(organization=organization, amount_cents=1_000_000)
    rr = ReviewRequestFactory(organization=organization, in_review=True, reviewers=2, blind=True)
    first = AssignmentFactory(review_request=rr, expert__user=expert)
    second = AssignmentFactory(review_request=rr, expert__user=other_expert)
    return rr, first, second


async def refused(assignment_id, user) -> int | None:
    comm = communicator(assignment_id, cookie=await session_cookie(user))
    connected, code = await comm.connect()
    await comm.disconnect()
    assert not connected
    return code


@database_sync_to_async
def submit(assignment, user, verdict="approved"):
    ws.draft_update(assignment_id=assignment.pk, user=user, changes={"verdict": verdict})
    ws.assignment_submit(assignment=Assignment.objects.get(pk=assignment.pk), user=user)


async def test_co_reviewer_receives_nothing_while_blind(
    blind_pair, expert, other_expert, company_member
):
    _rr, first, second = blind_pair
    assert await refused(first.pk, other_expert) == 4403
    a, _ = await join(first.pk, expert)
    b, snapshot_b = await join(second.pk, other_expert)
    company, _ = await join(first.pk, company_member)
    try:
        assert snapshot_b["co_reviews"] == [] and snapshot_b["blind"] is True
        await a.send_json_to({"type": "draft.update", "summary": "only mine"})
        await a.send_json_to({"type": "chat.message", "body": "hello company"})
        await a.send_json_to(
            {
                "type": "annotation.create",
                "client_id": "c1",
                "start": 0,
                "end": 3,
                "comment": "x",
                "severity": "info",
            }
        )
        kinds = [(await next_event(company))["event"]["kind"] for _ in range(3)]
        assert kinds == ["draft.updated", "chat.message", "annotation.created"]
        # B's socket hears nothing of A: no event, no presence of A or of the company.
        frames = await drain(b)
        assert frames == [], frames
    finally:
        for comm in (a, b, company):
            await comm.disconnect()


async def test_co_reviewer_joins_read_only_once_all_have_submitted(
    blind_pair, expert, other_expert
):
    _rr, first, second = blind_pair
    await submit(first, expert)
    assert await refused(first.pk, other_expert) == 4403
    await submit(second, other_expert, verdict="rejected")
    watcher, snapshot = await join(first.pk, other_expert)
    try:
        assert snapshot["you"]["role"] == "reviewer"
        await watcher.send_json_to({"type": "chat.message", "body": "hi"})
        error = await receive_until(watcher, "error")
        assert error["code"] == "read_only"
    finally:
        await watcher.disconnect()


async def test_not_blind_co_reviewers_watch_live(blind_pair, expert, other_expert):
    rr, first, _second = blind_pair
    await database_sync_to_async(ReviewRequest.objects.filter(pk=rr.pk).update)(blind=False)
    a, _ = await join(first.pk, expert)
    watcher, snapshot = await join(first.pk, other_expert)
    try:
        assert snapshot["you"]["role"] == "reviewer"
        await a.send_json_to({"type": "draft.update", "summary": "open"})
        event = await next_event(watcher)
        assert event["event"]["kind"] == "draft.updated"
    finally:
        await a.disconnect()
        await watcher.disconnect()
