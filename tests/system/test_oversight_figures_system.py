"""Oversight figures and the simulator against the running processes, over HTTP as a pipeline
calls them: a routed batch shows up in the policy's stats as it was answered; an audited item a
reviewer rejects (through the live workspace) becomes a measured miss with its interval; the
simulator re-decides the stored items under changed rules and prices and risks them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from tests.system.flows import (
    accept,
    connect,
    create_request,
    is_event,
    on_call_expert,
    recv_json,
    recv_until,
    request_body,
    wait_offer,
)

ROUTING = [
    {"name": "sure", "when": {"confidence_gte": 0.95}, "outcome": "auto_approve"},
    {"name": "likely", "when": {"confidence_gte": 0.8}, "outcome": "sample", "audit_rate": 0.5},
    {"name": "doubtful", "when": {}, "outcome": "review"},
]


def _policy(system, name: str, rules: list[dict]) -> None:
    with system.api() as client:
        response = client.post("/api/v1/oversight-policies", json={"name": name, "rules": rules})
    assert response.status_code == 201, response.text


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _monday() -> str:
    today = datetime.now(UTC).date()
    return (today - timedelta(days=today.weekday())).isoformat()


def test_the_stats_of_a_routed_batch_count_what_the_batch_answered(system):
    _policy(system, "pipeline", ROUTING)
    confidences = [round(0.5 + index * 0.0165, 4) for index in range(30)]  # 0.5 .. 0.98
    with system.api() as client:
        response = client.post(
            "/api/v1/review-requests/batch",
            json={
                "requests": [
                    request_body(policy="pipeline", confidence=confidence)
                    for confidence in confidences
                ]
            },
        )
        assert response.status_code == 201, response.text
        created = response.json()["data"]
        stats = client.get(
            "/api/v1/oversight-policies/pipeline/stats", params={"from": _monday(), "to": _today()}
        )
    assert stats.status_code == 200, stats.text
    figures = stats.json()
    auto = [item for item in created if item["status"] == "auto_approved"]
    audited = [item for item in created if item["audit"]]
    sampled = [item for item in created if item["oversight"]["rule"] == "likely"]
    totals = figures["totals"]
    assert totals["seen"] == 30
    assert totals["auto_approved"] == len(auto)
    assert totals["sent_to_review"] == 30 - len(auto)
    assert totals["sampled"] == len(sampled) == sum(0.8 <= c < 0.95 for c in confidences)
    assert totals["audits"] == len(audited)
    assert totals["audit_miss_rate"] == {
        "successes": 0, "n": 0, "rate": None, "low": None, "high": None
    }  # fmt: skip
    (week,) = figures["weeks"]
    assert week["week_start"] == _monday() and week["seen"] == 30
    by_rule = {rule["rule"]: rule for rule in figures["rules"]}
    assert list(by_rule) == ["sure", "likely", "doubtful"]
    assert by_rule["sure"]["auto_approved"] == sum(c >= 0.95 for c in confidences)
    assert by_rule["doubtful"]["sent_to_review"] == sum(c < 0.8 for c in confidences)

    # The simulator: review everything instead; every auto-approved item becomes a review.
    with system.api() as client:
        simulated = client.post(
            "/api/v1/oversight-policies/pipeline/simulate",
            json={
                "from": _monday(),
                "to": _today(),
                "rules": [{"name": "everything", "when": {}, "outcome": "review"}],
            },
        )
    assert simulated.status_code == 200, simulated.text
    result = simulated.json()
    assert result["items"] == 30
    assert result["simulated"]["sent_to_review"] == 30
    assert result["current"]["auto_approved"] == len(auto)
    assert result["newly_reviewed"] == len(auto) and result["newly_auto_approved"] == 0
    assert result["rules"] == [{"rule": "everything", "matched": 30}]


def test_a_rejected_audit_is_a_measured_miss_and_the_simulator_rests_on_it(system):
    _policy(
        system,
        "audit-all",
        [{"name": "sure", "when": {"confidence_gte": 0.9}, "outcome": "sample", "audit_rate": 1}],
    )
    expert = on_call_expert(system, "finance.tax")
    client = system.login(expert["email"], expert["password"])
    created = create_request(
        system, specialization="finance.tax", policy="audit-all", confidence=0.97
    )
    assert created["audit"] is True and created["status"] == "queued"
    offer = wait_offer(system, client, created["id"])
    response = accept(system, client, offer["id"])
    assert response.status_code == 200, response.text
    path = f"/ws/assignments/{response.json()['assignment_id']}/"

    async def review() -> None:
        async with connect(system, path, client) as socket:
            await recv_json(socket)
            await socket.send(json.dumps({"type": "heartbeat"}))
            await socket.send(
                json.dumps({"type": "draft.update", "verdict": "rejected", "summary": "Wrong."})
            )
            await recv_until(socket, is_event("draft.updated"))
            await socket.send(json.dumps({"type": "submit"}))
            await recv_until(socket, is_event("submitted"))

    asyncio.run(asyncio.wait_for(review(), 60))
    client.close()
    with system.api() as api:

        def completed():
            body = api.get(f"/api/v1/review-requests/{created['id']}").json()
            return body if body["status"] == "completed" else None

        done = system.wait_until(completed, what="the audited request completed")
        stats = api.get("/api/v1/oversight-policies/audit-all/stats").json()
        simulated = api.post(
            "/api/v1/oversight-policies/audit-all/simulate",
            json={"rules": [{"name": "trust", "when": {}, "outcome": "auto_approve"}]},
        ).json()
    miss = stats["totals"]["audit_miss_rate"]
    assert (stats["totals"]["audits_reviewed"], stats["totals"]["audit_misses"]) == (1, 1)
    assert miss["rate"] == 1.0 and round(miss["low"], 4) == 0.2065 and miss["high"] == 1.0

    # Auto-approving everything would have let the one audited (and rejected) item through.
    assert simulated["items"] == 1
    assert simulated["simulated"]["auto_approved"] == 1
    assert simulated["estimated_miss_rate"]["n"] == 1
    assert simulated["estimated_miss_rate"]["successes"] == 1
    assert simulated["estimated_review_cost_cents"] == 0
    # Priced from the period's completed reviews of finance.tax (this one at least).
    assert simulated["cost_basis"]["completed_reviews"] >= 1
    assert simulated["current_review_cost_cents"] is not None
    assert done["result"]["verdict"] == "rejected"
