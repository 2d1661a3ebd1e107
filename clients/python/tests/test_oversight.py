"""Oversight on the client: `policy` and `confidence` on create, the oversight object on a
request, `client.oversight_policies` (sync and async) and the settings, against a
MockTransport; the auto-approved webhook verifies into its own event model."""

from __future__ import annotations

import asyncio
import json

import httpx
import inloop
import pytest
from inloop.models import AutoApprovedEvent, Rule
from inloop_fakes import Recorder, item, review_request

RULES = [
    {"name": "doubtful", "when": {"confidence_lt": 0.7}, "outcome": "review"},
    Rule(name="confident", when={"confidence_gte": 0.95}, outcome="auto_approve"),
]
DECIDED = {"policy": "triage", "policy_version": 2, "rule": "confident", "outcome": "auto_approve"}


def _policy(**overrides) -> dict:
    body = {
        "name": "triage",
        "is_default": False,
        "created_at": "2026-12-07T10:00:00+00:00",
        "version": 1,
        "rules": [Rule.model_validate(r).model_dump(mode="json") for r in RULES[:1]],
        "versions": [],
    }
    body.update(overrides)
    return body


def test_create_sends_policy_and_confidence_and_reads_the_decision(make_client):
    answer = review_request(
        0, status="auto_approved", confidence=0.97, audit=False, oversight=DECIDED
    )
    client, recorder, _ = make_client(lambda request, n: httpx.Response(201, json=answer))
    created = client.review_requests.create(**item(0), policy="triage", confidence=0.97)
    assert recorder.bodies()[0]["policy"] == "triage"
    assert recorder.bodies()[0]["confidence"] == 0.97
    assert created.status == "auto_approved" and created.is_final
    assert created.oversight.rule == "confident" and created.audit is False


def test_a_request_without_a_policy_has_no_oversight(make_client):
    client, _, _ = make_client(lambda request, n: httpx.Response(201, json=review_request(0)))
    created = client.review_requests.create(**item(0))
    assert created.oversight is None and created.confidence is None


def test_policy_methods_call_their_paths_with_checked_rules(make_client):
    def answer(request, n):
        if request.method == "GET" and request.url.path.endswith("/oversight-policies"):
            return httpx.Response(200, json={"data": [_policy(rules=None, versions=None)]})
        return httpx.Response(201 if request.method == "POST" else 200, json=_policy())

    client, recorder, _ = make_client(answer)
    assert client.oversight_policies.list()[0].name == "triage"
    client.oversight_policies.create("triage", RULES, is_default=True)
    client.oversight_policies.update("triage", RULES[1:], note="raise the bar")
    client.oversight_policies.set_default("triage")
    policy = client.oversight_policies.get("triage")
    assert policy.rules[0].when.confidence_lt == 0.7
    calls = [(r.method, r.url.path) for r in recorder.requests]
    assert calls == [
        ("GET", "/api/v1/oversight-policies"),
        ("POST", "/api/v1/oversight-policies"),
        ("PUT", "/api/v1/oversight-policies/triage"),
        ("POST", "/api/v1/oversight-policies/triage/default"),
        ("GET", "/api/v1/oversight-policies/triage"),
    ]
    created, updated = recorder.bodies()[1:3]
    assert created["is_default"] is True and created["rules"][1]["outcome"] == "auto_approve"
    assert updated == {
        "rules": [Rule.model_validate(RULES[1]).model_dump(mode="json")],
        "note": "raise the bar",
    }


def test_a_bad_rule_is_refused_before_anything_is_sent(make_client):
    client, recorder, _ = make_client(lambda request, n: httpx.Response(201, json=_policy()))
    with pytest.raises(ValueError):
        client.oversight_policies.create("x", [{"name": "a", "outcome": "maybe"}])
    assert recorder.requests == []


def test_settings(make_client):
    client, recorder, _ = make_client(
        lambda request, n: httpx.Response(200, json={"auto_approved_webhook": n > 1})
    )
    assert client.oversight_settings().auto_approved_webhook is False
    assert client.oversight_settings_update(auto_approved_webhook=True).auto_approved_webhook
    assert recorder.bodies()[1] == {"auto_approved_webhook": True}


def test_the_async_client_has_the_same_policy_methods():
    recorder = Recorder(lambda request, n: httpx.Response(200, json=_policy()))

    async def run():
        async with inloop.AsyncInloop(
            api_key="k", base_url="http://t", transport=httpx.MockTransport(recorder)
        ) as client:
            await client.oversight_policies.update("triage", RULES)
            return await client.oversight_policies.get("triage")

    assert asyncio.run(run()).name == "triage"
    assert [r.method for r in recorder.requests] == ["PUT", "GET"]


def test_the_auto_approved_event_verifies_into_its_model():
    secret = "whsec_" + "ab" * 24
    body = json.dumps(
        {
            "id": "evt_1",
            "type": "review_request.auto_approved",
            "created": 1,
            "data": {
                "review_requests": [review_request(0, status="auto_approved", oversight=DECIDED)]
            },
        }
    ).encode()
    header = inloop.webhooks.sign(body, secret)
    event = inloop.webhooks.verify(body, header, secret)
    assert isinstance(event, AutoApprovedEvent)
    assert event.data.review_requests[0].oversight.policy == "triage"
