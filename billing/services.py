"""Money writes. Each public function is one transaction (or runs inside its caller's, where the
money must move with a state change: holds on accept, captures on submit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from billing import ledger
from billing.ledger import InsufficientFunds
from billing.models import CreditGrant, Earning, Hold, LedgerAccount
from marketplace.selectors import dispute_window_hours, platform_fee_percent
from marketplace.services import audit_record

Kind = LedgerAccount.Kind

__all__ = [
    "InsufficientFunds",
    "capture_split",
    "credit_grant",
    "expert_cents_for",
    "fee_cents_for",
    "hold_amount_for",
    "hold_capture",
    "hold_place",
    "hold_release",
]


# Rounding rules: one pure function each (table-tested in tests/billing/test_rounding.py).


def expert_cents_for(*, billed_seconds: int, rate_cents: int) -> int:
    """The expert's pay for billed time: seconds x hourly rate / 3600, rounded half up to a cent."""
    exact = Decimal(billed_seconds) * Decimal(rate_cents) / Decimal(3600)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fee_cents_for(*, expert_cents: int, fee_percent: Decimal) -> int:
    """The platform fee on top of the expert's pay, rounded half up to a cent."""
    exact = Decimal(expert_cents) * Decimal(fee_percent) / Decimal(100)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def hold_amount_for(*, max_hours: Decimal, rate_cents: int, fee_percent: Decimal) -> int:
    """max_hours x rate x (1 + fee): the most the company can be charged for one reviewer.
    Built from the same two rounding steps as a capture, so a capture never exceeds its hold."""
    max_seconds = int((Decimal(max_hours) * 3600).to_integral_value(rounding=ROUND_HALF_UP))
    expert_cents = expert_cents_for(billed_seconds=max_seconds, rate_cents=rate_cents)
    return expert_cents + fee_cents_for(expert_cents=expert_cents, fee_percent=fee_percent)


@dataclass(frozen=True)
class CaptureSplit:
    expert_cents: int
    fee_cents: int

    @property
    def total_cents(self) -> int:
        return self.expert_cents + self.fee_cents


def capture_split(*, billed_seconds: int, rate_cents: int, fee_percent: Decimal) -> CaptureSplit:
    expert_cents = expert_cents_for(billed_seconds=billed_seconds, rate_cents=rate_cents)
    return CaptureSplit(
        expert_cents, fee_cents_for(expert_cents=expert_cents, fee_percent=fee_percent)
    )


# Credit ------------------------------------------------------------------------------------


def credit_grant(*, organization, amount_cents: int, reason: str, actor=None) -> CreditGrant:
    """Operator-granted credit (positive) or its revocation (negative, never below zero)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "A reason is required."})
    if amount_cents == 0:
        raise ValidationError({"amount_cents": "The amount cannot be zero."})
    with transaction.atomic():
        grant = CreditGrant.objects.create(
            organization=organization, amount_cents=amount_cents, reason=reason, actor=actor
        )
        available = ledger.account(Kind.COMPANY_AVAILABLE, organization=organization)
        credit = ledger.account(Kind.PLATFORM_CREDIT)
        if amount_cents > 0:
            ledger.transfer(
                ref=f"credit:{grant.pk}",
                reason="credit_granted",
                source=credit,
                destination=available,
                amount_cents=amount_cents,
                organization=organization,
                actor=actor,
                memo=reason,
            )
        else:
            ledger.transfer(
                ref=f"credit:{grant.pk}",
                reason="credit_revoked",
                source=available,
                destination=credit,
                amount_cents=-amount_cents,
                guard_source=True,
                organization=organization,
                actor=actor,
                memo=reason,
            )
        audit_record(
            actor=actor,
            action="credit.granted" if amount_cents > 0 else "credit.revoked",
            object_type="organization",
            object_id=organization.pk,
            after={"amount_cents": amount_cents, "reason": reason},
            organization=organization,
        )
    return grant


# Holds, captures, releases -----------------------------------------------------------------


def hold_place(*, organization, ref: str, amount_cents: int, actor=None) -> Hold:
    """Move the hold from the company's available to held; InsufficientFunds if it does not fit.
    Runs inside the caller's transaction (the accept)."""
    available = ledger.account(Kind.COMPANY_AVAILABLE, organization=organization)
    held = ledger.account(Kind.COMPANY_HELD, organization=organization)
    ledger.transfer(
        ref=f"{ref}:hold",
        reason="hold",
        source=available,
        destination=held,
        amount_cents=amount_cents,
        guard_source=True,
        organization=organization,
        actor=actor,
    )
    return Hold.objects.create(ref=ref, organization=organization, amount_cents=amount_cents)


def hold_capture(
    *,
    ref: str,
    expert_user,
    assignment_id,
    billed_seconds: int,
    rate_cents: int,
    fee_percent: Decimal | None = None,
) -> Earning:
    """Charge billed time (capped by the hold) to the expert's pending and the platform's fees and
    give the rest back to the company's available. Runs inside the caller's transaction (submit)."""
    hold = Hold.objects.select_for_update().get(ref=ref)
    if hold.status != Hold.Status.HELD:
        raise ledger.DuplicatePosting(f"hold {ref} is already {hold.status}")
    organization = hold.organization
    fee_percent = platform_fee_percent() if fee_percent is None else fee_percent
    split = capture_split(
        billed_seconds=billed_seconds, rate_cents=rate_cents, fee_percent=fee_percent
    )
    if split.total_cents > hold.amount_cents:
        # Time is capped at max_hours upstream; this only guards against a rate change.
        expert_cents = min(split.expert_cents, hold.amount_cents)
        split = CaptureSplit(expert_cents, hold.amount_cents - expert_cents)
    held = ledger.account(Kind.COMPANY_HELD, organization=organization)
    lines = [
        ledger.Line(held, -hold.amount_cents),
        ledger.Line(ledger.account(Kind.EXPERT_PENDING, user=expert_user), split.expert_cents),
        ledger.Line(ledger.account(Kind.PLATFORM_FEES), split.fee_cents),
        ledger.Line(
            ledger.account(Kind.COMPANY_AVAILABLE, organization=organization),
            hold.amount_cents - split.total_cents,
        ),
    ]
    ledger.post(ref=f"{ref}:capture", reason="capture", lines=lines, organization=organization)
    hold.status = Hold.Status.CAPTURED
    hold.captured_cents = split.total_cents
    hold.fee_cents = split.fee_cents
    hold.closed_at = timezone.now()
    hold.save(update_fields=["status", "captured_cents", "fee_cents", "closed_at"])
    return Earning.objects.create(
        user=expert_user,
        organization=organization,
        ref=ref,
        assignment_id=assignment_id,
        amount_cents=split.expert_cents,
        fee_cents=split.fee_cents,
        billed_seconds=billed_seconds,
        rate_cents=rate_cents,
        available_at=timezone.now() + timedelta(hours=dispute_window_hours()),
    )


def hold_release(*, ref: str) -> Hold | None:
    """Give the whole hold back (cancel, expiry, reassignment). Idempotent: a closed hold is left."""
    hold = Hold.objects.select_for_update().filter(ref=ref).first()
    if hold is None or hold.status != Hold.Status.HELD:
        return hold
    organization = hold.organization
    ledger.transfer(
        ref=f"{ref}:release",
        reason="release",
        source=ledger.account(Kind.COMPANY_HELD, organization=organization),
        destination=ledger.account(Kind.COMPANY_AVAILABLE, organization=organization),
        amount_cents=hold.amount_cents,
        organization=organization,
    )
    hold.status = Hold.Status.RELEASED
    hold.closed_at = timezone.now()
    hold.save(update_fields=["status", "closed_at"])
    return hold
