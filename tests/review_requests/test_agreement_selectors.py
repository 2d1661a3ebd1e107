"""Agreement over many requests, read from the database: per organization and specialization
(units = requests) and per expert against their co-reviewers, by month; adjudicators' reviews
and single-review requests never count."""

from __future__ import annotations

import pytest

from review_requests.agreement_selectors import agreement_over_requests, expert_agreement_by_month
from tests.factories import (
    AssignmentFactory,
    ExpertProfileFactory,
    ReviewFactory,
    ReviewRequestFactory,
)

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
