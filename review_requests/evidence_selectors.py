"""What a completed request's oversight record is made of, read as plain data (lists, dicts,
ISO times) for the evidence app above, which hashes and keeps it. Nothing here writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from review_requests.dispute_selectors import time_log
from review_requests.models import Assignment, Dispute, Review, ReviewRequest
from review_requests.workspace_selectors import text_of


def _at(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _person(user) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"user_id": user.pk, "name": user.get_full_name().strip() or user.email}


def _history(rows) -> list[dict[str, Any]]:
    return [
        {
            "from": row.from_status,
            "to": row.to_status,
            "reason": row.reason,
            "at": _at(row.created_at),
            "actor": _person(row.actor),
        }
        for row in rows
    ]


def review_request_for_oversight(*, review_request_id) -> ReviewRequest:
    return ReviewRequest.objects.select_related(
        "organization", "specialization", "policy_version__policy"
    ).get(pk=review_request_id)


def _routing(review_request: ReviewRequest) -> dict[str, Any] | None:
    """The oversight policy, version and rule that routed the request (None when none did)."""
    version = review_request.policy_version
    if version is None:
        return None
    return {
        "policy": version.policy.name,
        "policy_version": version.number,
        "rules": version.rules,
        "rule": review_request.policy_rule_name or None,
        "rule_index": review_request.policy_rule,
        "outcome": review_request.oversight_outcome,
        "audit": review_request.audit,
        "confidence": review_request.confidence,
    }


def oversight_request_facts(*, review_request: ReviewRequest) -> dict[str, Any]:
    """The request as supplied, its history and its consensus result."""
    content = review_request.content or {}
    return {
        "id": str(review_request.pk),
        "title": review_request.title,
        "specialization": review_request.specialization.slug,
        "specialization_id": review_request.specialization_id,
        "routing": _routing(review_request),
        "four_eyes": review_request.four_eyes,
        "blind": review_request.blind,
        "adjudication_wanted_at": _at(review_request.adjudication_wanted_at),
        "content_type": review_request.content_type,
        "content": content,
        "output_text": text_of(content),
        "model": review_request.model_name,
        "prompt": review_request.prompt,
        "guidelines": review_request.guidelines,
        "rubric": review_request.rubric,
        "reviewers_wanted": review_request.reviewers,
        "created_at": _at(review_request.created_at),
        "completed_at": _at(review_request.completed_at),
        "status": review_request.status,
        "result": review_request.result,
        "status_history": _history(review_request.history.select_related("actor")),
    }


def _assignment_facts(assignment: Assignment) -> dict[str, Any]:
    events = [
        {
            "seq": event.seq,
            "kind": event.kind,
            "at": _at(event.created_at),
            "actor": _person(event.actor),
            "payload": event.payload,
        }
        for event in assignment.events.select_related("actor").order_by("seq")
    ]
    review = Review.objects.filter(assignment=assignment).first()
    segments = [
        {"start": _at(row.started_at), "end": _at(row.ended_at), "seconds": row.seconds}
        for row in time_log(assignment=assignment)
    ]
    return {
        "assignment_id": str(assignment.pk),
        "expert_id": assignment.expert_id,
        "expert_user_id": assignment.expert.user_id,
        "expert_name": assignment.expert.display_name or assignment.expert.user.get_full_name(),
        "adjudicator": assignment.adjudicator,
        "status": assignment.status,
        "accepted_at": _at(assignment.accepted_at),
        "started_at": _at(assignment.started_at),
        "submitted_at": _at(assignment.submitted_at),
        "released_at": _at(assignment.released_at),
        "status_history": _history(assignment.history.select_related("actor")),
        "events": events,
        "time": {
            "segments": segments,
            "billed_seconds": assignment.billed_seconds,
            "max_seconds": assignment.max_seconds,
        },
        "review": None
        if review is None
        else {
            "verdict": review.verdict,
            "summary": review.summary,
            "scores": review.scores,
            "corrected_output": review.corrected_output,
            "annotations": review.annotations,
            "submitted_at": _at(review.submitted_at),
        },
    }


def oversight_assignment_facts(*, review_request: ReviewRequest) -> list[dict[str, Any]]:
    """Every assignment that reached the workspace (accepted, worked, submitted or released),
    in the order they were accepted, with its events, time segments and review."""
    assignments = (
        Assignment.objects.filter(review_request=review_request)
        .select_related("expert", "expert__user")
        .order_by("accepted_at", "id")
    )
    return [_assignment_facts(assignment) for assignment in assignments]


def _dispute_facts(dispute: Dispute) -> dict[str, Any]:
    return {
        "dispute_id": str(dispute.pk),
        "assignment_id": str(dispute.assignment_id),
        "opened_by": _person(dispute.opened_by),
        "opened_at": _at(dispute.created_at),
        "category": dispute.category,
        "description": dispute.description,
        "requested_remedy": dispute.requested_remedy,
        "requested_amount_cents": dispute.requested_amount_cents,
        "expert_statement": dispute.expert_statement,
        "company_addendum": dispute.company_addendum,
        "status": dispute.status,
        "outcome": dispute.outcome or None,
        "outcome_amount_cents": dispute.outcome_amount_cents,
        "decision_note": dispute.decision_note,
        "decided_by": _person(dispute.decided_by),
        "approved_by": _person(dispute.approved_by),
        "resolved_at": _at(dispute.resolved_at),
        "status_history": _history(dispute.history.select_related("actor")),
    }


def oversight_dispute_facts(*, review_request: ReviewRequest) -> list[dict[str, Any]]:
    disputes = (
        Dispute.objects.filter(assignment__review_request=review_request)
        .select_related("opened_by", "decided_by", "approved_by")
        .order_by("created_at", "id")
    )
    return [_dispute_facts(dispute) for dispute in disputes]
