"""Disputes, the reads: who may see a case, the money around it (through billing's selectors),
its timeline (from the audit trail) and the evidence of the operator's case page. The writes are
in review_requests.dispute_services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from billing.selectors import (
    earning_for_ref,
    earning_refunds,
    earning_split,
    platform_hold_grant_for_source,
)
from marketplace.models import AuditLog, User
from marketplace.selectors import dispute_window_hours
from review_requests.models import Assignment, Dispute
from review_requests.timekeeping import stretch_end

Status = Dispute.Status
Outcome = Dispute.Outcome


def assignment_earning(*, assignment: Assignment):
    """The earning captured from the assignment's hold (billing.selectors), or None."""
    return earning_for_ref(ref=assignment.hold_ref)


def assignment_earning_split(*, assignment: Assignment):
    """The assignment's earning after its refunds (billing.selectors.earning_split), or None."""
    earning = assignment_earning(assignment=assignment)
    return earning_split(earning=earning) if earning is not None else None


def captured_cents(*, assignment: Assignment) -> int:
    """What the company paid for this assignment (expert pay + fee) and has not had back yet."""
    split = assignment_earning_split(assignment=assignment)
    return split.paid_cents if split is not None else 0


def dispute_window_closes_at(*, assignment: Assignment) -> datetime | None:
    if assignment.submitted_at is None:
        return None
    return assignment.submitted_at + timedelta(hours=dispute_window_hours())


def can_open_dispute(*, assignment: Assignment, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    closes = dispute_window_closes_at(assignment=assignment)
    return (
        assignment.status == Assignment.Status.SUBMITTED
        and closes is not None
        and now < closes
        and not Dispute.objects.filter(assignment=assignment).exists()
    )


def rework_grant_ref(dispute: Dispute) -> str:
    """The billing grant of a rework the platform pays for: one per dispute."""
    return f"dispute:{dispute.pk}:rework"


def decision_amount_cents(*, dispute: Dispute, outcome: str, amount_cents: int | None) -> int:
    """The money a decision moves: what the approval threshold is compared with."""
    if outcome == Outcome.PARTIAL_REFUND:
        return amount_cents or 0
    return captured_cents(assignment=dispute.assignment)


# Reads -------------------------------------------------------------------------------------------


def _dispute_qs() -> QuerySet[Dispute]:
    return Dispute.objects.select_related(
        "organization",
        "opened_by",
        "decided_by",
        "approved_by",
        "assignment__expert__user",
        "assignment__review_request__specialization",
    )


def dispute_get_for_company(*, user: User, pk) -> Dispute:
    dispute = _dispute_qs().filter(pk=pk, organization__memberships__user=user).first()
    if dispute is None:
        raise Http404("No such dispute")
    return dispute


def dispute_get_for_expert(*, user: User, pk) -> Dispute:
    dispute = _dispute_qs().filter(pk=pk, assignment__expert__user=user).first()
    if dispute is None:
        raise Http404("No such dispute")
    return dispute


def dispute_get_for_operator(*, pk) -> Dispute:
    dispute = _dispute_qs().filter(pk=pk).first()
    if dispute is None:
        raise Http404("No such dispute")
    return dispute


def disputes_for_company(*, organization, status: str = "") -> QuerySet[Dispute]:
    qs = _dispute_qs().filter(organization=organization).order_by("-created_at")
    if status == "open":
        qs = qs.exclude(status=Status.RESOLVED)
    elif status in Status.values:
        qs = qs.filter(status=status)
    return qs


def assignment_get_for_dispute(*, user: User, pk) -> Assignment:
    assignment = (
        Assignment.objects.select_related("review_request", "expert")
        .filter(pk=pk, review_request__organization__memberships__user=user)
        .first()
    )
    if assignment is None:
        raise Http404("No such assignment")
    return assignment


# Where a case stands, as its parties read it: the status alone does not say whether the expert
# may still answer (an open case past its due time waits for the timer) or what a decision meant
# for each side (a rework by refund leaves the expert unpaid, one paid by the platform does not).
PHASES = (
    "awaiting_answer",
    "answer_overdue",
    "ready_answered",
    "ready_unanswered",
    "awaiting_approval",
    "resolved_release",
    "resolved_partial_refund",
    "resolved_full_refund",
    "resolved_rework_refund",
    "resolved_rework_platform",
)


def dispute_phase(*, dispute: Dispute, now: datetime | None = None) -> str:
    """One of PHASES: the copy of the company's and the expert's pages is written per phase."""
    if dispute.status == Status.RESOLVED:
        if dispute.outcome == Outcome.REWORK:
            return f"resolved_rework_{dispute.rework_funded_by or 'refund'}"
        return f"resolved_{dispute.outcome}"
    if dispute.status == Status.AWAITING_APPROVAL:
        return "awaiting_approval"
    if dispute.status == Status.READY:
        return "ready_answered" if dispute.expert_answered_at else "ready_unanswered"
    if (now or timezone.now()) < dispute.expert_answer_due_at:
        return "awaiting_answer"
    return "answer_overdue"


TIMELINE_LABELS = {
    "dispute.opened": "Dispute opened",
    "dispute.expert_answered": "Expert answered",
    "dispute.company_added": "Company added to its case",
    "dispute.expert_answer_missed": "No answer from the expert in 3 days: ready for a decision",
    "dispute.flagged": "Flagged: open over 14 days",
    "dispute.decision_proposed": "Decision proposed, waiting for a second operator",
    "dispute.decision_rejected": "Proposed decision sent back",
    "dispute.resolved": "Decided",
}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    label: str
    actor: str


def dispute_timeline(*, dispute: Dispute, for_operator: bool = False) -> list[TimelineEntry]:
    """Built from the audit trail. Parties see roles, operators see who."""
    rows = AuditLog.objects.filter(object_type="dispute", object_id=str(dispute.pk)).order_by(
        "created_at", "id"
    )
    expert_user_id = dispute.assignment.expert.user_id
    entries = []
    for row in rows:
        if for_operator:
            actor = row.actor_label
        elif row.actor_id is None:
            actor = "Inloop"
        elif row.actor_id == expert_user_id:
            actor = "Expert"
        elif row.action in ("dispute.opened", "dispute.company_added"):
            actor = "Company"
        else:
            actor = "Operator"
        entries.append(
            TimelineEntry(
                at=row.created_at, label=TIMELINE_LABELS.get(row.action, row.action), actor=actor
            )
        )
    return entries


def dispute_money(*, dispute: Dispute) -> dict:
    """The earning, its refunds and any transfer reversal (with a refused one's shortfall), and
    the platform's grant for a rework it pays for (with the hold it funds, once accepted)."""
    earning = assignment_earning(assignment=dispute.assignment)
    refunds = earning_refunds(earning=earning) if earning is not None else []
    rows = []
    shortfall = 0
    for refund in refunds:
        reversal = getattr(refund, "reversal", None)
        if reversal is not None and reversal.status == "refused":
            shortfall += reversal.amount_cents
        rows.append({"refund": refund, "reversal": reversal})
    rework_grant = platform_hold_grant_for_source(source_ref=rework_grant_ref(dispute))
    rework_holds = list(rework_grant.holds.all()) if rework_grant is not None else []
    return {
        "earning": earning,
        # The earning after its refunds (the ledger's figures), not the capture's first split.
        "split": earning_split(earning=earning) if earning is not None else None,
        "refunds": rows,
        "shortfall_cents": shortfall,
        "rework_grant": rework_grant,
        "rework_holds": rework_holds,
    }


def open_disputes_q() -> Q:
    return ~Q(status=Status.RESOLVED)


# Evidence for the operator's case page -----------------------------------------------------------


@dataclass(frozen=True)
class DiffLine:
    op: str  # "same", "added", "removed"
    text: str


@dataclass(frozen=True)
class TimeLogRow:
    started_at: datetime
    ended_at: datetime
    seconds: int
    gap_before_seconds: int | None


def corrected_diff(*, original: str, corrected: str | None) -> list[DiffLine]:
    """Line diff of the AI output against the expert's corrected output (plain text; the
    template escapes it)."""
    import difflib

    if corrected is None:
        return []
    lines = []
    for line in difflib.ndiff(original.splitlines(), corrected.splitlines()):
        tag, text = line[:2], line[2:]
        if tag == "? ":
            continue
        lines.append(DiffLine({"+ ": "added", "- ": "removed"}.get(tag, "same"), text))
    return lines


def time_log(*, assignment: Assignment) -> list[TimeLogRow]:
    rows = []
    previous_end = None
    for interval in assignment.intervals.order_by("started_at", "id"):
        end = stretch_end(interval)  # the rule's end: the socket's close or the last heartbeat
        seconds = int((end - interval.started_at).total_seconds())
        gap = (
            int((interval.started_at - previous_end).total_seconds())
            if previous_end is not None
            else None
        )
        rows.append(TimeLogRow(interval.started_at, end, max(seconds, 0), gap))
        previous_end = end
    return rows


def dispute_evidence(*, dispute: Dispute) -> dict:
    from review_requests.models import Review
    from review_requests.workspace_selectors import text_of

    assignment = dispute.assignment
    rr = assignment.review_request
    review = Review.objects.filter(assignment=assignment).first()
    events = list(assignment.events.select_related("actor").order_by("seq"))
    original = text_of(rr.content)
    log = time_log(assignment=assignment)
    return {
        "rr": rr,
        "output_text": original,
        "review": review,
        "diff": corrected_diff(
            original=original, corrected=review.corrected_output if review else None
        ),
        "events": events,
        "chat": [e for e in events if e.kind == "chat.message"],
        "time_log": log,
        "logged_seconds": sum(row.seconds for row in log),
        "money": dispute_money(dispute=dispute),
        "captured_cents": captured_cents(assignment=assignment),
    }
