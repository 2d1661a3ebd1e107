"""Money writes. Each public function is one transaction (or runs inside its caller's, where the
money must move with a state change: holds on accept, captures on submit)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from billing import ledger, payouts
from billing.ledger import InsufficientFunds
from billing.models import CreditGrant, Earning, Hold, LedgerAccount, PlatformHoldGrant
from billing.signals import funds_added
from marketplace.selectors import dispute_window_hours, platform_fee_percent
from marketplace.services import audit_record
from marketplace.transitions import transition

Kind = LedgerAccount.Kind

__all__ = [
    "InsufficientFunds",
    "RefundOutcome",
    "capture_split",
    "credit_grant",
    "earning_freeze",
    "earning_mature",
    "earning_refund",
    "earning_refund_book",
    "earning_unfreeze",
    "earnings_mature_due",
    "expert_cents_for",
    "fee_cents_for",
    "hold_amount_for",
    "hold_capture",
    "hold_place",
    "hold_release",
    "platform_hold_grant_create",
    "refund_expert_cents",
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


def credit_grant(
    *, organization, amount_cents: int, reason: str, actor=None, request_token=None
) -> CreditGrant:
    """Operator-granted credit (positive) or its revocation (negative, never below zero).
    With a `request_token` (the console form's), a second call with the same token returns the
    first grant and posts nothing."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "A reason is required."})
    if amount_cents == 0:
        raise ValidationError({"amount_cents": "The amount cannot be zero."})
    if request_token is not None:
        earlier = CreditGrant.objects.filter(request_token=request_token).first()
        if earlier is not None:
            return earlier
    try:
        return _credit_grant(
            organization=organization,
            amount_cents=amount_cents,
            reason=reason,
            actor=actor,
            request_token=request_token,
        )
    except IntegrityError:
        # The same form at the same moment in another request: that one granted it.
        earlier = CreditGrant.objects.filter(request_token=request_token).first()
        if request_token is None or earlier is None:
            raise
        return earlier


def _credit_grant(
    *, organization, amount_cents: int, reason: str, actor, request_token
) -> CreditGrant:
    with transaction.atomic():
        grant = CreditGrant.objects.create(
            organization=organization,
            amount_cents=amount_cents,
            reason=reason,
            actor=actor,
            request_token=request_token,
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
        if amount_cents > 0:
            funds_added.send(sender=CreditGrant, organization_id=organization.pk)
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


def _hold_accounts(
    *, organization, payer: str, grant: PlatformHoldGrant | None = None
) -> tuple[LedgerAccount, LedgerAccount]:
    """(where the hold's money comes from and goes back to, where it is held)."""
    if payer == Hold.Payer.PLATFORM:
        # Rework after a dispute: the platform pays, booked as a cost of refunds; golden items
        # and qualification tests as a cost of quality.
        if grant is not None and grant.purpose == PlatformHoldGrant.Purpose.QUALITY:
            return ledger.account(Kind.PLATFORM_QUALITY), ledger.account(Kind.PLATFORM_HELD)
        return ledger.account(Kind.PLATFORM_REFUNDS), ledger.account(Kind.PLATFORM_HELD)
    return (
        ledger.account(Kind.COMPANY_AVAILABLE, organization=organization),
        ledger.account(Kind.COMPANY_HELD, organization=organization),
    )


def platform_hold_grant_create(
    *,
    organization,
    scope: str,
    source_ref: str,
    reason: str,
    actor=None,
    purpose: str = PlatformHoldGrant.Purpose.REWORK,
) -> PlatformHoldGrant:
    """Promise that the platform pays the next hold placed for `scope` (see PlatformHoldGrant).
    Runs inside the caller's transaction (a dispute decision). No money moves yet: the hold is
    placed, from the platform, when an expert accepts. DuplicatePosting if `source_ref` already
    made a grant, so a replayed decision cannot fund the work twice."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "A reason is required."})
    try:
        with transaction.atomic():
            grant = PlatformHoldGrant.objects.create(
                organization=organization,
                scope=scope,
                source_ref=source_ref,
                purpose=purpose,
                reason=reason[:500],
                created_by=actor if actor is not None and getattr(actor, "pk", None) else None,
            )
    except IntegrityError as exc:
        raise ledger.DuplicatePosting(source_ref) from exc
    audit_record(
        actor=grant.created_by,
        action="billing.platform_hold_granted",
        object_type="platform_hold_grant",
        object_id=grant.pk,
        after={"scope": scope, "source_ref": source_ref, "reason": grant.reason},
        organization=organization,
    )
    return grant


def _grant_move(grant: PlatformHoldGrant, to: str, *, reason: str, **fields) -> None:
    """Move a (locked) grant along its transition table; refuse anything else."""
    transition(grant, to, reason=reason, **fields)


def hold_place(
    *,
    organization,
    ref: str,
    amount_cents: int,
    actor=None,
    payer: str = "company",
    scope: str = "",
) -> Hold:
    """Move the hold from the company's available to held; InsufficientFunds if it does not fit.
    With payer="platform", or an open PlatformHoldGrant for `scope` (a rework the platform pays
    for), the platform pays: the company's balance is untouched.
    Runs inside the caller's transaction (the accept)."""
    if payer not in Hold.Payer.values:
        raise ValueError(f"unknown payer {payer!r}")
    if amount_cents <= 0:
        raise ValidationError({"amount_cents": "A hold must be a positive amount."})
    grant = None
    if scope and payer == Hold.Payer.COMPANY:
        # Locked so two accepts at once cannot both spend one grant: the second one waits, then
        # finds it held and pays as the company (or finds the next open grant).
        grant = (
            PlatformHoldGrant.objects.select_for_update()
            .filter(scope=scope, status=PlatformHoldGrant.Status.OPEN)
            .order_by("pk")
            .first()
        )
        if grant is not None:
            payer = Hold.Payer.PLATFORM
    source, held = _hold_accounts(organization=organization, payer=payer, grant=grant)
    ledger.transfer(
        ref=f"{ref}:hold",
        reason="hold" if payer == Hold.Payer.COMPANY else "hold_platform",
        source=source,
        destination=held,
        amount_cents=amount_cents,
        guard_source=payer == Hold.Payer.COMPANY,
        organization=organization,
        actor=actor,
        memo=grant.reason if grant is not None else "",
    )
    hold = Hold.objects.create(
        ref=ref,
        organization=organization,
        amount_cents=amount_cents,
        payer=payer,
        platform_grant=grant,
    )
    if grant is not None:
        _grant_move(grant, PlatformHoldGrant.Status.HELD, reason=f"hold {ref}")
        audit_record(
            actor=actor,
            action="billing.platform_hold_placed",
            object_type="platform_hold_grant",
            object_id=grant.pk,
            before={"status": PlatformHoldGrant.Status.OPEN},
            after={"status": grant.status, "hold_ref": ref, "amount_cents": amount_cents},
            organization=organization,
        )
    return hold


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
    if hold.payer == Hold.Payer.PLATFORM:
        fee_percent = Decimal(0)  # the platform does not charge itself a fee for rework
    split = capture_split(
        billed_seconds=billed_seconds, rate_cents=rate_cents, fee_percent=fee_percent
    )
    if split.total_cents > hold.amount_cents:
        # Time is capped at max_hours upstream; this only guards against a rate change.
        expert_cents = min(split.expert_cents, hold.amount_cents)
        split = CaptureSplit(expert_cents, hold.amount_cents - expert_cents)
    grant = None
    if hold.platform_grant_id is not None:
        grant = PlatformHoldGrant.objects.select_for_update().get(pk=hold.platform_grant_id)
    source, held = _hold_accounts(organization=organization, payer=hold.payer, grant=grant)
    lines = [
        ledger.Line(held, -hold.amount_cents),
        ledger.Line(ledger.account(Kind.EXPERT_PENDING, user=expert_user), split.expert_cents),
        ledger.Line(ledger.account(Kind.PLATFORM_FEES), split.fee_cents),
        ledger.Line(source, hold.amount_cents - split.total_cents),
    ]
    ledger.post(ref=f"{ref}:capture", reason="capture", lines=lines, organization=organization)
    transition(
        hold,
        Hold.Status.CAPTURED,
        reason="capture",
        captured_cents=split.total_cents,
        fee_cents=split.fee_cents,
        closed_at=timezone.now(),
    )
    if grant is not None:
        _grant_move(
            grant, PlatformHoldGrant.Status.USED, reason=f"captured {ref}", used_at=hold.closed_at
        )
    return Earning.objects.create(
        user=expert_user,
        organization=organization,
        ref=ref,
        payer=hold.payer,
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
    grant = None
    if hold.platform_grant_id is not None:
        grant = PlatformHoldGrant.objects.select_for_update().get(pk=hold.platform_grant_id)
    source, held = _hold_accounts(organization=organization, payer=hold.payer, grant=grant)
    ledger.transfer(
        ref=f"{ref}:release",
        reason="release",
        source=held,
        destination=source,
        amount_cents=hold.amount_cents,
        organization=organization,
    )
    transition(hold, Hold.Status.RELEASED, reason="release", closed_at=timezone.now())
    if grant is not None:
        # The expert gave the rework back: the platform still pays for whoever takes it next.
        _grant_move(grant, PlatformHoldGrant.Status.OPEN, reason=f"released {ref}")
    return hold


# Earnings: the dispute window ----------------------------------------------------------------


def _expert_refunded_cents(earning: Earning) -> int:
    return refund_expert_cents(
        refunded_cents=earning.refunded_cents,
        expert_cents=earning.amount_cents,
        fee_cents=earning.fee_cents,
    )


def _earning_mature_locked(earning: Earning, *, now) -> bool:
    """pending -> available (ledger: expert pending -> expert available), once per earning."""
    if earning.status != Earning.Status.PENDING or earning.available_at > now:
        return False
    remaining = earning.amount_cents - _expert_refunded_cents(earning)
    if remaining > 0:
        ledger.transfer(
            ref=f"earning:{earning.pk}:available",
            reason="earning_available",
            source=ledger.account(Kind.EXPERT_PENDING, user=earning.user),
            destination=ledger.account(Kind.EXPERT_AVAILABLE, user=earning.user),
            amount_cents=remaining,
            organization=earning.organization,
        )
    transition(earning, Earning.Status.AVAILABLE, reason="dispute window over")
    return True


def earning_mature(*, earning_id: int, now=None) -> bool:
    """Make one earning available if its dispute window has passed and it is not frozen."""
    now = now or timezone.now()
    with transaction.atomic():
        earning = (
            Earning.objects.select_for_update().select_related("user").filter(pk=earning_id).first()
        )
        if earning is None:
            return False
        return _earning_mature_locked(earning, now=now)


def earnings_mature_due(*, now=None, limit: int = 5000) -> int:
    """The periodic task's work: every pending earning past its window (frozen ones are not
    pending). Safe to run twice at once: each earning is locked and re-checked."""
    now = now or timezone.now()
    due = list(
        Earning.objects.filter(status=Earning.Status.PENDING, available_at__lte=now)
        .order_by("available_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in due if earning_mature(earning_id=pk, now=now))


def earning_freeze(*, ref: str) -> Earning:
    """A dispute was opened: the earning stays pending until earning_unfreeze or a refund."""
    with transaction.atomic():
        earning = Earning.objects.select_for_update().get(ref=ref)
        if earning.status == Earning.Status.FROZEN:
            return earning
        if earning.status != Earning.Status.PENDING:
            raise ValidationError(
                f"This earning is already {earning.get_status_display().lower()}; "
                "it can be refunded but no longer frozen."
            )
        transition(earning, Earning.Status.FROZEN, reason="disputed")
        return earning


def earning_unfreeze(*, ref: str, now=None) -> Earning:
    """The dispute is over: back to pending, or straight to available if the window passed."""
    now = now or timezone.now()
    with transaction.atomic():
        earning = Earning.objects.select_for_update().select_related("user").get(ref=ref)
        if earning.status != Earning.Status.FROZEN:
            return earning
        if earning.refunded_cents >= earning.amount_cents + earning.fee_cents:
            transition(earning, Earning.Status.REFUNDED, reason="dispute over, all refunded")
            return earning
        transition(earning, Earning.Status.PENDING, reason="dispute over")
        _earning_mature_locked(earning, now=now)
        return earning


# Refunds -------------------------------------------------------------------------------------


def refund_expert_cents(*, refunded_cents: int, expert_cents: int, fee_cents: int) -> int:
    """The expert's share of the first `refunded_cents` refunded of a capture of
    expert_cents + fee_cents: proportional, rounded half up to a cent.

    Computed on the running total (not per refund), so any sequence of partial refunds splits
    exactly like one refund of the same total and the shares never exceed what was captured."""
    captured = expert_cents + fee_cents
    if captured == 0:
        return 0
    exact = Decimal(refunded_cents) * Decimal(expert_cents) / Decimal(captured)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class RefundOutcome:
    refund_id: int
    refunded_cents: int
    reversed_cents: int
    platform_shortfall_cents: int
    # "none" (the expert had not been paid), "pending" (the Stripe reversal runs after commit or
    # waits for the payout's transfer), "succeeded", "refused" (booked to platform_refunds).
    reversal_status: str


def earning_refund(*, ref: str, amount_cents: int, actor, reason: str) -> RefundOutcome:
    """Give back part or all of a captured earning (expert pay + fee) to whoever paid for it.

    The amount is split between the expert's share and the platform fee by
    `refund_expert_cents`. The fee part comes out of platform fees; the expert part out of the
    expert's pending or available balance, or, once paid out, the platform fronts it
    (platform_refunds) and a Stripe transfer reversal claws it back from the expert's connected
    account. If Stripe refuses the reversal the platform keeps the shortfall.

    An entry point: the payer is credited in this call's own (durable) transaction, then Stripe
    is asked for the reversal and the outcome says how it went. Inside a caller's transaction
    use `earning_refund_book`."""
    from billing.models import TransferReversal

    with transaction.atomic(durable=True):
        refund, reversal, shortfall = _earning_refund_post(
            ref=ref, amount_cents=amount_cents, actor=actor, reason=reason
        )
    if reversal is None:
        return RefundOutcome(refund.pk, amount_cents, 0, shortfall, "none")
    reversal = transfer_reversal_execute(reversal_id=reversal.pk)
    if reversal.status == TransferReversal.Status.SUCCEEDED:
        return RefundOutcome(refund.pk, amount_cents, reversal.amount_cents, shortfall, "succeeded")
    if reversal.status == TransferReversal.Status.REFUSED:
        return RefundOutcome(
            refund.pk, amount_cents, 0, shortfall + reversal.amount_cents, "refused"
        )
    return RefundOutcome(refund.pk, amount_cents, 0, shortfall, "pending")


def earning_refund_book(*, ref: str, amount_cents: int, actor, reason: str) -> RefundOutcome:
    """`earning_refund` inside the caller's transaction (a dispute's resolution): the Stripe
    reversal, if one is needed, runs on commit of that transaction, so the outcome says
    "pending" (or "none")."""
    with transaction.atomic():
        refund, reversal, shortfall = _earning_refund_post(
            ref=ref, amount_cents=amount_cents, actor=actor, reason=reason
        )
        if reversal is not None:
            transaction.on_commit(
                functools.partial(transfer_reversal_execute, reversal_id=reversal.pk)
            )
    return RefundOutcome(
        refund.pk, amount_cents, 0, shortfall, "none" if reversal is None else "pending"
    )


def _earning_refund_post(*, ref: str, amount_cents: int, actor, reason: str):
    """The refund's rows and ledger transaction, under the earning's lock: (refund, the transfer
    reversal to ask Stripe for or None, the platform's shortfall)."""
    from billing.models import Refund

    reason, earning, captured = _earning_refund_validate(
        ref=ref, amount_cents=amount_cents, reason=reason
    )
    expert_before = _expert_refunded_cents(earning)
    expert_after = refund_expert_cents(
        refunded_cents=earning.refunded_cents + amount_cents,
        expert_cents=earning.amount_cents,
        fee_cents=earning.fee_cents,
    )
    expert_part = expert_after - expert_before
    fee_part = amount_cents - expert_part
    refund = Refund.objects.create(
        earning=earning,
        amount_cents=amount_cents,
        expert_cents=expert_part,
        fee_cents=fee_part,
        reason=reason,
        actor=actor if actor is not None and getattr(actor, "pk", None) else None,
    )
    hold = Hold.objects.filter(ref=ref).only("payer").first()
    payer = hold.payer if hold is not None else Hold.Payer.COMPANY
    if payer == Hold.Payer.PLATFORM:
        destination = ledger.account(Kind.PLATFORM_REFUNDS)
    else:
        destination = ledger.account(Kind.COMPANY_AVAILABLE, organization=earning.organization)

    lines = [
        ledger.Line(destination, amount_cents),
        ledger.Line(ledger.account(Kind.PLATFORM_FEES), -fee_part),
    ]
    expert_line, reversal, shortfall = _earning_refund_expert_side(
        earning=earning, refund=refund, expert_part=expert_part
    )
    lines.append(expert_line)
    ledger.post(
        ref=f"refund:{refund.pk}",
        reason="refund",
        lines=lines,
        organization=earning.organization,
        actor=refund.actor,
        memo=reason,
    )
    if payer != Hold.Payer.PLATFORM:
        funds_added.send(sender=Refund, organization_id=earning.organization_id)
    _earning_refund_record(
        earning=earning,
        refund=refund,
        ref=ref,
        amount_cents=amount_cents,
        captured=captured,
        reason=reason,
    )
    return refund, reversal, shortfall


def _earning_refund_validate(*, ref: str, amount_cents: int, reason: str):
    """(the stripped reason, the locked earning, its captured cents), after checking that the
    reason is given and the amount is positive and at most what is left to refund."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "A reason is required."})
    if amount_cents <= 0:
        raise ValidationError({"amount_cents": "The refund must be a positive amount."})

    earning = Earning.objects.select_for_update().select_related("user").get(ref=ref)
    captured = earning.amount_cents + earning.fee_cents
    left = captured - earning.refunded_cents
    if amount_cents > left:
        raise ValidationError(
            {
                "amount_cents": f"At most {left} cents are left to refund "
                f"({captured} captured, {earning.refunded_cents} already refunded)."
            }
        )
    return reason, earning, captured


def _earning_refund_expert_side(*, earning: Earning, refund, expert_part: int):
    """The ledger line taking the expert's part back, by the earning's status: (line, the
    transfer reversal to ask Stripe for or None, the platform's shortfall)."""
    from billing.models import Payout, TransferReversal

    if earning.status in (Earning.Status.PENDING, Earning.Status.FROZEN):
        line = ledger.Line(ledger.account(Kind.EXPERT_PENDING, user=earning.user), -expert_part)
        return line, None, 0
    if earning.status == Earning.Status.AVAILABLE:
        line = ledger.Line(ledger.account(Kind.EXPERT_AVAILABLE, user=earning.user), -expert_part)
        return line, None, 0
    # Paid out: the platform fronts the expert's part now and claws it back by reversal.
    line = ledger.Line(ledger.account(Kind.PLATFORM_REFUNDS), -expert_part)
    reversal: TransferReversal | None = None
    shortfall = 0
    if expert_part > 0:
        payout = Payout.objects.select_for_update().get(pk=earning.payout_id)
        reversible = payout.amount_cents - sum(
            payout.reversals.exclude(status=TransferReversal.Status.REFUSED).values_list(
                "amount_cents", flat=True
            )
        )
        to_reverse = min(expert_part, max(reversible, 0))
        shortfall = expert_part - to_reverse
        if to_reverse > 0:
            reversal = TransferReversal.objects.create(
                payout=payout,
                refund=refund,
                ref=f"refund:{refund.pk}:reversal",
                amount_cents=to_reverse,
            )
    return line, reversal, shortfall


def _earning_refund_record(
    *, earning: Earning, refund, ref: str, amount_cents: int, captured: int, reason: str
) -> None:
    """The earning's refunded total (and its move to refunded once all of it is) and the audit
    row of the refund."""
    earning.refunded_cents += amount_cents
    if earning.refunded_cents == captured and earning.status in (
        Earning.Status.PENDING,
        Earning.Status.FROZEN,
        Earning.Status.AVAILABLE,
    ):
        transition(
            earning,
            Earning.Status.REFUNDED,
            actor=refund.actor,
            reason=reason,
            refunded_cents=earning.refunded_cents,
        )
    else:
        earning.save(update_fields=["refunded_cents"])
    audit_record(
        actor=refund.actor,
        action="billing.refund",
        object_type="earning",
        object_id=earning.pk,
        after={
            "ref": ref,
            "amount_cents": amount_cents,
            "expert_cents": refund.expert_cents,
            "fee_cents": refund.fee_cents,
            "reason": reason,
        },
        organization=earning.organization,
    )


def transfer_reversal_execute(*, reversal_id: int):
    """Ask Stripe to reverse (part of) a payout's transfer, then book the outcome.

    Success: the fronted money comes back (expert paid_out -> platform_refunds). A refusal is
    final (Stripe saved it under the idempotency key): the platform keeps the shortfall. Network
    trouble leaves the row pending for `stripe_reconcile`."""
    import stripe

    from billing import stripe_gateway
    from billing.models import TransferReversal

    with transaction.atomic(durable=True):  # an entry point: never inside another transaction
        reversal = TransferReversal.objects.select_related("payout").get(pk=reversal_id)
    if reversal.status != TransferReversal.Status.PENDING:
        return reversal
    transfer_id = reversal.payout.stripe_transfer_id
    if not transfer_id or not stripe_gateway.stripe_configured():
        return reversal  # the payout's transfer has not happened yet; reconcile retries
    try:
        stripe_reversal = stripe_gateway.transfer_reversal_create(
            transfer_id=transfer_id,
            amount_cents=reversal.amount_cents,
            reversal_id=reversal.pk,
            idempotency_key=reversal.idempotency_key,
        )
    except (stripe.InvalidRequestError, stripe.CardError, stripe.PermissionError) as error:
        return transfer_reversal_refused(
            reversal_id=reversal.pk, reason=str(error.user_message or error)
        )
    except stripe.StripeError:
        return reversal
    return transfer_reversal_succeeded(
        reversal_id=reversal.pk, stripe_reversal_id=stripe_reversal.id
    )


def transfer_reversal_succeeded(*, reversal_id: int, stripe_reversal_id: str):
    """Book a reversal Stripe made (our call's answer or the transfer.reversed webhook: whichever
    comes first; the other changes nothing)."""
    from billing.models import Payout, TransferReversal

    with transaction.atomic():
        reversal = (
            TransferReversal.objects.select_for_update()
            .select_related("payout")
            .get(pk=reversal_id)
        )
        if reversal.status != TransferReversal.Status.PENDING:
            return reversal
        payout = reversal.payout
        operator = reversal.purpose == TransferReversal.Purpose.OPERATOR
        ledger.transfer(
            ref=f"transfer-reversal:{reversal.pk}",
            reason="transfer_reversed",
            source=ledger.account(Kind.EXPERT_PAID_OUT, user=payout.user),
            # A refund's reversal repays the platform, which fronted the refund; an operator's
            # gives the money back to the expert's available balance, for a later payout.
            destination=ledger.account(Kind.EXPERT_AVAILABLE, user=payout.user)
            if operator
            else ledger.account(Kind.PLATFORM_REFUNDS),
            amount_cents=reversal.amount_cents,
            memo=f"Reversal of payout #{payout.pk}",
        )
        transition(
            reversal,
            TransferReversal.Status.SUCCEEDED,
            reason="reversed",
            stripe_reversal_id=stripe_reversal_id,
        )
        Payout.objects.filter(pk=payout.pk).update(
            reversed_cents=F("reversed_cents") + reversal.amount_cents
        )
        if operator:
            payouts.payout_reversed_in_full(
                payout_id=payout.pk, reason="transfer reversed by an operator"
            )
        return reversal


def payout_reversal_request(*, payout_id: int, amount_cents: int, ref: str):
    """Inside the caller's transaction (an operator's money action): the intent to take back
    up to `amount_cents` of a sent payout's transfer. Stripe is asked after commit
    (`transfer_reversal_execute`, again by `stripe_reconcile` after a crash), under the key
    `transfer-reversal-<id>` of this row."""
    from billing.models import Payout, TransferReversal

    payout = Payout.objects.select_for_update().get(pk=payout_id)
    if payout.status not in (Payout.Status.SENT, Payout.Status.PAID) or not (
        payout.stripe_transfer_id
    ):
        raise ValidationError("Only the transfer of a sent or paid payout can be reversed.")
    # Under the payout's lock, so two operators at once cannot both ask for what is left.
    left = payout.reversible_cents
    if left <= 0:
        raise ValidationError("Nothing is left of this transfer to reverse.")
    return TransferReversal.objects.create(
        payout=payout,
        purpose=TransferReversal.Purpose.OPERATOR,
        ref=ref,
        amount_cents=min(amount_cents, left),
    )


def transfer_reversal_refused(*, reversal_id: int, reason: str):
    from billing.models import TransferReversal

    with transaction.atomic():
        reversal = TransferReversal.objects.select_for_update().get(pk=reversal_id)
        if reversal.status != TransferReversal.Status.PENDING:
            return reversal
        transition(
            reversal, TransferReversal.Status.REFUSED, reason=reason, failure_reason=reason[:500]
        )
        audit_record(
            actor=None,
            action="billing.transfer_reversal_refused",
            object_type="payout",
            object_id=reversal.payout_id,
            after={"amount_cents": reversal.amount_cents, "reason": reversal.failure_reason},
        )
        return reversal


# Funding by card -----------------------------------------------------------------------------

FUNDING_MINIMUM_CENTS = 1000


class StripeUnavailable(Exception):
    """Stripe could not be reached or refused the request; nothing was charged."""


def funding_start(*, organization, amount_cents: int, actor):
    """Create the Funding row (the intent), then its PaymentIntent, then record it.

    Three steps so Stripe is never called inside a transaction: a crash between them leaves a
    Funding without a PaymentIntent id, which `stripe_reconcile` completes with the same
    idempotency key. The balance is credited only by the payment_intent.succeeded webhook."""
    import stripe

    from billing import stripe_gateway
    from billing.models import Funding

    if not stripe_gateway.stripe_configured():
        raise stripe_gateway.StripeNotConfigured("Card funding is not configured on this server.")
    if amount_cents < FUNDING_MINIMUM_CENTS:
        raise ValidationError({"amount": "The minimum top-up is $10.00."})
    with transaction.atomic(durable=True):
        funding = Funding.objects.create(
            organization=organization, amount_cents=amount_cents, created_by=actor
        )
        audit_record(
            actor=actor,
            action="billing.funding_started",
            object_type="funding",
            object_id=funding.pk,
            after={"amount_cents": amount_cents},
            organization=organization,
        )
    try:
        return funding_create_intent(funding=funding)
    except stripe.StripeError as error:
        raise StripeUnavailable(str(error.user_message or error)) from error


def funding_create_intent(*, funding):
    """POST the PaymentIntent for a Funding row (again, after a crash: same key, same intent)."""
    from billing import stripe_gateway

    intent = stripe_gateway.payment_intent_create(
        amount_cents=funding.amount_cents,
        currency=funding.currency,
        funding_id=funding.pk,
        organization_id=str(funding.organization_id),
        idempotency_key=funding.idempotency_key,
    )
    return funding_record_intent(
        funding_id=funding.pk, payment_intent_id=intent.id, client_secret=intent.client_secret or ""
    )


def funding_record_intent(*, funding_id: int, payment_intent_id: str, client_secret: str):
    from billing.models import Funding

    with transaction.atomic(durable=True):
        funding = Funding.objects.select_for_update().get(pk=funding_id)
        if not funding.stripe_payment_intent_id:
            funding.stripe_payment_intent_id = payment_intent_id
            funding.client_secret = client_secret
            if funding.status == Funding.Status.CREATED:
                transition(
                    funding,
                    Funding.Status.PROCESSING,
                    reason="payment intent created",
                    stripe_payment_intent_id=payment_intent_id,
                    client_secret=client_secret,
                )
            else:
                funding.save(update_fields=["stripe_payment_intent_id", "client_secret"])
        return funding


# Stripe Connect onboarding -------------------------------------------------------------------


def connected_account_ensure(*, user):
    """The expert's Express account: created once (the idempotency key is derived from the
    user, so two clicks or a crash between the call and our commit make one account)."""
    from billing import stripe_gateway
    from billing.models import ConnectedAccount

    with transaction.atomic(durable=True):  # an entry point: never inside another transaction
        existing = ConnectedAccount.objects.filter(user=user).first()
    if existing is not None:
        return existing
    account = stripe_gateway.account_create(
        user_id=user.pk,
        email=user.email,
        country=getattr(settings, "STRIPE_CONNECT_COUNTRY", "US"),
    )
    with transaction.atomic():
        connected, created = ConnectedAccount.objects.get_or_create(
            user=user,
            defaults={
                "stripe_account_id": account.id,
                "payouts_enabled": bool(account.payouts_enabled),
                "details_submitted": bool(account.details_submitted),
            },
        )
        if created:
            audit_record(
                actor=user,
                action="billing.connect_account_created",
                object_type="connected_account",
                object_id=connected.pk,
                after={"stripe_account_id": account.id},
            )
        return connected


def connected_account_sync(*, user):
    """Re-read the account from Stripe (the return/refresh pages) and store its state."""
    from billing import stripe_gateway
    from billing.models import ConnectedAccount

    with transaction.atomic(durable=True):  # an entry point: never inside another transaction
        connected = ConnectedAccount.objects.filter(user=user).first()
    if connected is None:
        return None
    account = stripe_gateway.account_retrieve(connected.stripe_account_id)
    return connected_account_apply(
        stripe_account_id=account.id,
        payouts_enabled=bool(account.payouts_enabled),
        details_submitted=bool(account.details_submitted),
        as_of=timezone.now(),
    )


def connected_account_apply(
    *, stripe_account_id: str, payouts_enabled: bool, details_submitted: bool, as_of
):
    """Store an account's state unless a newer one was stored already (events come out of
    order). Newly enabled payouts release the expert's payouts awaiting Stripe."""
    from billing.models import ConnectedAccount

    with transaction.atomic():
        connected = (
            ConnectedAccount.objects.select_for_update()
            .filter(stripe_account_id=stripe_account_id)
            .first()
        )
        if connected is None:
            return None
        if connected.stripe_state_at is not None and connected.stripe_state_at > as_of:
            return connected
        connected.payouts_enabled = payouts_enabled
        connected.details_submitted = details_submitted
        connected.stripe_state_at = as_of
        connected.save(
            update_fields=["payouts_enabled", "details_submitted", "stripe_state_at", "updated_at"]
        )
        return connected
