"""Races that only PostgreSQL can show (SQLite ignores row locks)."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from billing import ledger, payouts, services
from billing.models import Hold, LedgerAccount, Payout
from tests.conftest import run_at_once
from tests.factories import CreditGrantFactory, EarningFactory

Kind = LedgerAccount.Kind


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("balance", "amount", "threads"), [(10_000, 3_000, 8), (5_000, 1_000, 12)])
def test_parallel_holds_never_overdraw(organization, balance, amount, threads):
    CreditGrantFactory(organization=organization, amount_cents=balance)
    outcomes: list[str] = []
    lowest: list[int] = []

    def accept():
        try:
            with transaction.atomic():
                services.hold_place(
                    organization=organization, ref=f"race:{uuid.uuid4()}", amount_cents=amount
                )
            outcomes.append("ok")
        except services.InsufficientFunds:
            outcomes.append("refused")
        finally:
            lowest.append(ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization))

    run_at_once(accept, threads=threads)

    assert outcomes.count("ok") == balance // amount
    assert outcomes.count("refused") == threads - balance // amount
    assert min(lowest) >= 0
    assert Hold.objects.count() == balance // amount
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == balance % amount


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_payout_runs_at_once_pay_each_expert_once(settings, organization, expert):
    from django.utils import timezone

    from billing.models import Earning

    settings.STRIPE_SECRET_KEY = ""
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert)
    Earning.objects.update(available_at=timezone.now())
    services.earnings_mature_due()
    run_at_once(payouts.payout_run, threads=2)
    assert Payout.objects.count() == 1
    assert ledger.balance(Kind.EXPERT_PAID_OUT, user=expert) == 6000
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_accepts_spend_one_platform_grant_once(organization):
    """Two experts accept the platform-paid rework at once: one hold is the platform's, the
    other waits on the grant's row lock, finds it spent and pays as the company."""
    from billing.models import PlatformHoldGrant

    CreditGrantFactory(organization=organization, amount_cents=10_000)
    scope = "review_request:race"
    with transaction.atomic():
        services.platform_hold_grant_create(
            organization=organization, scope=scope, source_ref="dispute:race:rework", reason="r"
        )
    threads = 6

    def accept():
        with transaction.atomic():
            services.hold_place(
                organization=organization,
                ref=f"race:{uuid.uuid4()}",
                amount_cents=1_000,
                scope=scope,
            )

    run_at_once(accept, threads=threads)
    assert Hold.objects.filter(payer="platform").count() == 1
    assert Hold.objects.filter(payer="company").count() == threads - 1
    assert PlatformHoldGrant.objects.get().status == "held"
    assert ledger.balance(Kind.PLATFORM_HELD) == 1_000
    assert ledger.balance(Kind.COMPANY_HELD, organization=organization) == (threads - 1) * 1_000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_credit_form_posted_in_parallel_grants_once(organization):
    from billing.models import CreditGrant

    token = uuid.uuid4()
    threads = 4

    def post():
        services.credit_grant(
            organization=organization, amount_cents=500, reason="r", request_token=token
        )

    run_at_once(post, threads=threads)
    assert CreditGrant.objects.count() == 1
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 500
