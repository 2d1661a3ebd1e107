"""Each dispute outcome's ledger and Stripe effects, the two-operator approval, and the
operator's case page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from billing import ledger
from billing.models import Earning, LedgerAccount, Payout, TransferReversal
from billing.selectors import company_balance
from marketplace.models import AuditLog, Notification
from review_requests import dispute_services
from review_requests.models import Assignment, Offer, ReviewRequest
from tests.billing.support import use_localstripe
from tests.conftest import give_operator_mfa, login_client
from tests.console.dispute_support import (
    CAPTURED_CENTS,
    EXPERT_CENTS,
    FEE_CENTS,
    ready_dispute,
    submitted_assignment,
)
from tests.factories import ExpertProfileFactory

pytestmark = pytest.mark.django_db
Kind = LedgerAccount.Kind
FUNDS = 100_000


@pytest.fixture
def assignment(organization, expert):
    return submitted_assignment(organization, expert, funds=FUNDS)


@pytest.fixture
def dispute(assignment, company_member, expert):
    return ready_dispute(assignment, company_member, expert)


def balances(organization, expert) -> dict:
    return {
        "company": company_balance(organization=organization).available_cents,
        "pending": ledger.balance(Kind.EXPERT_PENDING, user=expert),
        "available": ledger.balance(Kind.EXPERT_AVAILABLE, user=expert),
        "paid_out": ledger.balance(Kind.EXPERT_PAID_OUT, user=expert),
        "fees": ledger.balance(Kind.PLATFORM_FEES),
        "refunds": ledger.balance(Kind.PLATFORM_REFUNDS),
    }


def decide(dispute, operator, capture, **kwargs):
    kwargs.setdefault("note", "Decided on the evidence.")
    with capture(execute=True):
        return dispute_services.dispute_decide(dispute=dispute, operator=operator, **kwargs)


def test_starting_point_is_what_the_submit_captured(organization, expert, dispute):
    assert balances(organization, expert) == {
        "company": FUNDS - CAPTURED_CENTS,
        "pending": EXPERT_CENTS,
        "available": 0,
        "paid_out": 0,
        "fees": FEE_CENTS,
        "refunds": 0,
    }


def test_release_pays_the_expert_and_completes_the_request(
    organization, expert, company_member, operator, dispute, django_capture_on_commit_callbacks
):
    before = balances(organization, expert)
    dispute = decide(dispute, operator, django_capture_on_commit_callbacks, outcome="release")
    assert dispute.status == "resolved"
    assert balances(organization, expert) == before
    earning = Earning.objects.get(ref=dispute.assignment.hold_ref)
    assert earning.status == Earning.Status.PENDING  # back on its normal schedule
    assignment = Assignment.objects.get(pk=dispute.assignment_id)
    assert assignment.status == "resolved"
    assert assignment.review_request.status == ReviewRequest.Status.COMPLETED
    for user in (company_member, expert):
        note = Notification.objects.get(user=user, kind="decision")
        assert "Decided on the evidence." in note.body
    row = AuditLog.objects.get(action="dispute.resolved")
    assert row.actor == operator
    assert row.before["status"] == "ready"
    assert row.after["outcome"] == "release"


def test_release_after_the_window_makes_the_pay_available_at_once(
    organization, expert, operator, dispute, django_capture_on_commit_callbacks
):
    Earning.objects.filter(ref=dispute.assignment.hold_ref).update(
        available_at=timezone.now() - timedelta(minutes=1)
    )
    decide(dispute, operator, django_capture_on_commit_callbacks, outcome="release")
    after = balances(organization, expert)
    assert (after["pending"], after["available"]) == (0, EXPERT_CENTS)


def test_partial_refund_splits_between_expert_and_fee(
    organization, expert, operator, dispute, django_capture_on_commit_callbacks
):
    before = balances(organization, expert)
    decide(
        dispute,
        operator,
        django_capture_on_commit_callbacks,
        outcome="partial_refund",
        amount_cents=1_200,
    )
    after = balances(organization, expert)
    assert after["company"] - before["company"] == 1_200
    assert before["pending"] - after["pending"] == 1_000  # 1,200 x 3,000 / 3,600
    assert before["fees"] - after["fees"] == 200
    earning = Earning.objects.get(ref=dispute.assignment.hold_ref)
    assert (earning.refunded_cents, earning.status) == (1_200, Earning.Status.PENDING)
    rr = ReviewRequest.objects.get(pk=dispute.assignment.review_request_id)
    assert rr.cost_cents == CAPTURED_CENTS - 1_200
    assert rr.status == "completed"


def test_partial_refund_over_the_captured_amount_is_refused_and_nothing_moves(
    organization, expert, operator, dispute, django_capture_on_commit_callbacks
):
    before = balances(organization, expert)
    with pytest.raises(ValidationError) as exc:
        decide(
            dispute,
            operator,
            django_capture_on_commit_callbacks,
            outcome="partial_refund",
            amount_cents=CAPTURED_CENTS + 1,
        )
    assert "amount" in exc.value.error_dict
    assert balances(organization, expert) == before
    dispute.refresh_from_db()
    assert (dispute.status, dispute.outcome) == ("ready", "")


def test_full_refund_gives_everything_back(
    organization, expert, operator, dispute, django_capture_on_commit_callbacks
):
    decide(dispute, operator, django_capture_on_commit_callbacks, outcome="full_refund")
    after = balances(organization, expert)
    assert after["company"] == FUNDS
    assert (after["pending"], after["fees"]) == (0, 0)
    assert Earning.objects.get(ref=dispute.assignment.hold_ref).status == Earning.Status.REFUNDED


def test_rework_by_refund_reopens_the_request_for_other_experts(
    organization, expert, operator, dispute, django_capture_on_commit_callbacks
):
    other = ExpertProfileFactory(
        specializations=["medicine.radiology"],
        credentials=["medicine"],
        always_available=True,
        hourly_rate_cents=6_000,
    )
    decide(
        dispute,
        operator,
        django_capture_on_commit_callbacks,
        outcome="rework",
        rework_funded_by="refund",
    )
    after = balances(organization, expert)
    assert after["company"] == FUNDS
    assert after["pending"] == 0
    assignment = Assignment.objects.get(pk=dispute.assignment_id)
    assert assignment.status == "released"
    rr = assignment.review_request
    assert (rr.status, rr.result) == ("queued", None)
    offered = set(Offer.objects.filter(review_request=rr).values_list("expert_id", flat=True))
    assert other.pk in offered
    assert Offer.objects.filter(review_request=rr, status="open").exclude(expert=other).count() == 0


def test_rework_by_the_platform_keeps_the_expert_paid_and_leaves_the_company_untouched(
    organization, expert, operator, dispute, django_capture_on_commit_callbacks
):
    """The platform pays through the rework's hold (tests/review_requests/test_disputes_rework.py),
    not through credit to the company."""
    before = balances(organization, expert)
    decide(
        dispute,
        operator,
        django_capture_on_commit_callbacks,
        outcome="rework",
        rework_funded_by="platform",
    )
    assert balances(organization, expert) == before
    assert ledger.balance(Kind.PLATFORM_CREDIT) == -FUNDS  # only the test's own funding
    assert Earning.objects.get(ref=dispute.assignment.hold_ref).status == Earning.Status.PENDING
    assert ReviewRequest.objects.get(pk=dispute.assignment.review_request_id).status == "queued"


def test_rework_needs_a_payer_and_decisions_need_a_note(operator, dispute):
    with pytest.raises(ValidationError) as exc:
        dispute_services.dispute_decide(
            dispute=dispute, operator=operator, outcome="rework", note=""
        )
    assert set(exc.value.error_dict) == {"rework_funded_by", "note"}


def test_open_dispute_cannot_be_decided_before_the_expert_answers(
    assignment, company_member, operator
):
    from tests.console.dispute_support import open_dispute

    dispute = open_dispute(assignment, company_member)
    with pytest.raises(ValidationError):
        dispute_services.dispute_decide(
            dispute=dispute, operator=operator, outcome="release", note="x"
        )


def test_over_the_threshold_a_second_operator_must_approve(
    settings,
    organization,
    expert,
    operator,
    other_operator,
    dispute,
    django_capture_on_commit_callbacks,
):
    settings.DISPUTE_APPROVAL_THRESHOLD_CENTS = 1_000
    before = balances(organization, expert)
    dispute = decide(dispute, operator, django_capture_on_commit_callbacks, outcome="full_refund")
    assert dispute.status == "awaiting_approval"
    assert balances(organization, expert) == before  # nothing moved yet
    with pytest.raises(PermissionDenied):
        dispute_services.dispute_approve(dispute=dispute, operator=operator)
    assert Dispute_status(dispute) == "awaiting_approval"
    with django_capture_on_commit_callbacks(execute=True):
        dispute = dispute_services.dispute_approve(dispute=dispute, operator=other_operator)
    assert dispute.status == "resolved"
    assert (dispute.decided_by, dispute.approved_by) == (operator, other_operator)
    assert balances(organization, expert)["company"] == FUNDS
    assert AuditLog.objects.filter(action="dispute.decision_proposed", actor=operator).exists()
    assert AuditLog.objects.filter(action="dispute.resolved", actor=other_operator).exists()


def Dispute_status(dispute) -> str:
    dispute.refresh_from_db()
    return dispute.status


def test_under_the_threshold_one_operator_is_enough(
    settings, operator, dispute, django_capture_on_commit_callbacks
):
    settings.DISPUTE_APPROVAL_THRESHOLD_CENTS = CAPTURED_CENTS
    dispute = decide(dispute, operator, django_capture_on_commit_callbacks, outcome="full_refund")
    assert dispute.status == "resolved"


def test_the_threshold_comes_from_the_platform_settings(
    settings, organization, expert, operator, other_operator, dispute,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    from marketplace.services import platform_settings_update

    settings.DISPUTE_APPROVAL_THRESHOLD_CENTS = 1_000_000  # the default would let it through
    platform_settings_update(actor=other_operator, dispute_approval_threshold_cents=1_000)
    dispute = decide(dispute, operator, django_capture_on_commit_callbacks, outcome="full_refund")
    assert dispute.status == "awaiting_approval"
    row = AuditLog.objects.get(action="dispute.decision_proposed")
    assert (row.after["threshold_cents"], row.after["at_stake_cents"]) == (1_000, CAPTURED_CENTS)
    give_operator_mfa(operator)
    page = login_client(operator).get(f"/console/disputes/{dispute.pk}/").content.decode()
    assert "Over $10.00, a second operator must approve" in page


@pytest.mark.parametrize(
    ("outcome", "extra"),
    [
        ("release", {}),
        ("partial_refund", {"amount_cents": 1_000}),
        ("full_refund", {}),
        ("rework", {"rework_funded_by": "refund"}),
        ("rework", {"rework_funded_by": "platform"}),
    ],
)
def test_a_replayed_decision_moves_money_once(
    organization, expert, operator, other_operator, dispute,
    django_capture_on_commit_callbacks, outcome, extra,
):  # fmt: skip
    decide(dispute, operator, django_capture_on_commit_callbacks, outcome=outcome, **extra)
    after_first = balances(organization, expert)
    entries = ledger.LedgerEntry.objects.count()
    for who in (operator, other_operator):  # a double click, another operator's stale page
        with pytest.raises(ValidationError):
            decide(dispute, who, django_capture_on_commit_callbacks, outcome=outcome, **extra)
    with pytest.raises(ValidationError):
        dispute_services.dispute_approve(dispute=dispute, operator=other_operator)
    assert balances(organization, expert) == after_first
    assert ledger.LedgerEntry.objects.count() == entries
    assert AuditLog.objects.filter(action="dispute.resolved").count() == 1
    assert Notification.objects.filter(kind="decision", user=expert).count() == 1


def test_an_approval_replayed_moves_money_once(
    settings, organization, expert, operator, other_operator, dispute,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    settings.DISPUTE_APPROVAL_THRESHOLD_CENTS = 0
    decide(dispute, operator, django_capture_on_commit_callbacks, outcome="full_refund")
    with django_capture_on_commit_callbacks(execute=True):
        dispute_services.dispute_approve(dispute=dispute, operator=other_operator)
    after = balances(organization, expert)
    with pytest.raises(ValidationError):
        dispute_services.dispute_approve(dispute=dispute, operator=other_operator)
    assert balances(organization, expert) == after
    assert after["company"] == FUNDS
    assert Earning.objects.get(ref=dispute.assignment.hold_ref).refunded_cents == CAPTURED_CENTS


def test_second_operator_can_send_a_proposal_back(
    settings, operator, other_operator, dispute, django_capture_on_commit_callbacks
):
    settings.DISPUTE_APPROVAL_THRESHOLD_CENTS = 0
    dispute = decide(dispute, operator, django_capture_on_commit_callbacks, outcome="release")
    dispute = dispute_services.dispute_proposal_reject(
        dispute=dispute, operator=other_operator, note="Refund instead"
    )
    assert (dispute.status, dispute.outcome, dispute.decided_by) == ("ready", "", None)


# The operator's pages -------------------------------------------------------------------------


def test_case_page_shows_the_evidence_side_by_side(operator, dispute):
    give_operator_mfa(operator)
    content = login_client(operator).get(f"/console/disputes/{dispute.pk}/").content.decode()
    assert "Summarize the X-ray." in content  # the request's prompt
    assert "<strong>every</strong>" in content  # guidelines, markdown sanitized
    assert "small fracture of the left radius" in content  # the AI output
    assert "<del>- The scan shows a small fracture" in content  # the diff
    assert "<ins>+ The scan shows no fracture" in content
    assert "Starting on &lt;b&gt;it&lt;/b&gt; now" in content  # chat, escaped
    assert "submitted" in content and "chat.message" in content  # transcript by seq
    assert "20 min 00 s" in content and "5 min 00 s" in content  # interval and gap
    assert "I checked every finding." in content and "The review missed the obvious." in content


def test_operator_decides_and_approves_through_the_pages(
    settings,
    organization,
    expert,
    operator,
    other_operator,
    dispute,
    django_capture_on_commit_callbacks,
):
    settings.DISPUTE_APPROVAL_THRESHOLD_CENTS = 1_000
    give_operator_mfa(operator)
    give_operator_mfa(other_operator)
    url = f"/console/disputes/{dispute.pk}/"
    first = login_client(operator)
    response = first.post(url, {"outcome": "partial_refund", "amount": "40.00", "note": "x"})
    assert b"At most $36.00 was captured" in response.content
    response = first.post(url, {"outcome": "partial_refund", "amount": "20.00", "note": "Half."})
    assert response.status_code == 302
    assert Dispute_status(dispute) == "awaiting_approval"
    first.post(url + "approve/")
    assert Dispute_status(dispute) == "awaiting_approval"
    with django_capture_on_commit_callbacks(execute=True):
        login_client(other_operator).post(url + "approve/")
    assert Dispute_status(dispute) == "resolved"
    assert (
        company_balance(organization=organization).available_cents == FUNDS - CAPTURED_CENTS + 2_000
    )


# Refunds after payout, against the local Stripe -------------------------------------------------


@pytest.fixture
def paid_out(settings, localstripe, organization, expert, assignment):
    """The earning matured and was paid out by a payout run (a Stripe transfer)."""
    from billing.payouts import payout_run
    from billing.services import connected_account_ensure, earnings_mature_due

    # No localstripe.reset(): ids restart with every test database, but each database (each
    # test's rolled-back transaction here) sends its own idempotency-key prefix.
    use_localstripe(settings, localstripe)
    account = connected_account_ensure(user=expert)
    localstripe.enable_payouts(account.stripe_account_id)
    type(account).objects.filter(pk=account.pk).update(payouts_enabled=True)
    Earning.objects.filter(ref=assignment.hold_ref).update(
        available_at=timezone.now() - timedelta(minutes=1)
    )
    assert earnings_mature_due() == 1
    payout_run(minimum_cents=1)
    payout = Payout.objects.get(user=expert)
    assert payout.status == "sent" and payout.stripe_transfer_id
    return payout


def test_refund_after_payout_reverses_the_transfer(
    localstripe,
    organization,
    expert,
    company_member,
    operator,
    assignment,
    paid_out,
    django_capture_on_commit_callbacks,
):
    dispute = ready_dispute(assignment, company_member, expert)
    decide(dispute, operator, django_capture_on_commit_callbacks, outcome="full_refund")
    reversal = TransferReversal.objects.get(payout=paid_out)
    assert (reversal.status, reversal.amount_cents) == ("succeeded", EXPERT_CENTS)
    transfer = localstripe.client().v1.transfers.retrieve(paid_out.stripe_transfer_id)
    assert transfer.amount_reversed == EXPERT_CENTS
    after = balances(organization, expert)
    assert after["company"] == FUNDS
    assert after["paid_out"] == 0
    assert after["refunds"] == 0  # fronted, then clawed back
    give_operator_mfa(operator)
    page = login_client(operator).get(f"/console/disputes/{dispute.pk}/").content.decode()
    assert "Succeeded" in page and 'id="shortfall"' not in page


def test_refused_reversal_books_the_shortfall_to_the_platform_and_shows_it(
    localstripe,
    organization,
    expert,
    company_member,
    operator,
    assignment,
    paid_out,
    django_capture_on_commit_callbacks,
):
    localstripe.refuse_reversals(paid_out.stripe_transfer_id)
    dispute = ready_dispute(assignment, company_member, expert)
    decide(dispute, operator, django_capture_on_commit_callbacks, outcome="full_refund")
    reversal = TransferReversal.objects.get(payout=paid_out)
    assert reversal.status == "refused"
    after = balances(organization, expert)
    assert after["company"] == FUNDS  # the company is refunded anyway
    assert after["paid_out"] == EXPERT_CENTS  # the expert keeps the transfer
    assert after["refunds"] == -EXPERT_CENTS  # the platform carries the shortfall
    give_operator_mfa(operator)
    page = login_client(operator).get(f"/console/disputes/{dispute.pk}/").content.decode()
    assert 'id="shortfall"' in page and "$30.00" in page
