"""Operators' manual money actions (the console): grant or revoke credit, mark a payout failed,
retry it, reverse its transfer.

- Once per confirmation form: each is one MoneyAction row keyed by the form's `request_token`,
  so a double click, a reload that re-POSTs or a retry after a timeout does it once.
- One line says what will happen, in dollars (`money_action_preview`), on the confirmation page
  and to the approver; it is stored with the action.
- Above the approval threshold a second operator approves or rejects it, as dispute decisions:
  one limit for both, `PlatformSettings.dispute_approval_threshold_cents`
  (`DISPUTE_APPROVAL_THRESHOLD_CENTS`, default $1,000): the most one operator moves alone.
- Audit: proposed, executed (the target's state and balances before and after), rejected.
- Money rules: the database part of an execution is one transaction with the (locked) action
  row, so two approvers at once execute once. Stripe is asked outside it: before (marking a
  payout failed first makes sure no transfer exists, billing.payouts.payout_unsent_proof) and
  after (`money_action_stripe_step`: send the retried payout, ask for the reversal). What a
  crash leaves is finished by the next payout run or `manage.py stripe_reconcile`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import ledger, payouts, services
from billing.models import LedgerAccount, MoneyAction, Payout, TransferReversal
from marketplace.selectors import dispute_approval_threshold_cents
from marketplace.services import audit_record
from marketplace.transitions import InvalidTransition, transition

Kind = MoneyAction.Kind
Status = MoneyAction.Status
Account = LedgerAccount.Kind

AUDIT_ACTIONS = {
    Kind.CREDIT_GRANT: "console.credit_granted",
    Kind.CREDIT_REVOKE: "console.credit_revoked",
    Kind.PAYOUT_MARK_FAILED: "console.payout_marked_failed",
    Kind.PAYOUT_RETRY: "console.payout_retried",
    Kind.PAYOUT_REVERSE: "console.payout_reversal_requested",
}
PAYOUT_KINDS = {Kind.PAYOUT_MARK_FAILED, Kind.PAYOUT_RETRY, Kind.PAYOUT_REVERSE}


def money_approval_threshold_cents() -> int:
    """Manual money actions share the dispute decisions' limit (see the module docstring)."""
    return dispute_approval_threshold_cents()


def dollars(cents: int) -> str:
    return f"${cents / 100:,.2f}"


@dataclass(frozen=True)
class Preview:
    amount_cents: int
    summary: str
    needs_approval: bool
    threshold_cents: int


@dataclass(frozen=True)
class Proposal:
    action: MoneyAction
    replayed: bool  # the same confirmation form came again: nothing was done this time


# What each action does: (amount it moves, the one line), refused with ValidationError -----------


def _credit_line(kind: str, organization, amount_cents: int | None) -> tuple[int, str]:
    if organization is None:
        raise ValidationError("Choose the organization.")
    if not amount_cents or amount_cents <= 0:
        raise ValidationError({"amount": "Give a positive amount."})
    available = ledger.balance(Account.COMPANY_AVAILABLE, organization=organization)
    if kind == Kind.CREDIT_GRANT:
        after = available + amount_cents
        return amount_cents, (
            f"Grant {dollars(amount_cents)} of credit to {organization.name}: its available "
            f"balance goes from {dollars(available)} to {dollars(after)}."
        )
    if amount_cents > available:
        raise ValidationError(
            {
                "amount": f"Only {dollars(available)} is available to revoke from {organization.name}."
            }
        )
    return amount_cents, (
        f"Revoke {dollars(amount_cents)} of credit from {organization.name}: its available "
        f"balance goes from {dollars(available)} to {dollars(available - amount_cents)}."
    )


def _payout_line(kind: str, payout: Payout | None) -> tuple[int, str]:
    if payout is None:
        raise ValidationError("Choose the payout.")
    payout = Payout.objects.select_related("user").get(pk=payout.pk)
    who = payout.user.email
    if kind == Kind.PAYOUT_MARK_FAILED:
        if payout.status not in (Payout.Status.PENDING, Payout.Status.AWAITING_STRIPE):
            raise ValidationError(payouts.not_failable_message(payout))
        back = payout.amount_cents - payout.reversed_cents
        return back, (
            f"Mark payout #{payout.pk} failed: {dollars(back)} goes back to {who}'s available "
            "balance and the next run pays it (only once Stripe shows no transfer for it)."
        )
    if kind == Kind.PAYOUT_RETRY:
        if payout.status == Payout.Status.AWAITING_STRIPE:
            return payout.amount_cents, (
                f"Send payout #{payout.pk} to Stripe now: {dollars(payout.amount_cents)} to "
                f"{who}, under its own transfer request (never a second transfer)."
            )
        if payout.status != Payout.Status.FAILED or payout.stripe_transfer_id:
            raise ValidationError(
                "Only a failed payout that never made a transfer, or one waiting for Stripe, can "
                "be retried (a reversed payout's money is paid by the next run)."
            )
        return payout.amount_cents, (
            f"Retry payout #{payout.pk}: {dollars(payout.amount_cents)} leaves {who}'s available "
            "balance again as a new Stripe transfer."
        )
    if payout.status not in (Payout.Status.SENT, Payout.Status.PAID) or not (
        payout.stripe_transfer_id
    ):
        raise ValidationError("Only the transfer of a sent or paid payout can be reversed.")
    left = payout.reversible_cents
    if left <= 0:
        raise ValidationError("Nothing is left of this transfer to reverse.")
    return left, (
        f"Reverse {dollars(left)} of payout #{payout.pk}'s transfer: Stripe takes it back from "
        f"{who}'s account into their available balance here, for a later payout."
    )


def money_action_preview(
    *, kind: str, payout: Payout | None = None, organization=None, amount_cents: int | None = None
) -> Preview:
    """What the action would do now, in one line; ValidationError if it cannot be done."""
    if kind in (Kind.CREDIT_GRANT, Kind.CREDIT_REVOKE):
        amount, summary = _credit_line(kind, organization, amount_cents)
    elif kind in PAYOUT_KINDS:
        amount, summary = _payout_line(kind, payout)
    else:
        raise ValidationError(f"Unknown money action {kind!r}.")
    threshold = money_approval_threshold_cents()
    if amount > threshold:
        summary += f" Over {dollars(threshold)}: a second operator must approve."
    return Preview(amount, summary, amount > threshold, threshold)


# Executing (inside the action's transaction) -----------------------------------------------------


def _payout_state(payout_id: int) -> dict:
    payout = Payout.objects.select_related("user").get(pk=payout_id)
    return {
        "payout_status": payout.status,
        "amount_cents": payout.amount_cents,
        "reversed_cents": payout.reversed_cents,
        "expert_available_cents": ledger.balance(Account.EXPERT_AVAILABLE, user=payout.user),
        "expert_paid_out_cents": ledger.balance(Account.EXPERT_PAID_OUT, user=payout.user),
    }


def _organization_state(organization) -> dict:
    return {
        "available_cents": ledger.balance(Account.COMPANY_AVAILABLE, organization=organization),
        "held_cents": ledger.balance(Account.COMPANY_HELD, organization=organization),
    }


def _state(action: MoneyAction) -> dict:
    if action.payout_id is not None:
        return _payout_state(action.payout_id)
    return _organization_state(action.organization)


def _execute_credit(action: MoneyAction, checked) -> str:
    signed = action.amount_cents if action.kind == Kind.CREDIT_GRANT else -action.amount_cents
    try:
        grant = services.credit_grant(
            organization=action.organization,
            amount_cents=signed,
            reason=action.reason,
            actor=action.proposed_by,
            request_token=action.request_token,
        )
    except ledger.InsufficientFunds as exc:
        raise ValidationError(
            f"Only {dollars(exc.available_cents)} is available to revoke now."
        ) from exc
    return f"credit grant #{grant.pk} posted"


def _execute_mark_failed(action: MoneyAction, checked) -> str:
    failed = payouts.payout_fail_unsent(
        payout_id=action.payout_id,
        checked_requested_at=checked,
        reason=f"marked failed by an operator: {action.reason}",
    )
    if not failed:
        raise ValidationError("This payout is already failed.")
    return "payout failed; the money is back in the expert's available balance"


def _execute_retry(action: MoneyAction, checked) -> str:
    payout = Payout.objects.select_for_update().get(pk=action.payout_id)
    if payout.status == Payout.Status.AWAITING_STRIPE:
        return "sent to Stripe again under its own key"
    try:
        payouts.payout_retry(payout=payout, actor=action.proposed_by)
    except InvalidTransition as exc:
        raise ValidationError(f"This payout cannot be retried: {exc}.") from exc
    except ledger.InsufficientFunds as exc:
        raise ValidationError(
            "The expert's available balance no longer holds this amount (a later run paid it)."
        ) from exc
    return "new attempt booked; sending it to Stripe"


def _reversal_ref(action: MoneyAction) -> str:
    return f"money-action:{action.pk}:reversal"


def _execute_reverse(action: MoneyAction, checked) -> str:
    reversal = services.payout_reversal_request(
        payout_id=action.payout_id, amount_cents=action.amount_cents, ref=_reversal_ref(action)
    )
    return f"reversal of {dollars(reversal.amount_cents)} asked from Stripe"


EXECUTORS: dict[str, Callable[[MoneyAction, datetime | None], str]] = {
    Kind.CREDIT_GRANT: _execute_credit,
    Kind.CREDIT_REVOKE: _execute_credit,
    Kind.PAYOUT_MARK_FAILED: _execute_mark_failed,
    Kind.PAYOUT_RETRY: _execute_retry,
    Kind.PAYOUT_REVERSE: _execute_reverse,
}


def _finish(action: MoneyAction, *, to: str, decided_by, outcome: str) -> None:
    """InvalidTransition (a ValidationError) if another operator decided it meanwhile."""
    transition(
        action,
        to,
        actor=decided_by,
        reason=outcome,
        decided_by=decided_by,
        decided_at=timezone.now(),
        outcome=outcome[:500],
    )
    action.refresh_from_db()


def _execute(action: MoneyAction, *, approver, checked) -> None:
    before = _state(action)
    outcome = EXECUTORS[action.kind](action, checked)
    _finish(action, to=Status.EXECUTED, decided_by=approver, outcome=outcome)
    audit_record(
        actor=approver or action.proposed_by,
        action=AUDIT_ACTIONS[action.kind],
        object_type="payout" if action.payout_id else "organization",
        object_id=action.payout_id or action.organization_id,
        organization=action.organization,
        before=before,
        after={
            **_state(action),
            "money_action": action.pk,
            "summary": action.summary,
            "reason": action.reason,
            "proposed_by": action.proposed_by.email,
            "approved_by": approver.email if approver else None,
            "outcome": outcome,
        },
    )


def _before_transaction(kind: str, payout: Payout | None, now: datetime | None):
    """What must be asked of Stripe before the transaction (nothing but for marking failed)."""
    if kind == Kind.PAYOUT_MARK_FAILED and payout is not None:
        return payouts.payout_unsent_proof(payout=payout, now=now)
    return None


# Services -------------------------------------------------------------------------------------------


def money_action_propose(
    *,
    kind: str,
    operator,
    reason: str,
    request_token: uuid.UUID,
    payout: Payout | None = None,
    organization=None,
    amount_cents: int | None = None,
    now: datetime | None = None,
) -> Proposal:
    """Propose an action: executed at once at or below the threshold, else left for a second
    operator. The same `request_token` again returns the first action and does nothing."""
    if not getattr(operator, "is_operator", False):
        raise PermissionDenied("Only operators move money by hand.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give a reason: it is recorded with the money movement."})
    earlier = MoneyAction.objects.filter(request_token=request_token).first()
    if earlier is not None:
        return Proposal(earlier, replayed=True)
    if payout is not None:
        organization = None
    preview = money_action_preview(
        kind=kind, payout=payout, organization=organization, amount_cents=amount_cents
    )
    checked = None if preview.needs_approval else _before_transaction(kind, payout, now)
    try:
        with transaction.atomic(durable=True):
            action = MoneyAction.objects.create(
                kind=kind,
                status=Status.AWAITING_APPROVAL,
                amount_cents=preview.amount_cents,
                payout=payout,
                organization=organization,
                summary=preview.summary[:300],
                reason=reason[:500],
                threshold_cents=preview.threshold_cents,
                proposed_by=operator,
                request_token=request_token,
            )
            if preview.needs_approval:
                audit_record(
                    actor=operator,
                    action="console.money_action_proposed",
                    object_type="money_action",
                    object_id=action.pk,
                    organization=organization,
                    before=_state(action),
                    after={"kind": kind, "summary": action.summary, "reason": action.reason},
                )
            else:
                _execute(action, approver=None, checked=checked)
    except IntegrityError:
        # The same form at the same moment in another request: that one is the action.
        earlier = MoneyAction.objects.filter(request_token=request_token).first()
        if earlier is None:
            raise
        return Proposal(earlier, replayed=True)
    return Proposal(action, replayed=False)


def _check_second_operator(action: MoneyAction, operator) -> None:
    if not getattr(operator, "is_operator", False):
        raise PermissionDenied("Only operators approve money actions.")
    if action.proposed_by_id == operator.pk:
        raise PermissionDenied("A second operator must decide: you proposed this action.")


def money_action_approve(
    *, action: MoneyAction, operator, now: datetime | None = None
) -> MoneyAction:
    """A second operator approves; the action is executed, or refused (recorded, with why) when
    the money moved on since it was proposed."""
    _check_second_operator(action, operator)
    action = MoneyAction.objects.select_related("payout").get(pk=action.pk)
    if action.status != Status.AWAITING_APPROVAL:
        raise ValidationError("This money action is no longer waiting for approval.")
    refusal = None
    try:
        checked = _before_transaction(action.kind, action.payout, now)
    except ValidationError as exc:  # e.g. Stripe made the transfer: it can never be failed now
        checked, refusal = None, exc
    with transaction.atomic(durable=True):
        action = MoneyAction.objects.select_for_update().get(pk=action.pk)
        if action.status != Status.AWAITING_APPROVAL:
            raise ValidationError("This money action is no longer waiting for approval.")
        try:
            if refusal is not None:
                raise refusal
            with transaction.atomic():
                _execute(action, approver=operator, checked=checked)
        except ValidationError as exc:
            _finish(action, to=Status.REFUSED, decided_by=operator, outcome=" ".join(exc.messages))
            audit_record(
                actor=operator,
                action="console.money_action_refused",
                object_type="money_action",
                object_id=action.pk,
                organization=action.organization,
                before={"status": Status.AWAITING_APPROVAL, "summary": action.summary},
                after={"status": action.status, "outcome": action.outcome},
            )
    return action


def money_action_reject(*, action: MoneyAction, operator, note: str) -> MoneyAction:
    _check_second_operator(action, operator)
    note = (note or "").strip()
    if not note:
        raise ValidationError({"reason": "Say why the action is sent back."})
    with transaction.atomic(durable=True):
        action = MoneyAction.objects.select_for_update().get(pk=action.pk)
        if action.status != Status.AWAITING_APPROVAL:
            raise ValidationError("This money action is no longer waiting for approval.")
        _finish(action, to=Status.REJECTED, decided_by=operator, outcome=note)
        audit_record(
            actor=operator,
            action="console.money_action_rejected",
            object_type="money_action",
            object_id=action.pk,
            organization=action.organization,
            before={"status": Status.AWAITING_APPROVAL, "summary": action.summary},
            after={"status": action.status, "note": note[:500]},
        )
    return action


def money_action_stripe_step(*, action: MoneyAction) -> str:
    """After commit: what an executed action asks of Stripe. Safe to repeat (the payout is sent
    under its attempt's key, the reversal under its row's); returns what happened."""
    action = MoneyAction.objects.get(pk=action.pk)
    if action.status != Status.EXECUTED:
        return ""
    if action.kind == Kind.PAYOUT_RETRY:
        payouts.payouts_send(payout_ids=[action.payout_id])
        return Payout.objects.get(pk=action.payout_id).get_status_display().lower()
    if action.kind == Kind.PAYOUT_REVERSE:
        reversal = TransferReversal.objects.filter(ref=_reversal_ref(action)).first()
        if reversal is None:
            return ""
        return services.transfer_reversal_execute(reversal_id=reversal.pk).get_status_display()
    return ""


def money_actions_awaiting():
    return (
        MoneyAction.objects.filter(status=Status.AWAITING_APPROVAL)
        .select_related("proposed_by", "payout__user", "organization")
        .order_by("created_at")
    )
