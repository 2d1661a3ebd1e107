"""The agreement pages: the company's /company/agreement/ (its requests only, the filters in the
URL, errors next to the fields, an empty state before any request has two reviews), the link
from the review settings page, the expert's own agreement by month on their qualifications page
and the operator's view of it on the expert's console page."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.conftest import give_operator_mfa, login_client
from tests.factories import (
    AssignmentFactory,
    ExpertProfileFactory,
    ReviewFactory,
    ReviewRequestFactory,
)
from tests.review_requests.oversight_support import policy_with_versions

pytestmark = pytest.mark.django_db

URL = "/company/agreement/"


def reviewed(rr, expert, verdict):
    assignment = AssignmentFactory(review_request=rr, expert=expert, held=False, status="submitted")
    ReviewFactory(assignment=assignment, verdict=verdict, scores={"accuracy": 4})


@pytest.fixture
def pairs(organization, other_organization, expert, other_expert):
    """Three requests of the organization reviewed by the cast's two experts (one disagreement),
    and one of the other organization."""
    mine, theirs = ExpertProfileFactory(user=expert), ExpertProfileFactory(user=other_expert)
    for verdicts in (("approved", "approved"), ("approved", "rejected"), ("rejected", "rejected")):
        rr = ReviewRequestFactory(organization=organization, reviewers=2, status="completed")
        reviewed(rr, mine, verdicts[0])
        reviewed(rr, theirs, verdicts[1])
    other = ReviewRequestFactory(organization=other_organization, reviewers=2, status="completed")
    reviewed(other, mine, "approved")
    reviewed(other, theirs, "approved")
    return mine, theirs


def test_the_page_shows_the_figures_of_the_organizations_requests(pairs, company_member):
    page = login_client(company_member).get(URL)
    assert page.status_code == 200
    text = page.content.decode()
    assert "3 requests compared" in text  # not the other organization's
    assert 'data-agreement="verdict"' in text and 'data-agreement="scores.accuracy"' in text
    assert f'data-month="{timezone.now():%Y-%m}"' in text
    assert "medicine.radiology" in text
    assert "No request has two reviews yet" not in text


def test_the_page_has_an_empty_state_before_two_reviews(organization, company_member):
    text = login_client(company_member).get(URL).content.decode()
    assert "No request has two reviews yet" in text
    assert "/company/requests/new/" in text


def test_the_filters_stay_in_the_url_and_narrow_the_figures(pairs, organization, company_member):
    policy_with_versions(organization, "triage", [{"name": "all", "outcome": "review"}])
    client = login_client(company_member)
    law = client.get(URL, {"specialization": "law"}).content.decode()
    assert "No request has two reviews yet" in law and "in law and below" in law
    routed = client.get(URL, {"policy": "triage"}).content.decode()
    assert "routed by the policy triage" in routed and "No request has two reviews" in routed
    assert '<option value="triage" selected>' in routed


def test_bad_filters_are_shown_next_to_their_fields_with_the_default_period(pairs, company_member):
    client = login_client(company_member)
    page = client.get(URL, {"from_day": "2026-11-30", "to_day": "2026-11-01"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "The end must be on or after the start." in text
    assert "3 requests compared" in text  # the default period instead
    unknown = client.get(URL, {"policy": "not-ours", "specialization": "astrology"})
    assert unknown.status_code == 200
    assert unknown.content.decode().count("Select a valid choice") == 2


def test_the_page_is_for_company_members_only(client, expert):
    assert login_client(expert).get(URL).status_code in (403, 404)
    assert client.get(URL).status_code == 302  # to the login page
    assert login_client(expert).post(URL).status_code in (403, 404, 405)


def test_the_review_settings_page_links_to_it(organization, company_member):
    page = login_client(company_member).get("/company/review-settings/")
    assert f'href="{URL}"' in page.content.decode()


def test_the_expert_sees_their_agreement_by_month(pairs, expert):
    text = login_client(expert).get("/expert/qualifications/").content.decode()
    assert "Your agreement with co-reviewers" in text
    assert "4 comparisons" in text
    assert f'data-month="{timezone.now():%Y-%m}"' in text


def test_an_expert_without_co_reviewers_sees_why_there_is_no_figure(expert):
    ExpertProfileFactory(user=expert)
    text = login_client(expert).get("/expert/qualifications/").content.decode()
    assert "No request reviewed with a co-reviewer in this time yet." in text


def test_the_operator_sees_an_experts_agreement_on_their_console_page(pairs, expert, operator):
    give_operator_mfa(operator)
    client = login_client(operator)
    text = client.get(f"/console/users/{expert.pk}/").content.decode()
    assert "Their agreement with co-reviewers" in text and "4 comparisons" in text


def test_the_console_page_of_a_company_member_has_no_agreement(company_member, operator):
    give_operator_mfa(operator)
    text = login_client(operator).get(f"/console/users/{company_member.pk}/").content.decode()
    assert "agreement with co-reviewers" not in text
