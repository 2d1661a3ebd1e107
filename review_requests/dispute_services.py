"""Disputes: a company contests a submitted review; the expert answers; an operator decides.

The writes (reads are in review_requests.dispute_selectors). Each outcome is ONE service call that moves the money
through billing services, changes the assignment and request through the transition helpers,
records the audit trail (the case's timeline is built from it) and notifies both parties.

Rework: the disputed assignment goes to `released` (the contract's "given back or reassigned"),
which frees its reviewer slot; the request goes back to `queued` without its result and is
offered to other experts (the original expert already had an offer, so is never re-offered).
It is paid for either by a refund of the disputed work (the company gets the captured amount back
and pays for the rework through the usual hold) or by the platform (the expert keeps the pay; the
decision leaves a billing PlatformHoldGrant, so the accept of the re-offered work places its hold
on the platform, platform_refunds -> platform_held, and the company's balance is not touched).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from marketplace.models import Membership, User
from marketplace.selectors import (
    dispute_approval_threshold_cents,
    dispute_window_hours,
    organization_admins,
)
from marketplace.services import audit_record, notify
from marketplace.transitions import transition, transition_many
from review_requests.dispute_selectors import (
    assignment_earning,
    captured_cents,
    decision_amount_cents,
    dispute_window_closes_at,
    rework_grant_ref,
)
from review_requests.models import Assignment, Dispute, ReviewRequest
from review_requests.services import assignment_transition, request_transition
from review_requests.signals import dispute_decided

EXPERT_ANSWER_DAYS = 3
FLAG_AFTER_DAYS = 14

Status = Dispute.Status
Outcome = Dispute.Outcome

DECIDABLE = (Status.READY,)


def _move(dispute: Dispute, to: str, *, actor, reason: str = "", fields=()) -> str:
    """Dispute.TRANSITIONS through the one helper, saving `fields` (already set) in its update."""
    values = {name: getattr(dispute, name) for name in fields}
    return transition(dispute, to, actor=actor, reason=reason, **values)


def _lock(dispute: Dispute) -> Dispute:
    return (
        Dispute.objects.select_for_update()
        .select_related(
            "organization", "assignment__expert__user", "assignment__review_request", "opened_by"
        )
        .get(pk=dispute.pk)
    )


def _notify_company(dispute: Dispute, *, title: str, body: str) -> None:
    users = {u.pk: u for u in organization_admins(organization_id=dispute.organization_id)}
    users.setdefault(dispute.opened_by_id, dispute.opened_by)
    for user in users.values():
        notify(
            user=user,
            kind="decision" if dispute.status == Status.RESOLVED else "dispute",
            title=title,
            body=body,
            url=f"/company/disputes/{dispute.pk}/",
        )


def _notify_expert(dispute: Dispute, *, kind: str, title: str, body: str) -> None:
    notify(
        user=dispute.assignment.expert.user,
        kind=kind,
        title=title,
        body=body,
        url=f"/expert/disputes/{dispute.pk}/",
    )


def _money(cents: int | None) -> str:
    return f"${(cents or 0) / 100:,.2f}"


# Opening and statements ------------------------------------------------------------------------


def dispute_open(
    *,
    assignment: Assignment,
    user: User,
    category: str,
    description: str,
    requested_remedy: str,
    requested_amount_cents: int | None = None,
    now: datetime | None = None,
) -> Dispute:
    """A company member disputes a submitted assignment within the dispute window: the
    assignment (and the request, once completed) become `disputed` and the expert's earning is
    frozen so no payout takes it."""
    from billing.services import earning_freeze

    now = now or timezone.now()
    description = _dispute_open_validate_form(
        category=category, description=description, requested_remedy=requested_remedy
    )
    with transaction.atomic():
        rr = ReviewRequest.objects.select_for_update().get(pk=assignment.review_request_id)
        assignment = (
            Assignment.objects.select_for_update()
            .select_related("expert__user")
            .get(pk=assignment.pk)
        )
        captured, amount = _dispute_open_validate_locked(
            rr=rr,
            assignment=assignment,
            user=user,
            now=now,
            requested_remedy=requested_remedy,
            requested_amount_cents=requested_amount_cents,
        )
        dispute = Dispute.objects.create(
            assignment=assignment,
            organization_id=rr.organization_id,
            opened_by=user,
            category=category,
            description=description[:20000],
            requested_remedy=requested_remedy,
            requested_amount_cents=amount,
            expert_answer_due_at=now + timedelta(days=EXPERT_ANSWER_DAYS),
            created_at=now,
        )
        assignment_transition(
            assignment=assignment,
            to=Assignment.Status.DISPUTED,
            reason="dispute opened",
            actor=user,
        )
        if rr.status == ReviewRequest.Status.COMPLETED:
            request_transition(
                review_request=rr,
                to=ReviewRequest.Status.DISPUTED,
                reason="dispute opened",
                actor=user,
            )
        earning = assignment_earning(assignment=assignment)
        if earning is not None and earning.status == "pending":
            # Already available or paid out (the window was widened after the capture): nothing
            # to freeze; a refund then claws the money back (a transfer reversal once paid).
            earning_freeze(ref=assignment.hold_ref)
        _dispute_open_record(dispute=dispute, rr=rr, user=user, captured=captured)
    return dispute


def _dispute_open_record(*, dispute: Dispute, rr: ReviewRequest, user: User, captured: int) -> None:
    """The audit row of an opened dispute and the expert's notice, inside its transaction."""
    audit_record(
        actor=user,
        action="dispute.opened",
        object_type="dispute",
        object_id=dispute.pk,
        organization=rr.organization,
        after={
            "assignment": str(dispute.assignment.pk),
            "category": dispute.category,
            "requested_remedy": dispute.requested_remedy,
            "requested_amount_cents": dispute.requested_amount_cents,
            "captured_cents": captured,
        },
    )
    _notify_expert(
        dispute,
        kind="dispute",
        title=f"Your review of “{rr.title[:100]}” is disputed",
        body=(
            f"{rr.organization.name} opened a dispute ({dispute.get_category_display()}). "
            f"Your pay for it is on hold. Answer with your statement within "
            f"{EXPERT_ANSWER_DAYS} days."
        ),
    )


def _dispute_open_validate_form(*, category: str, description: str, requested_remedy: str) -> str:
    """The stripped description, after checking the form's choices and text."""
    description = (description or "").strip()
    errors: dict[str, str] = {}
    if category not in Dispute.Category.values:
        errors["category"] = "Choose what the dispute is about."
    if not description:
        errors["description"] = "Describe what went wrong."
    if requested_remedy not in Dispute.Remedy.values:
        errors["requested_remedy"] = "Choose the remedy you ask for."
    if errors:
        raise ValidationError(errors)
    return description


def _dispute_open_validate_locked(
    *,
    rr: ReviewRequest,
    assignment: Assignment,
    user: User,
    now: datetime,
    requested_remedy: str,
    requested_amount_cents: int | None,
) -> tuple[int, int | None]:
    """(captured cents, the amount asked back or None), after checking, with the request and
    assignment locked, that this user may dispute this assignment now."""
    if not Membership.objects.filter(organization_id=rr.organization_id, user=user).exists():
        raise PermissionDenied("Only members of the company that asked can dispute.")
    if Dispute.objects.filter(assignment=assignment).exists():
        raise ValidationError("This review is already disputed.")
    if assignment.status != Assignment.Status.SUBMITTED:
        raise ValidationError("Only a submitted review can be disputed.")
    closes = dispute_window_closes_at(assignment=assignment)
    if closes is None or now >= closes:
        raise ValidationError(
            f"The dispute window ({dispute_window_hours()} h after submission) has closed."
        )
    captured = captured_cents(assignment=assignment)
    amount = None
    if requested_remedy == Dispute.Remedy.PARTIAL_REFUND:
        if not requested_amount_cents or requested_amount_cents <= 0:
            raise ValidationError({"requested_amount": "Give the amount you ask back."})
        if requested_amount_cents > captured:
            raise ValidationError(
                {
                    "requested_amount": f"At most {_money(captured)} was charged for this "
                    "review; ask for that much or less."
                }
            )
        amount = requested_amount_cents
    return captured, amount


def dispute_expert_answer(*, dispute: Dispute, user: User, statement: str, now=None) -> Dispute:
    now = now or timezone.now()
    statement = (statement or "").strip()
    if not statement:
        raise ValidationError({"statement": "Write your statement."})
    with transaction.atomic():
        dispute = _lock(dispute)
        if dispute.assignment.expert.user_id != user.pk:
            raise PermissionDenied("Only the expert who did the review can answer.")
        if dispute.expert_answered_at is not None:
            raise ValidationError("You already answered this dispute.")
        if dispute.status != Status.OPEN or now >= dispute.expert_answer_due_at:
            raise ValidationError("The time to answer this dispute is over.")
        dispute.expert_statement = statement[:20000]
        dispute.expert_answered_at = now
        _move(
            dispute,
            Status.READY,
            actor=user,
            reason="expert answered",
            fields=["expert_statement", "expert_answered_at"],
        )
        audit_record(
            actor=user,
            action="dispute.expert_answered",
            object_type="dispute",
            object_id=dispute.pk,
            organization=dispute.organization,
            before={"status": Status.OPEN},
            after={"status": dispute.status},
        )
        _notify_company(
            dispute,
            title="The expert answered your dispute",
            body=f"The expert's statement on “{dispute.assignment.review_request.title[:100]}” "
            "is in. An operator decides next.",
        )
    return dispute


def dispute_company_addendum(*, dispute: Dispute, user: User, text: str, now=None) -> Dispute:
    """The company may add to its case once, until the decision."""
    now = now or timezone.now()
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "Write what you want to add."})
    with transaction.atomic():
        dispute = _lock(dispute)
        if not Membership.objects.filter(
            organization_id=dispute.organization_id, user=user
        ).exists():
            raise PermissionDenied("Only the company's members can add to its case.")
        if dispute.company_addendum_at is not None:
            raise ValidationError("You already added to your case; it can be done once.")
        if dispute.status not in (Status.OPEN, Status.READY):
            raise ValidationError("The case is closed to additions: a decision has been made.")
        dispute.company_addendum = text[:20000]
        dispute.company_addendum_at = now
        dispute.save(update_fields=["company_addendum", "company_addendum_at"])
        audit_record(
            actor=user,
            action="dispute.company_added",
            object_type="dispute",
            object_id=dispute.pk,
            organization=dispute.organization,
        )
        _notify_expert(
            dispute,
            kind="dispute",
            title="The company added to its dispute",
            body=f"New information on “{dispute.assignment.review_request.title[:100]}”.",
        )
    return dispute


# Decisions -------------------------------------------------------------------------------------


def _validate_decision(
    *, dispute: Dispute, outcome: str, amount_cents: int | None, rework_funded_by: str, note: str
) -> tuple[int | None, str]:
    errors: dict[str, str] = {}
    if outcome not in Outcome.values:
        errors["outcome"] = "Choose an outcome."
    if not (note or "").strip():
        errors["note"] = "Write a note: both parties receive it with the decision."
    captured = captured_cents(assignment=dispute.assignment)
    if outcome == Outcome.PARTIAL_REFUND:
        if not amount_cents or amount_cents <= 0:
            errors["amount"] = "Give the amount to refund."
        elif amount_cents > captured:
            errors["amount"] = f"At most {_money(captured)} was captured; refund that or less."
    else:
        amount_cents = None
    if outcome == Outcome.REWORK:
        if rework_funded_by not in ("refund", "platform"):
            errors["rework_funded_by"] = "Choose who pays for the rework."
    else:
        rework_funded_by = ""
    if errors:
        raise ValidationError(errors)
    return amount_cents, rework_funded_by


def dispute_decide(
    *,
    dispute: Dispute,
    operator: User,
    outcome: str,
    note: str,
    amount_cents: int | None = None,
    rework_funded_by: str = "",
) -> Dispute:
    """Decide a ready dispute. Above the approval threshold (platform settings, default
    settings.DISPUTE_APPROVAL_THRESHOLD_CENTS) the decision waits for a second operator
    (dispute_approve); otherwise it is executed at once."""
    if not operator.is_operator:
        raise PermissionDenied("Only operators decide disputes.")
    with transaction.atomic():
        dispute = _lock(dispute)
        if dispute.status not in DECIDABLE:
            raise ValidationError(
                "Only a dispute that is ready can be decided "
                f"(this one is {dispute.get_status_display().lower()})."
            )
        amount_cents, rework_funded_by = _validate_decision(
            dispute=dispute,
            outcome=outcome,
            amount_cents=amount_cents,
            rework_funded_by=rework_funded_by,
            note=note,
        )
        dispute.outcome = outcome
        dispute.outcome_amount_cents = amount_cents
        dispute.rework_funded_by = rework_funded_by
        dispute.decision_note = note.strip()[:4000]
        dispute.decided_by = operator
        at_stake = decision_amount_cents(
            dispute=dispute, outcome=outcome, amount_cents=amount_cents
        )
        threshold = dispute_approval_threshold_cents()
        if at_stake > threshold:
            before = _move(
                dispute,
                Status.AWAITING_APPROVAL,
                actor=operator,
                reason="decision proposed",
                fields=[
                    "outcome",
                    "outcome_amount_cents",
                    "rework_funded_by",
                    "decision_note",
                    "decided_by",
                ],
            )
            audit_record(
                actor=operator,
                action="dispute.decision_proposed",
                object_type="dispute",
                object_id=dispute.pk,
                organization=dispute.organization,
                before={"status": before},
                after={
                    "status": dispute.status,
                    "outcome": outcome,
                    "amount_cents": amount_cents,
                    "rework_funded_by": rework_funded_by,
                    "at_stake_cents": at_stake,
                    "threshold_cents": threshold,
                },
            )
            return dispute
        return _execute(dispute=dispute, operator=operator, approver=None)


def dispute_approve(*, dispute: Dispute, operator: User) -> Dispute:
    """A second operator approves a decision over the threshold, which is then executed."""
    if not operator.is_operator:
        raise PermissionDenied("Only operators approve decisions.")
    with transaction.atomic():
        dispute = _lock(dispute)
        if dispute.status != Status.AWAITING_APPROVAL:
            raise ValidationError("This dispute has no decision waiting for approval.")
        if dispute.decided_by_id == operator.pk:
            raise PermissionDenied("A second operator must approve: you proposed this decision.")
        return _execute(dispute=dispute, operator=dispute.decided_by, approver=operator)


def dispute_proposal_reject(*, dispute: Dispute, operator: User, note: str) -> Dispute:
    """The second operator disagrees: the proposal is dropped and the case is ready again."""
    if not operator.is_operator:
        raise PermissionDenied("Only operators review decisions.")
    if not (note or "").strip():
        raise ValidationError({"note": "Say why the proposal is sent back."})
    with transaction.atomic():
        dispute = _lock(dispute)
        if dispute.status != Status.AWAITING_APPROVAL:
            raise ValidationError("This dispute has no decision waiting for approval.")
        if dispute.decided_by_id == operator.pk:
            raise PermissionDenied("Another operator must review your proposal.")
        proposed = {
            "outcome": dispute.outcome,
            "amount_cents": dispute.outcome_amount_cents,
            "proposed_by": dispute.decided_by.email if dispute.decided_by else "",
        }
        dispute.outcome = ""
        dispute.outcome_amount_cents = None
        dispute.rework_funded_by = ""
        dispute.decided_by = None
        before = _move(
            dispute,
            Status.READY,
            actor=operator,
            reason="proposal rejected",
            fields=["outcome", "outcome_amount_cents", "rework_funded_by", "decided_by"],
        )
        audit_record(
            actor=operator,
            action="dispute.decision_rejected",
            object_type="dispute",
            object_id=dispute.pk,
            organization=dispute.organization,
            before={"status": before, **proposed},
            after={"status": dispute.status, "note": note.strip()[:1000]},
        )
    return dispute


def _execute(*, dispute: Dispute, operator: User, approver: User | None) -> Dispute:
    """Runs inside the caller's transaction, with the dispute locked. The Stripe transfer
    reversal of a refund after payout runs on commit (billing.earning_refund_book schedules it)."""
    assignment = dispute.assignment
    rr = ReviewRequest.objects.select_for_update().get(pk=assignment.review_request_id)
    assignment = (
        Assignment.objects.select_for_update().select_related("expert__user").get(pk=assignment.pk)
    )
    earning_before = assignment_earning(assignment=assignment)
    captured = captured_cents(assignment=assignment)
    outcome = dispute.outcome
    reason = f"dispute {dispute.pk}: {dispute.get_outcome_display().lower()}"
    refunded, refund = _execute_money(
        dispute=dispute,
        assignment=assignment,
        rr=rr,
        operator=operator,
        captured=captured,
        has_earning=bool(assignment.hold_ref) and earning_before is not None,
        reason=reason,
    )
    _execute_transitions(
        outcome=outcome, assignment=assignment, rr=rr, operator=operator, reason=reason
    )

    dispute.approved_by = approver
    dispute.resolved_at = timezone.now()
    before = _move(
        dispute,
        Status.RESOLVED,
        actor=approver or operator,
        reason=f"decided: {dispute.outcome}",
        fields=[
            "approved_by",
            "resolved_at",
            "outcome",
            "outcome_amount_cents",
            "rework_funded_by",
            "decision_note",
            "decided_by",
        ],
    )
    audit_record(
        actor=approver or operator,
        action="dispute.resolved",
        object_type="dispute",
        object_id=dispute.pk,
        organization=rr.organization,
        before={
            "status": before,
            "captured_cents": captured,
            "earning_status": earning_before.status if earning_before else None,
        },
        after={
            "status": dispute.status,
            "outcome": outcome,
            "refunded_cents": refunded,
            "rework_funded_by": dispute.rework_funded_by,
            "decided_by": operator.email,
            "approved_by": approver.email if approver else None,
            "refund_id": refund.refund_id if refund else None,
            "platform_shortfall_cents": refund.platform_shortfall_cents if refund else 0,
            "reversal_status": refund.reversal_status if refund else "none",
        },
    )
    _execute_notify(dispute=dispute, refunded=refunded)
    return dispute


def _execute_money(
    *,
    dispute: Dispute,
    assignment: Assignment,
    rr: ReviewRequest,
    operator: User,
    captured: int,
    has_earning: bool,
    reason: str,
):
    """The decision's money, inside _execute's transaction: the refund (its outcome or None),
    the earning back on its schedule, the platform's grant for a rework it pays, and the costs
    lowered by what was refunded. Returns (refunded cents, refund outcome or None)."""
    from billing.services import earning_refund_book, earning_unfreeze, platform_hold_grant_create
    from review_requests.services import hold_scope

    outcome = dispute.outcome
    refunded = 0
    refund = None
    if outcome == Outcome.PARTIAL_REFUND:
        refunded = min(dispute.outcome_amount_cents or 0, captured)
    elif outcome == Outcome.FULL_REFUND or (
        outcome == Outcome.REWORK and dispute.rework_funded_by == "refund"
    ):
        refunded = captured
    if has_earning and refunded > 0:
        refund = earning_refund_book(
            ref=assignment.hold_ref, amount_cents=refunded, actor=operator, reason=reason
        )
    if has_earning:
        # Whatever was not refunded goes back to the expert's normal schedule (pending until
        # the window ends, or available at once if it already has).
        earning_unfreeze(ref=assignment.hold_ref)
    if outcome == Outcome.REWORK and dispute.rework_funded_by == "platform":
        # No money moves now: the hold of whoever accepts the rework is placed on the platform.
        platform_hold_grant_create(
            organization=rr.organization,
            scope=hold_scope(review_request_id=rr.pk),
            source_ref=rework_grant_ref(dispute),
            reason=f"Rework of “{rr.title[:80]}” paid by the platform (dispute {dispute.pk})",
            actor=operator,
        )
    if refunded:
        Assignment.objects.filter(pk=assignment.pk).update(
            cost_cents=max(assignment.cost_cents - refunded, 0)
        )
        ReviewRequest.objects.filter(pk=rr.pk).update(cost_cents=max(rr.cost_cents - refunded, 0))
        rr.refresh_from_db(fields=["cost_cents"])
    return refunded, refund


def _execute_transitions(
    *, outcome: str, assignment: Assignment, rr: ReviewRequest, operator: User, reason: str
) -> None:
    """The assignment and request after the decision, inside _execute's transaction: a rework
    releases the assignment and queues the request again; any other outcome resolves it."""
    rr_pk = rr.pk
    transaction.on_commit(
        lambda: dispute_decided.send(sender=Dispute, review_request_id=rr_pk), robust=True
    )
    if outcome == Outcome.REWORK:
        assignment_transition(
            assignment=assignment,
            to=Assignment.Status.RELEASED,
            reason="dispute: rework",
            actor=operator,
        )
        if rr.status == ReviewRequest.Status.DISPUTED:
            rr.result = None
            rr.save(update_fields=["result", "updated_at"])
            request_transition(
                review_request=rr,
                to=ReviewRequest.Status.QUEUED,
                reason="dispute: rework",
                actor=operator,
            )
        from review_requests.services import matching_enqueue_on_commit

        matching_enqueue_on_commit([rr.pk])
    else:
        assignment_transition(
            assignment=assignment,
            to=Assignment.Status.RESOLVED,
            reason=reason[:200],
            actor=operator,
        )
        still_disputed = rr.assignments.filter(status=Assignment.Status.DISPUTED).exists()
        if rr.status == ReviewRequest.Status.DISPUTED and not still_disputed:
            request_transition(
                review_request=rr,
                to=ReviewRequest.Status.COMPLETED,
                reason="dispute resolved",
                actor=operator,
            )


def _execute_notify(*, dispute: Dispute, refunded: int) -> None:
    """Both parties hear the decision and the operator's note."""
    summary = {
        Outcome.RELEASE: "The review stands: the expert is paid as billed.",
        Outcome.PARTIAL_REFUND: f"{_money(refunded)} is refunded to the company.",
        Outcome.FULL_REFUND: f"The full {_money(refunded)} is refunded to the company.",
        Outcome.REWORK: "The request is offered to other experts for a new review"
        + (
            f"; {_money(refunded)} is refunded to pay for it."
            if dispute.rework_funded_by == "refund"
            else "; Inloop pays for it, your balance is not charged."
        ),
    }[dispute.outcome]
    title = f"Dispute decided: {dispute.get_outcome_display()}"
    body = f"{summary}\n\nOperator's note: {dispute.decision_note}"
    _notify_company(dispute, title=title, body=body)
    _notify_expert(dispute, kind="decision", title=title, body=body)


# Timers ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimerResult:
    ready: int
    flagged: int


def dispute_timers_run(*, now: datetime | None = None) -> TimerResult:
    """Periodic: no expert answer by the due time -> ready for a decision; open over 14 days ->
    flagged. Conditional updates, so two runs at once change each row once."""
    now = now or timezone.now()
    ready_ids = list(
        Dispute.objects.filter(status=Status.OPEN, expert_answer_due_at__lte=now).values_list(
            "pk", flat=True
        )
    )
    ready = 0
    for pk in ready_ids:
        with transaction.atomic():
            if transition_many(
                Dispute.objects.filter(pk=pk, status=Status.OPEN, expert_answer_due_at__lte=now),
                Status.READY,
                reason="expert answer missed",
            ):
                ready += 1
                dispute = Dispute.objects.select_related("organization").get(pk=pk)
                audit_record(
                    actor=None,
                    action="dispute.expert_answer_missed",
                    object_type="dispute",
                    object_id=pk,
                    organization=dispute.organization,
                    before={"status": Status.OPEN},
                    after={"status": Status.READY},
                )
    flag_ids = list(
        Dispute.objects.filter(
            flagged_at__isnull=True, created_at__lte=now - timedelta(days=FLAG_AFTER_DAYS)
        )
        .exclude(status=Status.RESOLVED)
        .values_list("pk", flat=True)
    )
    flagged = 0
    for pk in flag_ids:
        with transaction.atomic():
            if Dispute.objects.filter(pk=pk, flagged_at__isnull=True).update(flagged_at=now) == 1:
                flagged += 1
                audit_record(
                    actor=None,
                    action="dispute.flagged",
                    object_type="dispute",
                    object_id=pk,
                    after={"flagged_at": now.isoformat(), "open_days": FLAG_AFTER_DAYS},
                )
    return TimerResult(ready=ready, flagged=flagged)
