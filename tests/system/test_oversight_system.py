"""Oversight over real HTTP against the running processes (issue #17): a policy made by API
becomes the default; a batch with mixed confidences is decided at once (auto-approved items
answered in the 201 and never offered; an audited sample offered to the on-call expert by the
worker); a replay with the same Idempotency-Key gives the same outcomes; the balance does not
move for auto-approved items."""

from __future__ import annotations

import time

from oversight.decide import Item, decide, specialization_path
from oversight.rules import rules_parse
from tests.system.flows import offer_for, on_call_expert, request_body, wait_offer

SPECIALIZATION = "law.contracts"
RULES = [
    {"name": "doubtful", "when": {"confidence_lt": 0.5}, "outcome": "review"},
    {"name": "confident", "when": {"confidence_gte": 0.9}, "outcome": "auto_approve"},
    {"name": "middle", "when": {"confidence_gte": 0.5}, "outcome": "sample", "audit_rate": 0.5},
]
CONFIDENCES = [0.95, 0.3, 0.7, 0.99, 0.6, 0.8, 0.91, 0.55, 0.75, 0.65]


def _key_with_an_audit_and_a_skip() -> str:
    """An Idempotency-Key under which the batch has an audited sample and an auto-approved one
    (the decision is a pure function of the rules and the key, so it can be chosen here)."""
    rules = rules_parse(RULES)
    for n in range(1000):
        key = f"oversight-system-{n}"
        decisions = [
            decide(
                rules=rules,
                item=Item(c, specialization_path(SPECIALIZATION), "", {}),
                key=f"{key}:{index}",
            )
            for index, c in enumerate(CONFIDENCES)
        ]
        samples = [d for d in decisions if d.outcome == "sample"]
        if any(d.audit for d in samples) and not all(d.audit for d in samples):
            return key
    raise AssertionError("no key found")


def test_a_batch_through_a_policy_end_to_end(system):
    expert = on_call_expert(system, SPECIALIZATION)
    expert_client = system.login(expert["email"], expert["password"])
    with system.api() as client:
        made = client.post(
            "/api/v1/oversight-policies",
            json={"name": "triage", "rules": RULES, "is_default": True},
        )
        assert made.status_code == 201, made.text
        balance_before = client.get("/api/v1/balance").json()

        key = _key_with_an_audit_and_a_skip()
        payload = {"requests": [request_body(confidence=c) for c in CONFIDENCES]}
        first = client.post(
            "/api/v1/review-requests/batch", json=payload, headers={"Idempotency-Key": key}
        )
        assert first.status_code == 201, first.text
        data = first.json()["data"]

        auto = [d for d in data if d["status"] == "auto_approved"]
        audited = [d for d in data if d["audit"]]
        assert auto and audited
        assert {d["confidence"] for d in data if d["oversight"]["rule"] == "confident"} <= {
            d["confidence"] for d in auto
        }
        assert all(d["status"] == "queued" for d in audited)
        assert all(d["oversight"]["policy"] == "triage" for d in data)

        # Answered at once: read back as auto-approved, with the rule that decided.
        one = client.get(f"/api/v1/review-requests/{auto[0]['id']}").json()
        assert one["status"] == "auto_approved" and one["oversight"] == auto[0]["oversight"]

        # The audited sample is offered by the worker; the auto-approved ones never are.
        wait_offer(system, expert_client, audited[0]["id"], timeout=90)
        time.sleep(1)
        assert all(offer_for(expert_client, d["id"]) is None for d in auto)

        again = client.post(
            "/api/v1/review-requests/batch", json=payload, headers={"Idempotency-Key": key}
        )
        assert again.status_code == 201
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert [
            (d["id"], d["status"], d["audit"], d["oversight"]) for d in again.json()["data"]
        ] == [(d["id"], d["status"], d["audit"], d["oversight"]) for d in data]

        # Nobody accepted and the auto-approved items hold nothing.
        assert client.get("/api/v1/balance").json() == balance_before
        listed = client.get("/api/v1/review-requests", params={"status": "auto_approved"}).json()
        assert {d["id"] for d in auto} <= {d["id"] for d in listed["data"]}
    expert_client.close()
