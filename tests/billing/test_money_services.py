"""Rounding rules (table-driven), holds, captures, releases, the dispute window and refunds."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from billing import ledger, services
from billing.models import Earning, Hold, LedgerAccount, Refund
from tests.factories import CreditGrantFactory, EarningFactory

Kind = LedgerAccount.Kind
pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("billed_seconds", "rate_cents", "expected"),
    [
        (3600, 6000, 6000),
        (1, 6000, 2),  # 1.666.. rounds half up to 2
        (1, 1800, 1),  # exactly 0.5 rounds half up to 1
        (0, 9999, 0),
        (5400, 12000, 18000),
        (59, 3600, 59),
        (7199, 1, 2),  # 1.9997 -> 2
    ],
)
def test_expert_cents_for(billed_seconds, rate_cents, expected):
    assert (
        services.expert_cents_for(billed_seconds=billed_seconds, rate_cents=rate_cents) == expected
    )


@pytest.mark.parametrize(
    ("expert_cents", "fee_percent", "expected"),
    [(1000, "20", 200), (5, "10", 1), (4, "10", 0), (1, "50", 1), (333, "15", 50), (0, "20", 0)],
)
def test_fee_cents_for(expert_cents, fee_percent, expected):
    assert (
        services.fee_cents_for(expert_cents=expert_cents, fee_percent=Decimal(fee_percent))
        == expected
    )


@pytest.mark.parametrize(
    ("max_hours", "rate_cents", "fee", "expected"),
    [("2", 6000, "20", 14400), ("0.25", 10000, "20", 3000), ("1.5", 3333, "10", 5500)],
)
def test_hold_amount_for(max_hours, rate_cents, fee, expected):
    assert (
        services.hold_amount_for(
            max_hours=Decimal(max_hours), rate_cents=rate_cents, fee_percent=Decimal(fee)
        )
        == expected
    )


@pytest.mark.parametrize(
    ("refunded", "expert", "fee", "expected"),
    [
        (1200, 1000, 200, 1000),  # everything
        (600, 1000, 200, 500),
        (1, 1000, 200, 1),  # 0.833 -> 1
        (0, 1000, 200, 0),
        (7, 5, 2, 5),
        (3, 5, 2, 2),  # 2.14 -> 2
        (100, 0, 100, 0),
    ],
)
def test_refund_expert_cents(refunded, expert, fee, expected):
    assert (
        services.refund_expert_cents(refunded_cents=refunded, expert_cents=expert, fee_cents=fee)
        == expected
    )


def test_partial_refunds_split_like_one_refund_of_the_total():
    expert, fee = 997, 199
    for steps in ([1] * 50, [3, 7, 11, 13], [598, 598]):
        shares, total = [], 0
        for step in steps:
            before = services.refund_expert_cents(
                refunded_cents=total, expert_cents=expert, fee_cents=fee
            )
            total += step
            after = services.refund_expert_cents(
                refunded_cents=total, expert_cents=expert, fee_cents=fee
            )
            shares.append(after - before)
        assert sum(shares) == services.refund_expert_cents(
            refunded_cents=total, expert_cents=expert, fee_cents=fee
        )


def test_hold_that_does_not_fit_is_refused_and_nothing_moves(organization):
    CreditGrantFactory(organization=organization, amount_cents=1000)
    with pytest.raises(services.InsufficientFunds), transaction.atomic():
        services.hold_place(organization=organization, ref="a:1", amount_cents=1001)
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 1000
    assert not Hold.objects.exists()


def test_capture_pays_expert_and_fee_and_releases_the_rest(organization, expert):
    CreditGrantFactory(organization=organization, amount_cents=20_000)
    earning = EarningFactory(organization=organization, user=expert, billed_seconds=1800)
    # hold 2 h x $60 x 1.2 = $144; capture 30 min: $30 + $6 fee; $108 back.
    assert (earning.amount_cents, earning.fee_cents) == (3000, 600)
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 20_000 - 3600
    assert ledger.balance(Kind.COMPANY_HELD, organization=organization) == 0
    assert ledger.balance(Kind.EXPERT_PENDING, user=expert) == 3000
    assert ledger.balance(Kind.PLATFORM_FEES) == 600
    assert earning.status == Earning.Status.PENDING


def test_release_gives_the_whole_hold_back_once(organization):
    CreditGrantFactory(organization=organization, amount_cents=5000)
    with transaction.atomic():
        services.hold_place(organization=organization, ref="a:2", amount_cents=3000)
    with transaction.atomic():
        services.hold_release(ref="a:2")
        services.hold_release(ref="a:2")
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 5000
    assert Hold.objects.get(ref="a:2").status == Hold.Status.RELEASED


def test_platform_paid_hold_leaves_the_company_balance_alone(organization, expert):
    earning = EarningFactory(
        organization=organization,
        user=expert,
        payer="platform",
        billed_seconds=3600,
    )
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 0
    assert ledger.balance(Kind.COMPANY_HELD, organization=organization) == 0
    assert earning.fee_cents == 0 and earning.amount_cents == 6000
    assert ledger.balance(Kind.PLATFORM_REFUNDS) == -6000
    assert ledger.balance(Kind.PLATFORM_HELD) == 0


def test_earning_becomes_available_after_the_window_unless_frozen(
    organization, expert, other_expert
):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    free = EarningFactory(organization=organization, user=expert)
    frozen = EarningFactory(organization=organization, user=other_expert)
    services.earning_freeze(ref=frozen.ref)
    later = timezone.now() + timedelta(hours=73)
    assert services.earnings_mature_due(now=timezone.now()) == 0
    assert services.earnings_mature_due(now=later) == 1
    assert services.earnings_mature_due(now=later) == 0
    free.refresh_from_db()
    frozen.refresh_from_db()
    assert free.status == Earning.Status.AVAILABLE
    assert frozen.status == Earning.Status.FROZEN
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 6000
    assert ledger.balance(Kind.EXPERT_PENDING, user=other_expert) == 6000


def test_unfreeze_goes_back_to_pending_or_straight_to_available(organization, expert):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    early = EarningFactory(organization=organization, user=expert)
    services.earning_freeze(ref=early.ref)
    assert services.earning_unfreeze(ref=early.ref).status == Earning.Status.PENDING
    late = EarningFactory(organization=organization, user=expert)
    services.earning_freeze(ref=late.ref)
    Earning.objects.filter(pk=late.pk).update(available_at=timezone.now() - timedelta(hours=1))
    assert services.earning_unfreeze(ref=late.ref).status == Earning.Status.AVAILABLE
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 6000


def test_freeze_after_the_window_is_refused(organization, expert):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    earning = EarningFactory(organization=organization, user=expert)
    Earning.objects.filter(pk=earning.pk).update(available_at=timezone.now())
    services.earnings_mature_due()
    with pytest.raises(ValidationError):
        services.earning_freeze(ref=earning.ref)


def test_refund_of_a_pending_earning_splits_and_returns_money(organization, expert, operator):
    CreditGrantFactory(organization=organization, amount_cents=20_000)
    earning = EarningFactory(organization=organization, user=expert)  # 6000 + 1200
    outcome = services.earning_refund(
        ref=earning.ref, amount_cents=3600, actor=operator, reason="half the work was wrong"
    )
    assert outcome.refunded_cents == 3600
    assert outcome.reversal_status == "none" and outcome.platform_shortfall_cents == 0
    refund = Refund.objects.get()
    assert (refund.expert_cents, refund.fee_cents) == (3000, 600)
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 20_000 - 7200 + 3600
    assert ledger.balance(Kind.EXPERT_PENDING, user=expert) == 3000
    assert ledger.balance(Kind.PLATFORM_FEES) == 600
    # The rest matures; a full refund of what is left closes the earning.
    services.earning_refund(ref=earning.ref, amount_cents=3600, actor=operator, reason="rest")
    earning.refresh_from_db()
    assert earning.status == Earning.Status.REFUNDED
    assert ledger.balance(Kind.EXPERT_PENDING, user=expert) == 0


def test_refund_beyond_what_is_left_is_refused_and_changes_nothing(organization, expert, operator):
    CreditGrantFactory(organization=organization, amount_cents=20_000)
    earning = EarningFactory(organization=organization, user=expert)
    with pytest.raises(ValidationError):
        services.earning_refund(ref=earning.ref, amount_cents=7201, actor=operator, reason="x")
    with pytest.raises(ValidationError):
        services.earning_refund(ref=earning.ref, amount_cents=100, actor=operator, reason=" ")
    assert not Refund.objects.exists()
    assert ledger.balance(Kind.EXPERT_PENDING, user=expert) == 6000


def test_refund_of_an_available_earning_takes_it_from_available(organization, expert, operator):
    CreditGrantFactory(organization=organization, amount_cents=20_000)
    earning = EarningFactory(organization=organization, user=expert)
    Earning.objects.filter(pk=earning.pk).update(available_at=timezone.now())
    services.earnings_mature_due()
    services.earning_refund(ref=earning.ref, amount_cents=1200, actor=operator, reason="late")
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 5000
    assert ledger.balance(Kind.PLATFORM_FEES) == 1000


def test_refund_of_platform_paid_rework_goes_back_to_the_platform(organization, expert, operator):
    earning = EarningFactory(organization=organization, user=expert, payer="platform")
    services.earning_refund(ref=earning.ref, amount_cents=6000, actor=operator, reason="redo")
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 0
    assert ledger.balance(Kind.PLATFORM_REFUNDS) == 0
