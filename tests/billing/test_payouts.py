"""Payout runs against LocalStripe: one transfer per payout, never two, awaiting_stripe without
keys or onboarding, failures give the money back, reversals on refunds after payout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing import ledger, payouts, services, stripe_gateway
from billing.models import ConnectedAccount, Earning, LedgerAccount, Payout, TransferReversal
from marketplace.transitions import InvalidTransition
from tests.billing.support import transfers_made
from tests.factories import (
    ConnectedAccountFactory,
    CreditGrantFactory,
    EarningFactory,
    PayoutFactory,
    UserFactory,
)

Kind = LedgerAccount.Kind
pytestmark = pytest.mark.django_db


def test_without_stripe_keys_payouts_wait_as_awaiting_stripe(settings, organization, expert):
    settings.STRIPE_SECRET_KEY = ""
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    run = payouts.payout_run()
    payout = Payout.objects.get()
    assert run.payouts_created == 1 and run.stripe_calls == 0
    assert payout.status == Payout.Status.AWAITING_STRIPE
    assert payout.amount_cents == 6000
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 0
    assert ledger.balance(Kind.EXPERT_PAID_OUT, user=expert) == 6000
    assert list(payout.history.values_list("to_status", flat=True)) == [
        "pending",
        "awaiting_stripe",
    ]


def test_below_the_minimum_nobody_is_paid(settings, organization, expert):
    settings.PAYOUT_MINIMUM_CENTS = 6001
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    assert payouts.payout_run().payouts_created == 0
    assert not Payout.objects.exists()


def test_payout_run_transfers_once_to_onboarded_experts(
    stripe_on, organization, expert, other_expert
):
    CreditGrantFactory(organization=organization, amount_cents=100_000)
    EarningFactory(organization=organization, user=expert, available=True)
    EarningFactory(
        organization=organization, user=other_expert, available=True, billed_seconds=7200
    )
    account = ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    services.connected_account_ensure(user=other_expert)  # not onboarded

    run = payouts.payout_run()

    paid = Payout.objects.get(user=expert)
    waiting = Payout.objects.get(user=other_expert)
    assert paid.status == Payout.Status.SENT and paid.stripe_transfer_id.startswith("tr_")
    assert waiting.status == Payout.Status.AWAITING_STRIPE
    transfer = stripe_gateway.client().v1.transfers.retrieve(paid.stripe_transfer_id)
    assert (transfer.amount, transfer.destination) == (6000, account.stripe_account_id)
    assert transfer.metadata["payout_id"] == str(paid.pk)
    assert transfers_made(stripe_on) == 1
    assert run.stripe_calls == 1
    assert Earning.objects.get(user=expert).status == Earning.Status.PAID
    # A second run finds nothing new and pays nobody again.
    payouts.payout_run()
    assert transfers_made(stripe_on) == 1
    assert Payout.objects.count() == 2


def test_crashed_run_rerun_pays_everyone_exactly_once(stripe_on, organization, django_user_model):

    CreditGrantFactory(organization=organization, amount_cents=1_000_000)
    experts = [UserFactory(email=f"x{i}@inloop.test", account_type="expert") for i in range(5)]
    for user in experts:
        EarningFactory(organization=organization, user=user, available=True)
        ConnectedAccountFactory(user=user, localstripe=stripe_on)
    run = Payout.objects.none()
    run = payouts.PayoutRun.objects.create()
    assert payouts.payouts_create(run=run) == 5
    ordered = list(Payout.objects.order_by("pk"))
    # The crash: two payouts were sent and committed, the third reached Stripe but the process
    # died before our commit, the last two never got that far.
    payouts.payouts_send(payout_ids=[p.pk for p in ordered[:2]])
    stripe_gateway.transfer_create(
        amount_cents=ordered[2].amount_cents,
        currency="usd",
        destination=ConnectedAccount.objects.get(user_id=ordered[2].user_id).stripe_account_id,
        payout_id=ordered[2].pk,
        idempotency_key=ordered[2].idempotency_key,
    )
    assert Payout.objects.filter(status=Payout.Status.PENDING).count() == 3

    payouts.payout_run()  # the fresh run

    listed = stripe_gateway.client().v1.transfers.list(params={"limit": 100}).data
    assert len(listed) == 5
    assert sorted(t.metadata["payout_id"] for t in listed) == sorted(str(p.pk) for p in ordered)
    assert Payout.objects.filter(status=Payout.Status.SENT).count() == 5
    assert Payout.objects.count() == 5
    for user in experts:
        assert ledger.balance(Kind.EXPERT_PAID_OUT, user=user) == 6000
        assert ledger.balance(Kind.EXPERT_AVAILABLE, user=user) == 0


def test_refused_transfer_fails_the_payout_and_returns_the_money(stripe_on, organization, expert):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    stripe_on.fail_next_transfers(1)
    payouts.payout_run()
    payout = Payout.objects.get()
    assert payout.status == Payout.Status.FAILED
    assert "insufficient" in payout.failure_reason
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 6000
    assert ledger.balance(Kind.EXPERT_PAID_OUT, user=expert) == 0
    assert Earning.objects.get().status == Earning.Status.AVAILABLE

    # Stripe saved the failure under payout-<id>: the operator retry uses payout-<id>-retry-1.
    retried = payouts.payout_retry(payout=payout, actor=None)
    assert retried.idempotency_key == f"payout-{payout.pk}-retry-1"
    payouts.payouts_send()
    retried.refresh_from_db()
    assert retried.status == Payout.Status.SENT
    assert ledger.balance(Kind.EXPERT_PAID_OUT, user=expert) == 6000
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 0


def test_a_double_clicked_retry_or_mark_failed_moves_the_money_once(settings, organization, expert):
    settings.STRIPE_SECRET_KEY = ""
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    payouts.payout_run()
    payout = Payout.objects.get()
    assert payouts.payout_fail(payout_id=payout.pk, reason="refused") is True
    assert payouts.payout_fail(payout_id=payout.pk, reason="refused again") is False
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 6000
    payouts.payout_retry(payout=payout, actor=None)
    with pytest.raises(InvalidTransition):
        payouts.payout_retry(payout=payout, actor=None)
    payout.refresh_from_db()
    assert payout.attempt == 1
    assert ledger.balance(Kind.EXPERT_PAID_OUT, user=expert) == 6000
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 0


def test_retry_is_refused_when_a_later_run_already_paid_the_money(settings, organization, expert):
    settings.STRIPE_SECRET_KEY = ""
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    payouts.payout_run()
    payout = Payout.objects.get()
    payouts.payout_fail(payout_id=payout.pk, reason="test")
    payouts.payout_run()  # the money went into a new payout
    with pytest.raises(services.InsufficientFunds):
        payouts.payout_retry(payout=payout, actor=None)
    payout.refresh_from_db()
    assert payout.status == Payout.Status.FAILED


def test_awaiting_payout_is_sent_once_the_expert_is_onboarded(stripe_on, organization, expert):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    payouts.payout_run()
    assert Payout.objects.get().status == Payout.Status.AWAITING_STRIPE
    ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    payouts.payout_run()
    assert Payout.objects.get().status == Payout.Status.SENT
    assert transfers_made(stripe_on) == 1


def test_refund_after_payout_reverses_the_transfer(stripe_on, organization, expert, operator):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    earning = EarningFactory(organization=organization, user=expert, available=True)
    ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    payouts.payout_run()
    company_before = ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization)

    outcome = services.earning_refund(
        ref=earning.ref, amount_cents=3600, actor=operator, reason="wrong review"
    )

    assert (outcome.reversal_status, outcome.reversed_cents) == ("succeeded", 3000)
    assert outcome.platform_shortfall_cents == 0
    reversal = TransferReversal.objects.get()
    assert reversal.stripe_reversal_id.startswith("trr_")
    transfer = stripe_gateway.client().v1.transfers.retrieve(
        Payout.objects.get().stripe_transfer_id
    )
    assert transfer.amount_reversed == 3000
    assert (
        ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == company_before + 3600
    )
    assert ledger.balance(Kind.EXPERT_PAID_OUT, user=expert) == 3000
    assert ledger.balance(Kind.PLATFORM_REFUNDS) == 0


def test_refused_reversal_is_booked_to_the_platform(stripe_on, organization, expert, operator):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    earning = EarningFactory(organization=organization, user=expert, available=True)
    ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    payouts.payout_run()
    stripe_on.refuse_reversals(Payout.objects.get().stripe_transfer_id)

    outcome = services.earning_refund(
        ref=earning.ref, amount_cents=7200, actor=operator, reason="no review at all"
    )

    assert outcome.reversal_status == "refused"
    assert (outcome.reversed_cents, outcome.platform_shortfall_cents) == (0, 6000)
    assert TransferReversal.objects.get().status == TransferReversal.Status.REFUSED
    assert ledger.balance(Kind.PLATFORM_REFUNDS) == -6000
    assert ledger.balance(Kind.EXPERT_PAID_OUT, user=expert) == 6000
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 50_000


def test_stripe_reconcile_confirms_sent_payouts_and_runs_pending_reversals(
    stripe_on, organization, expert, operator, django_capture_on_commit_callbacks
):
    from django.db import transaction

    CreditGrantFactory(organization=organization, amount_cents=50_000)
    earning = EarningFactory(organization=organization, user=expert, available=True)
    ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    payouts.payout_run()
    with transaction.atomic():  # inside a caller's transaction the reversal waits for commit
        outcome = services.earning_refund_book(
            ref=earning.ref, amount_cents=1200, actor=operator, reason="partial"
        )
    assert outcome.reversal_status == "pending"
    call_command("stripe_reconcile", "--older-than-seconds", "0")
    assert Payout.objects.get().status == Payout.Status.PAID
    assert TransferReversal.objects.get().status == TransferReversal.Status.SUCCEEDED
    assert ledger.balance(Kind.EXPERT_PAID_OUT, user=expert) == 5000


def test_run_payouts_command_reports_the_run(settings, organization, expert, capsys):
    settings.STRIPE_SECRET_KEY = ""
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert)
    Earning.objects.update(available_at=timezone.now())
    call_command("run_payouts")
    out = capsys.readouterr().out
    assert "1 earnings matured, 1 payouts created" in out
    assert "awaiting_stripe=1" in out


def test_stripe_is_never_called_inside_a_transaction(stripe_on, organization, expert, operator):
    """Each service that calls Stripe begins with a durable transaction: called inside someone
    else's, it fails before Stripe is reached."""
    from django.db import transaction

    CreditGrantFactory(organization=organization, amount_cents=50_000)
    earning = EarningFactory(organization=organization, user=expert, available=True)
    account = ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    payouts.payouts_create(run=payouts.PayoutRun.objects.create())
    payout = Payout.objects.get()
    calls_before = stripe_on.calls()
    entry_points = {
        "connected_account_ensure": lambda: services.connected_account_ensure(user=operator),
        "connected_account_sync": lambda: services.connected_account_sync(user=expert),
        "funding_start": lambda: services.funding_start(
            organization=organization, amount_cents=5000, actor=operator
        ),
        "payout_send": lambda: payouts.payout_send(
            payout=payout, destination=account.stripe_account_id
        ),
        "payouts_reconcile": payouts.payouts_reconcile,
        "earning_refund": lambda: services.earning_refund(
            ref=earning.ref, amount_cents=100, actor=operator, reason="inside"
        ),
        "transfer_reversal_execute": lambda: services.transfer_reversal_execute(reversal_id=1),
    }
    for name, call in entry_points.items():
        with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
            call()
            pytest.fail(f"{name} ran inside a transaction")
    assert stripe_on.calls() == calls_before
    assert Payout.objects.get().transfer_requested_at is None


def test_reconcile_finds_an_old_payouts_transfer_by_metadata_instead_of_posting(
    stripe_on, organization, expert
):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    account = ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    payout = PayoutFactory(user=expert)
    transfer = stripe_gateway.transfer_create(  # reached Stripe, then the process died
        amount_cents=payout.amount_cents,
        currency="usd",
        destination=account.stripe_account_id,
        payout_id=payout.pk,
        idempotency_key=payout.idempotency_key,
    )
    # Old enough that Stripe may have forgotten the idempotency key.
    Payout.objects.filter(pk=payout.pk).update(created_at=timezone.now() - timedelta(hours=30))

    counts = payouts.payouts_reconcile()

    payout.refresh_from_db()
    assert counts["found"] == 1
    assert payout.stripe_transfer_id == transfer.id
    assert payout.status == Payout.Status.PAID  # confirmed in the same reconcile pass
    assert transfers_made(stripe_on) == 1
