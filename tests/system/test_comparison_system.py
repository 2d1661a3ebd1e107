"""A comparison request against the running processes: created by API (and refused by API when
malformed), offered by the worker, accepted by the on-call expert, annotated, drafted and
submitted over the real WebSocket while the company watches, and read back by API."""

from __future__ import annotations

import asyncio
import json

from tests.system.flows import (
    company_member,
    connect,
    is_event,
    recv_json,
    recv_until,
    take_assignment,
)

CANDIDATES = [
    {
        "id": "cautious",
        "type": "text",
        "body": "Terminating needs 30 days' notice.",
        "model": "m-small",
    },
    {"id": "bold", "type": "text", "body": "The tenant may leave at any time.", "model": "m-large"},
]


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 90))


def test_a_pairwise_comparison_from_api_to_result(system):
    with system.api() as client:
        refused = client.post(
            "/api/v1/review-requests",
            json={
                "title": "Three in a pairwise",
                "specialization": "software.python",
                "max_hours": 0.5,
                "content": {
                    "type": "comparison",
                    "mode": "pairwise",
                    "candidates": [*CANDIDATES, {**CANDIDATES[0], "id": "c"}],
                },
            },
        )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "content.candidates"

    assignment_id, expert, created = take_assignment(
        system,
        "software.python",
        title="Which lease answer is right?",
        content={"type": "comparison", "mode": "pairwise", "candidates": CANDIDATES},
        rubric=[{"key": "accuracy", "label": "Accuracy"}],
    )
    assert created["content"]["candidates"][1]["model"] == "m-large"
    member = company_member(system)
    watcher = system.login(member["email"], member["password"])
    path = f"/ws/assignments/{assignment_id}/"
    choice = {"winner": "cautious", "strength": 2, "rationale": "Notice is required."}

    async def scenario():
        async with (
            connect(system, path, expert) as socket,
            connect(system, path, watcher) as watching,
        ):
            snapshot = await recv_json(socket)
            await recv_json(watching)
            shown = snapshot["review_request"]["comparison"]
            assert "m-small" not in json.dumps(snapshot)  # models hidden from the expert
            await socket.send(json.dumps({"type": "heartbeat"}))
            await socket.send(
                json.dumps(
                    {
                        "type": "annotation.create",
                        "client_id": "n1",
                        "candidate": "bold",
                        "start": 0,
                        "end": 10,
                        "comment": "wrong",
                        "severity": "major",
                    }
                )
            )
            await socket.send(json.dumps({"type": "submit"}))
            refusal, _ = await recv_until(socket, lambda f: f["type"] == "error")
            await socket.send(
                json.dumps(
                    {
                        "type": "draft.update",
                        "comparison": {
                            "criteria": {"accuracy": choice},
                            "rewrite": "30 days' notice.",
                        },
                    }
                )
            )
            seen, _ = await recv_until(watching, is_event("draft.updated"))
            await socket.send(json.dumps({"type": "submit"}))
            submitted, _ = await recv_until(socket, is_event("submitted"))
            return shown, refusal, seen, submitted

    shown, refusal, seen, submitted = run(scenario())
    watcher.close()
    expert.close()
    assert sorted(shown["order_shown"]) == ["bold", "cautious"]
    assert (refusal["code"], refusal["field"]) == (
        "incomplete_draft",
        "comparison.criteria.accuracy",
    )
    assert seen["event"]["draft"]["comparison"]["criteria"]["accuracy"] == choice
    assert submitted["event"]["review"]["verdict"] == "compared"

    def completed():
        with system.api() as client:
            data = client.get(f"/api/v1/review-requests/{created['id']}").json()
        return data if data["status"] == "completed" else None

    data = system.wait_until(completed, what="the comparison to complete")
    result = data["result"]
    assert result["verdict"] == "compared"
    assert result["annotations"][0]["candidate"] == "bold"
    comparison = result["comparison"]
    assert comparison["candidates"] == ["cautious", "bold"]
    assert comparison["consensus"]["ranking"] == ["cautious", "bold"]
    assert comparison["criteria"]["accuracy"]["scores"] == {"cautious": 1.0, "bold": 0.0}
    assert comparison["reviews"][0]["order_shown"] == shown["order_shown"]
    assert comparison["reviews"][0]["rewrite"] == "30 days' notice."
