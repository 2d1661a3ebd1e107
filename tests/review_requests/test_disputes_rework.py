"""Rework paid by the platform: the decision leaves a grant, the accept of the re-offered work
places its hold on the platform (never on the company's balance), the capture charges the
platform, and neither a replayed decision nor a double accept funds anything twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from billing import ledger, services
from billing.models import Earning, Hold, LedgerAccount, LedgerTransaction, PlatformHoldGrant
from billing.selectors import company_balance
from marketplace.models import AuditLog, Notification
from review_requests import dispute_services
from review_requests import services as rr_services
from review_requests import workspace as ws
from review_requests.models import Assignment, Offer, ReviewRequest
from tests.conftest import give_operator_mfa, login_client
from tests.console.dispute_support import (
    CAPTURED_CENTS,
    EXPERT_CENTS,
    ready_dispute,
    submitted_assignment,
)
from tests.factories import CreditGrantFactory, ExpertProfileFactory, WorkIntervalFactory

pytestmark = pytest.mark.django_db
Kind = LedgerAccount.Kind
FUNDS = 100_000
OTHER_RATE_CENTS = 6_000
# The rework hold: 1 h (make_request's max_hours) x $60/h x 1.2 (the fee on a hold).
REWORK_HOLD_CENTS = 7_200


@pytest.fixture
def dispute(organization, expert, company_member):
    assignment = submitted_assignment(organization, expert, funds=FUNDS)
    return ready_dispute(assignment, company_member, expert)


def other_expert_profile(**extra):
    return ExpertProfileFactory(
        specializations=["medicine.radiology"],
        credentials=["medicine"],
        always_available=True,
        hourly_rate_cents=OTHER_RATE_CENTS,
        **extra,
    )


def empty_company_balance(organization) -> None:
    """The company spends what is left: a platform-paid rework must not need its money."""
    left = company_balance(organization=organization).available_cents
    services.credit_grant(organization=organization, amount_cents=-left, reason="spent elsewhere")


def decide_rework_by_platform(dispute, operator, capture):
    with capture(execute=True):
        return dispute_services.dispute_decide(
            dispute=dispute,
            operator=operator,
            outcome="rework",
            rework_funded_by="platform",
            note="Redo it; on us.",
        )


def money(organization, expert) -> dict:
    balance = company_balance(organization=organization)
    return {
        "company_available": balance.available_cents,
        "company_held": balance.held_cents,
        "expert_pending": ledger.balance(Kind.EXPERT_PENDING, user=expert),
        "platform_refunds": ledger.balance(Kind.PLATFORM_REFUNDS),
        "platform_held": ledger.balance(Kind.PLATFORM_HELD),
        "platform_credit": ledger.balance(Kind.PLATFORM_CREDIT),
    }


def accept_rework(dispute, profile, capture) -> Assignment:
    offer = Offer.objects.get(
        review_request_id=dispute.assignment.review_request_id, expert=profile
    )
    with capture(execute=True):
        return rr_services.offer_accept(offer_id=offer.pk, expert=profile)


def submit(assignment: Assignment, user, *, minutes: int = 30) -> None:
    now = timezone.now()
    WorkIntervalFactory(
        assignment=assignment, started_at=now - timedelta(minutes=minutes), last_heartbeat_at=now
    )
    ws.draft_update(
        assignment_id=assignment.pk,
        user=user,
        changes={
            "verdict": "approved",
            "summary": "Fine.",
            "scores": {"accuracy": 4, "clarity": 3},
        },
    )
    ws.assignment_submit(assignment=assignment, user=user, now=now)


def test_the_decision_moves_no_money_and_leaves_one_open_grant(
    organization, expert, company_member, operator, dispute, django_capture_on_commit_callbacks
):
    before = money(organization, expert)
    decide_rework_by_platform(dispute, operator, django_capture_on_commit_callbacks)
    assert money(organization, expert) == before  # no credit to the company, nothing held yet
    assert not LedgerTransaction.objects.filter(reason="credit_granted", memo__contains="Rework")
    grant = PlatformHoldGrant.objects.get()
    rr = ReviewRequest.objects.get(pk=dispute.assignment.review_request_id)
    assert (grant.status, grant.scope, grant.source_ref) == (
        "open",
        f"review_request:{rr.pk}",
        f"dispute:{dispute.pk}:rework",
    )
    assert grant.created_by == operator
    assert AuditLog.objects.filter(action="billing.platform_hold_granted", actor=operator).exists()
    # The expert keeps the disputed pay, back on its normal schedule.
    earning = Earning.objects.get(ref=dispute.assignment.hold_ref)
    assert (earning.status, earning.refunded_cents) == (Earning.Status.PENDING, 0)
    note = Notification.objects.get(user=company_member, kind="decision")
    assert "Inloop pays for it, your balance is not charged." in note.body


def test_the_rework_is_offered_even_when_the_company_has_no_money(
    organization, expert, operator, dispute, django_capture_on_commit_callbacks
):
    empty_company_balance(organization)
    other = other_expert_profile()
    decide_rework_by_platform(dispute, operator, django_capture_on_commit_callbacks)
    rr = ReviewRequest.objects.get(pk=dispute.assignment.review_request_id)
    assert rr.status == "queued" and not rr.waiting_for_funds
    assert Offer.objects.filter(review_request=rr, expert=other, status="open").exists()


def test_the_accept_places_the_hold_on_the_platform_and_the_capture_charges_it(
    organization, expert, operator, dispute, django_capture_on_commit_callbacks
):
    empty_company_balance(organization)
    other = other_expert_profile()
    decide_rework_by_platform(dispute, operator, django_capture_on_commit_callbacks)
    before = money(organization, expert)

    rework = accept_rework(dispute, other, django_capture_on_commit_callbacks)
    hold = Hold.objects.get(ref=rework.hold_ref)
    grant = PlatformHoldGrant.objects.get()
    assert (hold.payer, hold.platform_grant, hold.amount_cents) == (
        "platform",
        grant,
        REWORK_HOLD_CENTS,
    )
    assert grant.status == "held"
    posted = LedgerTransaction.objects.get(ref=f"{rework.hold_ref}:hold")
    assert posted.reason == "hold_platform"
    assert sorted((entry.account.kind, entry.amount_cents) for entry in posted.entries.all()) == [
        ("platform_held", REWORK_HOLD_CENTS),
        ("platform_refunds", -REWORK_HOLD_CENTS),
    ]
    after_accept = money(organization, expert)
    assert (after_accept["company_available"], after_accept["company_held"]) == (0, 0)
    assert after_accept["platform_held"] == REWORK_HOLD_CENTS

    with django_capture_on_commit_callbacks(execute=True):
        submit(rework, other.user, minutes=30)
    # 30 min at $60/h: $30 to the expert, no fee (the platform does not charge itself), the
    # rest of the platform's hold back to the platform.
    earning = Earning.objects.get(ref=rework.hold_ref)
    assert (earning.payer, earning.amount_cents, earning.fee_cents) == ("platform", 3_000, 0)
    after = money(organization, expert)
    assert (after["company_available"], after["company_held"]) == (0, 0)
    assert after["platform_held"] == 0
    assert after["platform_refunds"] == before["platform_refunds"] - 3_000
    assert ledger.balance(Kind.EXPERT_PENDING, user=other.user) == 3_000
    assert after["expert_pending"] == EXPERT_CENTS  # the first expert keeps the disputed pay
    grant.refresh_from_db()
    assert grant.status == "used" and grant.used_at is not None
    rework.refresh_from_db()
    assert rework.cost_cents == 0  # the company was not charged for the rework
    rr = ReviewRequest.objects.get(pk=rework.review_request_id)
    assert rr.status == "completed" and rr.cost_cents == CAPTURED_CENTS
    assert company_balance(organization=organization).available_cents == 0


def test_a_replayed_decision_funds_nothing_twice(
    organization, expert, operator, other_operator, dispute, django_capture_on_commit_callbacks
):
    decide_rework_by_platform(dispute, operator, django_capture_on_commit_callbacks)
    before = money(organization, expert)
    for who in (operator, other_operator):  # a double click, a second operator's stale tab
        with pytest.raises(ValidationError):
            decide_rework_by_platform(dispute, who, django_capture_on_commit_callbacks)
    with pytest.raises(ledger.DuplicatePosting), transaction.atomic():
        services.platform_hold_grant_create(
            organization=organization,
            scope=f"review_request:{dispute.assignment.review_request_id}",
            source_ref=f"dispute:{dispute.pk}:rework",
            reason="replayed",
        )
    assert PlatformHoldGrant.objects.count() == 1
    assert money(organization, expert) == before
    assert AuditLog.objects.filter(action="dispute.resolved").count() == 1


def test_a_double_posted_decision_form_funds_once(
    organization, expert, operator, dispute, django_capture_on_commit_callbacks
):
    give_operator_mfa(operator)
    client = login_client(operator)
    url = f"/console/disputes/{dispute.pk}/"
    form = {"outcome": "rework", "rework_funded_by": "platform", "note": "On us."}
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url, form)
        second = client.post(url, form)
    assert first.status_code == 302
    assert second.status_code in (200, 302) and second.status_code != 500
    assert PlatformHoldGrant.objects.count() == 1
    assert AuditLog.objects.filter(action="dispute.resolved").count() == 1


def test_a_double_accept_places_one_platform_hold(
    organization, expert, operator, dispute, django_capture_on_commit_callbacks
):
    other = other_expert_profile()
    decide_rework_by_platform(dispute, operator, django_capture_on_commit_callbacks)
    first = accept_rework(dispute, other, django_capture_on_commit_callbacks)
    second = accept_rework(dispute, other, django_capture_on_commit_callbacks)
    assert first.pk == second.pk
    assert Hold.objects.filter(payer="platform").count() == 1
    assert ledger.balance(Kind.PLATFORM_HELD) == REWORK_HOLD_CENTS


def test_one_grant_pays_one_hold_the_next_one_is_the_companys(organization):
    CreditGrantFactory(organization=organization, amount_cents=FUNDS)
    scope = "review_request:test-scope"
    with transaction.atomic():
        services.platform_hold_grant_create(
            organization=organization, scope=scope, source_ref="dispute:x:rework", reason="r"
        )
    with transaction.atomic():
        first = services.hold_place(
            organization=organization, ref="a:1", amount_cents=1_000, scope=scope
        )
        second = services.hold_place(
            organization=organization, ref="a:2", amount_cents=1_000, scope=scope
        )
    assert (first.payer, second.payer) == ("platform", "company")
    balance = company_balance(organization=organization)
    assert (balance.available_cents, balance.held_cents) == (FUNDS - 1_000, 1_000)
    assert ledger.balance(Kind.PLATFORM_HELD) == 1_000


def test_work_given_back_frees_the_grant_for_the_next_expert(
    organization, expert, operator, dispute, django_capture_on_commit_callbacks
):
    empty_company_balance(organization)
    first_profile = other_expert_profile()
    decide_rework_by_platform(dispute, operator, django_capture_on_commit_callbacks)
    rework = accept_rework(dispute, first_profile, django_capture_on_commit_callbacks)
    second_profile = other_expert_profile()
    with django_capture_on_commit_callbacks(execute=True):
        rr_services.assignment_release(
            assignment=rework, actor=first_profile.user, reason="cannot do it"
        )
    assert Hold.objects.get(ref=rework.hold_ref).status == "released"
    assert PlatformHoldGrant.objects.get().status == "open"
    assert ledger.balance(Kind.PLATFORM_HELD) == 0
    assert company_balance(organization=organization).held_cents == 0

    again = accept_rework(dispute, second_profile, django_capture_on_commit_callbacks)
    hold = Hold.objects.get(ref=again.hold_ref)
    assert hold.payer == "platform"
    assert PlatformHoldGrant.objects.get().status == "held"
    assert company_balance(organization=organization).available_cents == 0


def test_the_case_page_shows_what_the_platform_pays(
    organization, expert, operator, dispute, django_capture_on_commit_callbacks
):
    other = other_expert_profile()
    decide_rework_by_platform(dispute, operator, django_capture_on_commit_callbacks)
    give_operator_mfa(operator)
    client = login_client(operator)
    url = f"/console/disputes/{dispute.pk}/"
    assert "Waiting for an expert to accept" in client.get(url).content.decode()
    accept_rework(dispute, other, django_capture_on_commit_callbacks)
    page = client.get(url).content.decode()
    assert "Held for the accepted work; hold $72.00 held" in page


def test_the_receipt_lists_the_rework_as_paid_by_inloop(
    organization, expert, company_member, operator, dispute, django_capture_on_commit_callbacks
):
    other = other_expert_profile()
    decide_rework_by_platform(dispute, operator, django_capture_on_commit_callbacks)
    rework = accept_rework(dispute, other, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        submit(rework, other.user, minutes=30)
    refs = [dispute.assignment.hold_ref, rework.hold_ref]
    query = "&".join(f"ref={ref}" for ref in refs)
    page = login_client(company_member).get(f"/company/billing/receipt/?{query}").content.decode()
    assert "paid by Inloop" in page
    # The company was charged for the first review only (the platform paid the rework).
    assert f'data-testid="net">${CAPTURED_CENTS / 100:,.2f}<' in page
