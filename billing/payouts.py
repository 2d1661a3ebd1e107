"""Payout runs: experts' available earnings become Stripe Connect transfers, never twice.

The flow of one run (`payout_run`):

1. Create (database only, in batches): one Payout per expert whose `expert_available` balance is
   at least PAYOUT_MINIMUM_CENTS, for the whole balance. In the same transaction the ledger
   moves it `expert_available -> expert_paid_out` (ref `payout:<id>`) and the expert's available
   earnings are marked paid by this payout. The money has left the expert's available balance
   before any Stripe call, so a second run finds nothing left to pay.
2. Send (one Stripe call per payout, outside any transaction): the payout's
   `transfer_requested_at` is committed first (`payout_transfer_claim`: from then on a transfer
   may exist, so nobody fails it without asking Stripe); every payout still `pending` or
   `awaiting_stripe`, from this run or an earlier crashed one, gets one Transfer to the expert's
   connected account with idempotency key `payout-<id>` (`payout-<id>-retry-<n>` after an
   operator retry: Stripe saves a failed request under its key and would replay the failure).
   Its outcome is committed right after: `sent` with the transfer id; `failed` when Stripe
   refuses (the ledger moves the money back, `payout:<id>:failed:<attempt>`, and the earnings
   become available again for the next run); `awaiting_stripe` without keys or without an
   onboarded account. A network error leaves it `pending` for the next run or
   `stripe_reconcile`; the same key then returns the transfer made the first time.
3. `sent -> paid` when Stripe confirms the transfer (`transfer.created` webhook or reconcile).

A crash anywhere re-runs safely: step 1 finds no balance left for experts already in a payout;
step 2 re-POSTs with the same key, so Stripe answers with the first transfer, not a new one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import stripe
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from billing import ledger, stripe_gateway
from billing.models import (
    ConnectedAccount,
    Earning,
    LedgerAccount,
    Payout,
    PayoutRun,
    PayoutStatusChange,
    TransferReversal,
)
from marketplace.services import audit_record
from marketplace.transitions import InvalidTransition, check_transition, transition, transition_many

Kind = LedgerAccount.Kind
Status = Payout.Status
logger = logging.getLogger("inloop.billing.payouts")

# Weekly run: Mondays 09:00 UTC (inloop_site/schedule.py uses the same).
PAYOUT_WEEKDAY = 0
PAYOUT_HOUR_UTC = 9

# Stripe keeps idempotency keys for at least 24 hours; past that, reconcile looks for the
# transfer by its metadata before POSTing again.
IDEMPOTENCY_SAFE_AGE = timedelta(hours=20)


def next_payout_at(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    now_utc = now.astimezone(UTC)
    candidate = now_utc.replace(hour=PAYOUT_HOUR_UTC, minute=0, second=0, microsecond=0)
    candidate += timedelta(days=(PAYOUT_WEEKDAY - candidate.weekday()) % 7)
    if candidate <= now_utc:
        candidate += timedelta(days=7)
    return candidate


def _move(
    *,
    payout_id: int,
    from_statuses: list[str],
    to: str,
    reason: str = "",
    attempt: int | None = None,
    **fields,
) -> bool:
    """Conditional status change plus its history row; False if the payout had moved on (another
    status, or another attempt than the one whose outcome this is)."""
    for from_status in from_statuses:
        check_transition(Payout, from_status, to)
    with transaction.atomic():
        payout = Payout.objects.select_for_update().filter(pk=payout_id).first()
        if payout is None or payout.status not in from_statuses:
            return False
        if attempt is not None and payout.attempt != attempt:
            return False
        transition(payout, to, reason=reason, updated_at=timezone.now(), **fields)
    return True


# 1. Create -----------------------------------------------------------------------------------


def _paid_out_accounts(user_ids: list[int]) -> dict[int, LedgerAccount]:
    def existing() -> dict[int, LedgerAccount]:
        return {
            acc.user_id: acc
            for acc in LedgerAccount.objects.filter(
                kind=Kind.EXPERT_PAID_OUT, user_id__in=user_ids, currency="usd"
            )
        }

    found = existing()
    missing = [uid for uid in user_ids if uid not in found]
    if missing:
        LedgerAccount.objects.bulk_create(
            [
                LedgerAccount(kind=Kind.EXPERT_PAID_OUT, user_id=uid, owner_key=f"user:{uid}")
                for uid in missing
            ],
            ignore_conflicts=True,
        )
        found = existing()
    return found


def _earnings_link(*, payouts: list[Payout]) -> None:
    """Mark the batch's experts' available earnings paid (through the transition helper: one
    locked read, one update, one bulk insert of history rows), then point each at its expert's
    new payout in one statement. (The ORM's correlated-subquery UPDATE took seconds per 10k
    earnings on PostgreSQL; a join driven by the batch's payout ids is one pass. UPDATE ... FROM
    works on PostgreSQL and on SQLite 3.33+.)"""
    ids = [payout.pk for payout in payouts]
    transition_many(
        Earning.objects.filter(
            user_id__in=[payout.user_id for payout in payouts], status=Earning.Status.AVAILABLE
        ),
        Earning.Status.PAID,
        reason="payout",
    )
    earning, payout = Earning._meta.db_table, Payout._meta.db_table
    placeholders = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {earning} SET payout_id = {payout}.id FROM {payout} "  # noqa: S608 - table names from models
            f"WHERE {payout}.id IN ({placeholders}) AND {earning}.user_id = {payout}.user_id "
            f"AND {earning}.status = %s AND {earning}.payout_id IS NULL",
            [*ids, Earning.Status.PAID],
        )


def payouts_create(
    *, run: PayoutRun, minimum_cents: int | None = None, batch_size: int = 1000
) -> int:
    """Step 1 for every expert with enough available money; returns payouts created."""
    minimum = max(settings.PAYOUT_MINIMUM_CENTS if minimum_cents is None else minimum_cents, 1)
    candidates = list(
        LedgerAccount.objects.filter(
            kind=Kind.EXPERT_AVAILABLE, currency="usd", balance_cents__gte=minimum
        )
        .order_by("pk")
        .values_list("user_id", flat=True)
    )
    created = 0
    for start in range(0, len(candidates), batch_size):
        user_ids = candidates[start : start + batch_size]
        paid_out = _paid_out_accounts(user_ids)
        with transaction.atomic():
            # Lock both accounts of every expert in the batch, in primary-key order, and read the
            # balances again under the lock: a refund may have landed since the first read.
            locked = list(
                LedgerAccount.objects.select_for_update()
                .filter(
                    Q(kind=Kind.EXPERT_AVAILABLE) | Q(kind=Kind.EXPERT_PAID_OUT),
                    user_id__in=user_ids,
                    currency="usd",
                )
                .order_by("pk")
            )
            available = {
                acc.user_id: acc
                for acc in locked
                if acc.kind == Kind.EXPERT_AVAILABLE and acc.balance_cents >= minimum
            }
            if not available:
                continue
            payouts = Payout.objects.bulk_create(
                [
                    Payout(run=run, user_id=uid, amount_cents=acc.balance_cents)
                    for uid, acc in available.items()
                ]
            )
            ledger.post_many(
                [
                    ledger.Posting(
                        ref=f"payout:{payout.pk}",
                        reason="payout",
                        lines=[
                            ledger.Line(available[payout.user_id], -payout.amount_cents),
                            ledger.Line(paid_out[payout.user_id], payout.amount_cents),
                        ],
                    )
                    for payout in payouts
                ]
            )
            _earnings_link(payouts=payouts)
            PayoutStatusChange.objects.bulk_create(
                [
                    PayoutStatusChange(
                        payout=payout, from_status="", to_status=Status.PENDING, reason="created"
                    )
                    for payout in payouts
                ]
            )
            created += len(payouts)
    return created


# 2. Send -------------------------------------------------------------------------------------


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    awaiting_stripe: int = 0
    deferred: int = 0  # network trouble: still pending, retried by the next run or reconcile
    errors: list[str] = field(default_factory=list)


def payout_mark_sent(*, payout_id: int, transfer_id: str, attempt: int | None = None) -> bool:
    return _move(
        payout_id=payout_id,
        from_statuses=[Status.PENDING, Status.AWAITING_STRIPE],
        to=Status.SENT,
        reason=f"transfer {transfer_id}",
        attempt=attempt,
        stripe_transfer_id=transfer_id,
        sent_at=timezone.now(),
    )


def payout_mark_paid(*, payout_id: int, transfer_id: str, attempt: int | None = None) -> bool:
    with transaction.atomic():
        payout = Payout.objects.select_for_update().filter(pk=payout_id).first()
        if payout is None:
            return False
        if payout.status in (Status.PENDING, Status.AWAITING_STRIPE):
            payout_mark_sent(payout_id=payout_id, transfer_id=transfer_id, attempt=attempt)
        return _move(
            payout_id=payout_id,
            from_statuses=[Status.SENT],
            to=Status.PAID,
            reason=f"confirmed by Stripe ({transfer_id})",
        )


def payout_mark_awaiting(*, payout_id: int, reason: str) -> bool:
    return _move(
        payout_id=payout_id,
        from_statuses=[Status.PENDING],
        to=Status.AWAITING_STRIPE,
        reason=reason,
    )


def payout_fail(*, payout_id: int, reason: str, attempt: int | None = None) -> bool:
    """Book a payout that certainly moved no money (Stripe refused or failed its transfer, or
    it never reached Stripe): the money goes back to the expert's available balance and their
    earnings are paid by a later payout. Callers make sure of that first; an operator goes
    through `payout_fail_unsent`. A refund that was waiting to reverse part of this payout is
    settled from the returned money; an operator reversal waiting for it has nothing left to
    take back. With `attempt`, only that attempt's failure is booked (a late answer about an
    earlier attempt changes nothing)."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().select_related("user").get(pk=payout_id)
        if payout.status == Status.FAILED:
            return False
        if attempt is not None and payout.attempt != attempt:
            return False
        check_transition(Payout, payout.status, Status.FAILED)
        waiting = list(
            payout.reversals.select_for_update().filter(status=TransferReversal.Status.PENDING)
        )
        pending_reversals = [r for r in waiting if r.purpose == TransferReversal.Purpose.REFUND]
        for reversal in waiting:
            if reversal.purpose == TransferReversal.Purpose.OPERATOR:
                refused = "the payout failed: nothing was left to reverse"
                transition(
                    reversal,
                    TransferReversal.Status.REFUSED,
                    reason=refused,
                    failure_reason=refused,
                )
        owed = sum(reversal.amount_cents for reversal in pending_reversals)
        back = payout.amount_cents - payout.reversed_cents - owed
        paid_out = ledger.account(Kind.EXPERT_PAID_OUT, user=payout.user)
        lines = [
            ledger.Line(paid_out, -(back + owed)),
            ledger.Line(ledger.account(Kind.EXPERT_AVAILABLE, user=payout.user), back),
            ledger.Line(ledger.account(Kind.PLATFORM_REFUNDS), owed),
        ]
        if back + owed > 0:
            ledger.post(
                ref=f"payout:{payout.pk}:failed:{payout.attempt}",
                reason="payout_failed",
                lines=lines,
                memo=reason,
            )
        for reversal in pending_reversals:
            settled = "settled from the failed payout's returned money"
            transition(
                reversal, TransferReversal.Status.SUCCEEDED, reason=settled, failure_reason=settled
            )
        transition_many(
            Earning.objects.filter(payout=payout, status=Earning.Status.PAID),
            Earning.Status.AVAILABLE,
            reason=f"payout {payout.pk} failed",
            payout=None,
        )
        transition(
            payout,
            Status.FAILED,
            reason=reason,
            failure_reason=reason[:500],
            updated_at=timezone.now(),
        )
        audit_record(
            actor=None,
            action="billing.payout_failed",
            object_type="payout",
            object_id=payout.pk,
            after={"amount_cents": payout.amount_cents, "reason": reason[:500]},
        )
    return True


def payout_reversed_in_full(*, payout_id: int, reason: str) -> bool:
    """Inside the caller's transaction, once reversals booked the money back to the expert: a
    payout whose whole transfer came back did not happen (-> failed, its earnings paid by a
    later payout). Not when a refund took part of it back: that money went to the company."""
    payout = Payout.objects.select_for_update().get(pk=payout_id)
    if payout.reversed_cents < payout.amount_cents or payout.status not in (
        Status.SENT,
        Status.PAID,
    ):
        return False
    if payout.reversals.filter(
        purpose=TransferReversal.Purpose.REFUND, status=TransferReversal.Status.SUCCEEDED
    ).exists():
        return False
    _move(
        payout_id=payout.pk,
        from_statuses=[payout.status],
        to=Status.FAILED,
        reason=reason,
        failure_reason="The transfer was reversed.",
    )
    transition_many(
        Earning.objects.filter(payout=payout, status=Earning.Status.PAID),
        Earning.Status.AVAILABLE,
        reason=f"payout {payout.pk} reversed",
        payout=None,
    )
    return True


# How long a transfer request may still be on its way to Stripe: the client gives up after 80 s
# and retries at most twice. Past this, what Stripe lists for the destination is all there is.
TRANSFER_IN_FLIGHT = timedelta(minutes=10)


def payout_unsent_proof(*, payout: Payout, now: datetime | None = None) -> datetime | None:
    """Before an operator fails a payout (outside any transaction: it may ask Stripe), make sure
    no transfer exists for its current attempt. Returns the `transfer_requested_at` it checked
    (None: never requested, so certain without asking). Refuses with ValidationError when Stripe
    made the transfer (recorded as sent on the way), when a request may still be in flight, or
    when Stripe cannot be asked."""
    payout = Payout.objects.get(pk=payout.pk)
    if payout.status not in (Status.PENDING, Status.AWAITING_STRIPE):
        raise ValidationError(not_failable_message(payout))
    requested = payout.transfer_requested_at
    if requested is None:
        return None
    now = now or timezone.now()
    if now - requested < TRANSFER_IN_FLIGHT:
        retry_at = timezone.localtime(requested + TRANSFER_IN_FLIGHT).strftime("%H:%M")
        raise ValidationError(
            "A transfer for this payout was just requested from Stripe and may still be on its "
            f"way: check again after {retry_at}."
        )
    account = ConnectedAccount.objects.filter(user_id=payout.user_id).first()
    if not stripe_gateway.stripe_configured() or account is None:
        raise ValidationError(
            "A transfer for this payout may have reached Stripe, and Stripe cannot be asked "
            "from here (not configured, or no connected account)."
        )
    try:
        transfer = payout_transfer_find(payout=payout, destination=account.stripe_account_id)
    except stripe.StripeError as error:
        raise ValidationError(
            f"Stripe could not be asked: {error.user_message or error}"
        ) from error
    if transfer is not None:
        payout_mark_sent(payout_id=payout.pk, transfer_id=transfer.id, attempt=payout.attempt)
        raise ValidationError(
            f"Stripe made transfer {transfer.id} for this payout: it is sent, not failed. "
            "To take the money back, reverse the transfer."
        )
    return requested


def not_failable_message(payout: Payout) -> str:
    if payout.status in (Status.SENT, Status.PAID):
        return (
            f"This payout is {payout.get_status_display().lower()}: Stripe moved the money. "
            "Reverse the transfer to take it back."
        )
    return f"A {payout.get_status_display().lower()} payout cannot be marked failed."


def payout_fail_unsent(*, payout_id: int, checked_requested_at, reason: str) -> bool:
    """Inside the caller's transaction: fail a payout that `payout_unsent_proof` showed never
    reached Stripe, unless a transfer request began since (the row lock makes a sender's claim
    wait for this transaction, then find the payout failed)."""
    payout = Payout.objects.select_for_update().get(pk=payout_id)
    if payout.status not in (Status.PENDING, Status.AWAITING_STRIPE):
        raise ValidationError(not_failable_message(payout))
    if payout.transfer_requested_at != checked_requested_at:
        raise ValidationError("A transfer request for this payout began meanwhile: check again.")
    return payout_fail(payout_id=payout_id, reason=reason, attempt=payout.attempt)


def payout_retry(*, payout: Payout, actor) -> Payout:
    """An operator sends a failed payout again (failed -> pending) with a new idempotency key.
    Refused if the expert's available balance no longer holds the amount (a later run paid it).
    Only a failed payout: one waiting for Stripe is sent again under its own key by
    `payouts_send`, because its transfer may already exist."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().select_related("user").get(pk=payout.pk)
        if payout.status != Status.FAILED:
            raise InvalidTransition(
                f"only a failed payout gets a new attempt, not {payout.status}",
                from_status=payout.status,
                to_status=Status.PENDING,
            )
        if payout.stripe_transfer_id:
            # Its transfer came back: the money is in the expert's available balance, and the
            # next run pays it in a new payout.
            raise InvalidTransition(
                "a reversed payout is paid again by the next run, not retried",
                from_status=payout.status,
                to_status=Status.PENDING,
            )
        payout.attempt += 1
        ledger.transfer(
            ref=f"payout:{payout.pk}:retry:{payout.attempt}",
            reason="payout",
            source=ledger.account(Kind.EXPERT_AVAILABLE, user=payout.user),
            destination=ledger.account(Kind.EXPERT_PAID_OUT, user=payout.user),
            amount_cents=payout.amount_cents,
            guard_source=True,
            actor=actor,
        )
        transition(
            payout,
            Status.PENDING,
            actor=actor,
            reason="operator retry",
            attempt=payout.attempt,
            failure_reason="",
            transfer_requested_at=None,  # a new key: nothing was asked under it yet
            updated_at=timezone.now(),
        )
        audit_record(
            actor=actor,
            action="billing.payout_retried",
            object_type="payout",
            object_id=payout.pk,
            after={"attempt": payout.attempt},
        )
    return payout


def payout_transfer_claim(*, payout: Payout) -> bool:
    """Commit, before the Stripe call, that this attempt's transfer may exist from now on.
    False (and no call may follow) if the payout moved on: an operator failed it, or another
    attempt began."""
    with transaction.atomic(durable=True):
        claimed = Payout.objects.filter(
            pk=payout.pk,
            attempt=payout.attempt,
            status__in=[Status.PENDING, Status.AWAITING_STRIPE],
        ).update(transfer_requested_at=timezone.now())
    return claimed == 1


def payout_transfer_call(*, payout: Payout, destination: str) -> stripe.Transfer:
    """The Stripe call alone (after `payout_transfer_claim`, before the outcome is committed):
    the same attempt always sends the same key and parameters, so Stripe answers a repeat with
    the transfer it made the first time."""
    return stripe_gateway.transfer_create(
        amount_cents=payout.amount_cents,
        currency=payout.currency,
        destination=destination,
        payout_id=payout.pk,
        attempt=payout.attempt,
        idempotency_key=payout.idempotency_key,
    )


def transfer_is_for(*, payout: Payout, transfer: dict) -> bool:
    """Whether a Stripe transfer (as a dict) is the one of the payout's current attempt: the
    one recorded, or, before we recorded any, one whose metadata names this payout and attempt
    (an earlier attempt's transfer failed or was reversed and must not be taken for this one)."""
    if payout.stripe_transfer_id:
        return transfer.get("id") == payout.stripe_transfer_id
    metadata = transfer.get("metadata") or {}
    return metadata.get("payout_id") == str(payout.pk) and str(metadata.get("attempt", "0")) == str(
        payout.attempt
    )


def payout_transfer_find(*, payout: Payout, destination: str):
    """The transfer Stripe made for the payout's current attempt, or None (lists the
    destination's transfers: Stripe cannot be asked by idempotency key without creating)."""
    for transfer in stripe_gateway.transfers_for_destination(destination):
        if transfer_is_for(payout=payout, transfer=transfer.to_dict()):
            return transfer
    return None


def payout_send(*, payout: Payout, destination: str) -> str:
    """One payout's Stripe step: "sent", "failed", "awaiting_stripe" or "deferred"."""
    if not payout_transfer_claim(payout=payout):
        return "deferred"
    try:
        transfer = payout_transfer_call(payout=payout, destination=destination)
    except stripe.InvalidRequestError as error:
        if error.code == "insufficient_capabilities_for_transfer":
            # Validation error: Stripe saved nothing under the key; send when onboarded.
            ConnectedAccount.objects.filter(stripe_account_id=destination).update(
                payouts_enabled=False
            )
            payout_mark_awaiting(payout_id=payout.pk, reason="account cannot receive transfers")
            return Status.AWAITING_STRIPE
        payout_fail(
            payout_id=payout.pk, reason=str(error.user_message or error), attempt=payout.attempt
        )
        return Status.FAILED
    except (stripe.CardError, stripe.PermissionError) as error:
        payout_fail(
            payout_id=payout.pk, reason=str(error.user_message or error), attempt=payout.attempt
        )
        return Status.FAILED
    except stripe.AuthenticationError:
        raise  # wrong keys: stop the run, everything stays pending
    except stripe.StripeError as error:
        # Network trouble, or an idempotency conflict: the transfer may exist, so not failed.
        logger.warning("payout %s deferred: %s", payout.pk, error)
        return "deferred"
    if not payout_mark_sent(payout_id=payout.pk, transfer_id=transfer.id, attempt=payout.attempt):
        logger.error(
            "payout %s: transfer %s made but the payout had moved on", payout.pk, transfer.id
        )
    return Status.SENT


def payouts_send(*, limit: int | None = None, payout_ids: list[int] | None = None) -> SendResult:
    """Step 2 for every payout still waiting (this run's and any earlier run's)."""
    result = SendResult()
    waiting = Payout.objects.filter(status__in=[Status.PENDING, Status.AWAITING_STRIPE])
    if payout_ids is not None:
        waiting = waiting.filter(pk__in=payout_ids)
    if not stripe_gateway.stripe_configured():
        for payout_id in waiting.filter(status=Status.PENDING).values_list("pk", flat=True):
            if payout_mark_awaiting(payout_id=payout_id, reason="Stripe is not configured"):
                result.awaiting_stripe += 1
        return result
    payouts = list(waiting.order_by("pk")[:limit] if limit else waiting.order_by("pk"))
    accounts = {
        acc.user_id: acc
        for acc in ConnectedAccount.objects.filter(user_id__in={p.user_id for p in payouts})
    }
    with stripe_gateway.idempotency_prefix_pinned():
        for payout in payouts:
            account = accounts.get(payout.user_id)
            if account is None or not account.payouts_enabled:
                if payout.status == Status.PENDING:
                    payout_mark_awaiting(
                        payout_id=payout.pk,
                        reason="no Stripe account" if account is None else "payouts not enabled",
                    )
                result.awaiting_stripe += 1
                continue
            outcome = payout_send(payout=payout, destination=account.stripe_account_id)
            if outcome == Status.SENT:
                result.sent += 1
            elif outcome == Status.FAILED:
                result.failed += 1
            elif outcome == Status.AWAITING_STRIPE:
                result.awaiting_stripe += 1
            else:
                result.deferred += 1
    return result


def payout_run(*, minimum_cents: int | None = None) -> PayoutRun:
    """The weekly run: create payouts, then send every waiting one."""
    calls_before = stripe_gateway.call_count()
    run = PayoutRun.objects.create()
    run.payouts_created = payouts_create(run=run, minimum_cents=minimum_cents)
    run.save(update_fields=["payouts_created"])
    payouts_send()
    run.stripe_calls = stripe_gateway.call_count() - calls_before
    run.finished_at = timezone.now()
    run.save(update_fields=["stripe_calls", "finished_at"])
    return run


# Reconciliation ------------------------------------------------------------------------------


def payouts_reconcile(*, now: datetime | None = None) -> dict[str, int]:
    """Finish what a crash left half-done: pending payouts (found among the destination's
    transfers by metadata when the idempotency key may have expired, else re-POSTed with the
    same key), sent payouts not yet confirmed, and reversals waiting for their transfer."""
    from billing.services import transfer_reversal_execute

    counts = {"found": 0, "confirmed": 0, "reversals": 0}
    if not stripe_gateway.stripe_configured():
        return counts
    now = now or timezone.now()
    with transaction.atomic(durable=True):  # an entry point: never inside another transaction
        old = list(
            Payout.objects.filter(
                status__in=[Status.PENDING, Status.AWAITING_STRIPE],
                created_at__lt=now - IDEMPOTENCY_SAFE_AGE,
            ).select_related("user")
        )
        accounts = {
            acc.user_id: acc for acc in ConnectedAccount.objects.filter(payouts_enabled=True)
        }
    listed: dict[str, list] = {}
    for payout in old:
        account = accounts.get(payout.user_id)
        if account is None:
            continue
        if account.stripe_account_id not in listed:
            listed[account.stripe_account_id] = stripe_gateway.transfers_for_destination(
                account.stripe_account_id
            )
        for transfer in listed[account.stripe_account_id]:
            if transfer_is_for(payout=payout, transfer=transfer.to_dict()):
                payout_mark_sent(
                    payout_id=payout.pk, transfer_id=transfer.id, attempt=payout.attempt
                )
                counts["found"] += 1
                break
    send = payouts_send()
    counts["sent"] = send.sent
    for payout in Payout.objects.filter(status=Status.SENT).exclude(stripe_transfer_id=""):
        try:
            transfer = stripe_gateway.transfer_retrieve(payout.stripe_transfer_id)
        except stripe.StripeError as error:
            logger.warning("payout %s: transfer not confirmed: %s", payout.pk, error)
            continue
        if payout_mark_paid(payout_id=payout.pk, transfer_id=transfer.id):
            counts["confirmed"] += 1
    for reversal_id in TransferReversal.objects.filter(
        status=TransferReversal.Status.PENDING
    ).values_list("pk", flat=True):
        reversal = transfer_reversal_execute(reversal_id=reversal_id)
        if reversal.status != TransferReversal.Status.PENDING:
            counts["reversals"] += 1
    return counts
