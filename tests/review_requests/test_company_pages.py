"""Company pages: who may see what (role matrix, tenant isolation), the dashboard, the request
list (filters, search, pagination, query count), the detail page and cancel."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from review_requests.models import ReviewRequest
from tests.conftest import give_operator_mfa, login_client
from tests.factories import (
    AssignmentFactory,
    CreditGrantFactory,
    OfferFactory,
    ReviewFactory,
    ReviewRequestFactory,
    WebhookEventFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def review_request(organization):
    return ReviewRequestFactory(
        organization=organization,
        metadata={"batch": "june-run", "city": "Zürich"},
        callback_url="",
    )


@pytest.fixture
def event(organization, review_request):
    return WebhookEventFactory(
        id="evt_page_test",
        review_request=review_request,
        url="https://93.184.216.34/hook",
        body='{"id":"evt_page_test"}',
        next_attempt_at=timezone.now(),
    )


def _get_pages(review_request, event) -> list[str]:
    return [
        "/company/",
        "/company/requests/",
        "/company/requests/new/",
        f"/company/requests/{review_request.pk}/",
        f"/company/requests/{review_request.pk}/state.json",
        "/company/requests/export.jsonl",
        "/company/requests/export.csv",
        "/company/webhooks/",
        f"/company/webhooks/{event.pk}/",
    ]


# Role matrix ---------------------------------------------------------------------------------


def test_anonymous_is_sent_to_log_in_on_every_page(review_request, event):
    client = Client()
    for url in _get_pages(review_request, event):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url
    for url in (
        "/company/requests/preview/",
        f"/company/requests/{review_request.pk}/cancel/",
        f"/company/webhooks/{event.pk}/resend/",
    ):
        assert client.post(url).status_code == 302, url


@pytest.mark.parametrize("role", ["expert", "operator"])
def test_experts_and_operators_are_refused(request, role, review_request, event):
    user = request.getfixturevalue(role)
    if role == "operator":
        give_operator_mfa(user)
    client = login_client(user)
    for url in _get_pages(review_request, event):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/company/requests/{review_request.pk}/cancel/").status_code == 403
    assert client.post(f"/company/webhooks/{event.pk}/resend/").status_code == 403
    review_request.refresh_from_db()
    assert review_request.status == "queued"


def test_a_plain_member_sees_every_page(plain_member, review_request, event):
    client = login_client(plain_member)
    for url in _get_pages(review_request, event):
        assert client.get(url).status_code == 200, url


def test_a_plain_member_cannot_resend_rotate_or_see_the_secret(
    plain_member, organization, event, django_capture_on_commit_callbacks
):
    client = login_client(plain_member)
    page = client.get("/company/webhooks/").content.decode()
    assert organization.webhook_secret not in page
    assert "Rotate secret" not in page
    assert "Resend event" not in client.get(f"/company/webhooks/{event.pk}/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/company/webhooks/{event.pk}/resend/").status_code == 403
    secret = organization.webhook_secret
    assert client.post("/company/webhook-secret/rotate/").status_code == 403
    organization.refresh_from_db()
    assert organization.webhook_secret == secret
    event.refresh_from_db()
    assert event.attempts == 0


def test_another_tenants_ids_are_404(other_company_member, review_request, event):
    client = login_client(other_company_member)
    for url in (
        f"/company/requests/{review_request.pk}/",
        f"/company/requests/{review_request.pk}/state.json",
        f"/company/webhooks/{event.pk}/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/company/requests/{review_request.pk}/cancel/").status_code == 404
    assert client.post(f"/company/webhooks/{event.pk}/resend/").status_code == 404
    review_request.refresh_from_db()
    assert review_request.status == "queued"
    # Lists and exports show none of Acme's rows either.
    assert review_request.title not in client.get("/company/requests/").content.decode()
    export = b"".join(client.get("/company/requests/export.jsonl").streaming_content)
    assert export == b""
    assert event.pk not in client.get("/company/webhooks/").content.decode()


def test_unknown_ids_are_404(company_member):
    client = login_client(company_member)
    assert client.get(f"/company/requests/{uuid.uuid4()}/").status_code == 404
    assert client.get("/company/webhooks/evt_nope/").status_code == 404


@pytest.mark.parametrize(
    "url",
    ["/company/", "/company/requests/", "/company/webhooks/", "/company/requests/export.csv"],
)
def test_read_pages_refuse_post(company_member, url):
    assert login_client(company_member).post(url).status_code == 405


def test_action_urls_refuse_get(company_member, review_request, event):
    client = login_client(company_member)
    assert client.get(f"/company/requests/{review_request.pk}/cancel/").status_code == 405
    assert client.get(f"/company/webhooks/{event.pk}/resend/").status_code == 405
    assert client.get("/company/requests/preview/").status_code == 405


# Dashboard -------------------------------------------------------------------------------------


def test_an_empty_dashboard_shows_the_first_steps(company_member):
    page = login_client(company_member).get("/company/").content.decode()
    assert "Get started" in page
    assert "Create an API key" in page
    assert "/api/v1/docs" in page
    assert "/company/requests/new/" in page


def test_dashboard_counts_spend_balance_and_waiting_for_funds(company_member, organization):
    CreditGrantFactory(organization=organization, amount_cents=12_345)
    ReviewRequestFactory(organization=organization, title="Waiting one", waiting_for_funds=True)
    done = ReviewRequestFactory(
        organization=organization,
        title="Done one",
        status="completed",
        completed_at=timezone.now(),
        cost_cents=4_200,
        result={"verdict": "approved"},
    )
    AssignmentFactory(
        review_request=done,
        held=False,
        status="submitted",
        submitted_at=timezone.now(),
        cost_cents=4_200,
    )
    old = ReviewRequestFactory(organization=organization, title="Last year", status="completed")
    AssignmentFactory(
        review_request=old,
        held=False,
        status="submitted",
        submitted_at=timezone.now() - timedelta(days=400),
        cost_cents=999,
    )
    page = login_client(company_member).get("/company/").content.decode()
    assert "$123.45" in page  # available balance
    assert "$42.00" in page  # spent this month: only this month's captured cost
    assert "$51.99" not in page
    assert "1 request waiting for funds" in page
    assert 'href="/company/billing/"' in page
    assert "Done one" in page and "Approved" in page
    assert "Get started" not in page


# Requests list ---------------------------------------------------------------------------------


def test_list_filters_by_status_and_keeps_the_filter_in_links(company_member, organization):
    ReviewRequestFactory(organization=organization, title="Queued thing")
    ReviewRequestFactory(organization=organization, title="Cancelled thing", status="cancelled")
    client = login_client(company_member)
    page = client.get("/company/requests/?status=cancelled").content.decode()
    assert "Cancelled thing" in page and "Queued thing" not in page
    assert "1 request matching" in page
    assert "/company/requests/export.csv?status=cancelled" in page


@pytest.mark.parametrize("q", ["june-run", "JUNE", "Zürich", "zürich"])
def test_search_finds_a_metadata_value(company_member, review_request, organization, q):
    ReviewRequestFactory(
        organization=organization, title="Unrelated", metadata={"batch": "may-run"}
    )
    page = login_client(company_member).get("/company/requests/", {"q": q}).content.decode()
    assert review_request.title in page
    assert "Unrelated" not in page


def test_search_finds_a_title_and_says_when_nothing_matches(company_member, organization):
    ReviewRequestFactory(organization=organization, title="Tax memo for Q3")
    client = login_client(company_member)
    assert "Tax memo for Q3" in client.get("/company/requests/?q=memo").content.decode()
    page = client.get("/company/requests/?q=nothing-like-this").content.decode()
    assert "No requests match" in page


def test_an_empty_list_says_how_to_submit(company_member):
    page = login_client(company_member).get("/company/requests/").content.decode()
    assert "No requests yet" in page and "POST /api/v1/review-requests" in page


def test_a_bad_filter_value_is_ignored_not_an_error(company_member, review_request):
    response = login_client(company_member).get("/company/requests/?status=bogus&page=zzz")
    assert response.status_code == 200
    assert review_request.title in response.content.decode()


def test_list_paginates_with_a_count_and_a_pinned_query_count(
    company_member, organization, django_assert_max_num_queries
):
    for index in range(30):
        rr = ReviewRequestFactory(organization=organization, title=f"Request {index:02d}")
        AssignmentFactory(review_request=rr, held=False)
    client = login_client(company_member)
    # session, user, membership (decorator), membership + unread count (navigation),
    # count, page, assignments+experts prefetch.
    with django_assert_max_num_queries(9):
        page1 = client.get("/company/requests/").content.decode()
    assert "Page 1 of 2 · 30 total" in page1
    assert "Request 29" in page1 and "Request 04" not in page1
    page2 = client.get("/company/requests/?page=2").content.decode()
    assert "Request 04" in page2


def test_webhook_log_query_count_is_pinned(
    company_member, organization, review_request, django_assert_max_num_queries
):
    for index in range(40):
        WebhookEventFactory(
            id=f"evt_{index:03d}",
            review_request=review_request,
            url="https://93.184.216.34/h",
        )
    client = login_client(company_member)
    # session, user, membership (decorator), count, page, membership + unread (navigation).
    with django_assert_max_num_queries(7):
        page = client.get("/company/webhooks/").content.decode()
    assert "40 events" in page


def test_dashboard_query_count_is_pinned(
    company_member, organization, django_assert_max_num_queries
):
    for index in range(10):
        rr = ReviewRequestFactory(organization=organization, title=f"R{index}", status="completed")
        AssignmentFactory(
            review_request=rr,
            held=False,
            status="submitted",
            submitted_at=timezone.now(),
            cost_cents=100,
        )
    client = login_client(company_member)
    with django_assert_max_num_queries(14):
        assert client.get("/company/").status_code == 200


# Detail and cancel -----------------------------------------------------------------------------


def test_detail_shows_reviewers_with_links_and_billed_time(company_member, organization):
    rr = ReviewRequestFactory(organization=organization, status="in_review")
    assignment = AssignmentFactory(
        review_request=rr, held=False, status="in_progress", billed_seconds=725
    )
    page = login_client(company_member).get(f"/company/requests/{rr.pk}/").content.decode()
    assert f'href="/workspace/{assignment.pk}/"' in page
    assert "12 min 05 s" in page
    assert f'data-ws="/ws/requests/{rr.pk}/"' in page
    assert "/company/disputes/new/" not in page  # only once the review is submitted
    assert "Cancel request" not in page  # 12 minutes are already billed


def test_a_queued_request_says_whether_offers_are_out(company_member, organization):
    rr = ReviewRequestFactory(organization=organization)
    client = login_client(company_member)
    page = client.get(f"/company/requests/{rr.pk}/").content.decode()
    assert "No matching expert is free right now" in page
    for _ in range(2):
        OfferFactory(review_request=rr, rate_cents=9000)
    page = client.get(f"/company/requests/{rr.pk}/").content.decode()
    assert "Waiting for an expert to accept: 2 offers out." in page
    ReviewRequest.objects.filter(pk=rr.pk).update(waiting_for_funds=True)
    page = client.get(f"/company/requests/{rr.pk}/").content.decode()
    assert "Waiting for funds" in page


def test_cancel_is_offered_only_while_nothing_is_billed(company_member, organization):
    rr = ReviewRequestFactory(organization=organization, status="in_review")
    AssignmentFactory(review_request=rr, held=False, status="in_progress", billed_seconds=60)
    client = login_client(company_member)
    assert "Cancel request" not in client.get(f"/company/requests/{rr.pk}/").content.decode()
    response = client.post(f"/company/requests/{rr.pk}/cancel/", follow=True)
    assert "already been billed" in response.content.decode()
    rr.refresh_from_db()
    assert rr.status == "in_review"


def test_cancel_of_a_queued_request(company_member, review_request):
    client = login_client(company_member)
    page = client.get(f"/company/requests/{review_request.pk}/").content.decode()
    assert "Cancel request" in page and "data-confirm=" in page
    response = client.post(f"/company/requests/{review_request.pk}/cancel/")
    assert response.status_code == 302
    review_request.refresh_from_db()
    assert review_request.status == ReviewRequest.Status.CANCELLED
    assert review_request.history.filter(to_status="cancelled").exists()


def test_a_completed_result_reads_with_diff_annotations_and_scores(company_member, organization):
    rr = ReviewRequestFactory(
        organization=organization,
        status="completed",
        rubric=[{"key": "accuracy", "label": "Accuracy", "scale": 5}],
        content={"type": "text", "body": "The scan shows no fracture."},
    )
    assignment = AssignmentFactory(
        review_request=rr, held=False, status="submitted", billed_seconds=1800
    )
    ReviewFactory(assignment=assignment)
    rr.result = {
        "verdict": "corrected",
        "corrected_output": "The scan shows a hairline fracture.",
        "summary": "Missed a fracture.",
        "scores": {"accuracy": 2},
        "annotations": [
            {
                "start": 15,
                "end": 26,
                "quote": "no fracture",
                "comment": "Wrong",
                "severity": "major",
            }
        ],
        "reviews": [],
        "agreement": None,
    }
    rr.save()
    page = login_client(company_member).get(f"/company/requests/{rr.pk}/").content.decode()
    assert "Corrected" in page and "Missed a fracture." in page
    assert 'id="rr-output-text"' in page and "data-corrected" in page and "data-diff-view" in page
    assert '<mark class="sev-major" title="Wrong" data-annotation="1">no fracture</mark>' in page
    assert "Accuracy" in page and ">2<" in page
    assert f'href="/company/disputes/new/{assignment.pk}/"' in page
    assert "Cancel request" not in page


def test_state_json_is_the_contract_object(company_member, review_request):
    data = (
        login_client(company_member).get(f"/company/requests/{review_request.pk}/state.json").json()
    )
    assert data["id"] == str(review_request.pk)
    assert data["status"] == "queued"
    assert data["metadata"] == {"batch": "june-run", "city": "Zürich"}


# Annotations laid out in place -----------------------------------------------------------------


def test_overlapping_annotations_take_the_most_severe_and_keep_every_comment():
    from review_requests.company_selectors import annotated_segments

    segments = annotated_segments(
        "abcdefghij",
        [
            {"start": 2, "end": 6, "comment": "one", "severity": "minor"},
            {"start": 4, "end": 8, "comment": "two", "severity": "critical"},
        ],
    )
    assert [(s.text, s.severity, s.comments) for s in segments] == [
        ("ab", "", ()),
        ("cd", "minor", ("one",)),
        ("ef", "critical", ("one", "two")),
        ("gh", "critical", ("two",)),
        ("ij", "", ()),
    ]
    assert "".join(s.text for s in segments) == "abcdefghij"


def test_bad_annotation_offsets_never_shift_or_break_the_text():
    from review_requests.company_selectors import annotated_segments

    segments = annotated_segments(
        "short",
        [
            {"start": 3, "end": 999, "severity": "bogus"},
            {"start": "x", "end": 2},
            {"start": 4, "end": 1},
        ],
    )
    assert "".join(s.text for s in segments) == "short"
    assert [(s.text, s.severity) for s in segments] == [("sho", ""), ("rt", "info")]


def test_webhooks_page_tells_admins_their_standard_webhooks_secret(
    company_member, organization, plain_member
):
    page = login_client(company_member).get("/company/webhooks/").content.decode()
    assert "webhook-signature" in page
    assert "Its secret is the signing secret above, as it is." in page

    organization.webhook_secret = "legacy"
    organization.save(update_fields=["webhook_secret"])
    page = login_client(company_member).get("/company/webhooks/").content.decode()
    assert "whsec_bGVnYWN5" in page  # whsec_ + base64("legacy")

    member_page = login_client(plain_member).get("/company/webhooks/").content.decode()
    assert "webhook-signature" in member_page and "whsec_bGVnYWN5" not in member_page
