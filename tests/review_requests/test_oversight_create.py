"""Create and batch through oversight policies (issue #17): the named policy or the
organization's default decides each item; auto-approved items are stored as `auto_approved` in
the same insert, answered at once, never charged, never matched or offered; audited samples are
reviewed with `audit: true`; a replay with the same Idempotency-Key returns the same outcomes;
the auto-approved webhook is off by default and batched when on."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.selectors import company_balance
from oversight.decide import Item, decide, specialization_path
from oversight.models import PolicyVersion
from oversight.rules import rules_parse
from review_requests.models import Offer, RequestStatusChange, ReviewRequest, WebhookEvent
from tests.factories import CreditGrantFactory, PolicyFactory
from tests.review_requests.api_offers_support import api_client, body, post_json, radiologist

pytestmark = pytest.mark.django_db

URL = "/api/v1/review-requests"
RULES = [
    {
        "name": "doubtful",
        "when": {"confidence_lt": 0.6},
        "outcome": "review",
        "review": {"reviewers": 2},
    },
    {"name": "confident", "when": {"confidence_gte": 0.9}, "outcome": "auto_approve"},
    {"name": "middle", "when": {"confidence_gte": 0.6}, "outcome": "sample", "audit_rate": 0.5},
]
CONFIDENCES = [0.1, 0.95, 0.7, 0.75, 0.99, 0.3, 0.65, 0.8, 0.92, 0.61]


@pytest.fixture
def funded(organization):
    CreditGrantFactory(organization=organization, amount_cents=1_000_000)
    return organization


def _batch(client, confidences, **extra):
    items = [body(confidence=c, **extra) for c in confidences]
    return post_json(client, f"{URL}/batch", {"requests": items})


def test_without_a_policy_nothing_changes(api_key):
    response = post_json(api_client(api_key), URL, body(confidence=0.99))
    assert response.status_code == 201
    data = response.json()
    assert data["status"] == "queued"
    assert (data["confidence"], data["audit"], data["oversight"]) == (0.99, False, None)
    stored = ReviewRequest.objects.get(pk=data["id"])
    assert (stored.policy_version, stored.oversight_outcome) == (None, "")


def test_the_default_policy_decides_a_mixed_batch(
    api_key, funded, django_capture_on_commit_callbacks
):
    radiologist()
    policy = PolicyFactory(organization=funded, name="triage", rules=RULES, is_default=True)
    before = company_balance(organization=funded)
    with django_capture_on_commit_callbacks(execute=True):
        response = _batch(api_client(api_key), CONFIDENCES)
    assert response.status_code == 201, response.content
    data = response.json()["data"]

    auto = [d for d in data if d["status"] == "auto_approved"]
    reviewed = [d for d in data if d["status"] != "auto_approved"]
    assert {d["confidence"] for d in auto} >= {0.95, 0.99, 0.92}
    for d in data:
        assert d["oversight"]["policy"] == "triage"
        assert d["oversight"]["policy_version"] == 1
    for d in auto:
        assert d["oversight"]["outcome"] in ("auto_approve", "sample")
        assert d["audit"] is False and d["cost_cents"] == 0 and d["assignments"] == []
    doubtful = [d for d in data if d["oversight"]["rule"] == "doubtful"]
    assert {d["confidence"] for d in doubtful} == {0.1, 0.3}
    assert all(d["reviewers"] == 2 and d["status"] == "queued" for d in doubtful)
    audited = [d for d in data if d["audit"]]
    assert all(d["oversight"]["outcome"] == "sample" and d["status"] == "queued" for d in audited)

    # Never offered, never charged; the reviewed ones were matched as usual.
    auto_ids = [d["id"] for d in auto]
    assert not Offer.objects.filter(review_request_id__in=auto_ids).exists()
    assert Offer.objects.filter(review_request_id__in=[d["id"] for d in reviewed]).exists()
    assert company_balance(organization=funded) == before
    history = RequestStatusChange.objects.filter(review_request_id__in=auto_ids)
    assert {(h.from_status, h.to_status) for h in history} == {("", "auto_approved")}
    assert all("policy triage v1" in h.reason for h in history)
    stored = ReviewRequest.objects.filter(pk__in=auto_ids)
    assert {rr.policy_version.policy_id for rr in stored} == {policy.pk}


def test_the_stored_outcome_is_the_decision_keyed_on_the_request_id(api_key, organization):
    PolicyFactory(organization=organization, rules=RULES, is_default=True)
    data = _batch(api_client(api_key), CONFIDENCES).json()["data"]
    rules = rules_parse(RULES)
    for d in data:
        item = Item(
            confidence=d["confidence"],
            specialization_path=specialization_path("medicine.radiology"),
            model="",
            metadata={},
        )
        decision = decide(rules=rules, item=item, key=d["id"])
        assert (decision.rule_name, decision.audit) == (d["oversight"]["rule"], d["audit"])


def test_a_named_policy_wins_over_the_default(api_key, organization):
    PolicyFactory(
        organization=organization, name="strict", rules=[{"name": "all", "outcome": "review"}]
    )
    PolicyFactory(
        organization=organization,
        name="lax",
        is_default=True,
        rules=[{"name": "all", "outcome": "auto_approve"}],
    )
    client = api_client(api_key)
    named = post_json(client, URL, body(policy="strict")).json()
    assert (named["status"], named["oversight"]["policy"]) == ("queued", "strict")
    default = post_json(client, URL, body()).json()
    assert (default["status"], default["oversight"]["policy"]) == ("auto_approved", "lax")


def test_an_unknown_policy_is_refused_and_creates_nothing(api_key, organization):
    client = api_client(api_key)
    response = post_json(client, URL, body(policy="nope"))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "policy"
    assert "Unknown oversight policy 'nope'" in response.json()["error"]["message"]
    response = post_json(client, f"{URL}/batch", {"requests": [body(), body(policy="nope")]})
    assert response.json()["error"]["field"] == "requests[1].policy"
    assert not ReviewRequest.objects.exists()


@pytest.mark.parametrize("confidence", [-0.1, 1.5, "high"])
def test_a_confidence_outside_0_1_is_refused(api_key, confidence):
    response = post_json(api_client(api_key), URL, body(confidence=confidence))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "confidence"


def test_no_rule_matching_is_a_review_without_a_rule(api_key, organization):
    PolicyFactory(
        organization=organization,
        is_default=True,
        rules=[{"name": "only law", "when": {"specialization": "law"}, "outcome": "auto_approve"}],
    )
    data = post_json(api_client(api_key), URL, body()).json()
    assert data["status"] == "queued"
    assert data["oversight"] == {
        "policy": data["oversight"]["policy"],
        "policy_version": 1,
        "rule": None,
        "outcome": "review",
    }


def test_a_replay_returns_the_original_outcomes(api_key, organization):
    policy = PolicyFactory(organization=organization, rules=RULES, is_default=True)
    client = api_client(api_key)
    payload = {"requests": [body(confidence=c) for c in CONFIDENCES]}
    first = post_json(client, f"{URL}/batch", payload, HTTP_IDEMPOTENCY_KEY="run-7")
    # A new version in between changes nothing for the replay.
    from oversight.services import policy_version_add

    policy_version_add(policy=policy, rules=[{"name": "all", "outcome": "review"}])
    again = post_json(client, f"{URL}/batch", payload, HTTP_IDEMPOTENCY_KEY="run-7")
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert ReviewRequest.objects.count() == len(CONFIDENCES)
    # Keyed on the Idempotency-Key and the index, as the contract says.
    rules = rules_parse(RULES)
    for index, d in enumerate(first.json()["data"]):
        item = Item(d["confidence"], specialization_path("medicine.radiology"), "", {})
        decision = decide(rules=rules, item=item, key=f"run-7:{index}")
        assert (decision.rule_name, decision.audit) == (d["oversight"]["rule"], d["audit"])


def test_the_same_key_decides_the_same_in_another_organization(
    api_key, other_api_key, organization, other_organization
):
    for org in (organization, other_organization):
        PolicyFactory(organization=org, rules=RULES, is_default=True)
    payload = {"requests": [body(confidence=c) for c in CONFIDENCES]}
    outcomes = []
    for key in (api_key, other_api_key):
        data = post_json(api_client(key), f"{URL}/batch", payload, HTTP_IDEMPOTENCY_KEY="k").json()[
            "data"
        ]
        outcomes.append([(d["status"], d["audit"], d["oversight"]["rule"]) for d in data])
    assert outcomes[0] == outcomes[1]


def test_the_list_and_the_get_carry_the_oversight_object(api_key, organization):
    PolicyFactory(organization=organization, name="p", rules=RULES, is_default=True)
    created = post_json(api_client(api_key), URL, body(confidence=0.95)).json()
    client = api_client(api_key)
    got = client.get(f"{URL}/{created['id']}").json()
    listed = client.get(URL).json()["data"][0]
    assert got == listed == created | {"updated_at": got["updated_at"]}
    assert got["oversight"] == {
        "policy": "p",
        "policy_version": 1,
        "rule": "confident",
        "outcome": "auto_approve",
    }
    assert client.get(URL, {"status": "auto_approved"}).json()["data"][0]["id"] == created["id"]


def test_an_auto_approved_request_cannot_be_cancelled(api_key, organization):
    PolicyFactory(organization=organization, rules=RULES, is_default=True)
    created = post_json(api_client(api_key), URL, body(confidence=0.95)).json()
    response = post_json(api_client(api_key), f"{URL}/{created['id']}/cancel", {})
    assert response.status_code == 409


def test_the_web_form_applies_no_policy(organization, company_member):
    from review_requests.services import review_request_create

    PolicyFactory(
        organization=organization,
        rules=[{"name": "all", "outcome": "auto_approve"}],
        is_default=True,
    )
    data = body()
    rr = review_request_create(organization=organization, data=data, oversight=False)
    assert rr.status == "queued" and rr.oversight_outcome == ""


# Webhook ----------------------------------------------------------------------------------


def _settings_on(api_key):
    client = api_client(api_key)
    response = client.put(
        "/api/v1/oversight-settings",
        data=json.dumps({"auto_approved_webhook": True}),
        content_type="application/json",
    )
    assert response.status_code == 200


def test_the_auto_approved_webhook_is_off_by_default(api_key, organization, settings):
    settings.DEBUG = True
    PolicyFactory(organization=organization, rules=RULES, is_default=True)
    _batch(api_client(api_key), CONFIDENCES, callback_url="http://localhost:9/hook")
    assert not WebhookEvent.objects.filter(type="review_request.auto_approved").exists()


def test_the_auto_approved_webhook_is_one_event_per_batch(
    api_key, organization, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from review_requests import webhooks

    sent = []
    monkeypatch.setattr(webhooks, "_enqueue_delivery", lambda event_id, **kw: sent.append(event_id))
    settings.DEBUG = True
    _settings_on(api_key)
    PolicyFactory(organization=organization, rules=RULES, is_default=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = _batch(api_client(api_key), CONFIDENCES, callback_url="http://localhost:9/hook")
    data = response.json()["data"]
    events = list(WebhookEvent.objects.filter(type="review_request.auto_approved"))
    assert len(events) == 1 and sent == [events[0].id]
    payload = json.loads(events[0].body)
    assert payload["type"] == "review_request.auto_approved"
    carried = payload["data"]["review_requests"]
    assert [d["id"] for d in carried] == [d["id"] for d in data if d["status"] == "auto_approved"]
    assert carried[0] == next(d for d in data if d["id"] == carried[0]["id"])


def test_the_auto_approved_webhook_skips_requests_without_a_callback(api_key, organization):
    _settings_on(api_key)
    PolicyFactory(organization=organization, rules=RULES, is_default=True)
    _batch(api_client(api_key), CONFIDENCES)
    assert not WebhookEvent.objects.exists()


# Cost -------------------------------------------------------------------------------------


def _create_queries(client, payload) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = post_json(client, URL, payload)
    assert response.status_code == 201
    return [q["sql"] for q in ctx.captured_queries]


# A single create before policies existed: the key (with its organization), the savepoint,
# the inserts of the request and of its history row, the release (as on main before #17).
PLAIN_CREATE_QUERIES = 5


def test_a_create_without_any_policy_costs_what_it_did(api_key, organization, settings):
    client = api_client(api_key)
    _create_queries(client, body())  # warm: the taxonomy copy, the organization's note
    plain = _create_queries(client, body())
    assert not [sql for sql in plain if 'FROM "oversight_' in sql], plain
    assert len(plain) == PLAIN_CREATE_QUERIES, plain
    # The first create of the organization looks for a default policy once; later ones do not.
    noted = _create_queries(client, body(confidence=0.5))
    assert len(noted) == len(plain)


def _batch_queries(client, payload) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = post_json(client, f"{URL}/batch", payload)
    assert response.status_code == 201
    return [q["sql"] for q in ctx.captured_queries]


def test_a_create_through_the_default_policy_costs_one_query(api_key, organization):
    client = api_client(api_key)
    hundred = {"requests": [body(confidence=c) for c in CONFIDENCES * 10]}
    _create_queries(client, body())
    plain = _create_queries(client, body())
    plain_batch = _batch_queries(client, hundred)
    PolicyFactory(organization=organization, rules=RULES, is_default=True)
    _create_queries(client, body(confidence=0.95))  # reads the version's rules once
    routed = _create_queries(client, body(confidence=0.95))
    assert len(routed) == len(plain) + 1, routed
    # Whatever the number of items and of rules: one query for the policy in force.
    routed_batch = _batch_queries(client, hundred)
    assert len(routed_batch) == len(plain_batch) + 1, routed_batch
    assert PolicyVersion.objects.count() == 1
