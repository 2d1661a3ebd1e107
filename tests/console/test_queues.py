"""Stuck requests (re-offer, reassign, cancel) and stuck payouts (retry, mark failed)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from billing import ledger
from billing.models import LedgerAccount, Payout
from billing.selectors import company_balance
from marketplace.models import AuditLog
from review_requests.models import Assignment, Offer, ReviewRequest
from tests.conftest import give_operator_mfa, login_client
from tests.factories import (
    AssignmentFactory,
    CreditGrantFactory,
    ExpertProfileFactory,
    ReviewRequestFactory,
)

pytestmark = pytest.mark.django_db
Kind = LedgerAccount.Kind


@pytest.fixture
def op_client(operator):
    give_operator_mfa(operator)
    return login_client(operator)


@pytest.fixture
def available_expert(db):
    return ExpertProfileFactory(
        specializations=["medicine.radiology"], credentials=["medicine"], always_available=True
    )


def test_queued_long_list_and_reoffer_sends_offers(op_client, organization, available_expert):
    CreditGrantFactory(organization=organization)
    rr = ReviewRequestFactory(organization=organization, status=ReviewRequest.Status.QUEUED)
    ReviewRequest.objects.filter(pk=rr.pk).update(created_at=timezone.now() - timedelta(hours=2))
    listing = op_client.get("/console/requests/", {"kind": "queued_long"})
    assert rr.title.encode() in listing.content
    response = op_client.post(f"/console/requests/{rr.pk}/reoffer/")
    assert response.status_code == 302
    assert Offer.objects.filter(review_request=rr, expert=available_expert).exists()
    row = AuditLog.objects.get(action="console.request_reoffered")
    assert row.after["offers_created"] == 1


def test_reassign_releases_the_hold_and_requeues(op_client, organization, expert):
    CreditGrantFactory(organization=organization, amount_cents=100_000)
    rr = ReviewRequestFactory(organization=organization, in_review=True)
    assignment = AssignmentFactory(review_request=rr, expert__user=expert)
    assert company_balance(organization=organization).held_cents > 0
    response = op_client.post(
        f"/console/assignments/{assignment.pk}/reassign/", {"reason": "expert unreachable"}
    )
    assert response.status_code == 302
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.RELEASED
    assert company_balance(organization=organization).held_cents == 0
    assert ReviewRequest.objects.get(pk=rr.pk).status == "queued"
    assert AuditLog.objects.filter(action="console.assignment_reassigned").exists()


def test_reassign_without_reason_changes_nothing(op_client, organization, expert):
    CreditGrantFactory(organization=organization, amount_cents=100_000)
    assignment = AssignmentFactory(review_request__organization=organization, expert__user=expert)
    op_client.post(f"/console/assignments/{assignment.pk}/reassign/", {"reason": ""})
    assignment.refresh_from_db()
    assert assignment.status == "accepted"


def test_cancel_with_release(op_client, organization, expert):
    CreditGrantFactory(organization=organization, amount_cents=100_000)
    rr = ReviewRequestFactory(organization=organization, in_review=True)
    AssignmentFactory(review_request=rr, expert__user=expert)
    response = op_client.post(f"/console/requests/{rr.pk}/cancel/", {"reason": "customer asked"})
    assert response.status_code == 302
    assert ReviewRequest.objects.get(pk=rr.pk).status == "cancelled"
    assert company_balance(organization=organization).available_cents == 100_000
    row = AuditLog.objects.get(action="console.request_cancelled")
    assert row.before["status"] == "in_review"
    assert row.after["status"] == "cancelled"


@pytest.fixture
def failed_payout(expert):
    """An expert's payout that Stripe refused (money back in their available balance)."""
    from django.db import transaction

    from billing.payouts import payout_fail

    available = ledger.account(Kind.EXPERT_AVAILABLE, user=expert)
    with transaction.atomic():
        ledger.transfer(
            ref="seed",
            reason="test",
            source=ledger.account(Kind.PLATFORM_CREDIT),
            destination=available,
            amount_cents=5_000,
        )
    payout = Payout.objects.create(user=expert, amount_cents=5_000)
    with transaction.atomic():
        ledger.transfer(
            ref=f"payout:{payout.pk}",
            reason="payout",
            source=available,
            destination=ledger.account(Kind.EXPERT_PAID_OUT, user=expert),
            amount_cents=5_000,
        )
    payout_fail(payout_id=payout.pk, reason="account closed")
    return payout


def confirm(op_client, url: str, reason: str = "operator check"):
    """The confirmation page of a payout action, then its form posted with the page's token."""
    page = op_client.get(url).content.decode()
    token = re.search(r'name="request_token" value="([0-9a-f-]+)"', page).group(1)
    return op_client.post(url, {"reason": reason, "request_token": token})


def test_stuck_payouts_list_and_retry_without_stripe_waits_for_stripe(
    op_client, operator, expert, failed_payout
):
    assert b"account closed" in op_client.get("/console/payouts/").content
    response = confirm(op_client, f"/console/payouts/{failed_payout.pk}/retry/")
    assert response.status_code == 302
    failed_payout.refresh_from_db()
    assert failed_payout.status == Payout.Status.AWAITING_STRIPE  # no Stripe keys here
    assert ledger.balance(Kind.EXPERT_PAID_OUT, user=expert) == 5_000
    assert AuditLog.objects.filter(action="console.payout_retried", actor=operator).exists()


def test_mark_failed_returns_the_money_and_is_audited(op_client, operator, expert, failed_payout):
    confirm(op_client, f"/console/payouts/{failed_payout.pk}/retry/")
    response = confirm(op_client, f"/console/payouts/{failed_payout.pk}/fail/", "fraud")
    assert response.status_code == 302
    failed_payout.refresh_from_db()
    assert failed_payout.status == Payout.Status.FAILED
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 5_000
    row = AuditLog.objects.get(action="console.payout_marked_failed")
    assert (row.actor, row.after["reason"]) == (operator, "fraud")
    assert row.before["expert_available_cents"] == 0
    assert row.after["expert_available_cents"] == 5_000


def test_mark_failed_needs_a_reason(op_client, failed_payout):
    confirm(op_client, f"/console/payouts/{failed_payout.pk}/retry/")
    confirm(op_client, f"/console/payouts/{failed_payout.pk}/fail/", "")
    failed_payout.refresh_from_db()
    assert failed_payout.status == Payout.Status.AWAITING_STRIPE


def test_cancel_refused_once_time_is_billed_shows_the_reason(op_client, organization, expert):
    CreditGrantFactory(organization=organization, amount_cents=100_000)
    rr = ReviewRequestFactory(organization=organization, in_review=True)
    assignment = AssignmentFactory(review_request=rr, expert__user=expert)
    Assignment.objects.filter(pk=assignment.pk).update(billed_seconds=60)
    response = op_client.post(f"/console/requests/{rr.pk}/cancel/", {"reason": "x"}, follow=True)
    assert b"can no longer be cancelled" in response.content
    assert ReviewRequest.objects.get(pk=rr.pk).status == "in_review"
