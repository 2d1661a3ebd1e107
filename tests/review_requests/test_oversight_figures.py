"""review_requests.oversight_selectors: a policy's figures per week and per rule, from stored
items whose expected counts are worked out by hand below, in one query."""

from __future__ import annotations

from datetime import date

import pytest

from oversight.stats import wilson_interval
from review_requests.oversight_selectors import figures_to_api, oversight_figures
from tests.factories import OrganizationFactory
from tests.review_requests.oversight_support import day, policy_with_versions, stored_item

pytestmark = pytest.mark.django_db
RULES = [
    {"name": "sure", "when": {"confidence_gte": 0.95}, "outcome": "auto_approve"},
    {"name": "likely", "when": {"confidence_gte": 0.8}, "outcome": "sample", "audit_rate": 0.5},
    {"name": "rest", "when": {}, "outcome": "review"},
]
FIRST, LAST = date(2026, 11, 2), date(2026, 11, 22)  # Monday 2 Nov to Sunday 22 Nov: 3 weeks


@pytest.fixture
def stored(organization):
    """Week of 2 Nov (version 1): 3 auto-approved by "sure"; 4 sampled by "likely", 2 of them
    audited (one rejected, one approved); 1 reviewed by "rest", corrected. Week of 9 Nov:
    nothing. Week of 16 Nov (version 2): 1 audited sample, corrected; 1 no rule matched.
    Outside the figures: an item of another policy, of another organization, and one the day
    before the period."""
    policy = policy_with_versions(organization, "support", RULES, RULES)
    v1, v2 = policy.versions.order_by("number")
    item = {"organization": organization}
    for hour in range(3):
        stored_item(**item, version=v1, at=day(11, 2, hour), outcome="auto_approve", rule="sure")
    for _ in range(2):
        stored_item(**item, version=v1, at=day(11, 3), outcome="sample", rule="likely")
    stored_item(**item, version=v1, at=day(11, 4), outcome="sample", rule="likely", audit=True,
                verdict="rejected")  # fmt: skip
    stored_item(**item, version=v1, at=day(11, 8, 23), outcome="sample", rule="likely",
                audit=True, verdict="approved")  # fmt: skip
    stored_item(**item, version=v1, at=day(11, 5), outcome="review", rule="rest",
                verdict="corrected")  # fmt: skip
    stored_item(**item, version=v2, at=day(11, 16, 0), outcome="sample", rule="likely",
                audit=True, verdict="corrected")  # fmt: skip
    stored_item(**item, version=v2, at=day(11, 22, 23), outcome="review", rule="")
    other_policy = policy_with_versions(organization, "other", RULES)
    stored_item(**item, version=other_policy.versions.get(), at=day(11, 3), outcome="review")
    elsewhere = OrganizationFactory()
    stored_item(
        organization=elsewhere,
        version=policy_with_versions(elsewhere, "support", RULES).versions.get(),
        at=day(11, 3),
    )
    stored_item(**item, version=v1, at=day(11, 1, 23), outcome="auto_approve", rule="sure")
    return policy


def test_weeks_count_what_each_week_went_through(stored, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        figures = oversight_figures(policy=stored, first=FIRST, last=LAST)
    weeks = dict(figures.weeks)
    assert list(weeks) == [date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)]
    first = weeks[date(2026, 11, 2)]
    assert (first.seen, first.sent_to_review, first.sampled, first.auto_approved) == (8, 3, 4, 5)
    assert (first.audits, first.audits_reviewed, first.audit_misses) == (2, 2, 1)
    assert (first.reviews_reviewed, first.review_misses) == (1, 1)
    assert weeks[date(2026, 11, 9)].seen == 0
    third = weeks[date(2026, 11, 16)]
    assert (third.seen, third.sent_to_review, third.sampled, third.auto_approved) == (2, 2, 1, 0)
    assert (third.audits_reviewed, third.audit_misses) == (1, 1)


def test_totals_give_the_audit_miss_rate_with_its_wilson_interval(stored):
    totals = oversight_figures(policy=stored, first=FIRST, last=LAST).totals
    assert (totals.seen, totals.sent_to_review, totals.sampled, totals.auto_approved) == (
        10, 5, 5, 5
    )  # fmt: skip
    miss = totals.audit_miss
    assert (miss.successes, miss.n) == (2, 3)
    assert (miss.low, miss.high) == wilson_interval(2, 3)
    assert miss.rate == pytest.approx(2 / 3)


def test_rules_are_counted_by_name_across_versions_in_the_current_order(stored):
    figures = oversight_figures(
        policy=stored, first=FIRST, last=LAST, rule_order=["sure", "likely", "rest"]
    )
    assert [(rule.rule, rule.versions) for rule in figures.rules] == [
        ("sure", [1]),
        ("likely", [1, 2]),
        ("rest", [1]),
        (None, [2]),
    ]
    likely = figures.rules[1].counts
    assert (likely.seen, likely.sampled, likely.audits, likely.audit_misses) == (5, 5, 3, 2)
    assert likely.auto_approved == 2


def test_a_quiet_period_has_every_week_at_zero(organization):
    policy = policy_with_versions(organization, "quiet", RULES)
    figures = oversight_figures(policy=policy, first=FIRST, last=LAST)
    assert [counts.seen for _, counts in figures.weeks] == [0, 0, 0]
    assert figures.rules == []
    assert figures.totals.audit_miss.rate is None


def test_the_api_shape_names_weeks_rules_and_totals(stored):
    data = figures_to_api(oversight_figures(policy=stored, first=FIRST, last=LAST))
    assert data["from"] == "2026-11-02" and data["to"] == "2026-11-22"
    assert [week["week_start"] for week in data["weeks"]] == [
        "2026-11-02", "2026-11-09", "2026-11-16"
    ]  # fmt: skip
    assert data["totals"]["audit_miss_rate"]["n"] == 3
    assert data["weeks"][1]["audit_miss_rate"] == {
        "successes": 0, "n": 0, "rate": None, "low": None, "high": None
    }  # fmt: skip
