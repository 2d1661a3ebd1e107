"""GET /api/v1/oversight-policies/{name}/stats and POST .../simulate: the happy paths, the wrong
method, anonymous, another tenant's policy, and bad input (422 naming the field, nothing
changed)."""

from __future__ import annotations

import pytest
from django.test import Client

from review_requests.models import ReviewRequest
from tests.review_requests.oversight_support import day, policy_with_versions, stored_item

pytestmark = pytest.mark.django_db
RULES = [
    {"name": "sure", "when": {"confidence_gte": 0.9}, "outcome": "auto_approve"},
    {"name": "rest", "when": {}, "outcome": "review"},
]


@pytest.fixture
def policy(organization):
    policy = policy_with_versions(organization, "support", RULES)
    version = policy.versions.get()
    stored_item(organization=organization, version=version, at=day(11, 2), confidence=0.95,
                outcome="auto_approve", rule="sure")  # fmt: skip
    stored_item(organization=organization, version=version, at=day(11, 3), confidence=0.5,
                outcome="review", rule="rest")  # fmt: skip
    return policy


def api(key: str | None) -> Client:
    return Client(headers={"Authorization": f"Bearer {key}"} if key else {})


STATS = "/api/v1/oversight-policies/support/stats?from=2026-11-01&to=2026-11-30"
SIMULATE = "/api/v1/oversight-policies/support/simulate"
BODY = {
    "from": "2026-11-01",
    "to": "2026-11-30",
    "rules": [{"name": "all", "when": {}, "outcome": "review"}],
}


def test_stats_answers_weeks_rules_and_totals(policy, api_key):
    response = api(api_key).get(STATS)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["policy"] == "support"
    assert (data["from"], data["to"]) == ("2026-11-01", "2026-11-30")
    assert data["weeks"][0]["week_start"] == "2026-10-26"  # the week of 1 Nov (a Sunday)
    assert data["totals"]["seen"] == 2 and data["totals"]["auto_approved"] == 1
    assert [rule["rule"] for rule in data["rules"]] == ["sure", "rest"]


def test_stats_defaults_to_the_last_twelve_weeks(policy, api_key):
    data = api(api_key).get("/api/v1/oversight-policies/support/stats").json()
    assert len(data["weeks"]) in (12, 13)


def test_stats_of_another_tenants_policy_is_a_404(policy, other_api_key):
    response = api(other_api_key).get(STATS)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_stats_needs_a_key(policy):
    assert api(None).get(STATS).status_code == 401


def test_stats_refuses_a_period_that_ends_before_it_starts(policy, api_key):
    response = api(api_key).get(
        "/api/v1/oversight-policies/support/stats?from=2026-11-30&to=2026-11-01"
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_stats_takes_no_post(policy, api_key):
    assert api(api_key).post(STATS).status_code == 405


def test_simulate_answers_outcomes_cost_and_miss_rate(policy, api_key):
    response = api(api_key).post(SIMULATE, BODY, content_type="application/json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["items"] == 2
    assert data["simulated"]["sent_to_review"] == 2
    assert data["current"]["sent_to_review"] == 1
    assert data["newly_reviewed"] == 1
    assert data["rules"] == [{"rule": "all", "matched": 2}]
    assert data["estimated_miss_rate"]["n"] == 0
    assert data["estimated_review_cost_cents"] is None  # no completed review in the period


def test_simulate_names_the_field_of_a_bad_rule_and_changes_nothing(policy, api_key):
    before = list(ReviewRequest.objects.values_list("pk", "oversight_outcome", "audit"))
    bad = {**BODY, "rules": [{"name": "x", "when": {"confidence_lt": 3}, "outcome": "review"}]}
    response = api(api_key).post(SIMULATE, bad, content_type="application/json")
    assert response.status_code == 422
    assert "confidence_lt" in (response.json()["error"]["field"] or "")
    assert list(ReviewRequest.objects.values_list("pk", "oversight_outcome", "audit")) == before


def test_simulate_refuses_two_rules_of_one_name(policy, api_key):
    twice = {**BODY, "rules": BODY["rules"] * 2}
    response = api(api_key).post(SIMULATE, twice, content_type="application/json")
    assert response.status_code == 422


def test_simulate_of_another_tenants_policy_is_a_404(policy, other_api_key):
    response = api(other_api_key).post(SIMULATE, BODY, content_type="application/json")
    assert response.status_code == 404


def test_simulate_needs_a_key_and_takes_no_get(policy, api_key):
    assert api(None).post(SIMULATE, BODY, content_type="application/json").status_code == 401
    assert api(api_key).get(SIMULATE).status_code == 405
