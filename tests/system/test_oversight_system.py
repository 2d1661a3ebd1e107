"""Oversight over real HTTP against the running processes (issue #17): a policy made by API
becomes the default; a batch with mixed confidences is decided at once (auto-approved items
answered in the 201 and never offered; an audited sample offered to the on-call expert by the
worker); a replay with the same Idempotency-Key gives the same outcomes; the balance does not
move for auto-approved items."""

from __future__ import annotations

import re
import time

from oversight.decide import Item, decide, specialization_path
from oversight.rules import rules_parse
from tests.system.flows import (
    company_member,
    offer_for,
    on_call_expert,
    request_body,
    wait_offer,
)

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


FORM_TITLE = "Lease answer sent by hand"


def _form_fields(page: str) -> dict[str, str]:
    """What a browser posts from the new-request form: its CSRF token and submission key as the
    page gave them, and the fields a person fills in."""
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    submission = re.search(r'name="submission" value="([0-9a-f]{32})"', page)
    assert token and submission, page[:500]
    return {
        "csrfmiddlewaretoken": token.group(1),
        "submission": submission.group(1),
        "title": FORM_TITLE,
        "specialization": SPECIALIZATION,
        "content_type": "text",
        "body": "The tenant may terminate the lease at any time.",
        "max_hours": "0.5",
        "reviewers": "1",
        "blind": "on",
        "policy": "form-sure",
        "confidence": "0.95",
        "rubric-TOTAL_FORMS": "0",
        "rubric-INITIAL_FORMS": "0",
        "rubric-MIN_NUM_FORMS": "0",
        "rubric-MAX_NUM_FORMS": "50",
    }


def test_the_web_form_goes_through_a_policy_over_http(system):
    """The form's path differs from the API's over HTTP (a session, a CSRF token in the body, a
    redirect): a plain member's submit is auto-approved by the chosen policy, said so on the
    request page, stored once however often it is posted, and moves no money."""
    sure = [{"name": "sure", "when": {"confidence_gte": 0.9}, "outcome": "auto_approve"}]
    with system.api() as client:
        made = client.post("/api/v1/oversight-policies", json={"name": "form-sure", "rules": sure})
        assert made.status_code == 201, made.text
        balance_before = client.get("/api/v1/balance").json()
    member = company_member(system)
    browser = system.login(member["email"], member["password"])
    page = browser.get("/company/requests/new/")
    assert page.status_code == 200 and '<option value="form-sure">' in page.text
    fields = _form_fields(page.text)
    headers = {"Origin": system.url, "Referer": f"{system.url}/company/requests/new/"}

    without_token = {k: v for k, v in fields.items() if k != "csrfmiddlewaretoken"}
    assert browser.post("/company/requests/new/", data=without_token).status_code == 403

    sent = browser.post("/company/requests/new/", data=fields, headers=headers)
    assert sent.status_code == 302, sent.text[:2000]
    location = sent.headers["location"]
    request_id = location.rstrip("/").rsplit("/", 1)[-1]
    shown = browser.get(location)
    said = "Auto-approved by rule “sure” of policy form-sure v1: no reviewer, no charge."
    assert f'<dd id="rr-oversight">{said}</dd>' in shown.text
    assert f"Request stored. {said}" in shown.text

    again = browser.post("/company/requests/new/", data=fields, headers=headers)
    assert again.status_code == 302 and again.headers["location"] == location
    browser.close()

    with system.api() as client:
        one = client.get(f"/api/v1/review-requests/{request_id}").json()
        assert one["status"] == "auto_approved" and one["confidence"] == 0.95
        assert one["oversight"] == {
            "policy": "form-sure",
            "policy_version": 1,
            "rule": "sure",
            "outcome": "auto_approve",
        }
        listed = client.get(
            "/api/v1/review-requests", params={"status": "auto_approved", "limit": 100}
        ).json()["data"]
        assert [d["id"] for d in listed if d["title"] == FORM_TITLE] == [request_id]
        assert client.get("/api/v1/balance").json() == balance_before
