"""The workspace page, the expert dashboard and the expert's assignments list."""

from __future__ import annotations

import pytest

from review_requests.services import assignment_transition
from tests.conftest import give_operator_mfa, login_client
from tests.factories import (
    AssignmentFactory,
    CreditGrantFactory,
    ExpertProfileFactory,
    OfferFactory,
    ReviewRequestFactory,
)

pytestmark = pytest.mark.django_db

XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


def url(assignment) -> str:
    return f"/workspace/{assignment.pk}/"


# Workspace page -------------------------------------------------------------------------


def test_expert_gets_the_editor(assignment, expert):
    response = login_client(expert).get(url(assignment))
    assert response.status_code == 200
    body = response.content.decode()
    assert "The scan shows a small fracture" in body
    assert 'id="ws-submit"' in body
    assert '<fieldset id="ws-review">' in body  # not disabled
    assert f'"socket_url": "/ws/assignments/{assignment.pk}/"' in body
    assert "js/workspace.js" in body and "diff-8.0.4/diff.min.js" in body


@pytest.mark.parametrize("who", ["company_member", "plain_member", "operator"])
def test_company_members_and_operators_watch_read_only(assignment, who, request):
    user = request.getfixturevalue(who)
    if who == "operator":
        give_operator_mfa(user)
    response = login_client(user).get(url(assignment))
    assert response.status_code == 200
    body = response.content.decode()
    assert "You are watching" in body
    assert '<fieldset id="ws-review" disabled>' in body
    assert 'id="ws-submit"' not in body
    assert 'id="ws-chat-form"' in body


@pytest.mark.parametrize("who", ["other_company_member", "other_expert", "operator"])
def test_strangers_get_404(assignment, who, request):
    # The operator has no two-factor authentication yet.
    assert login_client(request.getfixturevalue(who)).get(url(assignment)).status_code == 404


def test_anonymous_is_sent_to_log_in(client, assignment):
    response = client.get(url(assignment))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_wrong_method(assignment, expert):
    assert login_client(expert).post(url(assignment)).status_code == 405


def test_released_expert_no_longer_sees_the_workspace(assignment, expert, company_member):
    assignment_transition(assignment=assignment, to="released")
    assert login_client(expert).get(url(assignment)).status_code == 404
    assert login_client(company_member).get(url(assignment)).status_code == 200


@pytest.mark.parametrize(
    "content",
    [
        {"type": "text", "body": XSS},
        {"type": "markdown", "body": f"# Title\n\n{XSS}\n\n[x](javascript:alert(1))"},
        {"type": "code", "body": XSS, "language": "html"},
        {"type": "json", "body": {"html": XSS}},
        {"type": "chat", "body": [{"role": "user", "content": XSS}]},
    ],
)
def test_untrusted_output_is_never_markup(organization, expert, content):
    CreditGrantFactory(organization=organization)
    review_request = ReviewRequestFactory(
        organization=organization, in_review=True, content=content
    )
    review_request.prompt = XSS
    review_request.guidelines = XSS
    review_request.save()
    assignment = AssignmentFactory(review_request=review_request, expert__user=expert)
    body = login_client(expert).get(url(assignment)).content.decode()
    assert "<script>window.__xss" not in body
    assert "<img" not in body
    assert 'href="javascript:' not in body


def test_markdown_is_rendered_and_code_has_line_numbers(organization, expert):
    CreditGrantFactory(organization=organization)
    md = AssignmentFactory(
        review_request=ReviewRequestFactory(
            organization=organization,
            in_review=True,
            content={"type": "markdown", "body": "# Findings\n\n**bold**"},
        ),
        expert__user=expert,
    )
    body = login_client(expert).get(url(md)).content.decode()
    assert "<h1>Findings</h1>" in body and "<strong>bold</strong>" in body


# Expert dashboard -----------------------------------------------------------------------


def test_dashboard_counts_offers_active_work_and_the_week(organization, expert):
    CreditGrantFactory(organization=organization)
    assignment = AssignmentFactory(review_request__organization=organization, expert__user=expert)
    profile = assignment.expert
    OfferFactory(
        review_request=ReviewRequestFactory(organization=organization),
        expert=profile,
        rate_cents=6000,
        minutes=10,
    )
    response = login_client(expert).get("/expert/")
    assert response.status_code == 200
    assert response.context["counts"]["open_offers"] == 1
    assert response.context["counts"]["active"] == 1
    assert [a.pk for a in response.context["active"]] == [assignment.pk]
    assert "earned_this_week_cents" in response.context
    body = response.content.decode()
    assert f"/workspace/{assignment.pk}/" in body


def test_dashboard_without_a_profile_says_what_to_do(expert):
    response = login_client(expert).get("/expert/")
    assert response.status_code == 200
    assert "Set up your expert profile" in response.content.decode()


def test_dashboard_is_for_experts(client, company_member):
    assert login_client(company_member).get("/expert/").status_code == 403
    assert client.get("/expert/").status_code == 302
    assert login_client(company_member).post("/expert/").status_code in (403, 405)


# My assignments -------------------------------------------------------------------------


def test_assignments_list_filters_and_paginates(
    organization, expert, django_assert_max_num_queries
):
    CreditGrantFactory(organization=organization)
    ExpertProfileFactory(user=expert)
    made = [
        AssignmentFactory(review_request__organization=organization, expert__user=expert)
        for _ in range(22)
    ]
    assignment_transition(assignment=made[0], to="released")
    client = login_client(expert)
    with django_assert_max_num_queries(8):
        # session, user, count, page rows (with request, specialization, organization joined)
        response = client.get("/expert/assignments/")
    assert response.status_code == 200
    assert response.context["page_obj"].paginator.count == 22
    assert len(response.context["page_obj"].object_list) == 20
    page2 = client.get("/expert/assignments/?page=2")
    assert len(page2.context["page_obj"].object_list) == 2

    released = client.get("/expert/assignments/?status=released")
    assert [a.pk for a in released.context["page_obj"].object_list] == [made[0].pk]
    active = client.get("/expert/assignments/?status=active")
    assert active.context["page_obj"].paginator.count == 21
    assert (
        client.get("/expert/assignments/?q=nothing-like-it").context["page_obj"].paginator.count
        == 0
    )
    assert client.get("/expert/assignments/?status=bogus").context["status"] == ""


def test_assignments_list_shows_only_mine(organization, expert, other_expert):
    CreditGrantFactory(organization=organization)
    AssignmentFactory(review_request__organization=organization, expert__user=other_expert)
    response = login_client(expert).get("/expert/assignments/")
    assert response.status_code == 200
    assert response.context["page_obj"].paginator.count == 0
    assert "No assignments yet" in response.content.decode()


def test_assignments_list_is_for_experts(client, company_member):
    assert login_client(company_member).get("/expert/assignments/").status_code == 403
    assert client.get("/expert/assignments/").status_code == 302
