"""Disputes: opening within the window, statements, timers and the party pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from billing.models import Earning
from marketplace.models import AuditLog, Notification
from review_requests import dispute_services
from review_requests.models import Assignment, Dispute, ReviewRequest
from tests.conftest import give_operator_mfa, login_client
from tests.console.dispute_support import CAPTURED_CENTS, open_dispute, submitted_assignment

pytestmark = pytest.mark.django_db


@pytest.fixture
def assignment(organization, expert):
    return submitted_assignment(organization, expert)


def new_url(assignment) -> str:
    return f"/company/disputes/new/{assignment.pk}/"


FORM = {
    "category": "quality",
    "description": "It missed the fracture.",
    "requested_remedy": "partial_refund",
    "requested_amount": "12.50",
}


def test_company_opens_a_dispute_and_the_pay_is_frozen(
    assignment, company_member, expert, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = login_client(company_member).post(new_url(assignment), FORM)
    dispute = Dispute.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/company/disputes/{dispute.pk}/"
    assert (dispute.category, dispute.requested_remedy, dispute.requested_amount_cents) == (
        "quality",
        "partial_refund",
        1250,
    )
    assert dispute.status == "open"
    assert dispute.expert_answer_due_at - dispute.created_at == timedelta(days=3)
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.DISPUTED
    assert assignment.review_request.status == ReviewRequest.Status.DISPUTED
    assert Earning.objects.get(ref=assignment.hold_ref).status == Earning.Status.FROZEN
    note = Notification.objects.get(user=expert, kind="dispute")
    assert note.url == f"/expert/disputes/{dispute.pk}/"
    assert any(expert.email in m.to and "disputed" in m.subject for m in mail.outbox)
    assert AuditLog.objects.filter(action="dispute.opened", object_id=str(dispute.pk)).exists()


def test_cannot_dispute_after_the_window(assignment, company_member):
    Assignment.objects.filter(pk=assignment.pk).update(
        submitted_at=timezone.now() - timedelta(hours=72, minutes=1)
    )
    response = login_client(company_member).post(new_url(assignment), FORM)
    assert response.status_code == 200
    assert b"dispute window (72 h after submission) has closed" in response.content
    assert not Dispute.objects.exists()
    assignment.refresh_from_db()
    assert assignment.status == "submitted"
    assert Earning.objects.get(ref=assignment.hold_ref).status == Earning.Status.PENDING


def test_window_follows_the_platform_setting(assignment, company_member, operator):
    from marketplace.services import platform_settings_update

    platform_settings_update(actor=operator, dispute_window_hours=1)
    Assignment.objects.filter(pk=assignment.pk).update(
        submitted_at=timezone.now() - timedelta(hours=2)
    )
    with pytest.raises(ValidationError):
        open_dispute(assignment, company_member)
    assert not Dispute.objects.exists()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("36.01", b"At most $36.00 was charged"),
        ("", b"Give the amount you ask back."),
        ("-3", b"greater than or equal to 0.01"),
    ],
)
def test_partial_refund_amount_is_validated(assignment, company_member, amount, message):
    response = login_client(company_member).post(
        new_url(assignment), {**FORM, "requested_amount": amount}
    )
    assert response.status_code == 200
    assert message in response.content
    assert not Dispute.objects.exists()


def test_full_captured_amount_can_be_asked(assignment, company_member):
    dispute = open_dispute(
        assignment,
        company_member,
        requested_remedy="partial_refund",
        requested_amount_cents=CAPTURED_CENTS,
    )
    assert dispute.requested_amount_cents == CAPTURED_CENTS


def test_dispute_needs_description_and_category(assignment, company_member):
    response = login_client(company_member).post(
        new_url(assignment), {"requested_remedy": "rework"}
    )
    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert not Dispute.objects.exists()


def test_a_review_is_disputed_once(assignment, company_member):
    open_dispute(assignment, company_member)
    with pytest.raises(ValidationError):
        open_dispute(assignment, company_member)
    # The form page sends to the existing case.
    response = login_client(company_member).get(new_url(assignment))
    assert response.status_code == 302


def test_other_tenant_gets_404_and_expert_403_and_anonymous_login(
    assignment, other_company_member, expert
):
    assert login_client(other_company_member).post(new_url(assignment), FORM).status_code == 404
    assert login_client(expert).post(new_url(assignment), FORM).status_code == 403
    response = Client().post(new_url(assignment), FORM)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not Dispute.objects.exists()


def test_wrong_method_on_the_company_list(company_member):
    assert login_client(company_member).post("/company/disputes/").status_code == 405


def test_company_list_shows_own_disputes_only(assignment, company_member, other_company_member):
    open_dispute(assignment, company_member)
    assert (
        b"Radiology report check" in login_client(company_member).get("/company/disputes/").content
    )
    other = login_client(other_company_member).get("/company/disputes/")
    assert b"Radiology report check" not in other.content
    assert b"No disputes" in other.content


def test_expert_answers_within_three_days_and_the_case_is_ready(assignment, company_member, expert):
    dispute = open_dispute(assignment, company_member)
    client = login_client(expert)
    page = client.get(f"/expert/disputes/{dispute.pk}/")
    assert b"Answer the dispute" in page.content
    response = client.post(f"/expert/disputes/{dispute.pk}/", {"statement": "All checked."})
    assert response.status_code == 302
    dispute.refresh_from_db()
    assert dispute.status == "ready"
    assert dispute.expert_statement == "All checked."
    assert Notification.objects.filter(user=company_member, kind="dispute").exists()
    # Both parties see the same timeline.
    for user, url in ((expert, "expert"), (company_member, "company")):
        content = login_client(user).get(f"/{url}/disputes/{dispute.pk}/").content
        assert b"Dispute opened" in content and b"Expert answered" in content


def test_expert_cannot_answer_after_the_due_time(assignment, company_member, expert):
    dispute = open_dispute(assignment, company_member)
    Dispute.objects.filter(pk=dispute.pk).update(
        expert_answer_due_at=timezone.now() - timedelta(minutes=1)
    )
    response = login_client(expert).post(f"/expert/disputes/{dispute.pk}/", {"statement": "Late"})
    assert response.status_code == 200
    assert b"The time to answer this dispute is over." in response.content
    dispute.refresh_from_db()
    assert dispute.expert_statement == ""


def test_other_expert_cannot_see_the_case(assignment, company_member, other_expert):
    dispute = open_dispute(assignment, company_member)
    assert login_client(other_expert).get(f"/expert/disputes/{dispute.pk}/").status_code == 404
    assert login_client(company_member).get(f"/expert/disputes/{dispute.pk}/").status_code == 403


def test_company_adds_to_its_case_once(assignment, company_member, plain_member):
    dispute = open_dispute(assignment, company_member)
    url = f"/company/disputes/{dispute.pk}/"
    assert login_client(plain_member).post(url, {"text": "Also the hours."}).status_code == 302
    dispute.refresh_from_db()
    assert dispute.company_addendum == "Also the hours."
    response = login_client(company_member).post(url, {"text": "And more."})
    assert b"it can be done once" in response.content
    dispute.refresh_from_db()
    assert dispute.company_addendum == "Also the hours."


def test_other_tenant_cannot_see_the_company_case(assignment, company_member, other_company_member):
    dispute = open_dispute(assignment, company_member)
    response = login_client(other_company_member).get(f"/company/disputes/{dispute.pk}/")
    assert response.status_code == 404


def test_three_day_timer_makes_unanswered_disputes_ready(assignment, company_member):
    dispute = open_dispute(assignment, company_member)
    assert dispute_services.dispute_timers_run() == dispute_services.TimerResult(ready=0, flagged=0)
    Dispute.objects.filter(pk=dispute.pk).update(
        expert_answer_due_at=timezone.now() - timedelta(seconds=1)
    )
    assert dispute_services.dispute_timers_run() == dispute_services.TimerResult(ready=1, flagged=0)
    dispute.refresh_from_db()
    assert dispute.status == "ready"
    assert AuditLog.objects.filter(action="dispute.expert_answer_missed").count() == 1
    # A second run changes nothing.
    assert dispute_services.dispute_timers_run() == dispute_services.TimerResult(ready=0, flagged=0)


def test_fourteen_day_timer_flags_and_the_console_shows_it(assignment, company_member, operator):
    dispute = open_dispute(assignment, company_member)
    Dispute.objects.filter(pk=dispute.pk).update(created_at=timezone.now() - timedelta(days=13))
    assert dispute_services.dispute_timers_run().flagged == 0
    Dispute.objects.filter(pk=dispute.pk).update(
        created_at=timezone.now() - timedelta(days=14, minutes=1)
    )
    from review_requests.tasks import dispute_timers

    result = dispute_timers.enqueue()
    assert result.return_value == {"ready": 0, "flagged": 1}
    dispute.refresh_from_db()
    assert dispute.flagged_at is not None
    give_operator_mfa(operator)
    client = login_client(operator)
    assert b"Flagged" in client.get("/console/disputes/", {"flagged": "yes"}).content
    assert b"open over 14 days" in client.get(f"/console/disputes/{dispute.pk}/").content


def test_timers_task_is_scheduled():
    from inloop_site.schedule import SCHEDULE

    assert any(path == "review_requests.tasks.dispute_timers" for path, _, _ in SCHEDULE)


def test_the_expert_page_speaks_for_each_state(
    assignment, company_member, expert, operator, django_capture_on_commit_callbacks
):
    """Open: pay on hold and the answer due; answered: nothing more needed; resolved: what was
    decided, with no hold and no due date left over."""
    dispute = open_dispute(assignment, company_member)
    client = login_client(expert)
    url = f"/expert/disputes/{dispute.pk}/"
    page = client.get(url).content.decode()
    assert "Your pay for it is on hold until an operator decides" in page
    assert "Expert&#x27;s answer due" in page or "Expert's answer due" in page
    client.post(url, {"statement": "All checked."})
    page = client.get(url).content.decode()
    assert "You answered" in page and "nothing more is needed from you" in page
    assert "answer due" not in page
    with django_capture_on_commit_callbacks(execute=True):
        dispute_services.dispute_decide(
            dispute=dispute, operator=operator, outcome="release", note="Fine."
        )
    dispute.refresh_from_db()
    assert dispute.status == "resolved"
    page = client.get(url).content.decode()
    assert "your pay for this review was released to you" in page
    assert "on hold" not in page
    assert "answer due" not in page
    assert "What you were paid for this review" in page
