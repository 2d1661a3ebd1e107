"""Independent reviews (docs/contract/independent-reviews.md): `blind` and `four_eyes` on
create, what a co-reviewer may see (page and selectors), adjudication (threshold, four-eyes),
and that the webhook fires once and the money moves once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from billing.models import Earning, Hold
from billing.selectors import company_balance
from review_requests import workspace as ws
from review_requests.matching import matching_run
from review_requests.models import Assignment, Offer, ReviewRequest, ReviewSettings, WebhookEvent
from review_requests.services import offer_accept, review_settings_update
from review_requests.workspace_selectors import (
    ROLE_REVIEWER,
    co_reviews_for,
    workspace_role,
    workspace_snapshot,
)
from tests.conftest import login_client
from tests.factories import (
    AssignmentFactory,
    CreditGrantFactory,
    ExpertProfileFactory,
    ReviewRequestFactory,
    UserFactory,
)
from tests.review_requests.api_offers_support import api_client, body, post_json

pytestmark = pytest.mark.django_db

URL = "/api/v1/review-requests"


# Create ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "blind", "four_eyes"),
    [
        ({}, False, False),  # one reviewer: nothing to hide
        ({"reviewers": 2}, True, False),  # several: blind by default
        ({"reviewers": 2, "blind": False}, False, False),
        ({"reviewers": 1, "blind": True}, True, False),
        ({"reviewers": 2, "four_eyes": True}, True, True),
        ({"reviewers": 3, "four_eyes": True, "blind": True}, True, True),
    ],
)
def test_blind_and_four_eyes_on_create(api_key, extra, blind, four_eyes):
    response = post_json(api_client(api_key), URL, body(**extra))
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["blind"], data["four_eyes"]) == (blind, four_eyes)
    stored = ReviewRequest.objects.get(pk=data["id"])
    assert (stored.blind, stored.four_eyes) == (blind, four_eyes)


@pytest.mark.parametrize(
    "extra",
    [
        {"four_eyes": True},  # one reviewer
        {"reviewers": 2, "four_eyes": True, "blind": False},
    ],
)
def test_four_eyes_needs_two_blind_reviewers(api_key, extra):
    response = post_json(api_client(api_key), URL, body(**extra))
    assert response.status_code == 422
    field = response.json()["error"]["field"]
    assert field in ("four_eyes", "blind")
    assert not ReviewRequest.objects.exists()


# Who sees what --------------------------------------------------------------------------------


@pytest.fixture
def pair(organization, expert, other_expert):
    CreditGrantFactory(organization=organization, amount_cents=1_000_000)
    rr = ReviewRequestFactory(
        organization=organization,
        in_review=True,
        reviewers=2,
        blind=True,
        callback_url="https://example.com/hook",
    )
    first = AssignmentFactory(review_request=rr, expert__user=expert)
    second = AssignmentFactory(review_request=rr, expert__user=other_expert)
    return rr, first, second


def submit(assignment, user, **draft):
    ws.draft_update(assignment_id=assignment.pk, user=user, changes=draft)
    return ws.assignment_submit(assignment=Assignment.objects.get(pk=assignment.pk), user=user)


def test_blind_co_reviewer_sees_nothing_until_all_have_submitted(
    pair, expert, other_expert, company_member
):
    _rr, first, second = pair
    ws.draft_update(assignment_id=first.pk, user=expert, changes={"summary": "secret"})
    page = login_client(other_expert).get(reverse("workspace", args=[first.pk]))
    assert page.status_code == 404
    assert workspace_role(user=other_expert, assignment=first) is None
    assert co_reviews_for(user=other_expert, assignment=second) == []
    own = login_client(other_expert).get(reverse("workspace", args=[second.pk]))
    assert b"secret" not in own.content
    # The company sees every workspace.
    assert (
        login_client(company_member).get(reverse("workspace", args=[first.pk])).status_code == 200
    )

    submit(first, expert, verdict="approved")
    assert login_client(other_expert).get(reverse("workspace", args=[first.pk])).status_code == 404
    submit(second, other_expert, verdict="approved")

    first.refresh_from_db()
    assert workspace_role(user=other_expert, assignment=first) == ROLE_REVIEWER
    page = login_client(other_expert).get(reverse("workspace", args=[first.pk]))
    assert page.status_code == 200
    assert b"another reviewer's work (read-only)" in page.content
    snapshot = workspace_snapshot(assignment=first, user=other_expert, role=ROLE_REVIEWER)
    assert snapshot["draft"]["summary"] == "secret"
    shown = co_reviews_for(user=other_expert, assignment=second)
    assert [c["assignment_id"] for c in shown] == [str(first.pk)]
    assert shown[0]["review"]["verdict"] == "approved"


def test_not_blind_co_reviewers_may_watch_each_other(pair, expert, other_expert):
    rr, first, _second = pair
    ReviewRequest.objects.filter(pk=rr.pk).update(blind=False)
    first.refresh_from_db()
    assert workspace_role(user=other_expert, assignment=first) == ROLE_REVIEWER
    assert login_client(other_expert).get(reverse("workspace", args=[first.pk])).status_code == 200
    # Someone not on the request sees nothing, blind or not.
    stranger = UserFactory(account_type="expert")
    ExpertProfileFactory(user=stranger)
    assert workspace_role(user=stranger, assignment=first) is None


# Adjudication -----------------------------------------------------------------------------------


@pytest.fixture
def adjudicator_profile():
    return ExpertProfileFactory(
        specializations=["medicine.radiology"],
        credentials=["medicine"],
        always_available=True,
        hourly_rate_cents=12_000,
    )


def _accept_adjudication(rr) -> Assignment:
    assert matching_run(review_request=rr) == 1
    offer = Offer.objects.get(review_request=rr, status="open")
    assert offer.adjudicator
    return offer_accept(offer_id=offer.pk, expert=offer.expert)


def test_four_eyes_disagreement_goes_to_an_adjudicator_and_completes_once(
    pair, expert, other_expert, organization, adjudicator_profile
):
    rr, first, second = pair
    ReviewRequest.objects.filter(pk=rr.pk).update(four_eyes=True)
    before = company_balance(organization=organization)
    submit(first, expert, verdict="approved", scores={"accuracy": 5})
    submit(second, other_expert, verdict="rejected", summary="Wrong side.", scores={"accuracy": 1})

    rr.refresh_from_db()
    assert rr.status == "in_review"
    assert rr.adjudication_wanted_at is not None
    assert rr.result is None
    assert not WebhookEvent.objects.filter(type="review_request.completed").exists()

    adjudication = _accept_adjudication(rr)
    assert adjudication.adjudicator
    assert adjudication.expert == adjudicator_profile
    assert Hold.objects.get(ref=adjudication.hold_ref).status == "held"  # billed like any review
    # The adjudicator sees every review, in the snapshot and on the page.
    user = adjudicator_profile.user
    snapshot = workspace_snapshot(assignment=adjudication, user=user, role="expert")
    assert snapshot["adjudicator"] is True
    assert {c["review"]["verdict"] for c in snapshot["co_reviews"]} == {"approved", "rejected"}
    page = login_client(user).get(reverse("workspace", args=[adjudication.pk]))
    assert b"Reviews to adjudicate" in page.content and b"Wrong side." in page.content
    assert workspace_role(user=user, assignment=first) == ROLE_REVIEWER

    submit(adjudication, user, verdict="corrected", corrected_output="Left side.", summary="B.")
    rr.refresh_from_db()
    assert rr.status == "completed"
    result = rr.result
    assert result["verdict"] == "corrected"
    assert result["adjudication"] == {
        "assignment_id": str(adjudication.pk),
        "verdict": "corrected",
        "summary": "B.",
    }
    assert result["four_eyes"] == {"agreed": False, "adjudicated": True}
    assert len(result["reviews"]) == 2
    assert result["agreement_detail"]["verdict"] == 0.0
    assert WebhookEvent.objects.filter(type="review_request.completed").count() == 1
    # Money: three reviews, three captures, each once; the company paid exactly their cost.
    assert Earning.objects.count() == 3
    refs = {first.hold_ref, second.hold_ref, adjudication.hold_ref}
    assert set(Hold.objects.filter(ref__in=refs).values_list("status", flat=True)) == {"captured"}
    after = company_balance(organization=organization)
    assert after.held_cents == 0
    assert before.available_cents + before.held_cents - after.available_cents == rr.cost_cents


def test_four_eyes_agreement_completes_without_adjudication(pair, expert, other_expert):
    rr, first, second = pair
    ReviewRequest.objects.filter(pk=rr.pk).update(four_eyes=True)
    submit(first, expert, verdict="approved")
    submit(second, other_expert, verdict="approved")
    rr.refresh_from_db()
    assert rr.status == "completed"
    assert rr.result["four_eyes"] == {"agreed": True, "adjudicated": False}
    assert rr.result["adjudication"] is None
    assert WebhookEvent.objects.filter(type="review_request.completed").count() == 1


def test_threshold_off_by_default_and_on_when_set(pair, expert, other_expert, organization):
    rr, first, second = pair
    assert not ReviewSettings.objects.exists()
    review_settings_update(organization=organization, adjudication_threshold=0.9)
    submit(first, expert, verdict="approved")
    submit(second, other_expert, verdict="corrected", corrected_output="x")
    rr.refresh_from_db()
    assert rr.status == "in_review" and rr.adjudication_wanted_at is not None


def test_without_threshold_a_split_is_the_consensus(pair, expert, other_expert):
    rr, first, second = pair
    submit(first, expert, verdict="approved")
    submit(second, other_expert, verdict="rejected")
    rr.refresh_from_db()
    assert rr.status == "completed"
    assert rr.result["adjudication"] is None
    assert "four_eyes" not in rr.result


def test_adjudication_offer_goes_to_one_expert_not_on_the_request(
    pair, expert, other_expert, adjudicator_profile, settings
):
    rr, first, second = pair
    ExpertProfileFactory(
        specializations=["medicine.radiology"], credentials=["medicine"], always_available=True
    )
    ReviewRequest.objects.filter(pk=rr.pk).update(four_eyes=True)
    submit(first, expert, verdict="approved")
    submit(second, other_expert, verdict="rejected")
    rr.refresh_from_db()
    assert matching_run(review_request=rr) == 1  # one offer at a time, whatever the fan-out
    offer = Offer.objects.get(review_request=rr)
    assert offer.adjudicator
    assert offer.expert_id not in {first.expert_id, second.expert_id}
    assert matching_run(review_request=rr) == 0


# Settings page ----------------------------------------------------------------------------------


def test_settings_page_for_company_admins(organization, company_member):
    url = reverse("company_review_settings")
    client = login_client(company_member)
    page = client.get(url)
    assert page.status_code == 200 and b"Off:" in page.content
    response = client.post(url, {"adjudication_percent": "80"})
    assert response.status_code == 302
    assert ReviewSettings.objects.get(organization=organization).adjudication_threshold == 0.8
    assert b"below 80%" in client.get(url).content
    client.post(url, {"adjudication_percent": ""})
    assert ReviewSettings.objects.get(organization=organization).adjudication_threshold is None
    assert client.post(url, {"adjudication_percent": "0"}).status_code == 200  # refused, shown


def test_settings_page_refuses_plain_members(plain_member):
    client = login_client(plain_member)
    assert client.get(reverse("company_review_settings")).status_code == 200
    response = client.post(reverse("company_review_settings"), {"adjudication_percent": "50"})
    assert response.status_code == 403
    assert not ReviewSettings.objects.exists()


def test_deadline_before_adjudication_completes_with_the_consensus(
    pair, expert, other_expert, adjudicator_profile
):
    from datetime import timedelta

    from django.utils import timezone

    from review_requests.services import requests_expire_due

    rr, first, second = pair
    ReviewRequest.objects.filter(pk=rr.pk).update(four_eyes=True)
    submit(first, expert, verdict="approved")
    submit(second, other_expert, verdict="rejected")
    rr.refresh_from_db()
    adjudication = _accept_adjudication(rr)
    ReviewRequest.objects.filter(pk=rr.pk).update(deadline=timezone.now() - timedelta(minutes=1))
    assert requests_expire_due() == 1
    rr.refresh_from_db()
    assert rr.status == "completed"
    assert rr.result["adjudication"] is None
    assert rr.result["four_eyes"] == {"agreed": False, "adjudicated": False}
    assert Hold.objects.get(ref=adjudication.hold_ref).status == "released"
    assert WebhookEvent.objects.filter(type="review_request.completed").count() == 1
