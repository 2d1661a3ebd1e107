"""review_requests.oversight_simulator: stored items decided again under changed rules, with the
expected outcomes, cost and miss rate worked out by hand from the items below."""

from __future__ import annotations

from datetime import date

import pytest

from oversight.rules import Rule
from oversight.stats import wilson_interval
from review_requests.oversight_simulator import oversight_simulate, simulation_to_api
from tests.review_requests.oversight_support import day, policy_with_versions, stored_item

pytestmark = pytest.mark.django_db
STORED_RULES = [
    {"name": "sure", "when": {"confidence_gte": 0.95}, "outcome": "auto_approve"},
    {"name": "likely", "when": {"confidence_gte": 0.8}, "outcome": "sample", "audit_rate": 0.5},
    {"name": "rest", "when": {}, "outcome": "review"},
]
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 30)


def rules(*dicts: dict) -> list[Rule]:
    return [Rule.model_validate(rule) for rule in dicts]


@pytest.fixture
def policy(organization):
    """Six stored items of November (cost basis in brackets: completed requests' cost and
    reviewers):

        a  0.97  radiology  auto_approve
        b  0.85  radiology  sample, audited, rejected      [6,000 ¢, 1 reviewer]
        c  0.88  radiology  sample, audited, approved      [10,000 ¢, 2 reviewers]
        d  0.83  contracts  sample, not audited (auto-approved)
        e  0.50  contracts  review, corrected              [3,000 ¢, 1 reviewer]
        f  none  tax        review, queued (no completed tax review: priced at the mean)

    A review costs 16,000 / 3 ¢ in radiology, 3,000 ¢ in contracts, 19,000 / 4 = 4,750 ¢ over
    all."""
    policy = policy_with_versions(organization, "support", STORED_RULES)
    version = policy.versions.get()
    item = {"organization": organization, "version": version}
    stored_item(**item, at=day(11, 2), confidence=0.97, outcome="auto_approve", rule="sure")
    stored_item(**item, at=day(11, 3), confidence=0.85, outcome="sample", rule="likely",
                audit=True, verdict="rejected", cost_cents=6000)  # fmt: skip
    stored_item(**item, at=day(11, 4), confidence=0.88, outcome="sample", rule="likely",
                audit=True, verdict="approved", cost_cents=10000, reviewers=2)  # fmt: skip
    stored_item(**item, at=day(11, 5), confidence=0.83, outcome="sample", rule="likely",
                slug="law.contracts")  # fmt: skip
    stored_item(**item, at=day(11, 6), confidence=0.5, outcome="review", rule="rest",
                verdict="corrected", cost_cents=3000, slug="law.contracts")  # fmt: skip
    stored_item(**item, at=day(11, 7), confidence=None, outcome="review", rule="rest",
                slug="finance.tax")  # fmt: skip
    stored_item(**item, at=day(12, 1), confidence=0.99, outcome="auto_approve", rule="sure")
    return policy


LOWER = rules(
    {"name": "sure", "when": {"confidence_gte": 0.8}, "outcome": "auto_approve"},
    {"name": "rest", "when": {}, "outcome": "review"},
)


def test_a_lowered_threshold_counts_outcomes_against_the_stored_ones(
    organization, policy, django_assert_max_num_queries
):
    with django_assert_max_num_queries(2):  # the cost basis, then the streamed items
        sim = oversight_simulate(
            organization=organization, policy=policy, rules=LOWER, first=FIRST, last=LAST
        )
    # a, b, c, d are at or above 0.8; e is below; f has no confidence, so only "rest" matches.
    assert sim.items == 6
    assert sim.simulated.as_dict() == {
        "review": 2, "sample_audited": 0, "sample_auto_approved": 0, "auto_approve": 4,
        "sent_to_review": 2, "auto_approved": 4,
    }  # fmt: skip
    assert sim.current.as_dict() == {
        "review": 2, "sample_audited": 2, "sample_auto_approved": 1, "auto_approve": 1,
        "sent_to_review": 4, "auto_approved": 2,
    }  # fmt: skip
    assert (sim.changed, sim.newly_reviewed, sim.newly_auto_approved) == (2, 0, 2)  # b and c
    assert dict(sim.matched) == {0: 4, 1: 2}


def test_cost_is_the_mean_review_of_each_specialization_times_its_reviewers(organization, policy):
    sim = oversight_simulate(
        organization=organization, policy=policy, rules=LOWER, first=FIRST, last=LAST
    )
    # Sent: e (contracts, 3,000) and f (tax: no basis, the mean 4,750).
    assert sim.simulated_cost_cents == pytest.approx(3000 + 4750)
    assert sim.fallback_items == 1
    # Stored: b (16,000/3), c (2 x 16,000/3), e (3,000), f (4,750).
    assert sim.current_cost_cents == pytest.approx(16000 / 3 * 3 + 3000 + 4750)
    data = simulation_to_api(sim, LOWER)
    assert data["estimated_review_cost_cents"] == 7750
    assert data["current_review_cost_cents"] == 23750
    assert data["cost_basis"] == {
        "completed_reviews": 4, "mean_review_cents": 4750, "fallback_items": 1
    }  # fmt: skip


def test_a_rule_with_more_reviewers_costs_that_many_reviews(organization, policy):
    three = rules({"name": "all", "when": {}, "outcome": "review", "review": {"reviewers": 3}})
    sim = oversight_simulate(
        organization=organization, policy=policy, rules=three, first=FIRST, last=LAST
    )
    # a, b, c: 3 x 16,000/3; d, e: 3 x 3,000; f: 3 x 4,750.
    assert sim.simulated_cost_cents == pytest.approx(3 * (16000 + 6000 + 4750))


def test_the_miss_rate_rests_on_the_audits_the_new_rules_let_through(organization, policy):
    sim = oversight_simulate(
        organization=organization, policy=policy, rules=LOWER, first=FIRST, last=LAST
    )
    # Audited with a verdict and now auto-approved: b (rejected: a miss) and c (approved).
    assert (sim.miss.successes, sim.miss.n, sim.miss.rate) == (1, 2, 0.5)
    assert (sim.miss.low, sim.miss.high) == wilson_interval(1, 2)
    # e (corrected) is still reviewed: nothing else with a verdict is let through.
    assert (sim.miss_all_reviewed.successes, sim.miss_all_reviewed.n) == (1, 2)


def test_letting_everything_through_also_sees_the_reviews_by_rule(organization, policy):
    trust = rules({"name": "trust", "when": {}, "outcome": "auto_approve"})
    sim = oversight_simulate(
        organization=organization, policy=policy, rules=trust, first=FIRST, last=LAST
    )
    assert (sim.miss.successes, sim.miss.n) == (1, 2)  # the audits: b, c
    assert (sim.miss_all_reviewed.successes, sim.miss_all_reviewed.n) == (2, 3)  # and e
    assert sim.simulated_cost_cents == 0


def test_without_completed_reviews_there_is_no_cost_estimate(organization):
    policy = policy_with_versions(organization, "fresh", STORED_RULES)
    stored_item(organization=organization, version=policy.versions.get(), at=day(11, 2))
    sim = oversight_simulate(
        organization=organization, policy=policy, rules=LOWER, first=FIRST, last=LAST
    )
    assert sim.items == 1
    assert sim.simulated_cost_cents is None
    assert simulation_to_api(sim, LOWER)["estimated_review_cost_cents"] is None
    assert sim.miss.rate is None


def test_the_organization_scope_takes_items_without_a_policy(organization, policy):
    stored_item(organization=organization, version=None, at=day(11, 9), confidence=0.99)
    scoped = oversight_simulate(
        organization=organization, policy=None, rules=LOWER, first=FIRST, last=LAST
    )
    assert scoped.items == 7
    assert scoped.current.review == 3  # no stored decision: reviewed, as before policies


def test_metadata_and_model_conditions_see_the_stored_values(organization):
    policy = policy_with_versions(organization, "meta", STORED_RULES)
    version = policy.versions.get()
    stored_item(organization=organization, version=version, at=day(11, 2),
                metadata={"region": "eu"}, model_name="mini")  # fmt: skip
    stored_item(organization=organization, version=version, at=day(11, 2),
                metadata={"region": "us"}, model_name="mini")  # fmt: skip
    eu_only = rules(
        {
            "name": "eu-mini",
            "when": {"model": "mini", "metadata": [{"field": "region", "op": "eq", "value": "eu"}]},
            "outcome": "auto_approve",
        },
    )
    sim = oversight_simulate(
        organization=organization, policy=policy, rules=eu_only, first=FIRST, last=LAST
    )
    assert (sim.simulated.auto_approve, sim.simulated.review) == (1, 1)
