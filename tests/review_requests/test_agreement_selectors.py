"""Agreement over many requests, read from the database: per organization and specialization
(units = requests) and per expert against their co-reviewers, by month; adjudicators' reviews
and single-review requests never count."""

from __future__ import annotations

from datetime import date

import pytest

from review_requests.agreement import alpha_reading
from review_requests.agreement_selectors import (
    AgreementScope,
    agreement_over_requests,
    agreement_report,
    expert_agreement_by_month,
    expert_agreement_recent,
)
from tests.factories import (
    AssignmentFactory,
    ExpertProfileFactory,
    ReviewFactory,
    ReviewRequestFactory,
    specialization,
)
from tests.review_requests.oversight_support import day, policy_with_versions

pytestmark = pytest.mark.django_db

# Krippendorff (2011), section A: two observers, ten units, nominal alpha = 0.095.
A = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
B = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
VERDICT = {0: "approved", 1: "rejected"}


def reviewed(rr, expert, verdict, *, adjudicator=False, scores=None):
    assignment = AssignmentFactory(
        review_request=rr, expert=expert, held=False, status="submitted", adjudicator=adjudicator
    )
    ReviewFactory(assignment=assignment, verdict=verdict, scores=scores or {})


@pytest.fixture
def paper(organization):
    first, second, judge = (ExpertProfileFactory() for _ in range(3))
    for a, b in zip(A, B, strict=True):
        rr = ReviewRequestFactory(organization=organization, reviewers=2, status="completed")
        reviewed(rr, first, VERDICT[a], scores={"accuracy": 4 + a})
        reviewed(rr, second, VERDICT[b], scores={"accuracy": 4 + b})
        reviewed(rr, judge, "corrected", adjudicator=True)  # never counted
    lone = ReviewRequestFactory(organization=organization, reviewers=1, status="completed")
    reviewed(lone, first, "corrected")  # one reviewer: no unit
    return first, second


def test_over_requests_is_the_papers_alpha(paper, organization, other_organization):
    figures = agreement_over_requests(organization_id=organization.pk)
    assert figures["requests"] == 10
    assert figures["verdict"] == pytest.approx(0.095, abs=0.0006)
    # The same pattern on the ordinal 4/5 scale: ordinal alpha equals nominal for two values.
    assert figures["scores"]["accuracy"] == pytest.approx(0.095, abs=0.0006)
    assert agreement_over_requests(specialization_slug="medicine")["requests"] == 10
    assert agreement_over_requests(specialization_slug="law")["requests"] == 0
    assert agreement_over_requests(organization_id=other_organization.pk) == {
        "requests": 0,
        "verdict": None,
        "scores": {},
    }


def test_per_expert_counts_their_pairs_by_month(paper):
    first, _ = paper
    figures = expert_agreement_by_month(expert_id=first.pk)
    assert figures["pairs"] == 10
    assert figures["verdict"] == pytest.approx(0.095, abs=0.0006)
    assert [m["pairs"] for m in figures["months"]] == [10]


# The report the API and the company page read: period, policy, per specialization and month.


def _pair(organization, experts, verdicts, *, at, slug="medicine.radiology", version=None):
    rr = ReviewRequestFactory(
        organization=organization,
        reviewers=2,
        status="completed",
        created_at=at,
        specialization=specialization(slug),
        policy_version=version,
    )
    for expert, verdict in zip(experts, verdicts, strict=True):
        reviewed(rr, expert, verdict)
    return rr


def test_the_report_counts_the_period_the_policy_and_groups_by_specialization_and_month(
    organization, other_organization
):
    experts = (ExpertProfileFactory(), ExpertProfileFactory())
    triage = policy_with_versions(organization, "triage", [{"name": "all", "outcome": "review"}])
    version = triage.versions.get()
    _pair(organization, experts, ("approved", "approved"), at=day(10, 30), version=version)
    _pair(organization, experts, ("approved", "rejected"), at=day(11, 2), version=version)
    _pair(organization, experts, ("rejected", "rejected"), at=day(11, 20), slug="law.contracts")
    _pair(organization, experts, ("approved", "approved"), at=day(12, 1, hour=0))
    _pair(other_organization, experts, ("approved", "rejected"), at=day(11, 5))
    scope = AgreementScope(organization_id=organization.pk, first=date(2026, 11, 1),
                           last=date(2026, 11, 30))  # fmt: skip
    report = agreement_report(scope=scope)
    assert report["requests"] == 2  # 30 Oct, 1 Dec and the other organization's are out
    assert [(m["month"], m["requests"]) for m in report["by_month"]] == [("2026-11", 2)]
    assert [(s["specialization"], s["requests"]) for s in report["by_specialization"]] == [
        ("law.contracts", 1),
        ("medicine.radiology", 1),
    ]
    assert report["by_specialization"][0]["verdict"] == 1.0  # one unit, the same verdict
    routed = agreement_report(scope=AgreementScope(organization_id=organization.pk,
                                                   policy_id=triage.pk))  # fmt: skip
    assert routed["requests"] == 2
    assert [m["month"] for m in routed["by_month"]] == ["2026-10", "2026-11"]


def test_the_months_of_a_period_are_all_listed_quiet_ones_as_zero(organization):
    scope = AgreementScope(organization_id=organization.pk, first=date(2026, 11, 15),
                           last=date(2027, 2, 1))  # fmt: skip
    report = agreement_report(scope=scope)
    assert report["requests"] == 0 and report["verdict"] is None and report["scores"] == {}
    assert report["by_month"] == [
        {"month": month, "requests": 0, "verdict": None}
        for month in ("2026-11", "2026-12", "2027-01", "2027-02")
    ]


def test_an_experts_recent_agreement_reads_each_figure(paper):
    first, _ = paper
    figures = expert_agreement_recent(expert_id=first.pk)
    assert figures["pairs"] == 10 and figures["reading"] == "weak agreement"  # 0.095
    assert figures["months"][0]["reading"] == figures["reading"]
    assert figures["months_back"] == 12


@pytest.mark.parametrize(
    ("value", "reading"),
    [
        (None, "not enough reviews to compare"),
        (1.0, "reliable agreement"),
        (0.8, "reliable agreement"),
        (0.7, "tentative agreement"),
        (0.3, "weak agreement"),
        (0.0, "no better than chance"),
        (-0.4, "no better than chance"),
    ],
)
def test_alpha_readings(value, reading):
    assert alpha_reading(value) == reading
