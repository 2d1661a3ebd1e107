"""Expert endpoints (GET /me/offers, POST /offers/{id}/accept|decline) and the offers inbox page:
happy paths, the contract's status codes, wrong role, anonymous, someone else's offer, CSRF."""

from __future__ import annotations

import pytest
from django.test import Client

from review_requests.models import Assignment, Offer
from tests.conftest import login_client
from tests.factories import CreditGrantFactory, OfferFactory, ReviewRequestFactory
from tests.review_requests.api_offers_support import radiologist

pytestmark = pytest.mark.django_db


@pytest.fixture
def profile(expert):
    return radiologist(user=expert)


@pytest.fixture
def other_profile(other_expert):
    return radiologist(user=other_expert)


@pytest.fixture
def offer(organization, profile):
    CreditGrantFactory(organization=organization)
    return OfferFactory(
        review_request=ReviewRequestFactory(
            organization=organization, title="Chest X-ray <b>check</b>"
        ),
        expert=profile,
    )


# API ----------------------------------------------------------------------------------------


def test_my_offers_lists_open_offers_without_the_result(expert, offer, other_profile):
    OfferFactory(review_request=offer.review_request, expert=other_profile)  # not mine
    OfferFactory(
        review_request=ReviewRequestFactory(organization=offer.review_request.organization),
        expert=Offer.objects.get(pk=offer.pk).expert,
        minutes=-5,
    )
    response = login_client(expert).get("/api/v1/me/offers")
    assert response.status_code == 200
    data = response.json()["data"]
    assert [item["id"] for item in data] == [str(offer.pk)]
    item = data[0]
    assert item["rate_cents"] == 10_000
    assert item["expires_at"]
    assert item["review_request"]["id"] == str(offer.review_request_id)
    assert "result" not in item["review_request"]
    assert item["max_earning_cents"] == 10_000


def test_accept_by_api_returns_the_assignment_id(expert, offer):
    response = login_client(expert).post(f"/api/v1/offers/{offer.pk}/accept")
    assert response.status_code == 200
    assignment = Assignment.objects.get()
    assert response.json()["assignment_id"] == str(assignment.pk)
    assert response.json()["workspace_url"] == f"/workspace/{assignment.pk}/"


def test_accept_after_someone_else_is_409_offer_taken(expert, other_expert, offer, other_profile):
    rival = OfferFactory(review_request=offer.review_request, expert=other_profile)
    assert login_client(other_expert).post(f"/api/v1/offers/{rival.pk}/accept").status_code == 200
    response = login_client(expert).post(f"/api/v1/offers/{offer.pk}/accept")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "offer_taken"


def test_accept_after_expiry_is_410(expert, offer):
    from datetime import timedelta

    from django.utils import timezone

    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = login_client(expert).post(f"/api/v1/offers/{offer.pk}/accept")
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "offer_expired"


def test_someone_elses_offer_is_404(other_expert, other_profile, offer):
    client = login_client(other_expert)
    assert client.post(f"/api/v1/offers/{offer.pk}/accept").status_code == 404
    assert client.post(f"/api/v1/offers/{offer.pk}/decline").status_code == 404
    assert client.post("/api/v1/offers/not-a-uuid/accept").status_code == 404
    offer.refresh_from_db()
    assert offer.status == "open"


def test_decline_by_api(expert, offer):
    response = login_client(expert).post(f"/api/v1/offers/{offer.pk}/decline")
    assert response.status_code == 200
    assert response.json() == {"id": str(offer.pk), "status": "declined"}


def test_expert_endpoints_refuse_anonymous_company_members_and_api_keys(
    client, company_member, api_key, offer
):
    assert client.get("/api/v1/me/offers").status_code == 401
    assert client.post(f"/api/v1/offers/{offer.pk}/accept").status_code == 401
    member = login_client(company_member)
    assert member.get("/api/v1/me/offers").status_code == 403
    assert member.post(f"/api/v1/offers/{offer.pk}/accept").status_code == 403
    keyed = Client(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert keyed.get("/api/v1/me/offers").status_code == 401
    assert not Assignment.objects.exists()


def test_accept_without_csrf_token_is_refused(expert, offer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(expert)
    response = client.post(f"/api/v1/offers/{offer.pk}/accept")
    assert response.status_code == 403
    assert not Assignment.objects.exists()


def test_accept_wrong_method_is_405(expert, offer):
    assert login_client(expert).get(f"/api/v1/offers/{offer.pk}/accept").status_code == 405


# The inbox page --------------------------------------------------------------------------------


def test_inbox_shows_each_offer_with_its_terms_and_escapes_the_title(expert, offer):
    response = login_client(expert).get("/expert/offers/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Chest X-ray &lt;b&gt;check&lt;/b&gt;" in html
    assert "<b>check</b>" not in html
    assert "$100.00/h" in html  # rate
    assert "1 h" in html  # hours cap
    assert "$100.00" in html  # most you can earn
    assert f'data-countdown="{offer.expires_at.isoformat()}"' in html
    assert offer.reason in html
    assert f'action="/expert/offers/{offer.pk}/accept/"' in html
    assert "data-confirm=" in html
    assert "js/offers.js" in html


def test_an_offer_card_without_a_deadline_says_so_in_words_and_has_no_bullet(expert, offer):
    assert offer.review_request.deadline is None
    html = login_client(expert).get("/expert/offers/").content.decode()
    assert "<dd>No deadline</dd>" in html
    assert "None" not in html
    assert 'class="stack card-list"' in html  # the list's bullets are off (static/css/inloop.css)


def test_inbox_empty_state(expert, profile):
    response = login_client(expert).get("/expert/offers/")
    assert "No open offers" in response.content.decode()


def test_inbox_fragment_is_just_the_list(expert, offer):
    response = login_client(expert).get("/expert/offers/list/")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="offer-{offer.pk}"' in html
    assert "<html" not in html


def test_accept_form_redirects_to_the_workspace(expert, offer):
    response = login_client(expert).post(f"/expert/offers/{offer.pk}/accept/")
    assignment = Assignment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/workspace/{assignment.pk}/"


def test_accept_form_refusal_comes_back_with_a_message(expert, offer):
    from datetime import timedelta

    from django.utils import timezone

    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = login_client(expert)
    response = client.post(f"/expert/offers/{offer.pk}/accept/", follow=True)
    assert response.redirect_chain[-1][0] == "/expert/offers/"
    assert "This offer has expired." in response.content.decode()
    assert not Assignment.objects.exists()


def test_decline_form(expert, offer):
    response = login_client(expert).post(f"/expert/offers/{offer.pk}/decline/")
    assert response.status_code == 302
    offer.refresh_from_db()
    assert offer.status == "declined"


def test_inbox_role_matrix(client, company_member, other_expert, other_profile, offer):
    assert client.get("/expert/offers/").status_code == 302  # to login
    assert login_client(company_member).get("/expert/offers/").status_code == 403
    other = login_client(other_expert)
    assert other.post(f"/expert/offers/{offer.pk}/accept/").status_code == 404
    assert other.post(f"/expert/offers/{offer.pk}/decline/").status_code == 404
    assert other.get(f"/expert/offers/{offer.pk}/accept/").status_code == 405
    offer.refresh_from_db()
    assert offer.status == "open"
