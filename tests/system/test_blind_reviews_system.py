"""Blind independent reviews over the real processes (daphne, worker, scheduler): two experts
review one request in their own workspaces while the company watches the first. The company's
socket receives the first expert's draft and chat; the second expert's socket receives none of
it (and its handshake to the first workspace is refused) until both have submitted, after which
it may watch read-only."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.system.flows import (
    accept,
    company_member,
    connect,
    create_request,
    is_event,
    on_call_expert,
    recv_json,
    recv_until,
    shell,
    wait_offer,
)

SECRET = "blind-marker-7f3a"


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 90))


@pytest.fixture(scope="module")
def two_reviewers(system):
    first = on_call_expert(system, "software.python")
    second = next(
        e
        for e in system.seed["experts"]
        if not e["always_available"]
        and any(s.startswith("software.") for s in e["specializations"])
    )
    # Put the second expert on call too, so matching offers them the request at any hour.
    shell(
        system,
        "from experts.models import ExpertProfile; from experts.match_index import "
        "match_rows_refresh; p = ExpertProfile.objects.get(user__email="
        f"{second['email']!r}); p.always_available = True; p.save(); "
        "match_rows_refresh(expert_ids=[p.pk]); print('ok')",
    )
    created = create_request(system, specialization="software", reviewers=2)
    assert created["blind"] is True
    clients, assignments = [], []
    for expert in (first, second):
        client = system.login(expert["email"], expert["password"])
        offer = wait_offer(system, client, created["id"])
        response = accept(system, client, offer["id"])
        assert response.status_code == 200, response.text
        clients.append(client)
        assignments.append(response.json()["assignment_id"])
    member = company_member(system)
    watcher = system.login(member["email"], member["password"])
    yield {"experts": clients, "assignments": assignments, "company": watcher}
    for client in (*clients, watcher):
        client.close()


async def quiet_frames(socket, seconds: float) -> list[dict]:
    """Every frame the socket receives within `seconds`."""
    frames = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            frames.append(json.loads(await asyncio.wait_for(socket.recv(), left)))
        except TimeoutError:
            break
    return frames


def test_a_reviewer_never_receives_another_reviewers_frames_while_blind(system, two_reviewers):
    (expert_a, expert_b), (a_id, b_id) = two_reviewers["experts"], two_reviewers["assignments"]
    company = two_reviewers["company"]
    path_a, path_b = f"/ws/assignments/{a_id}/", f"/ws/assignments/{b_id}/"

    async def handshake(client, path):
        try:
            async with connect(system, path, client):
                return None
        except websockets.InvalidStatus as refused:
            return refused.response.status_code

    async def scenario():
        assert await handshake(expert_b, path_a) == 403
        async with (
            connect(system, path_a, expert_a) as a,
            connect(system, path_b, expert_b) as b,
            connect(system, path_a, company) as watcher,
        ):
            for socket in (a, b, watcher):
                assert (await recv_json(socket))["type"] == "snapshot"
            await a.send(json.dumps({"type": "draft.update", "summary": SECRET}))
            await a.send(json.dumps({"type": "chat.message", "body": SECRET}))
            await recv_until(watcher, is_event("draft.updated"))
            await recv_until(watcher, is_event("chat.message"))
            # What the company received by now was broadcast to the whole group: B is not in it.
            heard = await quiet_frames(b, 2.0)
            assert not [f for f in heard if f["type"] in ("event", "presence")], heard
            assert SECRET not in json.dumps(heard)
            # Both submit; then B may watch A's workspace, read-only.
            for socket in (a, b):
                await socket.send(json.dumps({"type": "draft.update", "verdict": "approved"}))
                await recv_until(socket, is_event("draft.updated"))
                await socket.send(json.dumps({"type": "submit"}))
                await recv_until(socket, is_event("submitted"))
        async with connect(system, path_a, expert_b) as late:
            snapshot = await recv_json(late)
            assert snapshot["you"]["role"] == "reviewer"
            assert snapshot["draft"]["summary"] == SECRET

    run(scenario())
    with system.api() as client:
        state = client.get(f"/api/v1/review-requests/{two_reviewers_request_id(system, a_id)}")
    assert state.status_code == 200, state.text
    assert state.json()["status"] == "completed"
    assert state.json()["result"]["agreement"] == 1.0


def two_reviewers_request_id(system, assignment_id: str) -> str:
    return shell(
        system,
        "from review_requests.models import Assignment; "
        f"print(Assignment.objects.get(pk={assignment_id!r}).review_request_id)",
    )


def test_agreement_over_requests_counts_what_the_reviewers_submitted(system, two_reviewers):
    """Two experts review one more request in their workspaces and disagree: the company's
    GET /api/v1/agreement (by key and by session) and its agreement page count it, and each
    expert's qualifications page shows the comparison."""
    experts, company = two_reviewers["experts"], two_reviewers["company"]
    query = {"specialization": "software"}
    with system.api() as client:
        before = client.get("/api/v1/agreement", params=query).json()
    created = create_request(
        system,
        specialization="software",
        reviewers=2,
        rubric=[{"key": "accuracy", "label": "Accuracy", "scale": 5}],
    )
    paths = []
    for client in experts:
        response = accept(system, client, wait_offer(system, client, created["id"])["id"])
        assert response.status_code == 200, response.text
        paths.append(f"/ws/assignments/{response.json()['assignment_id']}/")

    async def review(client, path, verdict, score):
        async with connect(system, path, client) as socket:
            assert (await recv_json(socket))["type"] == "snapshot"
            draft = {"type": "draft.update", "verdict": verdict, "summary": "Checked.",
                     "scores": {"accuracy": score}}  # fmt: skip
            await socket.send(json.dumps(draft))
            await recv_until(socket, is_event("draft.updated"))
            await socket.send(json.dumps({"type": "submit"}))
            await recv_until(socket, is_event("submitted"))

    run(review(experts[0], paths[0], "approved", 5))
    run(review(experts[1], paths[1], "rejected", 2))
    with system.api() as client:
        response = client.get("/api/v1/agreement", params=query)
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["requests"] == before["requests"] + 1
    assert after["specialization"] == "software" and "accuracy" in after["scores"]
    month = after["by_month"][-1]
    assert month["requests"] == before["by_month"][-1]["requests"] + 1
    by_session = company.get("/api/v1/agreement", params=query)
    assert by_session.status_code == 200 and by_session.json() == after
    page = company.get("/company/agreement/", params=query)
    assert page.status_code == 200
    assert f"{after['requests']} request" in page.text and "No request has two" not in page.text
    for client in experts:
        own = client.get("/expert/qualifications/")
        assert own.status_code == 200 and "Your agreement with co-reviewers" in own.text
        assert "comparison" in own.text
