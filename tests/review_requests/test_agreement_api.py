"""GET /api/v1/agreement: Krippendorff's alpha over the caller's organization's requests with two
or more independent reviews, in all, per specialization and per month; the filters (period,
specialization subtree, oversight policy); the wrong method, anonymous, a session, another
organization (its requests never counted, its policy a 404) and bad input (422 naming the
field)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import login_client
from tests.factories import (
    AssignmentFactory,
    ExpertProfileFactory,
    ReviewFactory,
    ReviewRequestFactory,
    specialization,
)
from tests.review_requests.oversight_support import day, policy_with_versions

pytestmark = pytest.mark.django_db

URL = "/api/v1/agreement"
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}
# Krippendorff (2011), section A: two observers, ten units, nominal alpha = 0.095.
A = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
B = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
VERDICT = {0: "approved", 1: "rejected"}


def api(key: str | None) -> Client:
    return Client(headers={"Authorization": f"Bearer {key}"} if key else {})


def reviewed(rr, expert, verdict, *, scores=None, adjudicator=False):
    assignment = AssignmentFactory(
        review_request=rr, expert=expert, held=False, status="submitted", adjudicator=adjudicator
    )
    ReviewFactory(assignment=assignment, verdict=verdict, scores=scores or {})


@pytest.fixture
def triage(organization):
    return policy_with_versions(organization, "triage", [{"name": "all", "outcome": "review"}])


@pytest.fixture
def paper(organization, other_organization, triage):
    """The paper's ten requests in November (the first three routed by `triage`), one more in
    October, and the other organization's request where the two disagree."""
    first, second, judge = (ExpertProfileFactory() for _ in range(3))
    version = triage.versions.get()
    for index, (a, b) in enumerate(zip(A, B, strict=True)):
        rr = ReviewRequestFactory(
            organization=organization,
            reviewers=2,
            status="completed",
            created_at=day(11, 1 + index),
            policy_version=version if index < 3 else None,
        )
        reviewed(rr, first, VERDICT[a], scores={"accuracy": 4 + a})
        reviewed(rr, second, VERDICT[b], scores={"accuracy": 4 + b})
        reviewed(rr, judge, "corrected", adjudicator=True)  # never counted
    october = ReviewRequestFactory(
        organization=organization, reviewers=2, status="completed", created_at=day(10, 15),
        specialization=specialization("law.contracts"),
    )  # fmt: skip
    reviewed(october, first, "approved")
    reviewed(october, second, "approved")
    theirs = ReviewRequestFactory(
        organization=other_organization, reviewers=2, status="completed", created_at=day(11, 3)
    )
    reviewed(theirs, first, "approved")
    reviewed(theirs, second, "rejected")


def test_it_answers_the_papers_alpha_per_specialization_and_month(paper, api_key):
    response = api(api_key).get(URL, NOVEMBER)
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["from"], data["to"]) == ("2026-11-01", "2026-11-30")
    assert (data["specialization"], data["policy"]) == (None, None)
    assert data["requests"] == 10  # not October's, not the other organization's
    assert data["verdict"] == pytest.approx(0.095, abs=0.0006)
    assert data["scores"]["accuracy"] == pytest.approx(0.095, abs=0.0006)
    assert data["by_specialization"] == [
        {"specialization": "medicine.radiology", "requests": 10, "verdict": data["verdict"]}
    ]
    assert data["by_month"] == [{"month": "2026-11", "requests": 10, "verdict": data["verdict"]}]


def test_the_period_takes_every_month_it_touches(paper, api_key):
    data = api(api_key).get(URL, {"from": "2026-10-01", "to": "2026-12-31"}).json()
    assert data["requests"] == 11
    assert [(m["month"], m["requests"]) for m in data["by_month"]] == [
        ("2026-10", 1),
        ("2026-11", 10),
        ("2026-12", 0),
    ]
    assert data["by_month"][2]["verdict"] is None
    assert [s["specialization"] for s in data["by_specialization"]] == [
        "law.contracts",
        "medicine.radiology",
    ]


def test_it_filters_by_specialization_subtree_and_policy(paper, api_key):
    wide = {"from": "2026-10-01", "to": "2026-11-30"}
    assert api(api_key).get(URL, {**wide, "specialization": "law"}).json()["requests"] == 1
    medicine = api(api_key).get(URL, {**wide, "specialization": "medicine"}).json()
    assert medicine["requests"] == 10 and medicine["specialization"] == "medicine"
    routed = api(api_key).get(URL, {**wide, "policy": "triage"}).json()
    assert routed["requests"] == 3 and routed["policy"] == "triage"


def test_the_other_organization_sees_only_its_own(paper, other_api_key):
    data = api(other_api_key).get(URL, NOVEMBER).json()
    assert data["requests"] == 1
    assert data["verdict"] == 0.0  # one unit where the two differ: at most 0


def test_another_organizations_policy_is_a_404(paper, other_api_key):
    response = api(other_api_key).get(URL, {**NOVEMBER, "policy": "triage"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_unknown_policy_is_a_404(paper, api_key):
    response = api(api_key).get(URL, {"policy": "nope"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_no_request_with_two_reviews_answers_zero_and_nulls(organization, api_key):
    data = api(api_key).get(URL, NOVEMBER).json()
    assert (data["requests"], data["verdict"], data["scores"]) == (0, None, {})
    assert data["by_specialization"] == []
    assert data["by_month"] == [{"month": "2026-11", "requests": 0, "verdict": None}]


def test_it_defaults_to_the_last_365_days(organization, api_key):
    data = api(api_key).get(URL).json()
    assert len(data["by_month"]) in (12, 13)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-11-30", "to": "2026-11-01"}, "from"),  # from after to
        ({"from": "2025-01-01", "to": "2026-11-01"}, "from"),  # over 366 days
        ({"from": "1 Nov 2026"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "0"}, "from"),
        ({"specialization": "astrology"}, "specialization"),
        ({"specialization": "x" * 101}, "specialization"),
        ({"policy": "p" * 81}, "policy"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(organization, api_key, query, field):
    response = api(api_key).get(URL, query)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == field, error


def test_it_needs_a_key_and_takes_no_post(organization, api_key):
    assert api(None).get(URL).status_code == 401
    assert api("inl_not_a_key").get(URL).status_code == 401
    assert api(api_key).post(URL).status_code == 405


def test_a_company_members_session_reads_it(paper, company_member):
    response = login_client(company_member).get(URL, NOVEMBER)
    assert response.status_code == 200
    assert response.json()["requests"] == 10


def test_an_experts_session_is_refused(paper, expert):
    assert login_client(expert).get(URL, NOVEMBER).status_code == 401
