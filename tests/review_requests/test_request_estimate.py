"""The new-request form says what a request would cost as the company types: the hold an accept
would place (max_hours x rate x reviewers x (1 + fee)), the available balance, how many experts
fit right now; and after submitting, "waiting for funds" when the balance cannot cover it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.services import credit_grant, hold_amount_for
from marketplace.selectors import platform_fee_percent
from review_requests.estimates import request_estimate
from tests.conftest import login_client
from tests.factories import ExpertProfileFactory

pytestmark = pytest.mark.django_db

URL = "/company/requests/estimate.json"


@pytest.fixture
def radiologists():
    return [
        ExpertProfileFactory(
            specializations=["medicine.radiology"],
            credentials=["medicine"],
            always_available=True,
            hourly_rate_cents=rate,
        )
        for rate in (8_000, 12_000, 20_000)
    ]


def _hold(rate_cents: int, hours: str = "1.5") -> int:
    return hold_amount_for(
        max_hours=Decimal(hours), rate_cents=rate_cents, fee_percent=platform_fee_percent()
    )


def test_the_estimate_is_the_hold_of_the_cheapest_and_dearest_experts_who_fit(
    organization, radiologists
):
    credit_grant(organization=organization, amount_cents=100_000, reason="tests")
    estimate = request_estimate(
        organization=organization,
        specialization_slug="medicine.radiology",
        max_hours=Decimal("1.5"),
        max_rate_cents=None,
        reviewers=2,
    )
    assert estimate.candidates == 3
    assert estimate.hold_low_cents == _hold(8_000) + _hold(12_000)
    assert estimate.hold_high_cents == _hold(12_000) + _hold(20_000)
    assert estimate.available_cents == 100_000 and estimate.state == "ok"
    assert estimate.sentences()[0] == "3 experts fit right now."


def test_a_rate_cap_leaves_out_dearer_experts(organization, radiologists):
    estimate = request_estimate(
        organization=organization,
        specialization_slug="medicine.radiology",
        max_hours=Decimal("1"),
        max_rate_cents=12_000,
        reviewers=1,
    )
    assert (estimate.candidates, estimate.rate_low_cents, estimate.rate_high_cents) == (
        2,
        8_000,
        12_000,
    )


def test_the_json_says_it_in_words_and_when_the_balance_falls_short(
    company_member, organization, radiologists
):
    credit_grant(organization=organization, amount_cents=5_000, reason="tests")
    client = login_client(company_member)
    data = client.get(
        URL, {"specialization": "medicine.radiology", "max_hours": "1.5", "reviewers": "1"}
    ).json()
    assert data["candidates"] == 3 and data["available_cents"] == 5_000
    assert data["state"] == "short" and data["short_cents"] == _hold(8_000) - 5_000
    assert data["sentences"][0] == "3 experts fit right now."
    assert data["sentences"][1].startswith("An accept places a hold of between $")
    assert "It does not cover this: add at least $" in data["sentences"][2]


@pytest.mark.parametrize(
    "params",
    [
        {"specialization": "medicine.radiology"},
        {"specialization": "medicine.radiology", "max_hours": "x", "reviewers": "1"},
        {"specialization": "medicine.radiology", "max_hours": "1", "reviewers": "9"},
        {"specialization": "medicine.radiology", "max_hours": "1\x00", "reviewers": "1"},
    ],
)
def test_bad_values_get_a_400_naming_the_fields(company_member, params):
    response = login_client(company_member).get(URL, params)
    assert response.status_code == 400
    assert response.json()["error"] == "Fill in the fields the estimate needs."
    assert response.json()["fields"]


def test_nothing_chosen_yet_says_what_to_choose(company_member):
    data = login_client(company_member).get(URL).json()
    assert data == {"state": "none", "sentences": [data["sentences"][0]]}
    assert data["sentences"][0].startswith("Choose a specialization")


def test_an_unknown_specialization_fits_nobody(company_member):
    data = (
        login_client(company_member)
        .get(URL, {"specialization": "no.such", "max_hours": "1", "reviewers": "1"})
        .json()
    )
    assert data["candidates"] == 0 and data["hold_low_cents"] is None
    assert data["sentences"][0].startswith("No expert fits right now")


def test_only_company_members_get_an_estimate(expert, client):
    params = {"specialization": "medicine.radiology", "max_hours": "1", "reviewers": "1"}
    assert login_client(expert).get(URL, params).status_code == 403
    assert client.get(URL, params).status_code == 302


def test_submitting_without_funds_says_waiting_for_funds_at_once(
    company_member, organization, radiologists, django_capture_on_commit_callbacks
):
    """The request's page says what matching found on commit (the submit computes no estimate
    again for its message)."""
    from tests.review_requests.test_company_pages_new_request import _form

    client = login_client(company_member)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/company/requests/new/", _form())
    page = client.get(response["Location"]).content.decode()
    assert '<span id="rr-waiting" class="badge badge--warning">Waiting for funds' in page
    assert "Waiting for funds: add credit and offers go out at once." in page
    assert "Matching experts are being offered it now" not in page


def test_submitting_with_funds_says_experts_are_offered_it(
    company_member, organization, radiologists, django_capture_on_commit_callbacks
):
    from tests.review_requests.test_company_pages_new_request import _form

    credit_grant(organization=organization, amount_cents=1_000_000, reason="tests")
    client = login_client(company_member)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/company/requests/new/", _form())
    page = client.get(response["Location"]).content.decode()
    assert "Waiting for an expert to accept: 3 offers out." in page
    assert 'id="rr-waiting" class="badge badge--warning" hidden' in page


def test_the_message_says_the_page_shows_matching_live(company_member, organization, radiologists):
    """Matching runs on commit (with a task worker, maybe after the page is shown): the message
    does not guess, and the request's page re-reads itself on matching's push."""
    from tests.review_requests.test_company_pages_new_request import _form

    page = login_client(company_member).post("/company/requests/new/", _form(), follow=True)
    assert "This page shows live whom it is offered to" in page.content.decode()


def test_the_form_shows_the_estimate_when_shown_again_with_errors(
    company_member, organization, radiologists
):
    from tests.review_requests.test_company_pages_new_request import _form

    page = (
        login_client(company_member)
        .post("/company/requests/new/", _form(title=""))
        .content.decode()
    )
    assert 'id="cost-estimate"' in page and "3 experts fit right now." in page
